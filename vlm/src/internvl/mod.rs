//! InternVL (as in transformers' `InternVLForConditionalGeneration`): InternViT tiles,
//! pixel-shuffled and projected, in place of the prompt's image tokens of a Qwen2 or LLaMA
//! decoder.

pub mod config;
pub mod load;
pub mod model;
pub mod open;

pub use config::InternVlConfig;
pub use model::{InternVl, InternVlError};
pub use open::{open, ChatInternVl, ImageCountError, PromptError};

/// True when `dir/config.json` says `"model_type": "internvl"`.
pub fn is_internvl_dir(dir: &std::path::Path) -> bool {
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("model_type")?.as_str().map(|m| m == "internvl"))
        .unwrap_or(false)
}

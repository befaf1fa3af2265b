//! Opening a LLaVA Hugging Face folder as a chat model: weights, tokenizer (with `<image>`),
//! chat template, image preprocessor and stop tokens; prompts with images become token ids
//! with each `<image>` expanded to the image's feature count, as `LlavaProcessor` does.

use std::path::Path;

use burn::tensor::backend::Backend;

use super::config::LlavaConfig;
use super::load::from_source;
use super::Llava;
use crate::image::Preprocessor;
use crate::llama::open::{hf_chat_parts, merge_stops};
use crate::tokenizer::{ChatTemplate, Tokenizer};
use crate::weights::{ShardedSafeTensors, WeightError};

#[derive(Debug)]
pub struct ChatLlava<B: Backend> {
    pub config: LlavaConfig,
    pub model: Llava<B>,
    pub tokenizer: Tokenizer,
    /// The folder's own template, else LLaVA-1.5's.
    pub template: ChatTemplate,
    pub preprocessor: Preprocessor,
    pub stop_tokens: Vec<u32>,
}

/// True when `dir/config.json` says `"model_type": "llava"`.
pub fn is_llava_dir(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v.get("model_type")
                .and_then(|m| m.as_str())
                .map(|m| m == "llava")
        })
        .unwrap_or(false)
}

/// A LLaVA folder's image processor: its `preprocessor_config.json`, else CLIP's at the
/// tower's size.
pub fn processor(dir: &Path, config: &LlavaConfig) -> Result<Preprocessor, WeightError> {
    let pre = dir.join("preprocessor_config.json");
    if !pre.is_file() {
        return Ok(Preprocessor::clip(config.vision.image_size));
    }
    Preprocessor::from_file(&pre).map_err(|e| WeightError::Config {
        path: pre.display().to_string(),
        reason: e.to_string(),
    })
}

/// Opens a LLaVA folder.
pub fn open<B: Backend>(dir: &Path, device: &B::Device) -> Result<ChatLlava<B>, WeightError> {
    let config = LlavaConfig::from_file(&dir.join("config.json"))?;
    let (tokenizer, template, extra) = hf_chat_parts(dir)?;
    if tokenizer.id_to_token(config.image_token_id).is_none() {
        return Err(WeightError::Config {
            path: dir.join("tokenizer.json").display().to_string(),
            reason: format!(
                "the image token id {} is not in the tokenizer",
                config.image_token_id
            ),
        });
    }
    let preprocessor = processor(dir, &config)?;
    let mut source = ShardedSafeTensors::open_dir(dir)?;
    let model = from_source(&config, &mut source, device)?;
    let stop_tokens = merge_stops([
        config.text.eos_token_ids.as_slice(),
        tokenizer.eos.as_slice(),
        extra.as_slice(),
    ]);
    Ok(ChatLlava {
        config,
        model,
        tokenizer,
        template: template.unwrap_or_else(ChatTemplate::llava),
        preprocessor,
        stop_tokens,
    })
}

/// True when `dir` holds a LoRA adapter (`adapter_config.json`).
pub fn is_adapter_dir(dir: &Path) -> bool {
    dir.join("adapter_config.json").is_file()
}

/// A LLaVA folder or a LoRA adapter folder of one (which may sit on another adapter).
pub fn is_vlm_dir(dir: &Path) -> bool {
    is_llava_dir(dir) || is_adapter_dir(dir)
}

/// Opens a LLaVA folder, or an adapter folder with its chain of adapters folded into the base.
pub fn open_vlm<B: Backend>(dir: &Path, device: &B::Device) -> Result<ChatLlava<B>, WeightError> {
    if is_adapter_dir(dir) {
        open_adapted(dir, device)
    } else {
        open(dir, device)
    }
}

/// Opens a fine-tuned model from its adapter folder: the base LLaVA its config names
/// (`base_model_name_or_path`, relative to the adapter folder when not absolute), the adapter
/// loaded and merged into the weights, so inference runs at the base model's speed.
pub fn open_adapted<B: Backend>(
    adapter: &Path,
    device: &B::Device,
) -> Result<ChatLlava<B>, WeightError> {
    let files = crate::lora::read_adapter(adapter)?;
    let base = files
        .base_model
        .clone()
        .ok_or_else(|| WeightError::Config {
            path: adapter.join("adapter_config.json").display().to_string(),
            reason: "base_model_name_or_path is missing: which model does this adapter belong to?"
                .into(),
        })?;
    let base = adapter.join(base);
    // A chain of adapters (the embedded default's stage 2 on stage 1) opens from the bottom.
    if is_adapter_dir(&base) && base != adapter {
        let mut chat = open_adapted::<B>(&base, device)?;
        apply_adapter(&mut chat, files, device)?;
        return Ok(chat);
    }
    if !is_llava_dir(&base) {
        return Err(WeightError::Config {
            path: adapter.join("adapter_config.json").display().to_string(),
            reason: format!(
                "the base model {} is not a LLaVA folder here",
                base.display()
            ),
        });
    }
    let mut chat = open::<B>(&base, device)?;
    apply_adapter(&mut chat, files, device)?;
    Ok(chat)
}

/// Loads an adapter's tensors into an open model and folds its LoRA into the weights.
fn apply_adapter<B: Backend>(
    chat: &mut ChatLlava<B>,
    files: crate::lora::AdapterFiles,
    device: &B::Device,
) -> Result<(), WeightError> {
    let model = chat.model.clone();
    let mut trainee = crate::train::Trainee::Llava(model);
    trainee.load_adapter(files, device)?;
    // Baked rather than merged: a later adapter of a chain replaces the layers' adapters.
    for (_, p) in trainee.lm_mut().projections_mut() {
        p.bake();
    }
    let crate::train::Trainee::Llava(model) = trainee else {
        unreachable!("built as LLaVA above")
    };
    chat.model = model;
    Ok(())
}

impl<B: Backend> ChatLlava<B> {
    /// Token ids of a prompt text holding one image token per image, each expanded to the
    /// number of features an image gives.
    pub fn prompt_ids(&self, text: &str) -> Result<Vec<u32>, WeightError> {
        let image = self.config.image_token_id;
        let per_image = self.config.tokens_per_image();
        let mut out = Vec::new();
        for id in self.tokenizer.encode_prompt(text)? {
            if id == image {
                out.extend(std::iter::repeat_n(image, per_image));
            } else {
                out.push(id);
            }
        }
        Ok(out)
    }
}

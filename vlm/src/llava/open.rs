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
/// tower's size; a crop of another size than the tower takes is refused.
pub fn processor(dir: &Path, config: &LlavaConfig) -> Result<Preprocessor, WeightError> {
    let pre = dir.join("preprocessor_config.json");
    let size = config.vision.image_size;
    if !pre.is_file() {
        return Ok(Preprocessor::clip(size));
    }
    let bad = |reason: String| WeightError::Config {
        path: pre.display().to_string(),
        reason,
    };
    let processor = Preprocessor::from_file(&pre).map_err(|e| bad(e.to_string()))?;
    if processor.crop != size {
        return Err(bad(format!(
            "the image processor crops to {} px but the vision tower takes {size} px",
            processor.crop
        )));
    }
    Ok(processor)
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

//! Opening an InternVL Hugging Face folder as a chat model: weights, tokenizer (with `<img>`,
//! `</img>` and `<IMG_CONTEXT>`), the checkpoint's chat template, the tiling processor and stop
//! tokens. A prompt's image tokens become `<img>` + `<IMG_CONTEXT>` × tokens per tile × the
//! image's tiles + `</img>`, as `InternVLProcessor` expands them.

use std::path::Path;

use burn::tensor::backend::Backend;

use super::config::InternVlConfig;
use super::load::from_source;
use super::InternVl;
use crate::image::TilingPreprocessor;
use crate::llama::open::{hf_chat_parts, merge_stops};
use crate::tokenizer::{ChatTemplate, Tokenizer};
use crate::weights::{ShardedSafeTensors, WeightError};

#[derive(Debug)]
pub struct ChatInternVl<B: Backend> {
    pub config: InternVlConfig,
    pub model: InternVl<B>,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub processor: TilingPreprocessor,
    pub stop_tokens: Vec<u32>,
    /// `<img>` and `</img>`, around each image's tokens.
    pub image_start: u32,
    pub image_end: u32,
}

/// An InternVL folder's tiling processor: its `preprocessor_config.json`, else InternVL3's at
/// the tower's tile size; tiles of another size than the tower takes are refused.
pub fn processor(dir: &Path, config: &InternVlConfig) -> Result<TilingPreprocessor, WeightError> {
    let pre = dir.join("preprocessor_config.json");
    let size = config.vision.image_size;
    let processor = if pre.is_file() {
        TilingPreprocessor::from_file(&pre).map_err(|e| WeightError::Config {
            path: pre.display().to_string(),
            reason: e.to_string(),
        })?
    } else {
        TilingPreprocessor {
            tile: size,
            ..TilingPreprocessor::internvl()
        }
    };
    if processor.tile != size {
        return Err(WeightError::Config {
            path: pre.display().to_string(),
            reason: format!(
                "tiles of {} px, but the vision tower takes {size} px",
                processor.tile
            ),
        });
    }
    Ok(processor)
}

/// Opens an InternVL folder.
pub fn open<B: Backend>(dir: &Path, device: &B::Device) -> Result<ChatInternVl<B>, WeightError> {
    let config = InternVlConfig::from_file(&dir.join("config.json"))?;
    let (tokenizer, template, extra) = hf_chat_parts(dir)?;
    let tok_file = dir.join("tokenizer.json").display().to_string();
    let need = |token: &str| {
        tokenizer
            .token_id(token)
            .ok_or_else(|| WeightError::Config {
                path: tok_file.clone(),
                reason: format!("the tokenizer has no {token} token"),
            })
    };
    let (image_start, image_end, context) =
        (need("<img>")?, need("</img>")?, need("<IMG_CONTEXT>")?);
    if context != config.image_token_id {
        return Err(WeightError::Config {
            path: tok_file,
            reason: format!(
                "<IMG_CONTEXT> is token {context} but config.json's image_token_id is {}",
                config.image_token_id
            ),
        });
    }
    // InternVL's checkpoints ship their template; guessing one would change every prompt.
    let template = template.ok_or_else(|| WeightError::Config {
        path: dir.display().to_string(),
        reason:
            "no chat template (tokenizer_config.json, chat_template.jinja or chat_template.json)"
                .into(),
    })?;
    let processor = processor(dir, &config)?;
    let mut source = ShardedSafeTensors::open_dir(dir)?;
    let model = from_source(&config, &mut source, device)?;
    let stop_tokens = merge_stops([
        config.text.eos_token_ids.as_slice(),
        tokenizer.eos.as_slice(),
        extra.as_slice(),
    ]);
    Ok(ChatInternVl {
        config,
        model,
        tokenizer,
        template,
        processor,
        stop_tokens,
        image_start,
        image_end,
    })
}

/// A prompt whose image tokens and images do not pair up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the prompt has {markers} image marker(s) (<IMG_CONTEXT>) but {images} image(s) were given"
)]
pub struct ImageCountError {
    pub markers: usize,
    pub images: usize,
}

impl<B: Backend> ChatInternVl<B> {
    /// Token ids of a rendered prompt whose `<IMG_CONTEXT>` markers stand for the images in
    /// order, image `i` having `tiles[i]` tiles.
    pub fn prompt_ids(&self, text: &str, tiles: &[usize]) -> Result<Vec<u32>, PromptError> {
        let image = self.config.image_token_id;
        let ids = self.tokenizer.encode_prompt(text)?;
        let markers = ids.iter().filter(|&&t| t == image).count();
        if markers != tiles.len() {
            return Err(PromptError::Images(ImageCountError {
                markers,
                images: tiles.len(),
            }));
        }
        let per_tile = self.config.tokens_per_tile();
        // One tile count per marker, in order (their numbers are equal, checked above).
        let mut counts = tiles.iter();
        let mut out = Vec::with_capacity(ids.len() + tiles.iter().sum::<usize>() * per_tile);
        for id in ids {
            if id != image {
                out.push(id);
                continue;
            }
            let n = counts.next().copied().unwrap_or(0);
            out.push(self.image_start);
            out.extend(std::iter::repeat_n(image, per_tile * n));
            out.push(self.image_end);
        }
        Ok(out)
    }
}

/// Why a prompt could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error(transparent)]
    Images(#[from] ImageCountError),
    #[error(transparent)]
    Tokenizer(#[from] WeightError),
}

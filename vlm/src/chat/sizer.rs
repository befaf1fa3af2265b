//! How long a prompt with images will be, from a model folder's tokenizer, template, config and
//! image processor alone (no weights): so a run whose prompts cannot fit the context is refused
//! before it starts.

use std::path::{Path, PathBuf};

use super::open::is_adapter_dir;
use super::IMAGE_MARKER;
use crate::image::TilingPreprocessor;
use crate::internvl::{is_internvl_dir, InternVlConfig};
use crate::llama::open::hf_chat_parts;
use crate::llava::{is_llava_dir, LlavaConfig};
use crate::tokenizer::{ChatTemplate, Tokenizer};
use crate::weights::WeightError;

/// What a family's processor makes of one image marker.
#[derive(Clone, Debug)]
enum Expansion {
    /// LLaVA: a fixed number of image tokens.
    Fixed { per_image: usize },
    /// InternVL: `<img>` + tokens per tile × tiles + `</img>`.
    Tiles {
        processor: TilingPreprocessor,
        per_tile: usize,
    },
}

/// Prompt lengths of a model, without its weights.
#[derive(Debug)]
pub struct PromptSizer {
    tokenizer: Tokenizer,
    template: ChatTemplate,
    /// The image token as text in a rendered prompt.
    marker: String,
    expansion: Expansion,
    pub context: usize,
}

/// The model folder under an adapter chain.
fn base_of(dir: &Path) -> Result<PathBuf, WeightError> {
    let mut dir = dir.to_path_buf();
    // A chain is short (the default has two stages); the bound stops a cycle.
    for _ in 0..16 {
        if !is_adapter_dir(&dir) {
            return Ok(dir);
        }
        let files = crate::lora::read_adapter(&dir)?;
        let base = files.base_model.ok_or_else(|| WeightError::Config {
            path: dir.join("adapter_config.json").display().to_string(),
            reason: "base_model_name_or_path is missing".into(),
        })?;
        dir = dir.join(base);
    }
    Err(WeightError::Config {
        path: dir.display().to_string(),
        reason: "a chain of more than 16 adapters".into(),
    })
}

impl PromptSizer {
    /// From a LLaVA or InternVL folder, or an adapter folder on one.
    pub fn open(dir: &Path) -> Result<Self, WeightError> {
        let base = base_of(dir)?;
        let (tokenizer, template, _) = hf_chat_parts(&base)?;
        if is_internvl_dir(&base) {
            let config = InternVlConfig::from_file(&base.join("config.json"))?;
            let processor = crate::internvl::open::processor(&base, &config)?;
            let template = template.ok_or_else(|| WeightError::Config {
                path: base.display().to_string(),
                reason: "no chat template".into(),
            })?;
            Ok(PromptSizer {
                tokenizer,
                template,
                marker: "<IMG_CONTEXT>".into(),
                expansion: Expansion::Tiles {
                    processor,
                    per_tile: config.tokens_per_tile(),
                },
                context: config.text.max_position_embeddings,
            })
        } else if is_llava_dir(&base) {
            let config = LlavaConfig::from_file(&base.join("config.json"))?;
            Ok(PromptSizer {
                tokenizer,
                template: template.unwrap_or_else(ChatTemplate::llava),
                marker: IMAGE_MARKER.into(),
                expansion: Expansion::Fixed {
                    per_image: config.tokens_per_image(),
                },
                context: config.text.max_position_embeddings,
            })
        } else {
            Err(WeightError::Config {
                path: base.join("config.json").display().to_string(),
                reason: "not a LLaVA or InternVL model".into(),
            })
        }
    }

    /// Tiles of a `width × height` image with at most `max_patches` (else the processor's).
    pub fn tiles(&self, width: usize, height: usize, max_patches: Option<usize>) -> usize {
        match &self.expansion {
            Expansion::Fixed { .. } => 1,
            Expansion::Tiles { processor, .. } => {
                let p = match max_patches {
                    Some(n) => processor.clone().with_max_patches(n).ok(),
                    None => Some(processor.clone()),
                };
                p.map_or(1, |p| p.tile_count(width, height))
            }
        }
    }

    /// Tiles of the image file at `path` (its header alone is read); None when it cannot be
    /// read (the run reports that image itself).
    pub fn image_tiles(&self, path: &Path, max_patches: Option<usize>) -> Option<usize> {
        if let Expansion::Fixed { .. } = self.expansion {
            return Some(1);
        }
        let (w, h) = image::ImageReader::open(path)
            .ok()?
            .with_guessed_format()
            .ok()?
            .into_dimensions()
            .ok()?;
        Some(self.tiles(w as usize, h as usize, max_patches))
    }

    /// True for a tiling model (InternVL), whose prompts shrink with fewer tiles per image.
    pub fn tiles_images(&self) -> bool {
        matches!(self.expansion, Expansion::Tiles { .. })
    }

    /// Tokens of `message` (with [`IMAGE_MARKER`]s) rendered by the template, each image
    /// marker expanded for an image of `tiles` tiles.
    pub fn tokens(
        &self,
        system: Option<&str>,
        message: &str,
        tiles: &[usize],
    ) -> Result<usize, super::ChatError> {
        let message = message.replace(IMAGE_MARKER, &self.marker);
        let text = self
            .template
            .prompt_with_images(system, 0, &message)
            .map_err(|e| WeightError::Config {
                path: "chat template".into(),
                reason: e.to_string(),
            })?;
        let ids = self.tokenizer.encode_prompt(&text)?;
        let marker = self.tokenizer.token_id(&self.marker);
        let markers = ids.iter().filter(|&&t| Some(t) == marker).count();
        let images: usize = tiles
            .iter()
            .map(|&n| match &self.expansion {
                Expansion::Fixed { per_image } => *per_image,
                Expansion::Tiles { per_tile, .. } => 2 + per_tile * n,
            })
            .sum();
        Ok(ids.len() - markers.min(tiles.len()) + images)
    }
}

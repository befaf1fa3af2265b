//! One interface over the vision-language families: what inference and training need from a
//! chat model (its tokenizer, template, stop tokens, images as pixels, prompts as ids, and
//! embeddings with the images merged in), whichever family it is.

use std::path::PathBuf;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::image::ImageError;
use crate::internvl::{ChatInternVl, ImageCountError, InternVlError, PromptError};
use crate::llama::Llama;
use crate::llava::{ChatLlava, LlavaError};
use crate::tokenizer::{ChatTemplate, Tokenizer};
use crate::train::Trainee;
use crate::weights::WeightError;

/// A vision-language chat model of any family we run.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ChatVlm<B: Backend> {
    Llava(ChatLlava<B>),
    InternVl(ChatInternVl<B>),
}

/// The marker our prompts put where an image goes (LLaVA's own image token).
pub const IMAGE_MARKER: &str = "<image>";

/// Images as the model takes them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pixels {
    /// One entry per tile (`[channels, size, size]` flattened), all images in order; LLaVA
    /// gives one tile per image.
    pub tiles: Vec<Vec<f32>>,
    /// Tiles of each image.
    pub per_image: Vec<usize>,
}

/// Why images or a prompt with them cannot be made ready for the model.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Tokenizer(#[from] WeightError),
    #[error(transparent)]
    ImageCount(#[from] ImageCountError),
    #[error(transparent)]
    Llava(#[from] LlavaError),
    #[error(transparent)]
    InternVl(#[from] InternVlError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("max_patches: {0}")]
    MaxPatches(String),
}

impl From<PromptError> for ChatError {
    fn from(e: PromptError) -> Self {
        match e {
            PromptError::Images(e) => ChatError::ImageCount(e),
            PromptError::Tokenizer(e) => ChatError::Tokenizer(e),
        }
    }
}

impl<B: Backend> ChatVlm<B> {
    pub fn tokenizer(&self) -> &Tokenizer {
        match self {
            ChatVlm::Llava(m) => &m.tokenizer,
            ChatVlm::InternVl(m) => &m.tokenizer,
        }
    }

    pub fn template(&self) -> &ChatTemplate {
        match self {
            ChatVlm::Llava(m) => &m.template,
            ChatVlm::InternVl(m) => &m.template,
        }
    }

    pub fn stop_tokens(&self) -> &[u32] {
        match self {
            ChatVlm::Llava(m) => &m.stop_tokens,
            ChatVlm::InternVl(m) => &m.stop_tokens,
        }
    }

    /// The decoder.
    pub fn lm(&self) -> &Llama<B> {
        match self {
            ChatVlm::Llava(m) => &m.model.lm,
            ChatVlm::InternVl(m) => &m.model.lm,
        }
    }

    /// Tokens the decoder can attend to, the prompt's and the reply's together.
    pub fn context(&self) -> usize {
        match self {
            ChatVlm::Llava(m) => m.config.text.max_position_embeddings,
            ChatVlm::InternVl(m) => m.config.text.max_position_embeddings,
        }
    }

    /// Side of the square tiles (or whole images) the vision tower takes.
    pub fn tile_size(&self) -> usize {
        match self {
            ChatVlm::Llava(m) => m.config.vision.image_size,
            ChatVlm::InternVl(m) => m.processor.tile,
        }
    }

    /// The user's message rendered by the model's chat template, each [`IMAGE_MARKER`] in
    /// `message` standing where an image goes.
    pub fn user_prompt(
        &self,
        system: Option<&str>,
        message: &str,
    ) -> Result<String, crate::tokenizer::TemplateError> {
        let message = match self {
            ChatVlm::Llava(_) => message.to_string(),
            // InternVL's templates write `<IMG_CONTEXT>` for an image part.
            ChatVlm::InternVl(_) => message.replace(IMAGE_MARKER, "<IMG_CONTEXT>"),
        };
        self.template().prompt_with_images(system, 0, &message)
    }

    /// Decodes and preprocesses `images` in order; a tiling model cuts each into at most
    /// `max_patches` tiles when given (else as its processor is set).
    pub fn load_images(
        &self,
        images: &[PathBuf],
        max_patches: Option<usize>,
    ) -> Result<Pixels, ChatError> {
        let mut out = Pixels::default();
        match self {
            ChatVlm::Llava(m) => {
                if max_patches == Some(0) {
                    return Err(ChatError::MaxPatches("at least 1".into()));
                }
                for path in images {
                    out.tiles.push(m.preprocessor.load(path)?);
                    out.per_image.push(1);
                }
            }
            ChatVlm::InternVl(m) => {
                let processor = match max_patches {
                    Some(n) => m
                        .processor
                        .clone()
                        .with_max_patches(n)
                        .map_err(ChatError::MaxPatches)?,
                    None => m.processor.clone(),
                };
                for path in images {
                    let t = processor.load(path)?;
                    let each = t.pixels.len() / t.count.max(1);
                    out.tiles
                        .extend(t.pixels.chunks(each.max(1)).map(<[f32]>::to_vec));
                    out.per_image.push(t.count);
                }
            }
        }
        Ok(out)
    }

    /// Token ids of a rendered prompt whose image markers stand for images with `per_image`
    /// tiles each, expanded as the family's processor expands them.
    pub fn prompt_ids(&self, text: &str, per_image: &[usize]) -> Result<Vec<u32>, ChatError> {
        match self {
            ChatVlm::Llava(m) => Ok(m.prompt_ids(text)?),
            ChatVlm::InternVl(m) => Ok(m.prompt_ids(text, per_image)?),
        }
    }

    /// Stacks tiles into the tensor the vision tower takes (None without images).
    pub fn pixel_tensor(&self, tiles: &[Vec<f32>], device: &B::Device) -> Option<Tensor<B, 4>> {
        if tiles.is_empty() {
            return None;
        }
        let size = self.tile_size();
        let data: Vec<f32> = tiles.concat();
        Some(Tensor::from_data(
            TensorData::new(data, [tiles.len(), 3, size, size]),
            device,
        ))
    }

    /// Token embeddings with the images' features where their tokens are.
    ///
    /// # Shapes
    /// - ids: `batch × seq` row-major; pixels: `[tiles, 3, size, size]` in prompt order
    pub fn embed(
        &self,
        ids: &[i64],
        shape: [usize; 2],
        pixels: Option<Tensor<B, 4>>,
        device: &B::Device,
    ) -> Result<Tensor<B, 3>, ChatError> {
        Ok(match self {
            ChatVlm::Llava(m) => m.model.embed(ids, shape, pixels, device)?,
            ChatVlm::InternVl(m) => m.model.embed(ids, shape, pixels, device)?,
        })
    }

    /// The model as training takes it.
    pub fn into_trainee(self) -> Trainee<B> {
        match self {
            ChatVlm::Llava(m) => Trainee::Llava(m.model),
            ChatVlm::InternVl(m) => Trainee::InternVl(m.model),
        }
    }

    /// A copy of the weights as a trainee (to load an adapter into).
    pub(crate) fn trainee_copy(&self) -> Trainee<B> {
        match self {
            ChatVlm::Llava(m) => Trainee::Llava(m.model.clone()),
            ChatVlm::InternVl(m) => Trainee::InternVl(m.model.clone()),
        }
    }

    /// Puts back the weights of a trainee made by [`Self::trainee_copy`].
    pub(crate) fn replace_weights(&mut self, trainee: Trainee<B>) {
        match (self, trainee) {
            (ChatVlm::Llava(m), Trainee::Llava(t)) => m.model = t,
            (ChatVlm::InternVl(m), Trainee::InternVl(t)) => m.model = t,
            _ => unreachable!("trainee_copy keeps the family"),
        }
    }

    /// The family's name as users know it.
    pub fn family(&self) -> &'static str {
        match self {
            ChatVlm::Llava(_) => "LLaVA",
            ChatVlm::InternVl(_) => "InternVL",
        }
    }
}

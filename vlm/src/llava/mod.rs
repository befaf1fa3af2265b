//! LLaVA (transformers' `LlavaForConditionalGeneration`): a CLIP vision tower, a two-layer
//! projector, and the LLaMA decoder, with each `<image>` token run in the prompt replaced by
//! one image's projected patches. Any number of images per prompt, batches of prompts.

pub mod compose;
pub mod config;
pub mod load;
pub mod model;
pub mod open;

pub use config::{FeatureStrategy, LlavaConfig};
pub use load::{from_hf_dir, KeyNames};
pub use model::{Llava, LlavaError, Projector};
pub use open::{is_llava_dir, ChatLlava};

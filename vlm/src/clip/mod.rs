//! The CLIP vision transformer (transformers' `CLIPVisionModel`), LLaVA's image encoder:
//! patch embedding, class and position embeddings, pre-layernorm, encoder layers, post-layernorm.

pub mod config;
pub mod load;
pub mod model;

pub use config::ClipVisionConfig;
pub use model::{ClipVision, VisionOutput};

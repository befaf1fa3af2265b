//! InternViT, the vision tower of InternVL (as in transformers' `InternVLVisionModel`): patch
//! embedding with bias, CLS token, absolute position embeddings, pre-norm layers (LayerNorm or
//! RMSNorm) with optional q/k normalisation and layer scale.

pub mod config;
pub mod interpolate;
pub mod load;
pub mod model;

pub use config::{InternVitConfig, VisionNormKind};
pub use model::InternVit;

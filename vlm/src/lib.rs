//! Vision-language models in Burn. Nothing here knows about the web application.

pub mod activations;
pub mod attention;
pub mod attention_backward;
pub mod bert;
pub mod chat;
pub mod clip;
pub mod device;
pub mod fastmath;
pub mod field_error;
pub mod fused_grad;
pub mod host;
pub mod image;
pub mod internvit;
pub mod internvl;
pub mod llama;
pub mod llava;
pub mod lora;
pub mod norms;
pub mod quant;
pub mod rng;
mod strided_product;
pub mod tokenizer;
pub mod train;
pub mod weights;
pub mod workers;

pub use device::{DeviceError, DeviceSpec};
pub use field_error::FieldError;

//! Turning image files into the pixel tensors a vision tower expects, the way transformers'
//! `CLIPImageProcessor` does it for LLaVA-1.5 (Pillow's bicubic resize, centre crop, rescale,
//! normalise), plus the original LLaVA's "pad to square with the mean colour".

pub mod preprocess;
pub mod resize;

pub use preprocess::{ImageError, Preprocessor};

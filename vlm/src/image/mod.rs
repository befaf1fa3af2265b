//! Turning image files into the pixel tensors a vision tower expects, the way transformers'
//! `CLIPImageProcessor` does it for LLaVA-1.5 (Pillow's bicubic resize, centre crop, rescale,
//! normalise), plus the original LLaVA's "pad to square with the mean colour", and InternVL's
//! tiles (`GotOcr2ImageProcessor` with `crop_to_patches`).

pub mod preprocess;
pub mod resize;
pub mod tiles;

pub use preprocess::{ImageError, Preprocessor};
pub use tiles::{Tiles, TilingPreprocessor};

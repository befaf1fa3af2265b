//! Vision-language chat models of every family behind one interface, and opening them (with
//! their LoRA adapters) from folders.

pub mod model;
pub mod open;
pub mod sizer;

pub use model::{ChatError, ChatVlm, Pixels, IMAGE_MARKER};
pub use open::{is_adapter_dir, is_vlm_dir, open_adapted, open_vlm};
pub use sizer::PromptSizer;

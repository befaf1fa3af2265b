//! Vision-language models in Burn. Nothing here knows about the web application.

pub mod device;

pub use device::{DeviceError, DeviceSpec};

//! The paper's method (Part A and Part B of "explanation generation based on anomaly detection
//! in industrial images"), independent of the web application.

pub mod labels;
pub mod prompts;

pub use labels::Label;
pub use prompts::{BuiltinPrompt, BUILTIN_PROMPTS};

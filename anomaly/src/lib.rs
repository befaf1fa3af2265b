//! The paper's method (Part A and Part B of "explanation generation based on anomaly detection
//! in industrial images"), independent of the web application: labels, prompts, datasets and
//! the synthetic LOCO-like demo set.

pub mod bertscore;
pub mod coi;
pub mod dataset;
pub mod diversity;
pub mod evaluation;
pub mod explain;
pub mod finetune;
pub mod labels;
pub mod metrics;
pub mod naming;
pub mod prompts;
pub mod qa_draft;
pub mod report;
pub mod synth;
pub mod verdict;

pub use labels::Label;
pub use vlm::FieldError;

/// A configuration (training or evaluation) that cannot be used: unreadable, or with a bad
/// value in a named field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Parse(String),
    #[error(transparent)]
    Field(#[from] FieldError),
}
pub use prompts::{BuiltinPrompt, BUILTIN_PROMPTS};
/// The seeded generator lives with the models (sampling uses it too).
pub use vlm::rng;

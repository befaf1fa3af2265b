//! The services the web app's server functions and the command line share, so both plan,
//! validate and run work the same way with the same messages: resolving model names, the
//! embedded models and the demo set, planning and running evaluations and training runs, and
//! the job lanes that run every kind of job through one skeleton (`runner`).

pub mod backend;
pub mod default_model;
pub mod demo;
pub mod draft_qa;
pub mod evaluate;
pub mod hub;
pub mod models;
mod remote_eval;
pub mod remote_models;
pub mod review;
pub mod runner;
pub mod serving;
pub mod tower;
pub mod training;

pub use hub::{JobHub, LiveEvent};

/// A request that cannot be carried out as asked: the message names the field (a bad
/// request), as opposed to a fault of the store or the machine.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

impl From<vlm::FieldError> for PlanError {
    fn from(e: vlm::FieldError) -> Self {
        PlanError::Invalid(e.to_string())
    }
}

impl PlanError {
    pub fn invalid(field: &str, e: impl std::fmt::Display) -> Self {
        PlanError::Invalid(format!("{field}: {e}"))
    }
}

//! The server functions, by concern. Each module's types are what its pages exchange with
//! the server; the bodies run only on the server (`ssr`).

pub mod accounts;
pub mod datasets;
pub mod drafts;
pub mod evaluations;
#[cfg(feature = "ssr")]
mod form;
pub mod inspection_reviews;
pub mod inspections;
pub mod jobs;
pub mod models;
pub mod prompts;
pub mod reviews;
pub mod training;

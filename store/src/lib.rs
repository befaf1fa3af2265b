//! Records shared by the server and the browser (users, roles, jobs, models, datasets) and,
//! with the `db` feature, their SQLite persistence: accounts, sessions, login throttling.

pub mod access;
pub mod records;

#[cfg(feature = "db")]
pub mod datasets;
#[cfg(feature = "db")]
pub mod db;
#[cfg(feature = "db")]
pub mod evaluations;
#[cfg(feature = "db")]
pub mod import;
#[cfg(feature = "db")]
pub mod jobs;
#[cfg(feature = "db")]
pub mod models;
#[cfg(feature = "db")]
pub mod password;
#[cfg(feature = "db")]
pub mod sessions;
#[cfg(feature = "db")]
pub mod users;

pub use access::{authorize, Access, Denied};
pub use records::{
    CountRow, DatasetInfo, DatasetStats, EvalImage, ImageDetail, ImageFilter, ImagePage,
    ImageSummary, JobInfo, ModelInfo, PredictionRecord, PromptInfo, QaInfo, Role, SplitInfo,
    SplitQa, UploadInfo, UserInfo,
};

#[cfg(feature = "db")]
pub use db::{Store, StoreError, StoreOptions};

//! Records shared by the server and the browser (users, roles, jobs, models, datasets) and,
//! with the `db` feature, their persistence in SQLite or PostgreSQL: accounts, sessions, login throttling.

pub mod access;
pub mod draft_records;
mod job_protocol;
pub mod records;
pub mod review_records;

#[cfg(feature = "db")]
pub mod backup;
#[cfg(feature = "db")]
pub mod check;
#[cfg(feature = "db")]
pub mod datasets;
#[cfg(feature = "db")]
pub mod db;
#[cfg(feature = "db")]
pub mod evaluations;
#[cfg(feature = "db")]
pub mod import;
#[cfg(feature = "db")]
pub mod job_events;
#[cfg(feature = "db")]
pub mod jobs;
#[cfg(feature = "db")]
pub mod models;
#[cfg(feature = "db")]
pub mod password;
#[cfg(feature = "db")]
pub mod qa_drafts;
#[cfg(feature = "db")]
mod report_cache;
#[cfg(feature = "db")]
pub mod restore;
#[cfg(feature = "db")]
pub mod reviews;
#[cfg(feature = "db")]
pub mod run_deletion;
#[cfg(feature = "db")]
pub mod sessions;
#[cfg(feature = "db")]
pub mod shares;
#[cfg(feature = "db")]
pub mod sql;
#[cfg(feature = "db")]
pub mod test_db;
#[cfg(all(test, feature = "db"))]
mod testing;
#[cfg(feature = "db")]
pub mod throttle;
#[cfg(feature = "db")]
pub mod tokens;
#[cfg(feature = "db")]
pub mod users;
#[cfg(feature = "db")]
pub mod workers;

pub use access::{authorize, Access, Denied};
pub use draft_records::*;
#[cfg(feature = "db")]
pub use jobs::{ClaimedJob, JobOwner};
pub use records::*;
pub use review_records::*;

#[cfg(feature = "db")]
pub use db::{Store, StoreError, StoreOptions, DATABASE_FILE};
#[cfg(feature = "db")]
pub use run_deletion::JudgementsSeen;

//! One file per page.

pub mod dataset;
pub mod datasets;
pub mod home;
pub mod image;
pub mod login;
pub mod not_found;
pub mod training;
pub mod training_run;
pub mod users;

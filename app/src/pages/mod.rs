//! One file per page.

pub mod compare;
pub mod dataset;
pub mod datasets;
pub mod evaluation;
pub mod evaluations;
pub mod home;
pub mod image;
pub mod inspect;
pub mod inspection;
pub mod login;
pub mod not_found;
pub mod training;
pub mod training_run;
pub mod users;

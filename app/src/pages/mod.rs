//! One file per page.

pub mod account;
pub mod compare;
pub mod dataset;
pub mod datasets;
pub mod delete_run;
pub mod drafting;
pub mod drafts;
pub mod evaluation;
pub mod evaluations;
pub mod home;
pub mod image;
pub mod inspect;
pub mod inspection;
pub mod inspection_review;
pub mod job;
pub mod login;
pub mod models;
pub mod not_found;
pub mod review;
pub mod review_sharing;
pub mod reviews;
pub mod run_review;
pub mod training;
pub mod training_run;
pub mod users;

/// The numeric `id` of the current route; 0 when it is missing or not a number (no record has
/// id 0, so the page shows its "not found" message).
pub fn use_id_param() -> impl Fn() -> i64 + Copy + Send + Sync + 'static {
    use leptos::prelude::*;
    let params = leptos_router::hooks::use_params_map();
    move || {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    }
}

//! Server functions of judging single inspections: judge one (or edit one's judgement), read
//! its judgements as the caller may see them, and list the inspections shared with the caller.
//! An inspection is shared on its page (`inspect/share`); whoever may see it judges it.

use leptos::prelude::*;
use store::{InspectionReview, JudgementInfo, SharedInspection};

use crate::api::reviews::JudgementForm;
use crate::ApiError;

#[cfg(feature = "ssr")]
use crate::ssr::{require_user, state, store_error};
#[cfg(feature = "ssr")]
use store::Access;

/// Saves the caller's judgement of inspection `id`: 404 when they may not see it, 409 when it
/// has not finished, they judged it already or the edit is stale, 400 for bad fields.
#[server(prefix = "/api", endpoint = "inspect/judge")]
pub async fn judge_inspection(id: i64, form: JudgementForm) -> Result<JudgementInfo, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let (judgement, version) = crate::api::reviews::parse_judgement(&form)?;
    st.store
        .judge_inspection(&me, id, judgement, version)
        .await
        .map_err(store_error)
}

/// Inspection `id`'s judgements: the caller's, and the others' once theirs is in (the owner
/// and admins see all).
#[server(prefix = "/api", endpoint = "inspect/reviews")]
pub async fn load_inspection_review(id: i64) -> Result<InspectionReview, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    st.store
        .inspection_review(&me, id)
        .await
        .map_err(store_error)
}

/// The inspections shared with the caller, newest first.
#[server(prefix = "/api", endpoint = "inspect/shared")]
pub async fn shared_inspections() -> Result<Vec<SharedInspection>, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    st.store.shared_inspections(&me).await.map_err(store_error)
}

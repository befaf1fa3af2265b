//! Server functions of the review workflow: the runs a user may review, a run's queue (next,
//! previous, one item, a judgement), how a run is reviewed and by whom, what its judgements
//! measure, and promoting corrected explanations to QA annotations.

use leptos::prelude::*;
use review::RunReview;
use serde::{Deserialize, Serialize};
use store::{
    FixInfo, ItemKey, JudgementInfo, LabelFlag, ReviewItem, ReviewProgress, ReviewSettings,
};

use crate::ApiError;

#[cfg(feature = "ssr")]
use crate::ssr::{fail, require_user, state, store_error};
#[cfg(feature = "ssr")]
use store::Access;

/// A run in the review list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewRun {
    pub id: i64,
    pub model: String,
    pub dataset: String,
    pub prompts: Vec<String>,
    pub progress: ReviewProgress,
}

/// One item on the review screen, with the queue's progress and where "next" leads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewScreen {
    pub item: ReviewItem,
    pub progress: ReviewProgress,
    /// The item after this one for this reviewer (preloaded by the page).
    pub next: Option<ItemKey>,
    pub previous: Option<ItemKey>,
}

/// What a run's reviews show on its page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReviewView {
    pub settings: ReviewSettings,
    pub progress: ReviewProgress,
    pub review: RunReview,
    pub fixes: Vec<FixInfo>,
    pub can_manage: bool,
    pub can_promote: bool,
    pub can_review: bool,
}

#[cfg(feature = "ssr")]
async fn eval_summary(
    st: &crate::ssr::AppState,
    id: i64,
) -> Result<(String, String, Vec<String>), ApiError> {
    let (config, _) = st.store.job_config(id).await.map_err(store_error)?;
    let cfg = store::JobConfig::<anomaly::evaluation::EvalConfig>::decode(&config)
        .map_err(|e| fail(ApiError::Internal(format!("evaluation {id}: {e}"))))?;
    Ok((cfg.model, cfg.dataset, cfg.prompts))
}

/// The runs the caller may review, newest first, with their progress.
#[server(prefix = "/api", endpoint = "review/runs")]
pub async fn review_runs() -> Result<Vec<ReviewRun>, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let mut out = Vec::new();
    for id in st.store.reviewable_runs(&me).await.map_err(store_error)? {
        let (model, dataset, prompts) = eval_summary(&st, id).await?;
        let progress = st
            .store
            .review_progress(&me, id)
            .await
            .map_err(store_error)?;
        out.push(ReviewRun {
            id,
            model,
            dataset,
            prompts,
            progress,
        });
    }
    Ok(out)
}

/// The review screen for one item of run `id`: image `image` with `prompt`, or the caller's
/// next item when `image` is absent (None when nothing is left for them).
#[server(prefix = "/api", endpoint = "review/item")]
pub async fn load_review_item(
    id: i64,
    image: Option<i64>,
    prompt: String,
) -> Result<Option<ReviewScreen>, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let key = match image {
        Some(image_id) => ItemKey { image_id, prompt },
        None => match st
            .store
            .next_review_item(&me, id, None)
            .await
            .map_err(store_error)?
        {
            Some(k) => k,
            None => return Ok(None),
        },
    };
    let item = st
        .store
        .review_item(&me, id, &key)
        .await
        .map_err(store_error)?;
    let next = st
        .store
        .next_review_item(&me, id, Some(&key))
        .await
        .map_err(store_error)?;
    let previous = st
        .store
        .previous_review_item(&me, id, Some(&key))
        .await
        .map_err(store_error)?;
    let progress = st
        .store
        .review_progress(&me, id)
        .await
        .map_err(store_error)?;
    Ok(Some(ReviewScreen {
        item,
        progress,
        next,
        previous,
    }))
}

/// The judgement form: calls by their stored names, tags comma-separated, the version an edit
/// started from (empty for a first judgement).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JudgementForm {
    pub verdict: String,
    pub explanation: String,
    pub score: String,
    pub tags: String,
    pub comment: String,
    /// Empty: the model's explanation stands.
    pub fixed_explanation: String,
    pub version: String,
}

#[cfg(feature = "ssr")]
pub(crate) fn parse_judgement(
    form: &JudgementForm,
) -> Result<(review::Judgement, Option<i64>), ApiError> {
    use review::{ExplanationCall, Judgement, Score, VerdictCall};
    let bad = |m: String| fail(ApiError::BadRequest(m));
    let verdict: VerdictCall = form
        .verdict
        .parse()
        .map_err(|e| bad(format!("verdict: {e}")))?;
    let explanation: ExplanationCall = form
        .explanation
        .parse()
        .map_err(|e| bad(format!("explanation: {e}")))?;
    let score: i64 = form.score.trim().parse().map_err(|_| {
        bad(format!(
            "score: {:?} is not a number from 1 to 5",
            form.score
        ))
    })?;
    let score = Score::try_from(score).map_err(|e| bad(format!("score: {e}")))?;
    let tags = Judgement::parse_tags(&form.tags).map_err(|e| bad(format!("tags: {e}")))?;
    let fixed = form.fixed_explanation.trim();
    let version = match form.version.trim() {
        "" => None,
        v => Some(
            v.parse::<i64>()
                .map_err(|_| bad(format!("version: {v:?} is not a number")))?,
        ),
    };
    Ok((
        Judgement {
            verdict,
            explanation,
            score,
            tags,
            comment: form.comment.clone(),
            fixed_explanation: (!fixed.is_empty()).then(|| fixed.to_string()),
        },
        version,
    ))
}

/// Saves the caller's judgement of one item: 403 when the run is not shared with them, 409
/// when the item has its judgements already or the edit is stale, 400 for bad fields.
#[server(prefix = "/api", endpoint = "review/judge")]
pub async fn save_judgement(
    id: i64,
    image: i64,
    prompt: String,
    form: JudgementForm,
) -> Result<JudgementInfo, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let (judgement, version) = parse_judgement(&form)?;
    let item = ItemKey {
        image_id: image,
        prompt,
    };
    st.store
        .save_judgement(&me, id, &item, judgement, version)
        .await
        .map_err(store_error)
}

/// How run `id` is reviewed, what its judgements measure, and its corrected explanations.
#[server(prefix = "/api", endpoint = "review/run")]
pub async fn review_overview(id: i64) -> Result<RunReviewView, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let can_review = st.store.may_review(&me, id).await.map_err(store_error)?;
    if !st
        .store
        .may_read_reviews(&me, id)
        .await
        .map_err(store_error)?
    {
        return Err(fail(ApiError::Forbidden(format!(
            "run {id} is not shared with you for review"
        ))));
    }
    let can_manage = st
        .store
        .may_manage_review(&me, id)
        .await
        .map_err(store_error)?;
    Ok(RunReviewView {
        settings: st.store.review_settings(id).await.map_err(store_error)?,
        progress: st
            .store
            .review_progress(&me, id)
            .await
            .map_err(store_error)?,
        review: st.store.run_review(id).await.map_err(store_error)?,
        fixes: st.store.review_fixes(id).await.map_err(store_error)?,
        can_manage,
        can_promote: me.role == store::Role::Admin,
        can_review,
    })
}

/// The review settings form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReviewSettingsForm {
    pub judgements: String,
    /// Percent of items given one more, blind judgement.
    pub overlap_percent: String,
    pub order: String,
    pub seed: String,
    /// "on" when every reviewer may review.
    pub open_to_all: String,
}

/// Sets how run `id` is reviewed (its owner and admins).
#[server(prefix = "/api", endpoint = "review/settings")]
pub async fn set_review_settings(id: i64, form: ReviewSettingsForm) -> Result<(), ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    check_manager(&st, &me, id).await?;
    let bad = |m: String| fail(ApiError::BadRequest(m));
    let number = |field: &str, v: &str| -> Result<f64, ApiError> {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| bad(format!("{field}: {v:?} is not a number")))
    };
    let judgements = number("judgements", &form.judgements)?;
    if judgements.fract() != 0.0 || !(1.0..=5.0).contains(&judgements) {
        return Err(bad(format!(
            "judgements: {judgements} must be a whole number from 1 to 5"
        )));
    }
    let overlap = number("overlap", &form.overlap_percent)? / 100.0;
    let order = form
        .order
        .parse::<review::QueueOrder>()
        .map_err(|e| bad(format!("order: {e}")))?;
    let seed = match form.seed.trim() {
        "" => id as u64,
        s => s
            .parse::<u64>()
            .map_err(|_| bad(format!("seed: {s:?} is not a whole number")))?,
    };
    let plan = review::QueuePlan {
        judgements: judgements as u32,
        overlap,
        order,
        seed,
    };
    st.store
        .set_review_plan(
            id,
            plan,
            form.open_to_all == "on" || form.open_to_all == "true",
        )
        .await
        .map_err(store_error)
}

#[cfg(feature = "ssr")]
async fn check_manager(
    st: &crate::ssr::AppState,
    me: &store::UserInfo,
    id: i64,
) -> Result<(), ApiError> {
    if st
        .store
        .may_manage_review(me, id)
        .await
        .map_err(store_error)?
    {
        Ok(())
    } else {
        Err(fail(ApiError::Forbidden(
            "only its owner and admins decide who reviews it".into(),
        )))
    }
}

/// Shares run `id`'s review queue, or drafting job `id`'s drafts, with a user (its owner and
/// admins).
#[server(prefix = "/api", endpoint = "review/share")]
pub async fn share_review(id: i64, username: String) -> Result<(), ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    check_manager(&st, &me, id).await?;
    st.store
        .share_review(id, username.trim())
        .await
        .map_err(store_error)
}

/// Takes a share of run (or drafting job) `id` back (its owner and admins); judgements and
/// decisions stay.
#[server(prefix = "/api", endpoint = "review/unshare")]
pub async fn unshare_review(id: i64, username: String) -> Result<(), ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    check_manager(&st, &me, id).await?;
    st.store
        .unshare_review(id, username.trim())
        .await
        .map(|_| ())
        .map_err(store_error)
}

/// Makes a corrected explanation a QA annotation of its image (admins); returns its id.
#[server(prefix = "/api", endpoint = "review/promote")]
pub async fn promote_fix(judgement: i64) -> Result<i64, ApiError> {
    let me = require_user(Access::ADMIN)?;
    let st = state()?;
    st.store
        .promote_fix(&me, judgement)
        .await
        .map_err(store_error)
}

/// Reviewers' flags that images of a dataset are labelled wrongly (admins).
#[server(prefix = "/api", endpoint = "review/flags")]
pub async fn label_flags(dataset: String) -> Result<Vec<LabelFlag>, ApiError> {
    require_user(Access::ADMIN)?;
    let st = state()?;
    st.store.label_flags(&dataset).await.map_err(store_error)
}

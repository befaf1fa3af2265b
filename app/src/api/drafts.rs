//! Server functions of QA drafting: launch a drafting job for a dataset, list a dataset's
//! drafting jobs and those shared with the caller, load a job's drafts for the decision
//! screen, and decide on one draft. Sharing a job's drafts with reviewers goes through
//! `review/share`, as a run's queue does.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use store::{DraftDecision, DraftInfo, DraftProgress, JobInfo};

use crate::ApiError;

#[cfg(feature = "ssr")]
use super::form::parse_num;
#[cfg(feature = "ssr")]
use crate::ssr::{fail, job_device, plan_error, queue_job, require_user, state, store_error};
#[cfg(feature = "ssr")]
use store::{Access, JobKind, Role};

/// The drafting form of a dataset's page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DraftForm {
    pub model: String,
    pub dataset: String,
    /// Empty: every category / label.
    pub category: String,
    pub label: String,
    /// "on" (a checkbox) or "true": draft annotated images too.
    pub include_annotated: String,
    pub limit: String,
    pub max_new_tokens: String,
    /// Empty: the server's device.
    pub device: String,
}

/// A drafting job as lists show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DraftJob {
    pub job: JobInfo,
    pub model: String,
    pub dataset: String,
    pub progress: DraftProgress,
}

/// A drafting job's drafts, in the order the model wrote them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DraftQueue {
    pub job: DraftJob,
    pub drafts: Vec<DraftInfo>,
    /// Whether the caller decides who else may decide (the job's owner and admins), and,
    /// for them only, who it is shared with.
    pub can_share: bool,
    pub shared_with: Vec<String>,
}

#[cfg(feature = "ssr")]
async fn draft_job(st: &crate::ssr::AppState, job: JobInfo) -> Result<DraftJob, ApiError> {
    let (config, _) = st.store.job_config(job.id).await.map_err(store_error)?;
    let cfg = store::JobConfig::<anomaly::qa_draft::DraftConfig>::decode(&config)
        .map_err(|e| fail(ApiError::Internal(format!("drafting job {}: {e}", job.id))))?;
    let progress = st.store.draft_progress(job.id).await.map_err(store_error)?;
    Ok(DraftJob {
        job,
        model: cfg.model,
        dataset: cfg.dataset,
        progress,
    })
}

/// Queues a drafting job (members) after the checks `vlm-inspect dataset draft-qa` makes.
#[server(prefix = "/api", endpoint = "drafts/launch")]
pub async fn launch_drafting(form: DraftForm) -> Result<i64, ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    jobs::models::check_web_model(&st.store, form.model.trim())
        .await
        .map_err(|e| fail(ApiError::BadRequest(format!("model: {e}"))))?;
    let mut cfg = anomaly::qa_draft::DraftConfig::new(form.model.trim(), form.dataset.trim());
    cfg.category = Some(form.category.trim().to_string()).filter(|c| !c.is_empty());
    let label = form.label.trim();
    cfg.label = if label.is_empty() {
        None
    } else {
        Some(
            label
                .parse()
                .map_err(|e| fail(ApiError::BadRequest(format!("label: {e}"))))?,
        )
    };
    cfg.include_annotated = matches!(form.include_annotated.trim(), "on" | "true");
    let limit: usize = parse_num("limit", &form.limit, 0)?;
    cfg.limit = (limit > 0).then_some(limit);
    cfg.decoding.max_new_tokens = parse_num("max_new_tokens", &form.max_new_tokens, 96usize)?;
    cfg.device = job_device(&st, &form.device)?;
    jobs::draft_qa::plan(&st.store, &st.data_dir, cfg.clone())
        .await
        .map_err(plan_error)?;
    queue_job(&st, JobKind::DraftQa, &cfg, &me).await
}

/// Dataset `name`'s drafting jobs, newest first.
#[server(prefix = "/api", endpoint = "drafts/jobs")]
pub async fn drafting_jobs(name: String) -> Result<Vec<DraftJob>, ApiError> {
    require_user(Access::MEMBER)?;
    let st = state()?;
    let mut out = Vec::new();
    for job in st
        .store
        .jobs_of_kind(JobKind::DraftQa, 100)
        .await
        .map_err(store_error)?
    {
        let d = draft_job(&st, job).await?;
        if d.dataset == name {
            out.push(d);
        }
    }
    Ok(out)
}

/// The drafting jobs shared with the caller for decisions, newest first.
#[server(prefix = "/api", endpoint = "drafts/shared")]
pub async fn shared_drafting_jobs() -> Result<Vec<DraftJob>, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let mut out = Vec::new();
    for id in st.store.shared_draft_jobs(&me).await.map_err(store_error)? {
        let job = st.store.job(id).await.map_err(store_error)?;
        out.push(draft_job(&st, job).await?);
    }
    Ok(out)
}

/// Drafting job `id` and its drafts: members and admins, and reviewers it is shared with.
#[server(prefix = "/api", endpoint = "drafts/queue")]
pub async fn load_draft_queue(id: i64) -> Result<DraftQueue, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let allowed = st
        .store
        .may_decide_drafts(&me, id)
        .await
        .map_err(store_error)?;
    if !allowed && me.role == Role::Reviewer {
        return Err(fail(ApiError::Forbidden(format!(
            "drafting job {id} is not shared with you"
        ))));
    }
    let job = crate::ssr::job_of(&st, id, Some(JobKind::DraftQa), "drafting job").await?;
    let drafts = st.store.drafts(id).await.map_err(store_error)?;
    let can_share = st
        .store
        .may_manage_review(&me, id)
        .await
        .map_err(store_error)?;
    let shared_with = if can_share {
        st.store.review_shares(id).await.map_err(store_error)?
    } else {
        Vec::new()
    };
    Ok(DraftQueue {
        job: draft_job(&st, job).await?,
        drafts,
        can_share,
        shared_with,
    })
}

/// A decision as the screen sends it: `action` is accept, edit, reject or manual; `text` the
/// answer (edit, manual) or the reason (reject).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    pub action: String,
    pub text: String,
}

impl DecisionForm {
    pub fn decision(self) -> Result<DraftDecision, String> {
        Ok(match self.action.as_str() {
            "accept" => DraftDecision::Accept,
            "edit" => DraftDecision::Edit { answer: self.text },
            "reject" => DraftDecision::Reject { reason: self.text },
            "manual" => DraftDecision::Manual { answer: self.text },
            other => {
                return Err(format!(
                    "action: {other:?} is not accept, edit, reject or manual"
                ))
            }
        })
    }
}

/// Decides on draft `draft` from its version `version` (members, admins, and reviewers its job
/// is shared with): 409 with the other person's decision when someone decided since.
#[server(prefix = "/api", endpoint = "drafts/decide")]
pub async fn decide_draft(
    draft: i64,
    version: i64,
    form: DecisionForm,
) -> Result<DraftInfo, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let decision = form.decision().map_err(|e| fail(ApiError::BadRequest(e)))?;
    st.store
        .decide_draft(&me, draft, version, decision)
        .await
        .map_err(store_error)
}

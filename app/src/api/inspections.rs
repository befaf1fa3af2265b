//! Server functions of the Inspect page: one image in front of a model, queued as a job for
//! the interactive lane, its reply followed as it streams.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use store::JobInfo;

use crate::ApiError;

#[cfg(feature = "ssr")]
use super::form::{parse_id, parse_num, parse_opt};
#[cfg(feature = "ssr")]
use crate::ssr::{fail, job_device, queue_job, require_user, state, store_error};
#[cfg(feature = "ssr")]
use store::{Access, JobConfig, JobKind};

/// The Inspect form; text fields parsed on the server so errors name the field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InspectForm {
    pub model: String,
    pub prompt: String,
    /// A dataset image id, or empty when `upload` is set.
    pub image: String,
    pub upload: String,
    /// A dataset image id, or empty/"auto".
    pub template: String,
    /// Where an automatic template comes from for an upload.
    pub dataset: String,
    pub category: String,
    pub seed: String,
    pub max_new_tokens: String,
    /// Tiles per image for InternVL models (empty: the model's setting).
    pub max_patches: String,
    /// Empty: the server's device.
    pub device: String,
}

/// Queues one image for a model (members); the page then follows the job's events.
#[server(prefix = "/api", endpoint = "inspect/start")]
pub async fn start_inspection(form: InspectForm) -> Result<i64, ApiError> {
    use anomaly::evaluation::{ImageRef, InspectConfig};
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    let bad = |m: String| fail(ApiError::BadRequest(m));
    let device = job_device(&st, &form.device)?;
    if form.model.trim().is_empty() {
        return Err(bad("model: required".into()));
    }
    jobs::models::check_web_model(&st.store, form.model.trim())
        .await
        .map_err(|e| bad(format!("model: {e}")))?;
    let prompt = form.prompt.trim().to_string();
    if anomaly::prompts::builtin(&prompt).is_none()
        && st
            .store
            .prompt_named(&prompt)
            .await
            .map_err(store_error)?
            .is_none()
    {
        return Err(bad(format!("prompt: no prompt named {prompt:?}")));
    }
    let image = match (
        parse_id("image", &form.image)?,
        parse_id("upload", &form.upload)?,
    ) {
        (Some(id), _) => {
            st.store
                .eval_image(id)
                .await
                .map_err(|e| bad(format!("image: {e}")))?;
            ImageRef::Dataset(id)
        }
        (None, Some(id)) => {
            // Someone else's upload is as absent as a missing one.
            if !st
                .store
                .may_see_upload(&me, id)
                .await
                .map_err(store_error)?
            {
                return Err(bad(format!("upload: no upload {id}")));
            }
            ImageRef::Upload(id)
        }
        (None, None) => {
            return Err(bad(
                "image: upload an image or pick one from a dataset".into()
            ))
        }
    };
    let template = parse_id("template", &form.template)?;
    if let Some(t) = template {
        st.store
            .eval_image(t)
            .await
            .map_err(|e| bad(format!("template: {e}")))?;
    }
    let decoding = anomaly::explain::Decoding {
        max_new_tokens: parse_num("max_new_tokens", &form.max_new_tokens, 256usize)?,
        max_patches: parse_opt("max_patches", &form.max_patches)?,
        ..Default::default()
    };
    if decoding.max_patches == Some(0) {
        return Err(bad("max_patches: at least 1 tile per image".into()));
    }
    if decoding.max_new_tokens == 0 || decoding.max_new_tokens > 4096 {
        return Err(bad("max_new_tokens: 1 to 4096".into()));
    }
    let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let cfg = InspectConfig {
        model: form.model.trim().to_string(),
        prompt,
        image,
        template,
        dataset: some(&form.dataset),
        category: some(&form.category),
        seed: parse_num("seed", &form.seed, 0u64)?,
        device,
        decoding,
    };
    queue_job(&st, JobKind::Inspect, &cfg, &me).await
}

/// One inspection: what was asked, the images, the reply so far (from its events) or in full.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InspectionView {
    pub job: JobInfo,
    pub model: String,
    pub prompt: String,
    /// The device it was queued for, and the one its runner opened (once it ran).
    pub device: String,
    pub ran_on: Option<String>,
    /// URLs of the test image and the template (when one was used).
    pub image_url: String,
    pub template_url: Option<String>,
    /// The reply streamed so far, and the last event's sequence number.
    pub text: String,
    pub last_seq: i64,
    pub verdict: Option<String>,
    pub explanation: Option<String>,
    pub new_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    /// Who besides its owner and the admins may see it.
    pub shared_with: Vec<String>,
}

#[cfg(feature = "ssr")]
async fn inspection_view(
    st: &crate::ssr::AppState,
    job: JobInfo,
) -> Result<InspectionView, ApiError> {
    use anomaly::evaluation::{ImageRef, InspectConfig};
    let (config, result) = st.store.job_config(job.id).await.map_err(store_error)?;
    let cfg = JobConfig::<InspectConfig>::decode(&config)
        .map_err(|e| fail(ApiError::Internal(format!("inspection {}: {e}", job.id))))?;
    let events = st.store.job_events(job.id, 0).await.map_err(store_error)?;
    let mut text = String::new();
    let mut ran_on = None;
    for (_, e) in &events {
        match store::JobEvent::from_json(e) {
            Some(store::JobEvent::Text { text: piece }) => text.push_str(&piece),
            Some(store::JobEvent::Started { device, .. }) => ran_on = Some(device),
            _ => {}
        }
    }
    let result: Option<store::InspectResult> = result.and_then(|r| serde_json::from_str(&r).ok());
    let image_url = match cfg.image {
        ImageRef::Dataset(id) => format!("/files/images/{id}"),
        ImageRef::Upload(id) => format!("/files/uploads/{id}"),
    };
    let template = match &result {
        Some(r) => r.template_id,
        None => cfg.template,
    };
    Ok(InspectionView {
        model: cfg.model,
        prompt: cfg.prompt,
        device: cfg.device,
        ran_on,
        image_url,
        template_url: template.map(|t| format!("/files/images/{t}")),
        last_seq: events.last().map(|(s, _)| *s).unwrap_or(0),
        text: result.as_ref().map(|r| r.raw.clone()).unwrap_or(text),
        verdict: result.as_ref().map(|r| r.verdict.clone()),
        explanation: result.as_ref().map(|r| r.explanation.clone()),
        new_tokens: result.as_ref().map(|r| r.new_tokens as i64),
        latency_ms: result.as_ref().map(|r| r.latency_ms as i64),
        shared_with: st
            .store
            .inspection_shares(job.id)
            .await
            .map_err(store_error)?,
        job,
    })
}

/// Inspection `id` when `me` may see it; otherwise as absent as a missing one (404).
#[cfg(feature = "ssr")]
async fn visible_inspection(
    st: &crate::ssr::AppState,
    me: &store::UserInfo,
    id: i64,
) -> Result<JobInfo, ApiError> {
    let job = crate::ssr::job_of(st, id, Some(JobKind::Inspect), "inspection").await?;
    if !st.store.may_see_job(me, id).await.map_err(store_error)? {
        return Err(fail(ApiError::NotFound(format!("no inspection {id}"))));
    }
    Ok(job)
}

#[server(prefix = "/api", endpoint = "inspect/one")]
pub async fn inspection(id: i64) -> Result<InspectionView, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let job = visible_inspection(&st, &me, id).await?;
    inspection_view(&st, job).await
}

/// Shares inspection `id` with `username` (or takes the share back with `share` false): its
/// owner or an admin only. The user then sees the inspection, its reply and its images.
#[server(prefix = "/api", endpoint = "inspect/share")]
pub async fn share_inspection(
    id: i64,
    username: String,
    share: bool,
) -> Result<Vec<String>, ApiError> {
    use anomaly::evaluation::{ImageRef, InspectConfig};
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let job = visible_inspection(&st, &me, id).await?;
    if !crate::ssr::owns_or_admin(&me, &job.owner) {
        return Err(fail(ApiError::Forbidden(
            "only its owner or an admin may share an inspection".into(),
        )));
    }
    let other = st.store.user(username.trim()).await.map_err(|_| {
        fail(ApiError::BadRequest(format!(
            "username: no user named {:?}",
            username.trim()
        )))
    })?;
    if share {
        let (config, _) = st.store.job_config(id).await.map_err(store_error)?;
        let upload = JobConfig::<InspectConfig>::decode(&config)
            .ok()
            .and_then(|c| match c.image {
                ImageRef::Upload(u) => Some(u),
                ImageRef::Dataset(_) => None,
            });
        st.store
            .share_inspection(id, other.id, upload)
            .await
            .map_err(store_error)?;
    } else {
        st.store
            .unshare_inspection(id, other.id)
            .await
            .map_err(store_error)?;
    }
    st.store.inspection_shares(id).await.map_err(store_error)
}

/// The signed-in user's inspections, newest first.
#[server(prefix = "/api", endpoint = "inspect/mine")]
pub async fn my_inspections() -> Result<Vec<InspectionView>, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let mut out = Vec::new();
    for job in st
        .store
        .jobs_of_kind(JobKind::Inspect, 200)
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|j| j.owner == me.username)
        .take(30)
    {
        out.push(inspection_view(&st, job).await?);
    }
    Ok(out)
}

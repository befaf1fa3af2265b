//! Server functions of Part B and the evaluation pages: prompts (built in and user-written),
//! inspections of single images, evaluation runs (launch, list, results recomputed from the
//! stored predictions, compare). The server's job worker runs inspections and evaluations.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use store::{JobInfo, PredictionRecord};

use crate::ApiError;

#[cfg(feature = "ssr")]
use crate::ssr::{fail, require_user, state, store_error};
#[cfg(feature = "ssr")]
use store::Access;

pub const KIND_EVAL: &str = "eval";
pub const KIND_INSPECT: &str = "inspect";

/// A prompt as the pages list it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptChoice {
    pub id: Option<i64>,
    pub name: String,
    pub text: String,
    pub chain_of_image: bool,
    /// "built in" or the author's name.
    pub author: String,
}

/// What the Inspect and Evaluations forms offer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Choices {
    /// Models that can judge images: LLaVA folders and adapters of them.
    pub models: Vec<String>,
    pub datasets: Vec<String>,
    /// (dataset, split key)
    pub splits: Vec<(String, String)>,
    /// (dataset, category)
    pub categories: Vec<(String, String)>,
    pub prompts: Vec<PromptChoice>,
}

#[cfg(feature = "ssr")]
async fn prompt_choices(st: &crate::ssr::AppState) -> Result<Vec<PromptChoice>, ApiError> {
    let mut out: Vec<PromptChoice> = anomaly::BUILTIN_PROMPTS
        .iter()
        .map(|p| PromptChoice {
            id: None,
            name: p.name.into(),
            text: p.text.into(),
            chain_of_image: p.chain_of_image,
            author: "built in".into(),
        })
        .collect();
    for p in st.store.prompts().await.map_err(store_error)? {
        out.push(PromptChoice {
            id: Some(p.id),
            name: p.name,
            text: p.text,
            chain_of_image: p.chain_of_image,
            author: p.author,
        });
    }
    Ok(out)
}

#[server(prefix = "/api", endpoint = "eval/choices")]
pub async fn eval_choices() -> Result<Choices, ApiError> {
    require_user(Access::AnyUser)?;
    let st = state()?;
    let models = st
        .store
        .models()
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|m| {
            let p = std::path::Path::new(&m.path);
            vlm::llava::is_vlm_dir(p)
        })
        .map(|m| m.name)
        .collect();
    let mut c = Choices {
        models,
        prompts: prompt_choices(&st).await?,
        ..Default::default()
    };
    for d in st.store.datasets().await.map_err(store_error)? {
        let stats = st.store.dataset_stats(&d.name).await.map_err(store_error)?;
        for sp in stats.splits {
            c.splits.push((d.name.clone(), sp.key));
        }
        let mut cats: Vec<String> = stats.counts.into_iter().map(|r| r.category).collect();
        cats.dedup();
        for cat in cats {
            c.categories.push((d.name.clone(), cat));
        }
        c.datasets.push(d.name);
    }
    Ok(c)
}

/// Saves a prompt (members). Every prompt gets the verdict instruction when it is used.
#[server(prefix = "/api", endpoint = "prompts/add")]
pub async fn add_prompt(
    name: String,
    text: String,
    chain_of_image: Option<String>,
) -> Result<i64, ApiError> {
    let me = require_user(Access::MEMBER)?;
    state()?
        .store
        .add_prompt(&name, &text, chain_of_image.is_some(), Some(me.id))
        .await
        .map_err(store_error)
}

/// Deletes a prompt (its author or an admin).
#[server(prefix = "/api", endpoint = "prompts/delete")]
pub async fn delete_prompt(id: i64) -> Result<(), ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    let p = st
        .store
        .prompts()
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| fail(ApiError::NotFound(format!("no prompt {id}"))))?;
    if p.author != me.username && me.role != store::Role::Admin {
        return Err(fail(ApiError::Forbidden(
            "only its author or an admin may delete a prompt".into(),
        )));
    }
    st.store.delete_prompt(id).await.map_err(store_error)
}

/// Every prompt, built in first.
#[server(prefix = "/api", endpoint = "prompts")]
pub async fn list_prompts() -> Result<Vec<PromptChoice>, ApiError> {
    require_user(Access::AnyUser)?;
    prompt_choices(&state()?).await
}

// ---- Inspections -------------------------------------------------------------------------

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
}

#[cfg(feature = "ssr")]
fn parse_id(field: &str, text: &str) -> Result<Option<i64>, ApiError> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    t.parse::<i64>()
        .map(Some)
        .map_err(|_| fail(ApiError::BadRequest(format!("{field}: {t:?} is not an id"))))
}

#[cfg(feature = "ssr")]
fn parse_num<T: std::str::FromStr>(field: &str, text: &str, default: T) -> Result<T, ApiError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(default);
    }
    t.parse().map_err(|_| {
        fail(ApiError::BadRequest(format!(
            "{field}: {t:?} is not a valid value"
        )))
    })
}

/// Queues one image for a model (members); the page then follows the job's events.
#[server(prefix = "/api", endpoint = "inspect/start")]
pub async fn start_inspection(form: InspectForm) -> Result<i64, ApiError> {
    use anomaly::evaluation::{ImageRef, InspectConfig};
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    let bad = |m: String| fail(ApiError::BadRequest(m));
    if form.model.trim().is_empty() {
        return Err(bad("model: required".into()));
    }
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
            st.store
                .upload(id)
                .await
                .map_err(|e| bad(format!("upload: {e}")))?;
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
        ..Default::default()
    };
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
        device: "cpu".into(),
        decoding,
    };
    let config = serde_json::to_string(&cfg).map_err(|e| bad(e.to_string()))?;
    let id = st
        .store
        .create_job(KIND_INSPECT, &config, Some(me.id))
        .await
        .map_err(store_error)?;
    st.jobs.wake.notify_waiters();
    Ok(id)
}

/// One inspection: what was asked, the images, the reply so far (from its events) or in full.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InspectionView {
    pub job: JobInfo,
    pub model: String,
    pub prompt: String,
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
}

#[cfg(feature = "ssr")]
async fn inspection_view(
    st: &crate::ssr::AppState,
    job: JobInfo,
) -> Result<InspectionView, ApiError> {
    use anomaly::evaluation::{ImageRef, InspectConfig};
    let (config, result) = st.store.job_config(job.id).await.map_err(store_error)?;
    let cfg: InspectConfig = serde_json::from_str(&config)
        .map_err(|e| fail(ApiError::Internal(format!("inspection config: {e}"))))?;
    let events = st.store.job_events(job.id, 0).await.map_err(store_error)?;
    let mut text = String::new();
    for (_, e) in &events {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(e) {
            if let Some(t) = v["text"].as_str() {
                text.push_str(t);
            }
        }
    }
    let result: serde_json::Value = result
        .and_then(|r| serde_json::from_str(&r).ok())
        .unwrap_or_default();
    let image_url = match cfg.image {
        ImageRef::Dataset(id) => format!("/files/images/{id}"),
        ImageRef::Upload(id) => format!("/files/uploads/{id}"),
    };
    let template =
        result["template_id"]
            .as_i64()
            .or(if result.is_null() { cfg.template } else { None });
    Ok(InspectionView {
        model: cfg.model,
        prompt: cfg.prompt,
        image_url,
        template_url: template.map(|t| format!("/files/images/{t}")),
        last_seq: events.last().map(|(s, _)| *s).unwrap_or(0),
        text: result["raw"].as_str().map(String::from).unwrap_or(text),
        verdict: result["verdict"].as_str().map(String::from),
        explanation: result["explanation"].as_str().map(String::from),
        new_tokens: result["new_tokens"].as_i64(),
        latency_ms: result["latency_ms"].as_i64(),
        job,
    })
}

#[server(prefix = "/api", endpoint = "inspect/one")]
pub async fn inspection(id: i64) -> Result<InspectionView, ApiError> {
    require_user(Access::AnyUser)?;
    let st = state()?;
    let job = st
        .store
        .job(id)
        .await
        .ok()
        .filter(|j| j.kind == KIND_INSPECT)
        .ok_or_else(|| fail(ApiError::NotFound(format!("no inspection {id}"))))?;
    inspection_view(&st, job).await
}

/// The signed-in user's inspections, newest first.
#[server(prefix = "/api", endpoint = "inspect/mine")]
pub async fn my_inspections() -> Result<Vec<InspectionView>, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let mut out = Vec::new();
    for job in st
        .store
        .jobs_of_kind(KIND_INSPECT, 200)
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

// ---- Evaluations -------------------------------------------------------------------------

/// The launch form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalForm {
    pub model: String,
    pub dataset: String,
    pub split: String,
    /// Comma-separated prompt names.
    pub prompts: String,
    pub limit: String,
    pub seed: String,
    pub template: String,
    pub max_new_tokens: String,
}

/// Queues an evaluation run (members) after checking model, split and prompts.
#[server(prefix = "/api", endpoint = "eval/launch")]
pub async fn launch_evaluation(form: EvalForm) -> Result<i64, ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    let bad = |m: String| fail(ApiError::BadRequest(m));
    let prompts: Vec<&str> = form
        .prompts
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let mut cfg = anomaly::evaluation::EvalConfig::new(
        form.model.trim(),
        form.dataset.trim(),
        form.split.trim(),
        &prompts,
    );
    cfg.limit = parse_id("limit", &form.limit)?.map(|n| n.max(0) as usize);
    cfg.seed = parse_num("seed", &form.seed, 0u64)?;
    cfg.template = parse_id("template", &form.template)?;
    cfg.decoding.max_new_tokens = parse_num("max_new_tokens", &form.max_new_tokens, 256usize)?;
    cfg.validate().map_err(bad)?;
    for p in &cfg.prompts {
        if anomaly::prompts::builtin(p).is_none()
            && st
                .store
                .prompt_named(p)
                .await
                .map_err(store_error)?
                .is_none()
        {
            return Err(bad(format!("prompts: no prompt named {p:?}")));
        }
    }
    let images = st
        .store
        .eval_images(&cfg.dataset, &cfg.split, Some(1))
        .await
        .map_err(|e| bad(format!("split: {e}")))?;
    if images.is_empty() {
        return Err(bad(format!("split: {:?} has no test images", cfg.split)));
    }
    let path = match st
        .store
        .model_named(&cfg.model)
        .await
        .map_err(store_error)?
    {
        Some(m) => std::path::PathBuf::from(m.path),
        None => std::path::PathBuf::from(&cfg.model),
    };
    if !vlm::llava::is_vlm_dir(&path) {
        return Err(bad(format!(
            "model: {:?} is neither a registered vision-language model nor a LLaVA or adapter folder on the server",
            cfg.model
        )));
    }
    let id = st
        .store
        .create_job(KIND_EVAL, &cfg.to_json(), Some(me.id))
        .await
        .map_err(store_error)?;
    st.jobs.wake.notify_waiters();
    Ok(id)
}

/// Accuracy of one group, with its counts (None: no image of that kind).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Accuracies {
    pub logical: Option<f64>,
    pub structural: Option<f64>,
    pub average: Option<f64>,
    pub good: Option<f64>,
    pub balanced: Option<f64>,
    /// (correct, total) per type: logical, structural, good.
    pub counts: [(usize, usize); 3],
    pub true_positives: usize,
    pub false_negatives: usize,
    pub undecided_anomalies: usize,
    pub false_positives: usize,
    pub true_negatives: usize,
    pub undecided_normals: usize,
}

/// One prompt's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptResult {
    pub prompt: String,
    /// The row name in the paper's style: "model + CoI (P1)".
    pub method: String,
    pub images: usize,
    pub overall: Accuracies,
    pub per_category: Vec<(String, Accuracies)>,
    pub bert_f1: Option<f64>,
    pub bert_p: Option<f64>,
    pub bert_r: Option<f64>,
    pub bert_n: usize,
    pub distinct_1: Option<f64>,
    pub distinct_2: Option<f64>,
    pub self_bleu: Option<f64>,
}

#[cfg(feature = "ssr")]
fn accuracies(s: &anomaly::metrics::Scores) -> Accuracies {
    Accuracies {
        logical: s.logical.accuracy(),
        structural: s.structural.accuracy(),
        average: s.average(),
        good: s.good.accuracy(),
        balanced: s.balanced(),
        counts: [
            (s.logical.correct, s.logical.total),
            (s.structural.correct, s.structural.total),
            (s.good.correct, s.good.total),
        ],
        true_positives: s.true_positives,
        false_negatives: s.false_negatives,
        undecided_anomalies: s.undecided_anomalies,
        false_positives: s.false_positives,
        true_negatives: s.true_negatives,
        undecided_normals: s.undecided_normals,
    }
}

/// One run as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRun {
    pub job: JobInfo,
    pub model: String,
    pub dataset: String,
    pub split: String,
    pub prompts: Vec<String>,
    pub limit: Option<usize>,
    /// BERTScore's hash, or why it is missing.
    pub bertscore: Option<String>,
}

/// A run with its results, recomputed from its stored predictions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalDetail {
    pub run: EvalRun,
    pub results: Vec<PromptResult>,
    pub predictions: Vec<PredictionRecord>,
    /// The reference answers of each judged image.
    pub references: Vec<(i64, Vec<String>)>,
    pub last_seq: i64,
    pub can_manage: bool,
}

#[cfg(feature = "ssr")]
async fn eval_run(
    st: &crate::ssr::AppState,
    job: JobInfo,
) -> Result<(EvalRun, anomaly::evaluation::EvalConfig), ApiError> {
    let (config, result) = st.store.job_config(job.id).await.map_err(store_error)?;
    let cfg = anomaly::evaluation::EvalConfig::from_json(&config)
        .map_err(|e| fail(ApiError::Internal(e)))?;
    let bertscore = result
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok())
        .and_then(|v| v["bertscore"].as_str().map(String::from));
    Ok((
        EvalRun {
            job,
            model: cfg.model.clone(),
            dataset: cfg.dataset.clone(),
            split: cfg.split.clone(),
            prompts: cfg.prompts.clone(),
            limit: cfg.limit,
            bertscore,
        },
        cfg,
    ))
}

#[cfg(feature = "ssr")]
async fn results_of(
    st: &crate::ssr::AppState,
    id: i64,
    cfg: &anomaly::evaluation::EvalConfig,
) -> Result<(Vec<PromptResult>, Vec<PredictionRecord>), ApiError> {
    let (records, reports) = st
        .store
        .eval_report(id, &cfg.prompts)
        .await
        .map_err(store_error)?;
    let results = reports
        .iter()
        .map(|r| PromptResult {
            prompt: r.prompt.clone(),
            method: anomaly::report::method_name(&cfg.model, &r.prompt),
            images: r.images,
            overall: accuracies(&r.scores),
            per_category: r
                .per_category
                .iter()
                .map(|(c, s)| (c.clone(), accuracies(s)))
                .collect(),
            bert_f1: r.bertscore.as_ref().map(|b| b.f1),
            bert_p: r.bertscore.as_ref().map(|b| b.p),
            bert_r: r.bertscore.as_ref().map(|b| b.r),
            bert_n: r.bertscore.as_ref().map(|b| b.n).unwrap_or(0),
            distinct_1: r.distinct_1,
            distinct_2: r.distinct_2,
            self_bleu: r.self_bleu,
        })
        .collect();
    Ok((results, records))
}

#[cfg(feature = "ssr")]
async fn eval_job(st: &crate::ssr::AppState, id: i64) -> Result<JobInfo, ApiError> {
    st.store
        .job(id)
        .await
        .ok()
        .filter(|j| j.kind == KIND_EVAL)
        .ok_or_else(|| fail(ApiError::NotFound(format!("no evaluation {id}"))))
}

/// Evaluation runs, newest first.
#[server(prefix = "/api", endpoint = "eval/runs")]
pub async fn evaluations() -> Result<Vec<EvalRun>, ApiError> {
    require_user(Access::AnyUser)?;
    let st = state()?;
    let mut out = Vec::new();
    for job in st
        .store
        .jobs_of_kind(KIND_EVAL, 100)
        .await
        .map_err(store_error)?
    {
        out.push(eval_run(&st, job).await?.0);
    }
    Ok(out)
}

/// One run with everything its page shows.
#[server(prefix = "/api", endpoint = "eval/run")]
pub async fn evaluation(id: i64) -> Result<EvalDetail, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let job = eval_job(&st, id).await?;
    let owner = job.owner.clone();
    let (run, cfg) = eval_run(&st, job).await?;
    let (results, predictions) = results_of(&st, id, &cfg).await?;
    let mut references = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in &predictions {
        if seen.insert(p.image_id) {
            let answers = st
                .store
                .reference_answers(p.image_id)
                .await
                .map_err(store_error)?;
            references.push((p.image_id, answers));
        }
    }
    let last_seq = st
        .store
        .job_events(id, 0)
        .await
        .map_err(store_error)?
        .last()
        .map(|(s, _)| *s)
        .unwrap_or(0);
    Ok(EvalDetail {
        run,
        results,
        predictions,
        references,
        last_seq,
        can_manage: me.role == store::Role::Admin || me.username == owner,
    })
}

/// Several runs' results side by side (ids comma-separated).
#[server(prefix = "/api", endpoint = "eval/compare")]
pub async fn compare_evaluations(
    ids: String,
) -> Result<Vec<(EvalRun, Vec<PromptResult>)>, ApiError> {
    require_user(Access::AnyUser)?;
    let st = state()?;
    let mut out = Vec::new();
    for part in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id: i64 = part.parse().map_err(|_| {
            fail(ApiError::BadRequest(format!(
                "ids: {part:?} is not a run id"
            )))
        })?;
        let job = eval_job(&st, id).await?;
        let (run, cfg) = eval_run(&st, job).await?;
        let (results, _) = results_of(&st, id, &cfg).await?;
        out.push((run, results));
    }
    Ok(out)
}

/// Asks a run to stop after the current image (its owner or an admin).
#[server(prefix = "/api", endpoint = "eval/cancel")]
pub async fn cancel_evaluation(id: i64) -> Result<(), ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    let job = eval_job(&st, id).await?;
    if job.owner != me.username && me.role != store::Role::Admin {
        return Err(fail(ApiError::Forbidden(
            "only the run's owner or an admin may cancel it".into(),
        )));
    }
    crate::ssr::cancel_job(&st, id).await
}

/// Queues a failed or cancelled run again; it keeps its stored predictions.
#[server(prefix = "/api", endpoint = "eval/resume")]
pub async fn resume_evaluation(id: i64) -> Result<(), ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    let job = eval_job(&st, id).await?;
    if job.owner != me.username && me.role != store::Role::Admin {
        return Err(fail(ApiError::Forbidden(
            "only the run's owner or an admin may resume it".into(),
        )));
    }
    crate::ssr::resume_job(&st, id).await
}

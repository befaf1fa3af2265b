//! Server functions of the evaluation pages: launch runs, list them, their results recomputed
//! from the stored predictions, compare, cancel, resume and delete.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use store::{JobInfo, PredictionRecord};

use crate::ApiError;

#[cfg(feature = "ssr")]
use super::form::{parse_id, parse_num, parse_opt};
#[cfg(feature = "ssr")]
use crate::ssr::{
    fail, job_device, owns_or_admin, plan_error, queue_job, require_user, state, store_error,
};
#[cfg(feature = "ssr")]
use store::{Access, JobConfig, JobKind};

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
    /// Tiles per image for InternVL models (empty: the model's setting).
    pub max_patches: String,
    /// Empty: the server's device.
    pub device: String,
}

/// Queues an evaluation run (members) after checking model, split and prompts.
#[server(prefix = "/api", endpoint = "eval/launch")]
pub async fn launch_evaluation(form: EvalForm) -> Result<i64, ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    jobs::models::check_web_model(&st.store, form.model.trim())
        .await
        .map_err(|e| fail(ApiError::BadRequest(format!("model: {e}"))))?;
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
    cfg.decoding.max_patches = parse_opt("max_patches", &form.max_patches)?;
    cfg.device = job_device(&st, &form.device)?;
    // The same checks, with the same messages, as `vlm-inspect eval` and the evaluation lane.
    jobs::evaluate::plan(&st.store, &st.data_dir, cfg.clone())
        .await
        .map_err(plan_error)?;
    queue_job(&st, JobKind::Eval, &cfg, &me).await
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

/// Whether the explanations of correctly detected anomalies name the annotated defect and put
/// it where its region is (`anomaly::naming`), with counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Naming {
    /// (named, judged): explanations that name the defect, of those whose annotation names one.
    pub named: (usize, usize),
    /// (agree, located): location words that agree with the region, of the explanations with
    /// an annotated region and location words.
    pub location: (usize, usize),
    /// Explanations with an annotated region but no location words.
    pub no_location_words: usize,
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
    #[serde(default)]
    pub naming: Naming,
    #[serde(default)]
    pub naming_per_category: Vec<(String, Naming)>,
}

#[cfg(feature = "ssr")]
fn naming(n: &anomaly::naming::NamingScores) -> Naming {
    Naming {
        named: (n.named, n.judged),
        location: (n.location_agrees, n.located),
        no_location_words: n.no_location_words,
    }
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
    /// The device it was queued for.
    pub device: String,
    /// Tokens of its predictions (prompt, completion) and their cost in US dollars (remote
    /// models with prices), once it ended.
    #[serde(default)]
    pub usage: Option<(u64, u64)>,
    #[serde(default)]
    pub cost_usd: Option<f64>,
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
    /// The device its runner last opened.
    pub ran_on: Option<String>,
    pub can_manage: bool,
    /// What reviewers' judgements of it measure (None before the first one).
    #[serde(default)]
    pub human: Option<review::RunReview>,
}

#[cfg(feature = "ssr")]
async fn eval_run(
    st: &crate::ssr::AppState,
    job: JobInfo,
) -> Result<(EvalRun, anomaly::evaluation::EvalConfig), ApiError> {
    let (config, result) = st.store.job_config(job.id).await.map_err(store_error)?;
    let cfg = JobConfig::<anomaly::evaluation::EvalConfig>::decode(&config)
        .map_err(|e| fail(ApiError::Internal(format!("evaluation {}: {e}", job.id))))?;
    let result = result.and_then(|r| serde_json::from_str::<store::EvalResult>(&r).ok());
    let usage = result
        .as_ref()
        .map(|r| (r.prompt_tokens, r.completion_tokens))
        .filter(|&(p, c)| p + c > 0);
    let cost_usd = result.as_ref().and_then(|r| r.cost_usd);
    let bertscore = result.map(|r| r.bertscore);
    Ok((
        EvalRun {
            job,
            model: cfg.model.clone(),
            dataset: cfg.dataset.clone(),
            split: cfg.split.clone(),
            prompts: cfg.prompts.clone(),
            limit: cfg.limit,
            bertscore,
            device: cfg.device.clone(),
            usage,
            cost_usd,
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
            naming: naming(&r.naming),
            naming_per_category: r
                .naming_per_category
                .iter()
                .map(|(c, n)| (c.clone(), naming(n)))
                .collect(),
        })
        .collect();
    Ok((results, records))
}

#[cfg(feature = "ssr")]
async fn eval_job(st: &crate::ssr::AppState, id: i64) -> Result<JobInfo, ApiError> {
    crate::ssr::job_of(st, id, Some(JobKind::Eval), "evaluation").await
}

/// Run `id` when `me` may see it; otherwise as absent as a missing one (404).
#[cfg(feature = "ssr")]
async fn visible_eval(
    st: &crate::ssr::AppState,
    me: &store::UserInfo,
    id: i64,
) -> Result<JobInfo, ApiError> {
    let job = eval_job(st, id).await?;
    if !st.store.may_see_job(me, id).await.map_err(store_error)? {
        return Err(fail(ApiError::NotFound(format!("no evaluation run {id}"))));
    }
    Ok(job)
}

/// Evaluation runs, newest first.
#[server(prefix = "/api", endpoint = "eval/runs")]
pub async fn evaluations() -> Result<Vec<EvalRun>, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    // Reviewers list only the runs shared with them (one query, not one per run).
    let reviewable = if me.role == store::Role::Reviewer {
        Some(st.store.reviewable_runs(&me).await.map_err(store_error)?)
    } else {
        None
    };
    let mut out = Vec::new();
    for job in st
        .store
        .jobs_of_kind(JobKind::Eval, 100)
        .await
        .map_err(store_error)?
    {
        if reviewable
            .as_ref()
            .is_some_and(|ids| !ids.contains(&job.id))
        {
            continue;
        }
        out.push(eval_run(&st, job).await?.0);
    }
    Ok(out)
}

/// One run with everything its page shows.
#[server(prefix = "/api", endpoint = "eval/run")]
pub async fn evaluation(id: i64) -> Result<EvalDetail, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let job = visible_eval(&st, &me, id).await?;
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
    let events = st.store.job_events(id, 0).await.map_err(store_error)?;
    let last_seq = events.last().map(|(s, _)| *s).unwrap_or(0);
    let ran_on = crate::ssr::ran_on(&events);
    Ok(EvalDetail {
        run,
        results,
        predictions,
        references,
        last_seq,
        ran_on,
        can_manage: owns_or_admin(&me, &owner),
        human: st.store.run_review(id).await.map_err(store_error)?.into(),
    })
}

/// Several runs' results side by side (ids comma-separated).
/// The most runs one comparison reads (each report is cached, but a first one costs an
/// O(n²) self-BLEU per prompt).
pub const MAX_COMPARED: usize = 8;

#[server(prefix = "/api", endpoint = "eval/compare")]
pub async fn compare_evaluations(
    ids: String,
) -> Result<Vec<(EvalRun, Vec<PromptResult>)>, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let mut wanted: Vec<i64> = Vec::new();
    for part in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id: i64 = part.parse().map_err(|_| {
            fail(ApiError::BadRequest(format!(
                "ids: {part:?} is not a run id"
            )))
        })?;
        // Repeats add nothing but work.
        if !wanted.contains(&id) {
            wanted.push(id);
        }
        if wanted.len() > MAX_COMPARED {
            return Err(fail(ApiError::BadRequest(format!(
                "ids: compare at most {MAX_COMPARED} runs at once"
            ))));
        }
    }
    let mut out = Vec::new();
    for id in wanted {
        let job = visible_eval(&st, &me, id).await?;
        let (run, cfg) = eval_run(&st, job).await?;
        let (results, _) = results_of(&st, id, &cfg).await?;
        out.push((run, results));
    }
    Ok(out)
}

/// Asks a run to stop after the current image (its owner or an admin).
#[server(prefix = "/api", endpoint = "eval/cancel")]
pub async fn cancel_evaluation(id: i64) -> Result<(), ApiError> {
    use crate::api::jobs::{control, Control};
    control(id, Some(JobKind::Eval), Control::Cancel).await
}

/// Queues a failed or cancelled run again; it keeps its stored predictions.
#[server(prefix = "/api", endpoint = "eval/resume")]
pub async fn resume_evaluation(id: i64) -> Result<(), ApiError> {
    use crate::api::jobs::{control, Control};
    control(id, Some(JobKind::Eval), Control::Resume).await
}

/// What deleting a run kept: the judgements deleted with it and their export's files (in the
/// data folder's `exports/`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunDeletion {
    pub judgements: i64,
    pub kept: Vec<String>,
}

/// Deletes an ended run and everything stored for it (its owner or an admin). A run that
/// reviewers judged is refused (409, with the count) unless `with_reviews`; their judgements
/// are then written to the data folder's `exports/` first, as CSV and JSON.
#[server(prefix = "/api", endpoint = "eval/delete")]
pub async fn delete_evaluation(
    id: i64,
    #[server(default)] with_reviews: bool,
) -> Result<RunDeletion, ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    let job = crate::ssr::job_of(&st, id, Some(JobKind::Eval), "evaluation run").await?;
    if !owns_or_admin(&me, &job.owner) {
        return Err(fail(ApiError::Forbidden(format!(
            "only its owner or an admin may delete run {id}"
        ))));
    }
    let done = jobs::review::delete_run(&st.store, &st.data_dir, id, with_reviews)
        .await
        .map_err(store_error)?;
    Ok(RunDeletion {
        judgements: done.judgements,
        kept: done
            .kept
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| format!("exports/{}", n.to_string_lossy()))
            .collect(),
    })
}

//! Server functions of the training pages: launch (admins), list and follow runs (everyone
//! signed in), cancel and resume (admins). The job worker in the server runs them.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use store::JobInfo;

use crate::ApiError;

#[cfg(feature = "ssr")]
use crate::ssr::{fail, job_device, plan_error, queue_job, require_user, state, store_error};
#[cfg(feature = "ssr")]
use jobs::training::read_config as train_config;
#[cfg(feature = "ssr")]
use store::{Access, JobKind};

/// The training form. Every field is text, parsed on the server, so a bad value comes back as
/// an error naming its field rather than a failed request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainForm {
    pub base_model: String,
    pub dataset: String,
    pub split: String,
    pub name: String,
    pub device: String,
    pub epochs: String,
    pub learning_rate: String,
    pub batch_size: String,
    pub grad_accum: String,
    pub warmup_ratio: String,
    pub weight_decay: String,
    pub max_grad_norm: String,
    pub seed: String,
    pub save_every_steps: String,
    pub rank: String,
    pub alpha: String,
    pub dropout: String,
    pub targets: String,
    /// "true" when ticked (absent otherwise).
    pub use_rslora: String,
    pub train_projector: String,
    /// Tiles per image for InternVL models (empty: the model's setting).
    pub max_patches: String,
}

/// One run in the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainRun {
    pub job: JobInfo,
    pub base_model: String,
    pub dataset: String,
    pub split: String,
    pub epochs: usize,
    /// The device it was queued for.
    pub device: String,
    /// The device its runner last opened (in the run page's detail).
    pub ran_on: Option<String>,
    /// The model variant the finished adapter was registered as.
    pub model: Option<String>,
}

/// A run with its configuration and every progress event so far (JSON, in order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainRunDetail {
    pub run: TrainRun,
    pub config_toml: String,
    pub events: Vec<(i64, String)>,
    pub can_manage: bool,
}

/// What the form offers to pick: LLaVA models (registered ones whose folder is LLaVA) and each
/// dataset's split keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainChoices {
    pub models: Vec<String>,
    pub datasets: Vec<String>,
    /// (dataset, split key)
    pub splits: Vec<(String, String)>,
}

#[server(prefix = "/api", endpoint = "training/choices")]
pub async fn training_choices() -> Result<TrainChoices, ApiError> {
    require_user(Access::MEMBER)?;
    let st = state()?;
    let models = st
        .store
        .models()
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|m| {
            let dir = std::path::Path::new(&m.path);
            vlm::llava::is_llava_dir(dir) || vlm::internvl::is_internvl_dir(dir)
        })
        .map(|m| m.name)
        .collect();
    let mut datasets = Vec::new();
    let mut splits = Vec::new();
    for d in st.store.datasets().await.map_err(store_error)? {
        let stats = st.store.dataset_stats(&d.name).await.map_err(store_error)?;
        for sp in stats.splits {
            splits.push((d.name.clone(), sp.key));
        }
        datasets.push(d.name);
    }
    Ok(TrainChoices {
        models,
        datasets,
        splits,
    })
}

/// The paper's defaults for the form (and what an empty field means).
#[server(prefix = "/api", endpoint = "training/defaults")]
pub async fn training_defaults() -> Result<TrainForm, ApiError> {
    require_user(Access::MEMBER)?;
    let t = vlm::train::TrainOptions::default();
    Ok(TrainForm {
        device: state()?.compute.to_string(),
        epochs: t.epochs.to_string(),
        learning_rate: t.learning_rate.to_string(),
        batch_size: t.batch_size.to_string(),
        grad_accum: t.grad_accum.to_string(),
        warmup_ratio: t.warmup_ratio.to_string(),
        weight_decay: t.weight_decay.to_string(),
        max_grad_norm: t.max_grad_norm.to_string(),
        seed: t.seed.to_string(),
        save_every_steps: t.save_every_steps.to_string(),
        rank: t.lora.rank.to_string(),
        alpha: t.lora.alpha.to_string(),
        dropout: t.lora.dropout.to_string(),
        targets: t.lora.targets.join(","),
        ..Default::default()
    })
}

#[cfg(feature = "ssr")]
fn parse_form(f: &TrainForm, device: String) -> Result<anomaly::finetune::FinetuneConfig, String> {
    use std::str::FromStr;
    fn field<T: FromStr>(name: &str, text: &str, default: T) -> Result<T, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(default);
        }
        t.parse()
            .map_err(|_| format!("{name}: {t:?} is not a valid value"))
    }
    let d = vlm::train::TrainOptions::default();
    let targets: Vec<String> = f
        .targets
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let training = vlm::train::TrainOptions {
        epochs: field("epochs", &f.epochs, d.epochs)?,
        learning_rate: field("learning_rate", &f.learning_rate, d.learning_rate)?,
        batch_size: field("batch_size", &f.batch_size, d.batch_size)?,
        grad_accum: field("grad_accum", &f.grad_accum, d.grad_accum)?,
        warmup_ratio: field("warmup_ratio", &f.warmup_ratio, d.warmup_ratio)?,
        weight_decay: field("weight_decay", &f.weight_decay, d.weight_decay)?,
        max_grad_norm: field("max_grad_norm", &f.max_grad_norm, d.max_grad_norm)?,
        seed: field("seed", &f.seed, d.seed)?,
        save_every_steps: field("save_every_steps", &f.save_every_steps, d.save_every_steps)?,
        train_projector: f.train_projector == "true",
        lora: vlm::lora::LoraConfig {
            rank: field("lora.rank", &f.rank, d.lora.rank)?,
            alpha: field("lora.alpha", &f.alpha, d.lora.alpha)?,
            dropout: field("lora.dropout", &f.dropout, d.lora.dropout)?,
            use_rslora: f.use_rslora == "true",
            targets: if targets.is_empty() {
                d.lora.targets
            } else {
                targets
            },
        },
        ..d
    };
    let name = Some(f.name.trim().to_string()).filter(|n| !n.is_empty());
    let cfg = anomaly::finetune::FinetuneConfig {
        base_model: f.base_model.trim().to_string(),
        dataset: f.dataset.trim().to_string(),
        split: f.split.trim().to_string(),
        name,
        device,
        task: Default::default(),
        anomaly_repeat: 1,
        max_patches: match f.max_patches.trim() {
            "" => None,
            _ => Some(field("max_patches", &f.max_patches, 0usize)?),
        },
        training,
    };
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

/// Queues a training run after checking what can be checked before loading weights: the
/// options, the dataset and split (with training QA), the base model.
#[server(prefix = "/api", endpoint = "admin/training/launch")]
pub async fn launch_training(form: TrainForm) -> Result<i64, ApiError> {
    let me = require_user(Access::ADMIN)?;
    let st = state()?;
    let device = job_device(&st, &form.device)?;
    let cfg = parse_form(&form, device).map_err(|e| fail(ApiError::BadRequest(e)))?;
    // The same checks, with the same messages, as `vlm-inspect train` and the training lane.
    jobs::training::prepare(&st.store, &st.data_dir, cfg.clone())
        .await
        .map_err(plan_error)?;
    queue_job(&st, JobKind::Train, &cfg, &me).await
}

#[cfg(feature = "ssr")]
fn run_row(job: JobInfo, config: &str, result: Option<&str>) -> TrainRun {
    let cfg = train_config(config).ok();
    let model = result
        .and_then(|r| serde_json::from_str::<store::TrainResult>(r).ok())
        .map(|r| r.model);
    TrainRun {
        job,
        base_model: cfg
            .as_ref()
            .map(|c| c.base_model.clone())
            .unwrap_or_default(),
        dataset: cfg.as_ref().map(|c| c.dataset.clone()).unwrap_or_default(),
        split: cfg.as_ref().map(|c| c.split.clone()).unwrap_or_default(),
        epochs: cfg.as_ref().map(|c| c.training.epochs).unwrap_or(0),
        device: cfg.as_ref().map(|c| c.device.clone()).unwrap_or_default(),
        ran_on: None,
        model,
    }
}

/// Training runs, newest first.
#[server(prefix = "/api", endpoint = "training/runs")]
pub async fn training_runs() -> Result<Vec<TrainRun>, ApiError> {
    require_user(Access::MEMBER)?;
    let st = state()?;
    let mut out = Vec::new();
    for job in st
        .store
        .jobs_of_kind(JobKind::Train, 100)
        .await
        .map_err(store_error)?
    {
        let (config, result) = st.store.job_config(job.id).await.map_err(store_error)?;
        out.push(run_row(job, &config, result.as_deref()));
    }
    Ok(out)
}

/// One run with its events.
#[server(prefix = "/api", endpoint = "training/run")]
pub async fn training_run(id: i64) -> Result<TrainRunDetail, ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    let job = crate::ssr::job_of(&st, id, Some(JobKind::Train), "training run").await?;
    let (config, result) = st.store.job_config(id).await.map_err(store_error)?;
    let events = st.store.job_events(id, 0).await.map_err(store_error)?;
    // Shown as the TOML `vlm-inspect train --config` reads.
    let config_toml = match train_config(&config) {
        Ok(cfg) => cfg.to_toml(),
        Err(e) => e.to_string(),
    };
    let mut run = run_row(job, &config, result.as_deref());
    run.ran_on = crate::ssr::ran_on(&events);
    Ok(TrainRunDetail {
        run,
        config_toml,
        events,
        can_manage: me.role == store::Role::Admin,
    })
}

/// Asks a queued or running run to stop (it keeps its last checkpoint).
#[server(prefix = "/api", endpoint = "admin/training/cancel")]
pub async fn cancel_training(id: i64) -> Result<(), ApiError> {
    use crate::api::jobs::{control, Control};
    control(id, Some(JobKind::Train), Control::Cancel).await
}

/// Queues a failed or cancelled run again; it resumes from its last checkpoint.
#[server(prefix = "/api", endpoint = "admin/training/resume")]
pub async fn resume_training(id: i64) -> Result<(), ApiError> {
    use crate::api::jobs::{control, Control};
    control(id, Some(JobKind::Train), Control::Resume).await
}

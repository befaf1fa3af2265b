//! Part A training, shared by `vlm-inspect train` (foreground, progress bar), the web form and
//! the training lane: resolve the base model and the split's training QA, build the examples,
//! train on `Autodiff<B>`, register the adapter as a model variant.

use std::path::{Path, PathBuf};

use anomaly::finetune::{
    caption_items, qa_examples, repeat_anomalies, FinetuneConfig, QaItem, Task,
};
use anyhow::Context;
use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use store::{ConfigError, JobConfig, Store};
use vlm::train::{Control, Start, TrainSummary};

use crate::PlanError;

/// Registry kind of a LoRA adapter on a vision-language base, LLaVA or InternVL (the folder
/// holds PEFT's files; the name predates InternVL and stays for the rows already stored).
pub const KIND_LLAVA_LORA: &str = "llava-lora";

/// What a run needs before it starts: checked while the caller can still say no.
pub struct Prepared {
    pub config: FinetuneConfig,
    pub model_dir: PathBuf,
    pub items: Vec<QaItem>,
}

/// A training job's stored configuration: the versioned JSON form, or the TOML that jobs
/// queued before it stored.
pub fn read_config(text: &str) -> Result<FinetuneConfig, ConfigError> {
    match JobConfig::<FinetuneConfig>::decode(text) {
        Err(ConfigError::Unversioned) => FinetuneConfig::from_toml(text)
            .map_err(|e| ConfigError::Malformed(format!("training config: {e}"))),
        other => other,
    }
}

/// Resolves the base model and the training side of the split; every problem is an error
/// naming the field, before any weights are loaded. The web form and the CLI both call this.
pub async fn prepare(
    store: &Store,
    data_dir: &Path,
    config: FinetuneConfig,
) -> Result<Prepared, PlanError> {
    config.validate()?;
    let model_dir = crate::models::resolve_in(store, &config.base_model, data_dir)
        .await
        .map_err(|e| PlanError::invalid("base_model", format!("{e:#}")))?;
    if !vlm::chat::is_vlm_dir(&model_dir) {
        return Err(PlanError::invalid(
            "base_model",
            format!(
                "{} is neither a LLaVA or InternVL folder (config.json with model_type \"llava\" or \"internvl\") nor an adapter of one; Part A fine-tunes a vision-language model",
                model_dir.display()
            ),
        ));
    }
    store
        .dataset(&config.dataset)
        .await
        .map_err(|e| PlanError::invalid("dataset", e))?;
    let rows = store
        .split_qa(&config.dataset, &config.split, "train")
        .await
        .map_err(|e| PlanError::invalid("split", e))?;
    if rows.is_empty() {
        return Err(PlanError::invalid(
            "split",
            format!(
                "{:?} of {:?} has no training examples (no QA annotations on its training side)",
                config.split, config.dataset
            ),
        ));
    }
    let anomalous: std::collections::HashSet<PathBuf> = rows
        .iter()
        .filter(|r| r.label != "good")
        .map(|r| data_dir.join(&r.file))
        .collect();
    let items = match config.task {
        Task::Qa => rows
            .into_iter()
            .map(|r| QaItem {
                image: data_dir.join(r.file),
                question: r.question,
                answer: r.answer,
            })
            .collect(),
        Task::Caption => caption_items(rows.into_iter().map(|r| (data_dir.join(r.file), r.answer))),
    };
    let items = repeat_anomalies(items, config.anomaly_repeat, |i| {
        anomalous.contains(&i.image)
    });
    Ok(Prepared {
        config,
        model_dir,
        items,
    })
}

/// Trains on the configured device (blocking; run it off the async runtime).
pub fn run(
    p: &Prepared,
    run_dir: &Path,
    resume: Option<&Path>,
    control: &mut dyn Control,
) -> anyhow::Result<TrainSummary> {
    let spec: vlm::DeviceSpec = p.config.device.parse()?;
    vlm::device::probe(spec)?;
    crate::on_backend!(spec, false, run_on(p, run_dir, resume, control))
}

fn run_on<B: Backend>(
    p: &Prepared,
    run_dir: &Path,
    resume: Option<&Path>,
    control: &mut dyn Control,
    device: &B::Device,
) -> anyhow::Result<TrainSummary> {
    // An adapter as the base (stage 2 on top of stage 1) is loaded with its weights folded in.
    let chat = vlm::chat::open_vlm::<Autodiff<B>>(&p.model_dir, device)
        .with_context(|| format!("loading {}", p.model_dir.display()))?;
    let examples = qa_examples(&chat, &p.items, p.config.max_patches)?;
    let start = match resume {
        Some(dir) => Start::Resume(dir),
        None => Start::Fresh,
    };
    let base = std::fs::canonicalize(&p.model_dir).unwrap_or_else(|_| p.model_dir.clone());
    let (_, summary) = vlm::train::train(
        chat.into_trainee(),
        &examples,
        &p.config.training,
        &base.display().to_string(),
        run_dir,
        start,
        control,
        device,
    )?;
    if let Some(adapter) = &summary.adapter {
        anomaly::finetune::write_adapter_task(adapter, &p.config)?;
    }
    Ok(summary)
}

/// Registers a finished run's adapter as a model; returns its name.
pub async fn register_adapter(
    store: &Store,
    config: &FinetuneConfig,
    adapter: &Path,
    fallback_name: &str,
) -> anyhow::Result<String> {
    let name = config
        .name
        .clone()
        .unwrap_or_else(|| fallback_name.to_string());
    let path = std::fs::canonicalize(adapter).unwrap_or_else(|_| adapter.to_path_buf());
    store
        .register_model(&name, KIND_LLAVA_LORA, &path.display().to_string())
        .await?;
    Ok(name)
}

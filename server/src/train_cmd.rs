//! Part A training, shared by `vlm-inspect train` (foreground, progress bar) and the server's
//! job worker: resolve the base model and the split's training QA, build the examples, train
//! on `Autodiff<B>`, register the adapter as a model variant.

use std::io::Write;
use std::path::{Path, PathBuf};

use anomaly::finetune::{
    caption_items, qa_examples, repeat_anomalies, FinetuneConfig, QaItem, Task,
};
use anyhow::{bail, Context};
use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use clap::Args;
use store::Store;
use vlm::train::{Control, Progress, Start, TrainSummary, Trainee};

/// Registry kind of a LoRA adapter on a LLaVA base (the folder holds PEFT's files).
pub const KIND_LLAVA_LORA: &str = "llava-lora";

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The training configuration (TOML; see docs/training.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue a run from its folder or one of its checkpoint folders (its configuration is
    /// used when --config is not given).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// The run folder (default: <data>/runs/cli-<unix time>; with --resume, that run's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: crate::cli::DataDir,
}

/// What a run needs before it starts: checked while the caller can still say no.
pub struct Prepared {
    pub config: FinetuneConfig,
    pub model_dir: PathBuf,
    pub items: Vec<QaItem>,
}

/// Resolves the base model and the training side of the split; every problem is an error
/// naming the field, before any weights are loaded.
pub async fn prepare(
    store: &Store,
    data_dir: &Path,
    config: FinetuneConfig,
) -> anyhow::Result<Prepared> {
    config.validate().map_err(anyhow::Error::msg)?;
    let model_dir = crate::models::resolve_in(store, &config.base_model, data_dir)
        .await
        .map_err(|e| anyhow::anyhow!("base_model: {e}"))?;
    if !vlm::llava::is_vlm_dir(&model_dir) {
        bail!(
            "base_model: {} is neither a LLaVA folder (config.json with model_type \"llava\") nor an adapter of one; Part A fine-tunes a vision-language model",
            model_dir.display()
        );
    }
    store
        .dataset(&config.dataset)
        .await
        .map_err(|e| anyhow::anyhow!("dataset: {e}"))?;
    let rows = store
        .split_qa(&config.dataset, &config.split, "train")
        .await
        .map_err(|e| anyhow::anyhow!("split: {e}"))?;
    if rows.is_empty() {
        bail!(
            "split: {:?} of {:?} has no training examples (no QA annotations on its training side)",
            config.split,
            config.dataset
        );
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
    crate::backend::on_backend!(spec, false, run_on(p, run_dir, resume, control))
}

fn run_on<B: Backend>(
    p: &Prepared,
    run_dir: &Path,
    resume: Option<&Path>,
    control: &mut dyn Control,
    device: &B::Device,
) -> anyhow::Result<TrainSummary> {
    // An adapter as the base (stage 2 on top of stage 1) is loaded with its weights folded in.
    let chat = vlm::llava::open_vlm::<Autodiff<B>>(&p.model_dir, device)
        .with_context(|| format!("loading {}", p.model_dir.display()))?;
    let examples = qa_examples(&chat, &p.items).map_err(anyhow::Error::msg)?;
    let start = match resume {
        Some(dir) => Start::Resume(dir),
        None => Start::Fresh,
    };
    let base = std::fs::canonicalize(&p.model_dir).unwrap_or_else(|_| p.model_dir.clone());
    let (_, summary) = vlm::train::train(
        Trainee::Llava(chat.model),
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

/// A progress bar on stderr.
struct Bar {
    started: std::time::Instant,
}

impl Control for Bar {
    fn progress(&mut self, p: &Progress) {
        let width = 30;
        let filled = width * p.step / p.total_steps.max(1);
        let eta = p.eta_s as u64;
        eprint!(
            "\r[{}{}] step {}/{} epoch {}/{} loss {:.4} lr {:.2e} {:.0} tok/s ETA {}m{:02}s ",
            "#".repeat(filled),
            " ".repeat(width - filled),
            p.step,
            p.total_steps,
            p.epoch,
            p.epochs,
            p.loss,
            p.lr,
            p.tokens_per_s,
            eta / 60,
            eta % 60
        );
        let _ = std::io::stderr().flush();
    }
    fn checkpoint(&mut self, dir: &Path) {
        eprintln!("\ncheckpoint: {}", dir.display());
    }
}

/// `vlm-inspect train --config FILE [--resume DIR]`.
pub async fn cli(args: TrainArgs) -> anyhow::Result<()> {
    let config = match (&args.config, &args.resume) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            FinetuneConfig::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        (None, Some(dir)) => saved_config(dir)?,
        (None, None) => bail!("give --config FILE (or --resume DIR of an earlier run)"),
    };
    crate::cli::prepare_data_dir(&args.data.data_dir)?;
    let store = args.data.open().await?;
    let prepared = prepare(&store, &args.data.data_dir, config).await?;
    let run_dir = match (&args.out, &args.resume) {
        (Some(o), _) => o.clone(),
        (None, Some(r)) => run_folder_of(r),
        (None, None) => args.data.data_dir.join("runs").join(format!(
            "cli-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        )),
    };
    std::fs::create_dir_all(&run_dir)?;
    std::fs::write(run_dir.join("train.toml"), prepared.config.to_toml())?;
    eprintln!(
        "training {} on {} QA examples of {}/{} → {}",
        prepared.model_dir.display(),
        prepared.items.len(),
        prepared.config.dataset,
        prepared.config.split,
        run_dir.display()
    );
    let resume = args.resume.clone();
    let (summary, prepared, run_dir) = tokio::task::spawn_blocking(move || {
        let mut bar = Bar {
            started: std::time::Instant::now(),
        };
        let s = run(&prepared, &run_dir, resume.as_deref(), &mut bar);
        eprintln!("\n{:.0} s", bar.started.elapsed().as_secs_f64());
        (s, prepared, run_dir)
    })
    .await?;
    let summary = summary?;
    if let Some(adapter) = &summary.adapter {
        let fallback = format!(
            "{}-lora-{}",
            prepared
                .config
                .base_model
                .rsplit('/')
                .next()
                .unwrap_or("model"),
            run_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("run")
        );
        let name = register_adapter(&store, &prepared.config, adapter, &fallback).await?;
        println!(
            "adapter: {} (registered as model {name:?}); final loss {:.4}",
            adapter.display(),
            summary.final_loss.unwrap_or(f64::NAN)
        );
    }
    store.close().await;
    Ok(())
}

/// The run folder a --resume path belongs to (a checkpoint's parent).
pub fn run_folder_of(path: &Path) -> PathBuf {
    if path.join("trainer_state.json").is_file() {
        path.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| path.to_path_buf())
    } else {
        path.to_path_buf()
    }
}

/// The configuration an earlier run saved (`train.toml` in its folder).
fn saved_config(resume: &Path) -> anyhow::Result<FinetuneConfig> {
    let path = run_folder_of(resume).join("train.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (give --config)", path.display()))?;
    FinetuneConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

//! `vlm-inspect train`: Part A in the foreground with a progress bar, through the same
//! preparation and training code as the web form and the training lane (`jobs::training`).

use std::path::{Path, PathBuf};

use anomaly::finetune::FinetuneConfig;
use anyhow::{bail, Context};
use clap::Args;
use jobs::training::{prepare, register_adapter, run};
use vlm::train::{Control, Progress};

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
    pub data: crate::data_dir::DataDir,
}

/// A progress bar on stderr (one line per step when stderr is not a terminal).
struct Bar {
    started: std::time::Instant,
    line: super::progress_line::ProgressLine,
}

impl Control for Bar {
    fn progress(&mut self, p: &Progress) {
        let width = 30;
        let filled = (width * p.step / p.total_steps.max(1)).min(width);
        let eta = p.eta_s as u64;
        let text = format!(
            "[{}{}] step {}/{} epoch {}/{} loss {:.4} lr {:.2e} {:.0} tok/s ETA {}m{:02}s",
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
        self.line.show(&text);
    }
    fn checkpoint(&mut self, dir: &Path) {
        self.line.line(&format!("checkpoint: {}", dir.display()));
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
    crate::data_dir::prepare_data_dir(&args.data.data_dir)?;
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
            line: Default::default(),
        };
        let s = run(&prepared, &run_dir, resume.as_deref(), &mut bar);
        let took = format!("{:.0} s", bar.started.elapsed().as_secs_f64());
        bar.line.line(&took);
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

//! Training runs as jobs: Part A on the configured device, off the async runtime, with a
//! progress event per step, cancel checked between steps, and a resume from the last
//! checkpoint when the job is queued again (the resume button, or a restart that interrupted
//! it).

use std::path::{Path, PathBuf};

use store::{JobEvent, TrainResult, TrainStep};
use vlm::train::checkpoint::list_checkpoints;
use vlm::train::{Control, Progress};

use super::{CancelFlag, JobContext, Outcome};
use crate::training as train_cmd;

/// The run folder of training job `id`.
pub fn run_dir(data_dir: &Path, id: i64) -> PathBuf {
    data_dir.join("runs").join(format!("job-{id}"))
}

pub async fn run(ctx: &JobContext, config: &str) -> anyhow::Result<Outcome> {
    let cfg = train_cmd::read_config(config)?;
    let prepared = train_cmd::prepare(ctx.store(), ctx.data_dir(), cfg.clone()).await?;
    let spec = ctx.open_device(&prepared.config.device).await?;
    let dir = run_dir(ctx.data_dir(), ctx.id);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("train.toml"), prepared.config.to_toml())?;
    let resume = list_checkpoints(&dir)
        .into_iter()
        .max()
        .map(|(step, _)| step);
    if let Some(step) = resume {
        ctx.emit(JobEvent::Resumed { step }).await;
    }
    let mut control = JobControl {
        ctx: ctx.clone(),
        cancel: ctx.cancel_flag(),
    };
    let run_folder = dir.clone();
    let summary = tokio::task::spawn_blocking(move || {
        let resume_from = resume.map(|_| run_folder.clone());
        train_cmd::run(&prepared, &run_folder, resume_from.as_deref(), &mut control)
    })
    .await??;
    if summary.cancelled {
        return Ok(Outcome::Cancelled);
    }
    let adapter = summary
        .adapter
        .clone()
        .unwrap_or_else(|| dir.join("adapter"));
    let base = cfg
        .base_model
        .rsplit('/')
        .next()
        .unwrap_or("model")
        .to_string();
    let name = train_cmd::register_adapter(
        ctx.store(),
        &cfg,
        &adapter,
        &format!("{base}-lora-job{}", ctx.id),
    )
    .await?;
    let result = TrainResult {
        model: name,
        adapter: adapter.display().to_string(),
        steps: summary.steps,
        final_loss: summary.final_loss,
        device: spec.to_string(),
    };
    Ok(Outcome::Succeeded(serde_json::to_string(&result)?))
}

/// The protocol's form of a training step.
pub fn step_event(p: &Progress) -> TrainStep {
    TrainStep {
        step: p.step,
        total_steps: p.total_steps,
        epoch: p.epoch,
        epochs: p.epochs,
        loss: p.loss,
        lr: p.lr,
        grad_norm: p.grad_norm,
        tokens_per_s: p.tokens_per_s,
        eta_s: p.eta_s,
    }
}

/// Connects the blocking training loop to the job: events, progress, cancel requests.
struct JobControl {
    ctx: JobContext,
    cancel: CancelFlag,
}

impl Control for JobControl {
    fn cancelled(&self) -> bool {
        self.cancel.requested()
    }

    fn progress(&mut self, p: &Progress) {
        self.ctx
            .progress_blocking(p.step as f64 / p.total_steps.max(1) as f64);
        self.ctx.emit_blocking(JobEvent::Step(step_event(p)));
    }

    fn checkpoint(&mut self, dir: &Path) {
        self.ctx.emit_blocking(JobEvent::Checkpoint {
            dir: dir.display().to_string(),
        });
    }
}

//! The job worker: runs queued training jobs one at a time on the compute device, off the async
//! runtime, recording progress events (and broadcasting them to live pages), honouring cancel
//! requests between steps, and resuming a job from its last checkpoint when it is queued again
//! (the resume button, or a server restart that interrupted it).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anomaly::finetune::FinetuneConfig;
use app::ssr::{JobEvent, JobHub};
use store::Store;
use tokio::runtime::Handle;
use vlm::train::checkpoint::list_checkpoints;
use vlm::train::{Control, Progress, TrainSummary};

use crate::train_cmd;

/// Job kind of a Part A training run (its config column holds the TOML).
pub const KIND_TRAIN: &str = "train";

/// The run folder of training job `id`.
pub fn run_dir(data_dir: &Path, id: i64) -> PathBuf {
    data_dir.join("runs").join(format!("job-{id}"))
}

/// Job kind of an evaluation run (JSON config, `anomaly::evaluation::EvalConfig`).
pub const KIND_EVAL: &str = "eval";
/// Job kind of one Inspect-page request (JSON config, `anomaly::evaluation::InspectConfig`).
pub const KIND_INSPECT: &str = "inspect";

/// Starts the worker: one lane runs training and evaluation jobs in turn; a second runs
/// Inspect-page requests, so a person waiting on one image never queues behind a long run.
pub fn start(store: Store, data_dir: PathBuf, hub: JobHub) -> tokio::task::JoinHandle<()> {
    let lane = |kinds: &'static [&'static str]| {
        let (store, data_dir, hub) = (store.clone(), data_dir.clone(), hub.clone());
        tokio::spawn(async move { run_lane(&store, &data_dir, &hub, kinds).await })
    };
    let interactive = lane(&[KIND_INSPECT]);
    let batch = lane(&[KIND_TRAIN, KIND_EVAL]);
    tokio::spawn(async move {
        let _ = tokio::join!(interactive, batch);
    })
}

async fn run_lane(store: &Store, data_dir: &Path, hub: &JobHub, kinds: &[&str]) {
    loop {
        match store.claim_next_of(kinds).await {
            Ok(Some((id, kind, config))) => match kind.as_str() {
                KIND_TRAIN => run_train_job(store, data_dir, hub, id, config).await,
                KIND_EVAL => crate::eval_job::run_eval_job(store, data_dir, hub, id, config).await,
                _ => crate::inspect::run_inspect_job(store, data_dir, hub, id, config).await,
            },
            Ok(None) => {
                tokio::select! {
                    _ = hub.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            Err(e) => {
                tracing::error!("job queue: {e}");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// Records and broadcasts one event of job `id`.
pub async fn emit(store: &Store, hub: &JobHub, id: i64, data: String) {
    match store.add_job_event(id, &data).await {
        Ok(seq) => {
            let _ = hub.events.send(JobEvent { job: id, seq, data });
        }
        Err(e) => tracing::warn!("job {id}: cannot record an event: {e}"),
    }
}

/// Runs one claimed training job to its end state.
pub async fn run_train_job(store: &Store, data_dir: &Path, hub: &JobHub, id: i64, config: String) {
    let outcome = match FinetuneConfig::from_toml(&config) {
        Ok(cfg) => train(store, data_dir, hub, id, cfg.clone())
            .await
            .map(|summary| (cfg, summary)),
        Err(e) => Err(anyhow::Error::msg(e)),
    };
    let state = match outcome {
        Ok((_, summary)) if summary.cancelled => {
            let _ = store.cancel_job(id).await;
            "cancelled"
        }
        Ok((cfg, summary)) => match finish(store, data_dir, id, &cfg, &summary).await {
            Ok(()) => "succeeded",
            Err(e) => {
                let _ = store.finish_job(id, Some(&format!("{e:#}"))).await;
                "failed"
            }
        },
        Err(e) => {
            tracing::warn!("training job {id} failed: {e:#}");
            let _ = store.finish_job(id, Some(&format!("{e:#}"))).await;
            "failed"
        }
    };
    announce_end(hub, id, state);
}

/// Tells live pages that job `id` ended (not stored: the job row says it).
pub fn announce_end(hub: &JobHub, id: i64, state: &str) {
    let data = serde_json::json!({"kind": "end", "state": state}).to_string();
    let _ = hub.events.send(JobEvent {
        job: id,
        seq: 0,
        data,
    });
}

async fn train(
    store: &Store,
    data_dir: &Path,
    hub: &JobHub,
    id: i64,
    cfg: FinetuneConfig,
) -> anyhow::Result<TrainSummary> {
    let prepared = train_cmd::prepare(store, data_dir, cfg).await?;
    let dir = run_dir(data_dir, id);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("train.toml"), prepared.config.to_toml())?;
    let resume = list_checkpoints(&dir)
        .into_iter()
        .max()
        .map(|(step, _)| step);
    if let Some(step) = resume {
        let data = serde_json::json!({"kind": "resumed", "step": step}).to_string();
        emit(store, hub, id, data).await;
    }
    let mut control = JobControl {
        store: store.clone(),
        hub: hub.clone(),
        id,
        runtime: Handle::current(),
        cancel: CancelFlag::new(store.clone(), id, Handle::current()),
    };
    let summary = tokio::task::spawn_blocking(move || {
        let resume_from = resume.map(|_| dir.clone());
        train_cmd::run(&prepared, &dir, resume_from.as_deref(), &mut control)
    })
    .await??;
    Ok(summary)
}

async fn finish(
    store: &Store,
    data_dir: &Path,
    id: i64,
    cfg: &FinetuneConfig,
    summary: &TrainSummary,
) -> anyhow::Result<()> {
    let adapter = summary
        .adapter
        .clone()
        .unwrap_or_else(|| run_dir(data_dir, id).join("adapter"));
    let base = cfg
        .base_model
        .rsplit('/')
        .next()
        .unwrap_or("model")
        .to_string();
    let name =
        train_cmd::register_adapter(store, cfg, &adapter, &format!("{base}-lora-job{id}")).await?;
    let result = serde_json::json!({
        "model": name,
        "adapter": adapter.display().to_string(),
        "steps": summary.steps,
        "final_loss": summary.final_loss,
    });
    store.set_job_result(id, &result.to_string()).await?;
    store.finish_job(id, None).await?;
    Ok(())
}

/// A job's cancel request as its blocking work sees it. The store is asked at most every
/// [`CANCEL_POLL`] (text generation asks for every piece of text, a query each time would cost
/// more than the piece), and a yes is kept.
pub struct CancelFlag {
    store: Store,
    id: i64,
    runtime: Handle,
    last: Cell<Option<(Instant, bool)>>,
}

/// How often [`CancelFlag`] asks the store.
pub const CANCEL_POLL: Duration = Duration::from_millis(250);

impl CancelFlag {
    pub fn new(store: Store, id: i64, runtime: Handle) -> Self {
        CancelFlag {
            store,
            id,
            runtime,
            last: Cell::new(None),
        }
    }

    pub fn requested(&self) -> bool {
        if let Some((at, answer)) = self.last.get() {
            if answer || at.elapsed() < CANCEL_POLL {
                return answer;
            }
        }
        let answer = self
            .runtime
            .block_on(self.store.cancel_requested(self.id))
            .unwrap_or(false);
        self.last.set(Some((Instant::now(), answer)));
        answer
    }
}

/// Connects the blocking training loop to the store: events, progress, cancel requests.
struct JobControl {
    store: Store,
    hub: JobHub,
    id: i64,
    runtime: Handle,
    cancel: CancelFlag,
}

impl Control for JobControl {
    fn cancelled(&self) -> bool {
        self.cancel.requested()
    }

    fn progress(&mut self, p: &Progress) {
        let mut data = serde_json::to_value(p).unwrap_or_default();
        data["kind"] = "progress".into();
        let fraction = p.step as f64 / p.total_steps.max(1) as f64;
        self.runtime.block_on(async {
            let _ = self.store.job_progress(self.id, fraction).await;
            emit(&self.store, &self.hub, self.id, data.to_string()).await;
        });
    }

    fn checkpoint(&mut self, dir: &Path) {
        let data =
            serde_json::json!({"kind": "checkpoint", "dir": dir.display().to_string()}).to_string();
        self.runtime
            .block_on(emit(&self.store, &self.hub, self.id, data));
    }
}

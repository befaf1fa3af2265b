//! Evaluation runs as jobs: the worker plans the run, judges the images off the async runtime
//! (progress events stored and broadcast, cancel checked between images), and stores the
//! summary; a cancelled or interrupted run resumes from its stored predictions.

use std::path::Path;

use anomaly::evaluation::EvalConfig;
use app::ssr::JobHub;
use store::Store;
use tokio::runtime::Handle;

use crate::evaluate::{self, EvalHooks, EvalSummary};
use crate::worker::{announce_end, emit, CancelFlag};

/// Runs one claimed evaluation job to its end state.
pub async fn run_eval_job(store: &Store, data_dir: &Path, hub: &JobHub, id: i64, config: String) {
    let outcome = match EvalConfig::from_json(&config) {
        Ok(cfg) => evaluate_job(store, data_dir, hub, id, cfg).await,
        Err(e) => Err(anyhow::Error::msg(e)),
    };
    let state = match outcome {
        Ok(s) if s.cancelled => {
            let _ = store.cancel_job(id).await;
            "cancelled"
        }
        Ok(s) => {
            let result = summary_json(&s);
            match store.set_job_result(id, &result.to_string()).await {
                Ok(()) => {
                    let _ = store.finish_job(id, None).await;
                    "succeeded"
                }
                Err(e) => {
                    let _ = store.finish_job(id, Some(&e.to_string())).await;
                    "failed"
                }
            }
        }
        Err(e) => {
            tracing::warn!("evaluation job {id} failed: {e:#}");
            let _ = store.finish_job(id, Some(&format!("{e:#}"))).await;
            "failed"
        }
    };
    announce_end(hub, id, state);
}

/// What a finished run's result column holds.
pub fn summary_json(s: &EvalSummary) -> serde_json::Value {
    serde_json::json!({
        "predictions": s.predictions,
        "bertscore": match &s.bertscore { Ok(h) => h, Err(e) => e },
        "bertscore_ok": s.bertscore.is_ok(),
    })
}

async fn evaluate_job(
    store: &Store,
    data_dir: &Path,
    hub: &JobHub,
    id: i64,
    cfg: EvalConfig,
) -> anyhow::Result<EvalSummary> {
    let plan = evaluate::plan(store, data_dir, cfg).await?;
    let mut hooks = JobHooks {
        store: store.clone(),
        hub: hub.clone(),
        id,
        runtime: Handle::current(),
        cancel: CancelFlag::new(store.clone(), id, Handle::current()),
    };
    let store = store.clone();
    let runtime = Handle::current();
    tokio::task::spawn_blocking(move || evaluate::run(&plan, &store, id, &runtime, &mut hooks))
        .await?
}

/// Connects a blocking run to the store: events, progress, cancel requests.
struct JobHooks {
    store: Store,
    hub: JobHub,
    id: i64,
    runtime: Handle,
    cancel: CancelFlag,
}

impl EvalHooks for JobHooks {
    fn cancelled(&self) -> bool {
        self.cancel.requested()
    }

    fn event(&mut self, data: serde_json::Value) {
        let fraction = match (data["done"].as_f64(), data["total"].as_f64()) {
            (Some(d), Some(t)) if t > 0.0 => Some(d / t),
            _ => None,
        };
        self.runtime.block_on(async {
            if let Some(f) = fraction {
                let _ = self.store.job_progress(self.id, f).await;
            }
            emit(&self.store, &self.hub, self.id, data.to_string()).await;
        });
    }
}

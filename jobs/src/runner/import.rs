//! Dataset imports as jobs: check every image, then store the set in one transaction, with a
//! progress event per phase. An interrupted or cancelled import stored nothing; an interrupted
//! one simply runs again.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use store::import::{ImportProgress, ImportRequest};
use store::{ImportJob, ImportResult, JobConfig, JobEvent, StoreError};

use super::{JobContext, Outcome};

/// Checking (decoding images) is most of the work; storing is the rest.
const CHECKING_SHARE: f64 = 0.8;

pub async fn run(ctx: &JobContext, config: &str) -> anyhow::Result<Outcome> {
    let job = JobConfig::<ImportJob>::decode(config)?;
    let req = ImportRequest {
        source: job.source.clone().into(),
        layout: job.layout,
        qa_file: job.qa_file.clone().map(Into::into),
        name: job.name.clone(),
        categories: None,
    };
    // Progress arrives on the import's worker threads: hand it to one task that records it
    // and asks whether the job was cancelled; the answer reaches the workers through `stop`.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ImportProgress>();
    // A cancel asked for before the job got here stops it at the first image.
    let asked = ctx.store().cancel_requested(ctx.id).await.unwrap_or(false);
    let stop = Arc::new(AtomicBool::new(asked));
    let recorder = {
        let ctx = ctx.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut phase = "";
            while let Some(p) = rx.recv().await {
                let f = p.done as f64 / p.total.max(1) as f64;
                let fraction = if p.phase == "checking" {
                    CHECKING_SHARE * f
                } else {
                    CHECKING_SHARE + (1.0 - CHECKING_SHARE) * f
                };
                if let Err(e) = ctx.store().job_progress(ctx.id, fraction).await {
                    tracing::warn!("job {}: cannot record progress: {e}", ctx.id);
                }
                if ctx.store().cancel_requested(ctx.id).await.unwrap_or(false) {
                    stop.store(true, Ordering::Relaxed);
                }
                if p.phase != phase {
                    phase = p.phase;
                    ctx.emit(JobEvent::Phase {
                        phase: format!("{} {} images", p.phase, p.total),
                        fraction,
                    })
                    .await;
                }
            }
        })
    };
    let progress = Arc::new(move |p: ImportProgress| {
        let _ = tx.send(p);
        if stop.load(Ordering::Relaxed) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let report = ctx
        .store()
        .import_dataset(ctx.data_dir(), req, progress)
        .await;
    let _ = recorder.await;
    let report = match report {
        Err(StoreError::Cancelled) => return Ok(Outcome::Cancelled),
        other => other?,
    };
    let result = ImportResult {
        dataset: report.dataset.name,
        images: report.images,
        qa: report.qa,
        seconds: report.seconds,
    };
    Ok(Outcome::Succeeded(serde_json::to_string(&result)?))
}

//! Drafting jobs in the batch lane: plan, draft off the async runtime (a `drafted` event and
//! the progress per draft, cancel checked between images), store the summary; a cancelled or
//! interrupted job resumes with the images it has not drafted.

use anomaly::qa_draft::DraftConfig;
use store::{DraftResult, JobConfig, JobEvent};

use super::{CancelFlag, JobContext, Outcome};
use crate::draft_qa::{self, DraftHooks};

pub async fn run(ctx: &JobContext, config: &str) -> anyhow::Result<Outcome> {
    let cfg = JobConfig::<DraftConfig>::decode(config)?;
    let plan = draft_qa::plan(ctx.store(), ctx.data_dir(), cfg).await?;
    let spec = ctx.open_device(&plan.config.device).await?;
    let mut hooks = JobHooks {
        ctx: ctx.clone(),
        cancel: ctx.cancel_flag(),
    };
    let (store, id, runtime) = (ctx.store().clone(), ctx.id, ctx.runtime().clone());
    let summary =
        tokio::task::spawn_blocking(move || draft_qa::run(&plan, &store, id, &runtime, &mut hooks))
            .await??;
    if summary.cancelled {
        return Ok(Outcome::Cancelled);
    }
    let result = DraftResult {
        drafts: summary.drafts,
        device: spec.to_string(),
    };
    Ok(Outcome::Succeeded(serde_json::to_string(&result)?))
}

/// Connects a blocking drafting run to the job: events, progress, cancel requests.
struct JobHooks {
    ctx: JobContext,
    cancel: CancelFlag,
}

impl DraftHooks for JobHooks {
    fn cancelled(&self) -> bool {
        self.cancel.requested()
    }

    fn drafted(&mut self, done: usize, total: usize, rel_path: &str) {
        let fraction = done as f64 / total.max(1) as f64;
        self.ctx.progress_blocking(fraction);
        self.ctx.emit_blocking(JobEvent::Drafted {
            done,
            total,
            image: rel_path.to_string(),
        });
    }
}

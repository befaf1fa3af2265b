//! Evaluation runs as jobs: plan the run, judge the images off the async runtime (progress
//! events stored and broadcast, cancel checked between images), store the summary; a
//! cancelled or interrupted run resumes from its stored predictions.

use anomaly::evaluation::EvalConfig;
use store::{EvalResult, JobConfig, JobEvent};

use super::{CancelFlag, JobContext, Outcome};
use crate::evaluate::{self, EvalHooks, EvalSummary};

pub async fn run(ctx: &JobContext, config: &str) -> anyhow::Result<Outcome> {
    let cfg = JobConfig::<EvalConfig>::decode(config)?;
    let plan = evaluate::plan(ctx.store(), ctx.data_dir(), cfg).await?;
    let spec = ctx.open_device(&plan.config.device).await?;
    let mut hooks = JobHooks {
        ctx: ctx.clone(),
        cancel: ctx.cancel_flag(),
    };
    let (store, id, runtime) = (ctx.store().clone(), ctx.id, ctx.runtime().clone());
    let summary =
        tokio::task::spawn_blocking(move || evaluate::run(&plan, &store, id, &runtime, &mut hooks))
            .await??;
    if summary.cancelled {
        return Ok(Outcome::Cancelled);
    }
    let result = result_of(&summary, &spec.to_string());
    Ok(Outcome::Succeeded(serde_json::to_string(&result)?))
}

/// What a finished run's result column holds.
pub fn result_of(s: &EvalSummary, device: &str) -> EvalResult {
    EvalResult {
        predictions: s.predictions,
        bertscore: match &s.bertscore {
            Ok(hash) => hash.clone(),
            Err(why) => why.to_string(),
        },
        bertscore_ok: s.bertscore.is_ok(),
        device: device.to_string(),
        prompt_tokens: s.prompt_tokens,
        completion_tokens: s.completion_tokens,
        cost_usd: s.cost_usd,
    }
}

/// Connects a blocking run to the job: events, progress, cancel requests.
struct JobHooks {
    ctx: JobContext,
    cancel: CancelFlag,
}

impl EvalHooks for JobHooks {
    fn cancelled(&self) -> bool {
        self.cancel.requested()
    }

    fn event(&mut self, event: JobEvent) {
        if let JobEvent::Prediction(p) = &event {
            self.ctx
                .progress_blocking(p.done as f64 / p.total.max(1) as f64);
        }
        self.ctx.emit_blocking(event);
    }
}

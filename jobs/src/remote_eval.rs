//! An evaluation's predictions from a remote model: up to the model's limit of requests in
//! flight, each stored as it finishes (the tables are computed from what is stored, so the
//! order they finish in does not matter). A failed request stores nothing and fails the run
//! (after the client's retries): resumed, it sends only what is missing. Cancel aborts the
//! requests in flight.

use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use anyhow::anyhow;
use remote::{Completion, RemoteError};
use tokio_util::sync::CancellationToken;

use crate::evaluate::{EvalHooks, EvalSummary, Recorder, Work};
use crate::remote_models::{chat_request, reply_of, RemoteModel};

/// How often the run looks at the cancel flag while requests are in flight.
const CANCEL_POLL: Duration = Duration::from_millis(250);

/// Cancels the requests still in flight however `predict` returns.
struct StopOnDrop(CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

pub(crate) fn predict(
    run: &Recorder,
    model: &RemoteModel,
    work: &[Work],
    summary: &mut EvalSummary,
    hooks: &mut dyn EvalHooks,
) -> anyhow::Result<()> {
    if work.is_empty() {
        return Ok(());
    }
    let client = model.client(&run.plan.data_dir)?;
    let cancel = CancellationToken::new();
    let _stop = StopOnDrop(cancel.clone());
    let (tx, rx) = channel::<(usize, Result<Completion, RemoteError>)>();
    for (i, w) in work.iter().enumerate() {
        let request = chat_request(&w.request, &run.plan.config.decoding);
        let (client, cancel, tx) = (client.clone(), cancel.clone(), tx.clone());
        // Every request is queued now; the client lets `max_concurrency` of them go at once.
        run.runtime.spawn(async move {
            let r = client.complete(&request, &cancel, &mut |_| true).await;
            let _ = tx.send((i, r));
        });
    }
    drop(tx);
    let mut pending = work.len();
    while pending > 0 {
        if hooks.cancelled() {
            summary.cancelled = true;
            return Ok(());
        }
        match rx.recv_timeout(CANCEL_POLL) {
            Ok((i, Ok(completion))) => {
                pending -= 1;
                let (reply, served) = reply_of(&completion);
                run.record(&work[i], &reply, Some(&served), summary, hooks)?;
            }
            Ok((_, Err(RemoteError::Cancelled))) => pending -= 1,
            Ok((i, Err(e))) => {
                return Err(anyhow!(
                    "{}: model {}: {e}",
                    work[i].image.rel_path,
                    model.info.name
                ))
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(())
}

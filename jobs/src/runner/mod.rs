//! The jobs layer: lanes that claim queued jobs and one runner skeleton every kind goes
//! through — claim → run (with a [`JobContext`] for events, progress and cancel polling) →
//! end (succeeded with its result, failed with a message, or cancelled) → announce. A panic
//! inside a runner fails that job and the lane goes on; ending a job retries until the
//! database takes it, so no job stays `running` without a live runner.

pub mod draft_qa;
pub mod eval;
pub mod import;
pub mod inspect;
pub mod train;
pub mod worker;

use std::cell::Cell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::hub::{JobHub, LiveEvent};
use anyhow::anyhow;
use store::{ClaimedJob, JobEvent, JobKind, JobState, Lane, Store};
use tokio::runtime::Handle;

/// How a runner ended, when it did not fail.
#[derive(Debug)]
pub enum Outcome {
    /// Done; the job's result (JSON) to store.
    Succeeded(String),
    /// It stopped at a cancel request, at a point it can resume from.
    Cancelled,
}

/// What runners of one lane share: the store, the live-event hub, the data folder, and the
/// lane's own model cache (the interactive lane keeps its last model open).
#[derive(Clone)]
pub struct Env {
    pub store: Store,
    pub hub: JobHub,
    pub data_dir: PathBuf,
    pub cache: ModelCache,
    /// The interactive lane's turn, shared with `/v1` requests.
    pub interactive: Interactive,
    /// On a worker node: the lease its claims carry and the device its jobs run on.
    pub node: Option<Node>,
}

/// What a worker node adds to a lane's environment ([`worker`]).
#[derive(Clone, Debug)]
pub struct Node {
    pub lease: store::workers::Lease,
    /// Every job this node runs runs here, whatever device its configuration names.
    pub device: vlm::DeviceSpec,
}

/// One model at a time answers interactively: an inspection job or a `/v1` request holds the
/// turn while it generates. `/v1` requests queue for it up to a bound, past which they are
/// refused (the API answers 429) instead of piling up.
#[derive(Clone)]
pub struct Interactive {
    turn: Arc<tokio::sync::Semaphore>,
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    max_waiting: usize,
    /// The model the lane keeps open, used by inspections and `/v1` alike.
    pub(crate) cache: ModelCache,
}

/// The interactive lane's queue is full.
#[derive(Debug, thiserror::Error)]
#[error("the server is busy: {waiting} requests are waiting for the model; try again shortly")]
pub struct Busy {
    pub waiting: usize,
}

impl Interactive {
    /// `max_waiting` requests may wait for the turn (at least 1).
    pub fn new(max_waiting: usize) -> Self {
        Interactive {
            turn: Arc::new(tokio::sync::Semaphore::new(1)),
            waiting: Default::default(),
            max_waiting: max_waiting.max(1),
            cache: ModelCache::default(),
        }
    }

    /// Waits for the turn (a job's wait is not bounded: it is queued already).
    pub(crate) async fn take(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.turn
            .clone()
            .acquire_owned()
            .await
            .expect("the turn is never closed")
    }

    /// Waits for the turn unless the queue is full.
    pub async fn take_or_refuse(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Busy> {
        use std::sync::atomic::Ordering;
        let before = self.waiting.fetch_add(1, Ordering::SeqCst);
        if before >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy { waiting: before });
        }
        let turn = self.take().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        Ok(turn)
    }
}

impl std::fmt::Debug for Interactive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interactive")
            .field("waiting", &self.waiting)
            .field("max_waiting", &self.max_waiting)
            .finish()
    }
}

impl Default for Interactive {
    fn default() -> Self {
        Interactive::new(8)
    }
}

/// One opened model kept by a lane for its next job (opening the default model, a base with
/// two adapters folded in, takes longer than its reply). One model, so memory stays bounded.
#[derive(Clone, Default)]
pub struct ModelCache(Arc<Mutex<Option<inspect::Warm>>>);

impl ModelCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<inspect::Warm>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a running job can do: report events and progress, ask whether it should stop.
#[derive(Clone)]
pub struct JobContext {
    pub env: Env,
    pub id: i64,
    pub attempt: u32,
    runtime: Handle,
}

impl JobContext {
    pub fn store(&self) -> &Store {
        &self.env.store
    }

    pub fn data_dir(&self) -> &Path {
        &self.env.data_dir
    }

    /// Stores and broadcasts one event.
    pub async fn emit(&self, event: JobEvent) {
        emit(&self.env.store, &self.env.hub, self.id, &event).await;
    }

    /// [`Self::emit`] from blocking work (off the async runtime).
    pub fn emit_blocking(&self, event: JobEvent) {
        self.runtime.block_on(self.emit(event));
    }

    /// Records the share of the work done (0..=1) from blocking work.
    pub fn progress_blocking(&self, fraction: f64) {
        self.runtime.block_on(async {
            if let Err(e) = self.env.store.job_progress(self.id, fraction).await {
                tracing::warn!("job {}: cannot record progress: {e}", self.id);
            }
        });
    }

    /// A cancel flag for blocking work.
    pub fn cancel_flag(&self) -> CancelFlag {
        let mut flag = CancelFlag::new(self.env.store.clone(), self.id, self.runtime.clone());
        flag.holder = self.env.node.as_ref().map(|n| n.lease.worker.clone());
        flag
    }

    /// Opens the device a job's configuration names (its self-test runs off the async
    /// runtime) and records, in a `started` event, the device the runner got.
    pub async fn open_device(&self, device: &str) -> anyhow::Result<vlm::DeviceSpec> {
        let spec: vlm::DeviceSpec = match &self.env.node {
            Some(node) => node.device,
            None => device.parse()?,
        };
        let report = tokio::task::spawn_blocking(move || vlm::device::probe(spec)).await??;
        self.emit(JobEvent::Started {
            device: report.description,
            attempt: self.attempt,
        })
        .await;
        Ok(spec)
    }

    /// The runtime, for blocking work that calls the store itself.
    pub fn runtime(&self) -> &Handle {
        &self.runtime
    }
}

/// Records and broadcasts one event of job `id`.
pub async fn emit(store: &Store, hub: &JobHub, id: i64, event: &JobEvent) {
    match store.add_job_event(id, event).await {
        Ok(seq) => {
            let _ = hub.events.send(LiveEvent {
                job: id,
                seq,
                data: event.to_json(),
            });
        }
        Err(e) => tracing::warn!("job {id}: cannot record an event: {e}"),
    }
}

/// Tells live pages that job `id` ended (not stored: the job row says it).
pub fn announce_end(hub: &JobHub, id: i64, state: JobState, error: Option<String>) {
    let _ = hub.events.send(LiveEvent {
        job: id,
        seq: 0,
        data: JobEvent::End { state, error }.to_json(),
    });
}

/// Starts one task per lane. Each claims the next job of its kinds (users in turn) and runs
/// it to its end, so a long training run never delays an evaluation or an inspection.
pub fn start(
    store: Store,
    data_dir: PathBuf,
    hub: JobHub,
    interactive: Interactive,
) -> tokio::task::JoinHandle<()> {
    let lanes = spawn_lanes(&Lane::ALL, &store, &data_dir, &hub, &interactive, None);
    // Jobs of worker nodes that vanished go back to the queue even when no other node runs.
    let reaper = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            worker::requeue_expired(&store).await;
        }
    });
    tokio::spawn(async move {
        for lane in lanes {
            let _ = lane.await;
        }
        reaper.abort();
    })
}

/// One task per lane in `lanes`, each with its environment; `node` on a worker node.
fn spawn_lanes(
    lanes: &[Lane],
    store: &Store,
    data_dir: &Path,
    hub: &JobHub,
    interactive: &Interactive,
    node: Option<&Node>,
) -> Vec<tokio::task::JoinHandle<()>> {
    lanes
        .iter()
        .map(|&lane| {
            let env = Env {
                store: store.clone(),
                hub: hub.clone(),
                data_dir: data_dir.to_path_buf(),
                // The interactive lane's model stays open for `/v1` requests too.
                cache: if lane == Lane::Interactive {
                    interactive.cache.clone()
                } else {
                    ModelCache::default()
                },
                interactive: interactive.clone(),
                node: node.cloned(),
            };
            tokio::spawn(run_lane(env, lane))
        })
        .collect()
}

async fn run_lane(env: Env, lane: Lane) {
    let kinds = lane.kinds();
    let lease = env.node.as_ref().map(|n| n.lease.clone());
    loop {
        match env.store.claim_next_as(&kinds, lease.as_ref()).await {
            Ok(Some(job)) => run_claimed(&env, job).await,
            Ok(None) => {
                tokio::select! {
                    _ = env.hub.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            Err(e) => {
                tracing::error!("{} lane: cannot read the job queue: {e}", lane.as_str());
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// The runner of a job kind, as the skeleton calls it.
pub type Runner = fn(
    JobContext,
    JobKind,
    String,
) -> Pin<Box<dyn Future<Output = anyhow::Result<Outcome>> + Send>>;

/// Runs one claimed job to its end state and announces it.
pub async fn run_claimed(env: &Env, job: ClaimedJob) {
    run_with(env, job, |ctx, kind, config| {
        Box::pin(async move { run_kind(&ctx, kind, &config).await })
    })
    .await
}

/// The skeleton with the runner given: claim is done; run, end, announce.
pub async fn run_with(env: &Env, job: ClaimedJob, runner: Runner) {
    let ctx = JobContext {
        env: env.clone(),
        id: job.id,
        attempt: job.attempt,
        runtime: Handle::current(),
    };
    let (id, kind) = (job.id, job.kind);
    // Its own task, so a panic in the runner fails this job instead of ending the lane.
    let task = tokio::spawn(runner(ctx, kind, job.config));
    let renewal = env.node.as_ref().map(|node| {
        tokio::spawn(worker::renew_while_running(
            env.store.clone(),
            id,
            node.lease.clone(),
        ))
    });
    let outcome = task.await;
    if let Some(renewal) = renewal {
        renewal.abort();
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) if e.is_panic() => Err(anyhow!("the {kind} runner crashed: {}", panic_text(e))),
        Err(e) => Err(anyhow!("the {kind} runner stopped: {e}")),
    };
    let (state, result, error) = match outcome {
        Ok(Outcome::Succeeded(result)) => (JobState::Succeeded, Some(result), None),
        Ok(Outcome::Cancelled) => (JobState::Cancelled, None, None),
        Err(e) => {
            tracing::warn!("{kind} job {id} failed: {e:#}");
            (JobState::Failed, None, Some(format!("{e:#}")))
        }
    };
    let holder = env.node.as_ref().map(|n| n.lease.worker.as_str());
    end_job_as(
        &env.store,
        id,
        holder,
        state,
        result.as_deref(),
        error.as_deref(),
    )
    .await;
    announce_end(&env.hub, id, state, error);
}

async fn run_kind(ctx: &JobContext, kind: JobKind, config: &str) -> anyhow::Result<Outcome> {
    match kind {
        JobKind::Import => import::run(ctx, config).await,
        JobKind::Train => train::run(ctx, config).await,
        JobKind::Eval => eval::run(ctx, config).await,
        JobKind::Inspect => inspect::run(ctx, config).await,
        JobKind::DraftQa => draft_qa::run(ctx, config).await,
    }
}

fn panic_text(e: tokio::task::JoinError) -> String {
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// How long [`end_job`] waits between tries at most.
const END_RETRY_MAX: Duration = Duration::from_secs(30);

/// Records a job's end (and result), trying again with growing pauses while the database
/// refuses: the lane takes no new job until it is recorded, and every failed try is logged.
pub async fn end_job(
    store: &Store,
    id: i64,
    state: JobState,
    result: Option<&str>,
    error: Option<&str>,
) {
    end_job_as(store, id, None, state, result, error).await
}

/// [`end_job`] for a holder: a worker node records the end only while it still holds the
/// job (one that lost its lease leaves the job to its new holder).
pub async fn end_job_as(
    store: &Store,
    id: i64,
    holder: Option<&str>,
    state: JobState,
    result: Option<&str>,
    error: Option<&str>,
) {
    let mut pause = Duration::from_millis(100);
    let mut tries = 0u32;
    loop {
        tries += 1;
        let recorded = async {
            if let Some(worker) = holder {
                if !store.end_held_job(id, worker, state, result, error).await? {
                    tracing::warn!(
                        "job {id}: no longer held by {worker} (its lease ran out); its end ({state}) is not recorded"
                    );
                }
                return Ok::<(), store::StoreError>(());
            }
            if let Some(r) = result {
                store.set_job_result(id, r).await?;
            }
            store.end_job(id, state, error).await
        };
        match recorded.await {
            Ok(()) => {
                if tries > 1 {
                    tracing::info!("job {id}: its end ({state}) was recorded at try {tries}");
                }
                return;
            }
            Err(e) => {
                tracing::error!(
                    "job {id}: cannot record its end ({state}), try {tries}: {e}; trying again in {pause:?}"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(END_RETRY_MAX);
            }
        }
    }
}

/// A job's cancel request as its blocking work sees it. The store is asked at most every
/// [`CANCEL_POLL`] (text generation asks for every piece of text, a query each time would cost
/// more than the piece), and a yes is kept.
pub struct CancelFlag {
    store: Store,
    id: i64,
    runtime: Handle,
    last: Cell<Option<(Instant, bool)>>,
    /// On a worker node: the job must stop too once this worker no longer holds it.
    holder: Option<String>,
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
            holder: None,
        }
    }

    pub fn requested(&self) -> bool {
        if let Some((at, answer)) = self.last.get() {
            if answer || at.elapsed() < CANCEL_POLL {
                return answer;
            }
        }
        let answer = self.runtime.block_on(async {
            let asked = self.store.cancel_requested(self.id).await.unwrap_or(false);
            match &self.holder {
                // A store that cannot answer does not take the job away.
                Some(worker) if !asked => {
                    !self.store.holds_job(self.id, worker).await.unwrap_or(true)
                }
                _ => asked,
            }
        });
        self.last.set(Some((Instant::now(), answer)));
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{JobOwner, StoreOptions};

    async fn env(dir: &tempfile::TempDir) -> Env {
        let store = Store::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        Env {
            store,
            hub: JobHub::default(),
            data_dir: dir.path().to_path_buf(),
            cache: ModelCache::default(),
            interactive: Interactive::default(),
            node: None,
        }
    }

    /// The configuration of an import job of a small generated dataset written under `dir`.
    pub(super) fn tiny_import(dir: &Path, name: &str) -> String {
        let src = dir.join("src");
        let cfg = anomaly::synth::SynthConfig {
            seed: 1,
            size: 64,
            counts: anomaly::synth::Counts {
                train: 2,
                validation: 1,
                good: 2,
                logical: 2,
                structural: 2,
            },
            categories: vec!["pushpins".into()],
        };
        anomaly::synth::generate(&src, &cfg).unwrap();
        store::JobConfig::encode(&store::ImportJob {
            source: src.display().to_string(),
            layout: store::ImportLayout::Loco,
            qa_file: None,
            name: name.into(),
        })
    }

    async fn claim(env: &Env) -> ClaimedJob {
        env.store
            .create_job(JobKind::Eval, "{}", JobOwner::System)
            .await
            .unwrap();
        env.store
            .claim_next(&[JobKind::Eval])
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_runner_fails_its_job_and_the_next_job_runs() {
        let dir = tempfile::tempdir().unwrap();
        let env = env(&dir).await;
        let mut live = env.hub.events.subscribe();
        let job = claim(&env).await;
        let id = job.id;
        run_with(&env, job, |_, _, _| {
            Box::pin(async { panic!("index out of bounds: the len is 0") })
        })
        .await;
        let info = env.store.job(id).await.unwrap();
        assert_eq!(info.state, JobState::Failed);
        let error = info.error.unwrap();
        assert!(
            error.contains("eval runner crashed") && error.contains("index out of bounds"),
            "{error}"
        );
        // The end notice reached live pages, typed.
        let notice = live.recv().await.unwrap();
        assert_eq!(
            JobEvent::from_json(&notice.data).and_then(|e| e.end_state()),
            Some(JobState::Failed)
        );
        // The same lane goes on with the next job.
        let next = claim(&env).await;
        let next_id = next.id;
        run_with(&env, next, |ctx, _, _| {
            Box::pin(async move {
                ctx.emit(JobEvent::Log {
                    message: "fine".into(),
                })
                .await;
                Ok(Outcome::Succeeded("{\"ok\":true}".into()))
            })
        })
        .await;
        let info = env.store.job(next_id).await.unwrap();
        assert_eq!(info.state, JobState::Succeeded);
        assert_eq!(
            env.store.job_config(next_id).await.unwrap().1.as_deref(),
            Some("{\"ok\":true}")
        );
    }

    /// One model answers at a time; past the bound, waiting requests are refused, and a job's
    /// wait is never refused.
    #[tokio::test]
    async fn the_interactive_turn_queues_up_to_its_bound_then_refuses() {
        let gate = Interactive::new(2);
        let held = gate.take().await;
        let (a, b) = (gate.clone(), gate.clone());
        let first = tokio::spawn(async move { a.take_or_refuse().await.map(|_| ()) });
        let second = tokio::spawn(async move { b.take_or_refuse().await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let busy = gate.take_or_refuse().await.unwrap_err();
        assert_eq!(busy.waiting, 2);
        assert!(busy.to_string().contains("2 requests are waiting"));
        drop(held);
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        let _again = gate.take_or_refuse().await.unwrap();
    }

    /// Cancel on a running import: the job ends cancelled, no dataset and no files remain.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_running_import_stops_on_cancel_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let env = env(&dir).await;
        let config = tiny_import(dir.path(), "cancelled");
        let id = env
            .store
            .create_job(JobKind::Import, &config, JobOwner::System)
            .await
            .unwrap();
        let claimed = env
            .store
            .claim_next(&[JobKind::Import])
            .await
            .unwrap()
            .unwrap();
        assert!(env.store.request_cancel(id).await.unwrap());
        assert_eq!(env.store.job(id).await.unwrap().state, JobState::Running);
        run_claimed(&env, claimed).await;
        assert_eq!(env.store.job(id).await.unwrap().state, JobState::Cancelled);
        assert!(env.store.datasets().await.unwrap().is_empty());
        let left: Vec<_> = std::fs::read_dir(dir.path().join("datasets"))
            .map(|d| d.flatten().collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "files left behind: {left:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_end_the_database_refuses_is_retried_until_it_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let env = env(&dir).await;
        let job = claim(&env).await;
        let id = job.id;
        // A real fault: the database refuses to record any job's end for a while.
        sqlx::query(
            "CREATE TRIGGER refuse_end BEFORE UPDATE OF state ON jobs WHEN NEW.state != 'running'
             BEGIN SELECT RAISE(ABORT, 'disk I/O error (injected)'); END",
        )
        .execute(env.store.pool().sqlite().expect("an SQLite store"))
        .await
        .unwrap();
        let runner = {
            let env = env.clone();
            tokio::spawn(async move {
                run_with(&env, job, |_, _, _| {
                    Box::pin(async { Ok(Outcome::Succeeded("{}".into())) })
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(env.store.job(id).await.unwrap().state, JobState::Running);
        assert!(!runner.is_finished(), "the runner keeps trying");
        sqlx::query("DROP TRIGGER refuse_end")
            .execute(env.store.pool().sqlite().expect("an SQLite store"))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), runner)
            .await
            .expect("recorded once the database takes it")
            .unwrap();
        assert_eq!(env.store.job(id).await.unwrap().state, JobState::Succeeded);
    }
}

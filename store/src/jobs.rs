//! Job rows: the queue every long operation goes through (imports, training, evaluations,
//! inspections), their progress events, cancel requests, and crash recovery.

use crate::db::{now, Store, StoreError};
use crate::records::{JobEvent, JobInfo, JobKind, JobState, SYSTEM_OWNER};
use crate::sql::{self, Engine};
use crate::workers::Lease;

/// Who queued a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobOwner {
    /// A signed-in user (their queued jobs count against the per-user cap).
    User(i64),
    /// A command-line run, which is its own worker.
    CommandLine,
    /// The server itself (e.g. the first evaluation of the default model).
    System,
}

impl JobOwner {
    fn origin(self) -> &'static str {
        match self {
            JobOwner::User(_) => "user",
            JobOwner::CommandLine => "cli",
            JobOwner::System => "system",
        }
    }

    fn user_id(self) -> Option<i64> {
        match self {
            JobOwner::User(id) => Some(id),
            _ => None,
        }
    }
}

/// A job a runner has taken.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: JobKind,
    pub config: String,
    /// 1 for the first run; more after interruptions and resumes.
    pub attempt: u32,
}

/// After this many runs in a row interrupted by a crash with no durable progress (no checkpoint,
/// no stored prediction), a job fails for good instead of being queued again, so a job that
/// kills the process cannot crash-loop the server; one that moves on is always resumed.
pub const MAX_INTERRUPTED_ATTEMPTS: u32 = 3;

/// The columns of a [`JobRow`] (a literal, so sqlx sees static SQL).
macro_rules! job_select {
    () => {
        "SELECT j.id, j.kind, j.state, j.progress, u.username, j.origin, j.created_at, j.error, j.attempts
         FROM jobs j LEFT JOIN users u ON u.id = j.owner_id"
    };
}

/// id, kind, state, progress, owner name, origin, created_at, error, attempts.
type JobRow = (
    i64,
    String,
    String,
    f64,
    Option<String>,
    String,
    i64,
    Option<String>,
    i64,
);

fn job_info(row: JobRow) -> Result<JobInfo, StoreError> {
    let (id, kind, state, progress, owner, origin, created_at, error, attempts) = row;
    let owner = match (owner, origin.as_str()) {
        (Some(name), _) => name,
        (None, "cli") => "(command line)".into(),
        (None, "system") => SYSTEM_OWNER.into(),
        (None, _) => "(deleted user)".into(),
    };
    Ok(JobInfo {
        id,
        kind: kind
            .parse()
            .map_err(|e| StoreError::Invalid(format!("job {id}: {e}")))?,
        state: state
            .parse()
            .map_err(|e| StoreError::Invalid(format!("job {id}: {e}")))?,
        progress,
        owner,
        created_at,
        error,
        attempts: attempts.max(0) as u32,
    })
}

fn job_infos(rows: Vec<JobRow>) -> Result<Vec<JobInfo>, StoreError> {
    rows.into_iter().map(job_info).collect()
}

impl Store {
    /// The newest jobs first.
    pub async fn recent_jobs(&self, limit: i64) -> Result<Vec<JobInfo>, StoreError> {
        let rows: Vec<JobRow> = sql::query_as(concat!(
            job_select!(),
            " ORDER BY j.created_at DESC, j.id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        job_infos(rows)
    }

    /// Queues a job of `kind` with its configuration; returns its id. A user who already has
    /// [`crate::StoreOptions::max_queued_per_user`] jobs waiting is refused with
    /// [`StoreError::QueueFull`] (the check and the insert are one statement in a writer's
    /// transaction, so parallel requests, from any process, cannot slip past it).
    pub async fn create_job(
        &self,
        kind: JobKind,
        config: &str,
        owner: JobOwner,
    ) -> Result<i64, StoreError> {
        let cap = self.options.max_queued_per_user as i64;
        let mut tx = self.pool().begin_immediate().await?;
        let id: Option<(i64,)> = sql::query_as(
            "INSERT INTO jobs (id, kind, config, owner_id, origin, created_at)
             SELECT (SELECT high + 1 FROM job_id_high), $1, $2, $3, $4, $5
             WHERE $6 IS NULL OR (SELECT COUNT(*) FROM jobs WHERE owner_id = $7 AND state = 'queued') < $8
             RETURNING id",
        )
        .bind(kind.as_str())
        .bind(config)
        .bind(owner.user_id())
        .bind(owner.origin())
        .bind(now())
        .bind(owner.user_id())
        .bind(owner.user_id())
        .bind(cap)
        .fetch_optional(&mut tx)
        .await?;
        tx.commit().await?;
        match id {
            Some((id,)) => Ok(id),
            None => Err(StoreError::QueueFull(self.options.max_queued_per_user)),
        }
    }

    /// Creates a job that starts at once (a command-line run, which is its own worker).
    pub async fn create_running_job(
        &self,
        kind: JobKind,
        config: &str,
        owner: JobOwner,
    ) -> Result<i64, StoreError> {
        let t = now();
        let mut tx = self.pool().begin_immediate().await?;
        let (id,): (i64,) = sql::query_as(
            "INSERT INTO jobs (id, kind, config, owner_id, origin, created_at, state, started_at, claimed_at, attempts)
             VALUES ((SELECT high + 1 FROM job_id_high), $1, $2, $3, $4, $5, 'running', $6, $7, 1)
             RETURNING id",
        )
        .bind(kind.as_str())
        .bind(config)
        .bind(owner.user_id())
        .bind(owner.origin())
        .bind(t)
        .bind(t)
        .bind(t)
        .fetch_one(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Records `progress` (0..=1) of a running job.
    pub async fn job_progress(&self, id: i64, progress: f64) -> Result<(), StoreError> {
        sql::query("UPDATE jobs SET progress = $1 WHERE id = $2 AND state = 'running'")
            .bind(progress.clamp(0.0, 1.0))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends a job: succeeded when `error` is None, failed otherwise.
    pub async fn finish_job(&self, id: i64, error: Option<&str>) -> Result<(), StoreError> {
        let state = match error {
            Some(_) => JobState::Failed,
            None => JobState::Succeeded,
        };
        self.end_job(id, state, error).await
    }

    /// Puts a job in an end state (with `error` for a failure).
    pub async fn end_job(
        &self,
        id: i64,
        state: JobState,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        debug_assert!(state.is_ended());
        sql::query(
            "UPDATE jobs SET state = $1, error = $2, finished_at = $3, lease_until = NULL,
                progress = CASE WHEN $4 = 'succeeded' THEN 1.0 ELSE progress END WHERE id = $5",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(now())
        .bind(state.as_str())
        .bind(id)
        .execute(self.pool())
        .await?;
        self.compact_job_events(id).await
    }

    /// One job.
    pub async fn job(&self, id: i64) -> Result<JobInfo, StoreError> {
        let row: Option<JobRow> = sql::query_as(concat!(job_select!(), " WHERE j.id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(job_info)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("job with id {id}")))
    }

    /// Claims the next queued job of any of `kinds` and marks it running. Within those kinds
    /// users take turns: the job chosen is the oldest of the owner served longest ago (never
    /// served first), so one user's twenty queued runs do not starve another's one.
    pub async fn claim_next(&self, kinds: &[JobKind]) -> Result<Option<ClaimedJob>, StoreError> {
        self.claim_next_as(kinds, None).await
    }

    /// [`Self::claim_next`] for a holder: a worker node's claim carries a lease it must renew
    /// ([`Store::renew_lease`]) or lose the job to another worker.
    pub async fn claim_next_as(
        &self,
        kinds: &[JobKind],
        lease: Option<&Lease>,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let engine = self.engine();
        // SQLite: one claimer at a time, across processes. PostgreSQL: claimers run side by
        // side and lock only the row they take, skipping rows another claimer holds.
        let mut tx = match engine {
            Engine::Sqlite => self.pool().begin_immediate().await?,
            Engine::Postgres => self.pool().begin().await?,
        };
        // Few jobs wait at a time: filter the kinds here rather than build SQL.
        let queued: Vec<(i64, String, String, Option<i64>, String, i64)> = sql::query_as(
            "SELECT id, kind, config, owner_id, origin, attempts FROM jobs
             WHERE state = 'queued' ORDER BY created_at, id",
        )
        .fetch_all(&mut tx)
        .await?;
        let queued: Vec<_> = queued
            .into_iter()
            .filter_map(|(id, kind, config, owner, origin, attempts)| {
                let kind = kind.parse::<JobKind>().ok()?;
                kinds
                    .contains(&kind)
                    .then_some((id, kind, config, (owner, origin), attempts))
            })
            .collect();
        if queued.is_empty() {
            tx.commit().await?;
            return Ok(None);
        }
        // When each owner (user id, or the CLI / the system) was last served in these kinds.
        let served: Vec<(String, Option<i64>, String, Option<i64>)> = sql::query_as(
            "SELECT kind, owner_id, origin, MAX(claimed_at) FROM jobs
             WHERE claimed_at IS NOT NULL GROUP BY kind, owner_id, origin",
        )
        .fetch_all(&mut tx)
        .await?;
        let last_served = |who: &(Option<i64>, String)| -> i64 {
            served
                .iter()
                .filter(|(k, o, g, _)| {
                    k.parse::<JobKind>().is_ok_and(|k| kinds.contains(&k))
                        && (o, g) == (&who.0, &who.1)
                })
                .filter_map(|(.., t)| *t)
                .max()
                .unwrap_or(i64::MIN)
        };
        // `queued` is oldest first, so a stable sort puts the first of the least recently
        // served owner first; the next ones are taken when another claimer holds it.
        let mut order: Vec<_> = queued.iter().collect();
        order.sort_by_key(|(.., who, _)| last_served(who));
        // claimed_at must order claims within one second too.
        let (claimed_at,): (i64,) = sql::query_as(
            "SELECT CASE WHEN $1 > m THEN $1 ELSE m END
             FROM (SELECT COALESCE(MAX(claimed_at), 0) + 1 AS m FROM jobs) AS last",
        )
        .bind(now())
        .fetch_one(&mut tx)
        .await?;
        let lock = match engine {
            Engine::Sqlite => "SELECT id FROM jobs WHERE id = $1 AND state = 'queued'",
            Engine::Postgres => {
                "SELECT id FROM jobs WHERE id = $1 AND state = 'queued' FOR UPDATE SKIP LOCKED"
            }
        };
        for (id, kind, config, _, attempts) in order {
            let taken: Option<(i64,)> = sql::query_as(lock)
                .bind(*id)
                .fetch_optional(&mut tx)
                .await?;
            if taken.is_none() {
                continue;
            }
            sql::query(
                "UPDATE jobs SET state = 'running', cancel_requested = FALSE, error = NULL,
                    finished_at = NULL, started_at = COALESCE(started_at, $1), claimed_at = $2,
                    attempts = attempts + 1, worker = $3, lease_until = $4
                 WHERE id = $5",
            )
            .bind(now())
            .bind(claimed_at)
            .bind(lease.map(|l| l.worker.as_str()))
            .bind(lease.map(Lease::until_ms))
            .bind(*id)
            .execute(&mut tx)
            .await?;
            tx.commit().await?;
            return Ok(Some(ClaimedJob {
                id: *id,
                kind: *kind,
                config: config.clone(),
                attempt: (attempts + 1).max(1) as u32,
            }));
        }
        tx.commit().await?;
        Ok(None)
    }

    /// Marks a stopped job running again (a command-line resume).
    pub async fn restart_job(&self, id: i64) -> Result<(), StoreError> {
        sql::query(
            "UPDATE jobs SET state = 'running', cancel_requested = FALSE, error = NULL, finished_at = NULL,
                attempts = attempts + 1, claimed_at = $1, worker = NULL, lease_until = NULL
             WHERE id = $2",
        )
        .bind(now())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A job's configuration and result (JSON).
    pub async fn job_config(&self, id: i64) -> Result<(String, Option<String>), StoreError> {
        sql::query_as("SELECT config, result FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("job with id {id}")))
    }

    /// Records what a job produced.
    pub async fn set_job_result(&self, id: i64, result: &str) -> Result<(), StoreError> {
        sql::query("UPDATE jobs SET result = $1 WHERE id = $2")
            .bind(result)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Asks a job to stop: a queued one is cancelled at once, a running one at its next
    /// check. Returns false when the job had already ended.
    pub async fn request_cancel(&self, id: i64) -> Result<bool, StoreError> {
        let queued = sql::query(
            "UPDATE jobs SET state = 'cancelled', finished_at = $1 WHERE id = $2 AND state = 'queued'",
        )
        .bind(now())
        .bind(id)
        .execute(self.pool())
        .await?;
        let running = sql::query(
            "UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND state = 'running'",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(queued.rows_affected() + running.rows_affected() > 0)
    }

    /// True when someone asked the job to stop.
    pub async fn cancel_requested(&self, id: i64) -> Result<bool, StoreError> {
        let row: Option<(bool,)> = sql::query_as("SELECT cancel_requested FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some_and(|(c,)| c))
    }

    /// Ends a job as cancelled (it stopped at a checkpoint it can resume from).
    pub async fn cancel_job(&self, id: i64) -> Result<(), StoreError> {
        self.end_job(id, JobState::Cancelled, None).await
    }

    /// Queues a failed or cancelled job again (it resumes from its last checkpoint). Returns
    /// false when the job is not in such a state. A resume by hand starts a new count of
    /// interrupted attempts.
    pub async fn requeue_job(&self, id: i64) -> Result<bool, StoreError> {
        let done = sql::query(
            "UPDATE jobs SET state = 'queued', cancel_requested = FALSE, error = NULL, finished_at = NULL,
                attempts = 0, stalls = 0, worker = NULL, lease_until = NULL
             WHERE id = $1 AND state IN ('failed', 'cancelled')",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Jobs a previous process left running (it crashed or was killed) go back to the queue
    /// and resume from their last checkpoint or stored predictions, except those interrupted
    /// [`MAX_INTERRUPTED_ATTEMPTS`] times in a row without progress, which fail for good.
    /// Returns (re-queued, failed).
    /// `still_running` says which `running` jobs a live process still runs (a command-line
    /// evaluation beside the server): those are left alone. Call it only while no runner of
    /// this server is alive.
    pub async fn recover_interrupted_jobs(
        &self,
        still_running: &dyn Fn(i64) -> bool,
    ) -> Result<(Vec<i64>, Vec<i64>), StoreError> {
        let mut tx = self.pool().begin().await?;
        // Leased jobs belong to worker nodes: their leases say whether they still run.
        let running: Vec<(i64, i64)> = sql::query_as(
            "SELECT id, stalls FROM jobs WHERE state = 'running' AND lease_until IS NULL ORDER BY id",
        )
        .fetch_all(&mut tx)
        .await?;
        let (mut requeued, mut failed) = (Vec::new(), Vec::new());
        for (id, stalls) in running {
            if still_running(id) {
                continue;
            }
            match requeue_interrupted(&mut tx, id, stalls, "the server stopped while it ran")
                .await?
            {
                true => requeued.push(id),
                false => failed.push(id),
            }
        }
        tx.commit().await?;
        Ok((requeued, failed))
    }

    /// The newest jobs of `kind` first.
    pub async fn jobs_of_kind(
        &self,
        kind: JobKind,
        limit: i64,
    ) -> Result<Vec<JobInfo>, StoreError> {
        let rows: Vec<JobRow> = sql::query_as(concat!(
            job_select!(),
            " WHERE j.kind = $1 ORDER BY j.created_at DESC, j.id DESC LIMIT $2"
        ))
        .bind(kind.as_str())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        job_infos(rows)
    }
}

/// Sends interrupted running job `id` back to the queue (it resumes from its last checkpoint
/// or stored predictions), or fails it after [`MAX_INTERRUPTED_ATTEMPTS`] interruptions in a
/// row without durable progress: a checkpoint, a stored prediction or a stored draft after
/// its `started` event. Returns true when it was queued again.
pub(crate) async fn requeue_interrupted(
    tx: &mut sql::Tx,
    id: i64,
    stalls: i64,
    cause: &str,
) -> Result<bool, StoreError> {
    let since_start: Vec<(String,)> = sql::query_as(
        "SELECT data FROM job_events WHERE job_id = $1 AND seq >= COALESCE(
            (SELECT MAX(seq) FROM job_events WHERE job_id = $1 AND data LIKE '{\"kind\":\"started\"%'), 0)",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let progressed = since_start.iter().any(|(e,)| {
        matches!(
            JobEvent::from_json(e),
            Some(JobEvent::Checkpoint { .. } | JobEvent::Prediction(_) | JobEvent::Drafted { .. })
        )
    });
    let stalls = if progressed { 0 } else { stalls + 1 };
    if stalls >= MAX_INTERRUPTED_ATTEMPTS as i64 {
        sql::query(
            "UPDATE jobs SET state = 'failed', finished_at = $1, stalls = $2, error = $3,
                lease_until = NULL
             WHERE id = $4",
        )
        .bind(now())
        .bind(stalls)
        .bind(format!(
            "interrupted {stalls} times in a row without progress ({cause}); resume it to try again"
        ))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        return Ok(false);
    }
    sql::query(
        "UPDATE jobs SET state = 'queued', cancel_requested = FALSE, stalls = $1,
            worker = NULL, lease_until = NULL
         WHERE id = $2",
    )
    .bind(stalls)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::JobEvent;
    use crate::{Role, StoreOptions};

    async fn store(dir: &tempfile::TempDir, options: StoreOptions) -> Store {
        crate::test_db::open(&dir.path().join("db"), options)
            .await
            .unwrap()
    }

    fn log(m: &str) -> JobEvent {
        JobEvent::Log {
            message: m.to_string(),
        }
    }

    /// Two processes' stores on one database create and claim at once: every job gets its own
    /// id and is claimed exactly once.
    #[tokio::test]
    async fn parallel_creators_and_claimers_on_two_pools_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = crate::test_db::open_two(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        let create: Vec<_> = (0..20)
            .map(|i| {
                let s = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(
                    async move { s.create_job(JobKind::Eval, "{}", JobOwner::System).await },
                )
            })
            .collect();
        let mut ids = Vec::new();
        for t in create {
            ids.push(t.await.unwrap().unwrap());
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20);
        let claim: Vec<_> = (0..24)
            .map(|i| {
                let s = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move { s.claim_next(&[JobKind::Eval]).await })
            })
            .collect();
        let mut claimed = Vec::new();
        for t in claim {
            if let Some(job) = t.await.unwrap().unwrap() {
                claimed.push(job.id);
            }
        }
        claimed.sort();
        assert_eq!(claimed, ids, "each job claimed once");
    }

    #[tokio::test]
    async fn job_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, StoreOptions::default()).await;
        let a = s
            .create_job(JobKind::Import, "{}", JobOwner::System)
            .await
            .unwrap();
        let info = s.job(a).await.unwrap();
        assert_eq!(
            (info.state, info.owner.as_str()),
            (JobState::Queued, "(system)")
        );
        let claimed = s.claim_next(&[JobKind::Import]).await.unwrap().unwrap();
        assert_eq!((claimed.id, claimed.attempt), (a, 1));
        s.job_progress(a, 0.5).await.unwrap();
        let info = s.job(a).await.unwrap();
        assert_eq!((info.state, info.progress), (JobState::Running, 0.5));
        s.finish_job(a, None).await.unwrap();
        let done = s.job(a).await.unwrap();
        assert_eq!((done.state, done.progress), (JobState::Succeeded, 1.0));
        let b = s
            .create_job(JobKind::Import, "{}", JobOwner::CommandLine)
            .await
            .unwrap();
        s.finish_job(b, Some("boom")).await.unwrap();
        let b = s.job(b).await.unwrap();
        assert_eq!(
            (b.state, b.error.as_deref(), b.owner.as_str()),
            (JobState::Failed, Some("boom"), "(command line)")
        );
        assert!(s.job(999).await.is_err());
    }

    #[tokio::test]
    async fn worker_queue_events_cancel_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, StoreOptions::default()).await;
        let owner = JobOwner::System;
        let a = s.create_job(JobKind::Train, "cfg-a", owner).await.unwrap();
        let b = s.create_job(JobKind::Train, "cfg-b", owner).await.unwrap();
        s.create_job(JobKind::Import, "{}", owner).await.unwrap();
        let claimed = s.claim_next(&[JobKind::Train]).await.unwrap().unwrap();
        assert_eq!((claimed.id, claimed.config.as_str()), (a, "cfg-a"));
        assert_eq!(s.job(a).await.unwrap().state, JobState::Running);
        assert_eq!(s.add_job_event(a, &log("one")).await.unwrap(), 1);
        assert_eq!(s.add_job_event(a, &log("two")).await.unwrap(), 2);
        let after_one = s.job_events(a, 1).await.unwrap();
        assert_eq!(after_one.len(), 1);
        assert_eq!(JobEvent::from_json(&after_one[0].1), Some(log("two")));
        // Cancelling: the queued job at once, the running one when it looks.
        assert!(s.request_cancel(b).await.unwrap());
        assert_eq!(s.job(b).await.unwrap().state, JobState::Cancelled);
        assert!(!s.cancel_requested(a).await.unwrap());
        assert!(s.request_cancel(a).await.unwrap());
        assert!(s.cancel_requested(a).await.unwrap());
        s.cancel_job(a).await.unwrap();
        assert!(!s.request_cancel(a).await.unwrap(), "already ended");
        // Resume: back to the queue, claimed again with a clear cancel flag.
        assert!(s.requeue_job(a).await.unwrap());
        assert!(!s.requeue_job(a).await.unwrap(), "queued already");
        let again = s.claim_next(&[JobKind::Train]).await.unwrap().unwrap();
        assert_eq!(again.id, a);
        assert!(!s.cancel_requested(a).await.unwrap());
        assert_eq!(s.jobs_of_kind(JobKind::Train, 10).await.unwrap().len(), 2);
        s.set_job_result(a, "{}").await.unwrap();
        assert_eq!(
            s.job_config(a).await.unwrap(),
            ("cfg-a".into(), Some("{}".into()))
        );
    }

    /// A job killed again and again while it keeps storing progress is always resumed: the
    /// kill -9 trials (bench/kill_trials.sh) interrupt one run twenty times.
    #[tokio::test]
    async fn interruptions_with_progress_in_between_never_fail_a_job() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, StoreOptions::default()).await;
        let a = s
            .create_job(JobKind::Train, "{}", JobOwner::System)
            .await
            .unwrap();
        let started = |attempt| JobEvent::Started {
            device: "cpu".into(),
            attempt,
        };
        for attempt in 1..=10u32 {
            let c = s.claim_next(&[JobKind::Train]).await.unwrap().unwrap();
            assert_eq!(c.attempt, attempt);
            s.add_job_event(a, &started(attempt)).await.unwrap();
            s.add_job_event(
                a,
                &JobEvent::Checkpoint {
                    dir: format!("step-{attempt}"),
                },
            )
            .await
            .unwrap();
            let (requeued, failed) = s.recover_interrupted_jobs(&|_| false).await.unwrap();
            assert_eq!((requeued, failed), (vec![a], vec![]), "attempt {attempt}");
        }
        // Then three without a checkpoint: the last checkpoint before them does not count.
        for attempt in 11..=13u32 {
            s.claim_next(&[JobKind::Train]).await.unwrap().unwrap();
            s.add_job_event(a, &started(attempt)).await.unwrap();
            let (_, failed) = s.recover_interrupted_jobs(&|_| false).await.unwrap();
            assert_eq!(failed.is_empty(), attempt < 13, "attempt {attempt}");
        }
        let j = s.job(a).await.unwrap();
        assert!(j
            .error
            .unwrap()
            .contains("3 times in a row without progress"));
    }

    #[tokio::test]
    async fn interrupted_jobs_are_requeued_until_the_third_interruption() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, StoreOptions::default()).await;
        let a = s
            .create_job(JobKind::Eval, "{}", JobOwner::System)
            .await
            .unwrap();
        for attempt in 1..=MAX_INTERRUPTED_ATTEMPTS {
            let c = s.claim_next(&[JobKind::Eval]).await.unwrap().unwrap();
            assert_eq!((c.id, c.attempt), (a, attempt));
            // The process dies here; the next start recovers.
            let (requeued, failed) = s.recover_interrupted_jobs(&|_| false).await.unwrap();
            if attempt < MAX_INTERRUPTED_ATTEMPTS {
                assert_eq!((requeued, failed), (vec![a], vec![]));
                assert_eq!(s.job(a).await.unwrap().state, JobState::Queued);
            } else {
                assert_eq!((requeued, failed), (vec![], vec![a]));
                let j = s.job(a).await.unwrap();
                assert_eq!(j.state, JobState::Failed);
                assert!(j.error.unwrap().contains("interrupted 3 times in a row"));
            }
        }
        // A resume by hand gets three fresh attempts.
        assert!(s.requeue_job(a).await.unwrap());

        assert_eq!(
            s.claim_next(&[JobKind::Eval])
                .await
                .unwrap()
                .unwrap()
                .attempt,
            1
        );
        // A job another process still runs is left alone.
        let (requeued, failed) = s.recover_interrupted_jobs(&|id| id == a).await.unwrap();
        assert_eq!((requeued, failed), (vec![], vec![]));
        assert_eq!(s.job(a).await.unwrap().state, JobState::Running);
        let (requeued, _) = s.recover_interrupted_jobs(&|_| false).await.unwrap();
        assert_eq!(requeued, vec![a]);
    }

    #[tokio::test]
    async fn users_take_turns_within_a_lane_and_kinds_stay_in_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, StoreOptions::default()).await;
        let ada = s
            .create_user("ada", "pw-ada-1234", Role::Member)
            .await
            .unwrap();
        let bob = s
            .create_user("bob", "pw-bob-1234", Role::Member)
            .await
            .unwrap();
        let mut ada_jobs = Vec::new();
        for _ in 0..3 {
            ada_jobs.push(
                s.create_job(JobKind::Eval, "{}", JobOwner::User(ada.id))
                    .await
                    .unwrap(),
            );
        }
        let bob_job = s
            .create_job(JobKind::Eval, "{}", JobOwner::User(bob.id))
            .await
            .unwrap();
        let train = s
            .create_job(JobKind::Train, "{}", JobOwner::User(ada.id))
            .await
            .unwrap();
        let mut order = Vec::new();
        while let Some(c) = s.claim_next(&[JobKind::Eval]).await.unwrap() {
            s.finish_job(c.id, None).await.unwrap();
            order.push(c.id);
        }
        // Ada queued first and is served first; then Bob's one job, not her second.
        assert_eq!(order, [ada_jobs[0], bob_job, ada_jobs[1], ada_jobs[2]]);
        assert_eq!(s.job(train).await.unwrap().state, JobState::Queued);
        assert_eq!(
            s.claim_next(&[JobKind::Train]).await.unwrap().map(|c| c.id),
            Some(train)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_user_cannot_queue_more_than_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            max_queued_per_user: 3,
            ..Default::default()
        };
        let s = store(&dir, options).await;
        let ada = s
            .create_user("ada", "pw-ada-1234", Role::Member)
            .await
            .unwrap();
        let bob = s
            .create_user("bob", "pw-bob-1234", Role::Member)
            .await
            .unwrap();
        // Parallel requests: exactly the cap gets in.
        let tries: Vec<_> = (0..10)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.create_job(JobKind::Inspect, "{}", JobOwner::User(ada.id))
                        .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tries {
            results.push(t.await.unwrap());
        }
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 3);
        let err = results.into_iter().find_map(Result::err).unwrap();
        assert!(matches!(err, StoreError::QueueFull(3)), "{err}");
        assert!(err.to_string().contains("3 jobs"), "{err}");
        // Others are not affected, nor are the server's own jobs.
        s.create_job(JobKind::Inspect, "{}", JobOwner::User(bob.id))
            .await
            .unwrap();
        s.create_job(JobKind::Inspect, "{}", JobOwner::System)
            .await
            .unwrap();
        // A job that runs no longer counts as waiting.
        s.claim_next(&[JobKind::Inspect]).await.unwrap().unwrap();
        s.create_job(JobKind::Inspect, "{}", JobOwner::User(ada.id))
            .await
            .unwrap();
    }
}

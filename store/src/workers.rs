//! Worker nodes: processes that run jobs without serving pages, on any machine that reaches
//! the database. A job a worker claims carries a lease the worker renews by heartbeat; a job
//! whose lease ran out (its worker vanished) goes back to the queue and resumes elsewhere from
//! its last checkpoint or stored predictions, and a worker whose renewal fails has lost the
//! job and stops it. Jobs of the web server's own lanes and of command-line runs carry no
//! lease: the server's start-up recovery handles those.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::db::{now, Store, StoreError};
use crate::jobs::requeue_interrupted;
use crate::records::JobState;
use crate::sql;

/// Milliseconds since the Unix epoch (leases need finer time than the jobs' seconds).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A claim's lease: who holds the job and for how long after each renewal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub worker: String,
    pub duration: Duration,
}

impl Lease {
    pub fn new(worker: impl Into<String>, duration: Duration) -> Self {
        Lease {
            worker: worker.into(),
            duration,
        }
    }

    /// When a lease taken or renewed now runs out (Unix ms).
    pub fn until_ms(&self) -> i64 {
        now_ms().saturating_add(self.duration.as_millis() as i64)
    }
}

/// A worker as it announces itself (`vlm-inspect worker`) and as admins see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Unique among the workers of one database.
    pub name: String,
    /// The compute device its jobs run on, e.g. `cuda:0`.
    pub device: String,
    /// The lanes it takes jobs from, comma-separated (`train,eval,inspect`).
    pub lanes: String,
    /// Host name and process id, for finding it.
    pub host: String,
    pub started_at_ms: i64,
    pub last_seen_ms: i64,
    /// The job it runs now, if any.
    pub job: Option<i64>,
}

/// name, device, lanes, host, started_at, last_seen, current job.
type WorkerRow = (String, String, String, String, i64, i64, Option<i64>);

impl Store {
    /// Records that worker `w` is alive (its start, or a heartbeat), with what it offers.
    pub async fn worker_seen(&self, w: &WorkerInfo) -> Result<(), StoreError> {
        sql::query(
            "INSERT INTO workers (name, device, lanes, host, started_at, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE SET device = excluded.device, lanes = excluded.lanes,
                host = excluded.host, started_at = excluded.started_at,
                last_seen = excluded.last_seen",
        )
        .bind(&w.name)
        .bind(&w.device)
        .bind(&w.lanes)
        .bind(&w.host)
        .bind(w.started_at_ms)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes worker `name` from the list (it stopped cleanly).
    pub async fn forget_worker(&self, name: &str) -> Result<(), StoreError> {
        sql::query("DELETE FROM workers WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Every worker that announced itself, most recently seen first, with its current job.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>, StoreError> {
        let rows: Vec<WorkerRow> = sql::query_as(
            "SELECT w.name, w.device, w.lanes, w.host, w.started_at, w.last_seen,
                    (SELECT MIN(j.id) FROM jobs j WHERE j.worker = w.name AND j.state = 'running')
             FROM workers w ORDER BY w.last_seen DESC, w.name",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(name, device, lanes, host, started_at_ms, last_seen_ms, job)| WorkerInfo {
                    name,
                    device,
                    lanes,
                    host,
                    started_at_ms,
                    last_seen_ms,
                    job,
                },
            )
            .collect())
    }

    /// Renews the lease of running job `id` for its holder. False when the lease is lost: the
    /// job was re-queued (the lease ran out) and perhaps taken by another worker, cancelled
    /// for good, or ended: the holder must stop running it and record nothing more.
    pub async fn renew_lease(&self, id: i64, lease: &Lease) -> Result<bool, StoreError> {
        let done = sql::query(
            "UPDATE jobs SET lease_until = $1
             WHERE id = $2 AND worker = $3 AND state = 'running' AND lease_until IS NOT NULL",
        )
        .bind(lease.until_ms())
        .bind(id)
        .bind(&lease.worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// True while `worker` still holds running job `id`.
    pub async fn holds_job(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = sql::query_as(
            "SELECT id FROM jobs WHERE id = $1 AND worker = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(worker)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// Ends running job `id` for its holder: its result (if any) and end state are recorded only
    /// while `worker` still holds it, so a worker that lost the job to another cannot end it
    /// under the new holder. Returns false when it no longer held it (nothing was written).
    pub async fn end_held_job(
        &self,
        id: i64,
        worker: &str,
        state: JobState,
        result: Option<&str>,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        debug_assert!(state.is_ended());
        let done = sql::query(
            "UPDATE jobs SET state = $1, error = $2, finished_at = $3, lease_until = NULL,
                result = COALESCE($4, result),
                progress = CASE WHEN $1 = 'succeeded' THEN 1.0 ELSE progress END
             WHERE id = $5 AND worker = $6 AND state = 'running'",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(now())
        .bind(result)
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.compact_job_events(id).await?;
        Ok(true)
    }

    /// Sends every running job whose lease ran out back to the queue (or fails one that keeps
    /// being interrupted without progress); returns (re-queued, failed). Every worker and the
    /// web server call this now and then; each job is handled once, by whoever gets to it
    /// first.
    pub async fn requeue_expired_leases(&self) -> Result<(Vec<i64>, Vec<i64>), StoreError> {
        let now = now_ms();
        let expired: Vec<(i64,)> = sql::query_as(
            "SELECT id FROM jobs WHERE state = 'running' AND lease_until < $1 ORDER BY id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let (mut requeued, mut failed) = (Vec::new(), Vec::new());
        for (id,) in expired {
            let mut tx = self.pool().begin_immediate().await?;
            // Checked again inside the writer's transaction: a renewal in between wins.
            let still: Option<(i64,)> = sql::query_as(
                "SELECT stalls FROM jobs WHERE id = $1 AND state = 'running' AND lease_until < $2",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(&mut tx)
            .await?;
            let Some((stalls,)) = still else {
                tx.rollback().await?;
                continue;
            };
            let queued =
                requeue_interrupted(&mut tx, id, stalls, "its worker stopped answering").await?;
            tx.commit().await?;
            if queued {
                requeued.push(id);
            } else {
                failed.push(id);
            }
        }
        Ok((requeued, failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::JobOwner;
    use crate::records::{JobEvent, JobKind};
    use crate::StoreOptions;

    fn worker(name: &str) -> WorkerInfo {
        WorkerInfo {
            name: name.into(),
            device: "cuda:0".into(),
            lanes: "train,eval".into(),
            host: "gpu-1/4242".into(),
            started_at_ms: now_ms(),
            last_seen_ms: 0,
            job: None,
        }
    }

    #[tokio::test]
    async fn a_lost_worker_s_job_moves_to_another_and_the_first_cannot_renew_it() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = crate::test_db::open_two(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        for w in ["gpu-a", "gpu-b"] {
            a.worker_seen(&worker(w)).await.unwrap();
        }
        let id = a
            .create_job(JobKind::Eval, "{}", JobOwner::System)
            .await
            .unwrap();
        let short = Lease::new("gpu-a", Duration::from_millis(150));
        let got = a
            .claim_next_as(&[JobKind::Eval], Some(&short))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((got.id, got.attempt), (id, 1));
        // Progress was stored: the re-queued job resumes rather than counting a stall.
        a.add_job_event(
            id,
            &JobEvent::Started {
                device: "cuda:0".into(),
                attempt: 1,
            },
        )
        .await
        .unwrap();
        a.add_job_event(
            id,
            &JobEvent::Checkpoint {
                dir: "checkpoint-10".into(),
            },
        )
        .await
        .unwrap();
        assert!(a.renew_lease(id, &short).await.unwrap());
        let listed = b.workers().await.unwrap();
        let holder = listed.iter().find(|w| w.name == "gpu-a").unwrap();
        assert_eq!(holder.job, Some(id));
        // Nothing expires while the lease is fresh.
        assert_eq!(b.requeue_expired_leases().await.unwrap(), (vec![], vec![]));
        // gpu-a vanishes: no renewal; the lease runs out and the other process re-queues it.
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            b.requeue_expired_leases().await.unwrap(),
            (vec![id], vec![])
        );
        assert_eq!(b.job(id).await.unwrap().state, JobState::Queued);
        let long = Lease::new("gpu-b", Duration::from_secs(60));
        let again = b
            .claim_next_as(&[JobKind::Eval], Some(&long))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((again.id, again.attempt), (id, 2));
        // gpu-a comes back: its lease is gone, so it stops instead of running on, and its
        // end is not recorded over gpu-b's run.
        assert!(!a.renew_lease(id, &short).await.unwrap());
        assert!(!a.holds_job(id, "gpu-a").await.unwrap());
        let stale = a
            .end_held_job(id, "gpu-a", JobState::Cancelled, None, None)
            .await
            .unwrap();
        assert!(!stale);
        assert_eq!(a.job(id).await.unwrap().state, JobState::Running);
        assert!(b.holds_job(id, "gpu-b").await.unwrap());
        assert!(b.renew_lease(id, &long).await.unwrap());
        // The server's start-up recovery leaves a leased job alone.
        let (requeued, failed) = a.recover_interrupted_jobs(&|_| false).await.unwrap();
        assert!(requeued.is_empty() && failed.is_empty());
        assert_eq!(a.job(id).await.unwrap().state, JobState::Running);
        // The holder ends it, with its result.
        assert!(b
            .end_held_job(id, "gpu-b", JobState::Succeeded, Some("{\"ok\":1}"), None)
            .await
            .unwrap());
        let done = b.job(id).await.unwrap();
        assert_eq!((done.state, done.progress), (JobState::Succeeded, 1.0));
        assert_eq!(
            b.job_config(id).await.unwrap().1.as_deref(),
            Some("{\"ok\":1}")
        );
    }

    #[tokio::test]
    async fn a_job_whose_workers_keep_vanishing_without_progress_fails() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::test_db::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        let id = s
            .create_job(JobKind::Train, "{}", JobOwner::System)
            .await
            .unwrap();
        let lease = Lease::new("flaky", Duration::from_millis(1));
        for round in 1..=3 {
            let got = s
                .claim_next_as(&[JobKind::Train], Some(&lease))
                .await
                .unwrap();
            assert_eq!(got.map(|j| j.attempt), Some(round));
            tokio::time::sleep(Duration::from_millis(20)).await;
            let (requeued, failed) = s.requeue_expired_leases().await.unwrap();
            if round < 3 {
                assert_eq!((requeued, failed), (vec![id], vec![]));
            } else {
                assert_eq!((requeued, failed), (vec![], vec![id]));
            }
        }
        let job = s.job(id).await.unwrap();
        assert_eq!(job.state, JobState::Failed);
        assert!(
            job.error
                .as_deref()
                .unwrap_or("")
                .contains("its worker stopped answering"),
            "{:?}",
            job.error
        );
    }

    #[tokio::test]
    async fn workers_are_listed_with_what_they_offer_and_forgotten_when_they_stop() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::test_db::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        s.worker_seen(&worker("gpu-a")).await.unwrap();
        let mut cpu = worker("cpu-1");
        cpu.device = "cpu".into();
        cpu.lanes = "inspect".into();
        s.worker_seen(&cpu).await.unwrap();
        // A heartbeat updates the row rather than adding one.
        s.worker_seen(&cpu).await.unwrap();
        let listed = s.workers().await.unwrap();
        assert_eq!(listed.len(), 2);
        let c = listed.iter().find(|w| w.name == "cpu-1").unwrap();
        assert_eq!(
            (c.device.as_str(), c.lanes.as_str(), c.job),
            ("cpu", "inspect", None)
        );
        assert!(c.last_seen_ms >= c.started_at_ms);
        s.forget_worker("gpu-a").await.unwrap();
        assert_eq!(s.workers().await.unwrap().len(), 1);
    }
}

//! Job rows: what the home page lists and what long operations (imports now; training and
//! evaluation later) report their progress through.

use crate::db::{now, Store, StoreError};

/// The columns of a [`JobRow`] (a literal, so sqlx sees static SQL).
macro_rules! job_select {
    () => {
        "SELECT j.id, j.kind, j.state, j.progress, u.username, j.created_at, j.error
         FROM jobs j LEFT JOIN users u ON u.id = j.owner_id"
    };
}

/// id, kind, state, progress, owner name, created_at, error.
type JobRow = (
    i64,
    String,
    String,
    f64,
    Option<String>,
    i64,
    Option<String>,
);

fn job_info((id, kind, state, progress, owner, created_at, error): JobRow) -> JobInfo {
    JobInfo {
        id,
        kind,
        state,
        progress,
        owner: owner.unwrap_or_else(|| "(deleted user)".into()),
        created_at,
        error,
    }
}

use crate::records::JobInfo;

impl Store {
    /// The newest jobs first.
    pub async fn recent_jobs(&self, limit: i64) -> Result<Vec<JobInfo>, StoreError> {
        let rows: Vec<JobRow> = sqlx::query_as(concat!(
            job_select!(),
            " ORDER BY j.created_at DESC, j.id DESC LIMIT ?"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(job_info).collect())
    }

    /// Queues a job of `kind` with its configuration (JSON) for `owner_id`; returns its id.
    pub async fn create_job(
        &self,
        kind: &str,
        config: &str,
        owner_id: Option<i64>,
    ) -> Result<i64, StoreError> {
        let done = sqlx::query(
            "INSERT INTO jobs (kind, config, owner_id, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(kind)
        .bind(config)
        .bind(owner_id)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(done.last_insert_rowid())
    }

    /// Marks a job running with `progress` (0..=1).
    pub async fn job_progress(&self, id: i64, progress: f64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'running', progress = ?, started_at = COALESCE(started_at, ?) WHERE id = ?",
        )
        .bind(progress.clamp(0.0, 1.0))
        .bind(now())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ends a job: succeeded when `error` is None, failed otherwise.
    pub async fn finish_job(&self, id: i64, error: Option<&str>) -> Result<(), StoreError> {
        let state = if error.is_some() {
            "failed"
        } else {
            "succeeded"
        };
        sqlx::query(
            "UPDATE jobs SET state = ?, error = ?, finished_at = ?,
                progress = CASE WHEN ? IS NULL THEN 1.0 ELSE progress END WHERE id = ?",
        )
        .bind(state)
        .bind(error)
        .bind(now())
        .bind(error)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// One job.
    pub async fn job(&self, id: i64) -> Result<JobInfo, StoreError> {
        let row: Option<JobRow> = sqlx::query_as(concat!(job_select!(), " WHERE j.id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(job_info)
            .ok_or_else(|| StoreError::Invalid(format!("no job with id {id}")))
    }

    /// Claims the oldest queued job of `kind`: marks it running and returns its id and config.
    pub async fn claim_next_job(&self, kind: &str) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self
            .claim_next_of(&[kind])
            .await?
            .map(|(id, _, config)| (id, config)))
    }

    /// Claims the oldest queued job of any of `kinds`: marks it running and returns its id,
    /// kind and config.
    pub async fn claim_next_of(
        &self,
        kinds: &[&str],
    ) -> Result<Option<(i64, String, String)>, StoreError> {
        let mut tx = self.pool().begin().await?;
        // Few jobs wait at a time: filter the kinds here rather than build SQL.
        let queued: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, kind, config FROM jobs WHERE state = 'queued' ORDER BY created_at, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let row = queued
            .into_iter()
            .find(|(_, kind, _)| kinds.contains(&kind.as_str()));
        if let Some((id, _, _)) = &row {
            sqlx::query(
                "UPDATE jobs SET state = 'running', cancel_requested = 0, error = NULL, finished_at = NULL,
                    started_at = COALESCE(started_at, ?) WHERE id = ?",
            )
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    /// Creates a job that starts at once (a command-line run, which is its own worker).
    pub async fn create_running_job(
        &self,
        kind: &str,
        config: &str,
        owner_id: Option<i64>,
    ) -> Result<i64, StoreError> {
        let t = now();
        let done = sqlx::query(
            "INSERT INTO jobs (kind, config, owner_id, created_at, state, started_at) VALUES (?, ?, ?, ?, 'running', ?)",
        )
        .bind(kind)
        .bind(config)
        .bind(owner_id)
        .bind(t)
        .bind(t)
        .execute(self.pool())
        .await?;
        Ok(done.last_insert_rowid())
    }

    /// Marks a stopped job running again (a command-line resume).
    pub async fn restart_job(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'running', cancel_requested = 0, error = NULL, finished_at = NULL WHERE id = ?",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A job's configuration and result (JSON or TOML, as its kind stores them).
    pub async fn job_config(&self, id: i64) -> Result<(String, Option<String>), StoreError> {
        sqlx::query_as("SELECT config, result FROM jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("job with id {id}")))
    }

    /// Records what a job produced.
    pub async fn set_job_result(&self, id: i64, result: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET result = ? WHERE id = ?")
            .bind(result)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Appends a progress event (JSON); returns its sequence number.
    pub async fn add_job_event(&self, id: i64, data: &str) -> Result<i64, StoreError> {
        let (seq,): (i64,) = sqlx::query_as(
            "INSERT INTO job_events (job_id, seq, at, data)
             VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_events WHERE job_id = ?), ?, ?)
             RETURNING seq",
        )
        .bind(id)
        .bind(id)
        .bind(now())
        .bind(data)
        .fetch_one(self.pool())
        .await?;
        Ok(seq)
    }

    /// Events of a job after sequence number `after`, in order.
    pub async fn job_events(&self, id: i64, after: i64) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, data FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq",
        )
        .bind(id)
        .bind(after)
        .fetch_all(self.pool())
        .await?)
    }

    /// Asks a job to stop: a queued one is cancelled at once, a running one at its next
    /// check. Returns false when the job had already ended.
    pub async fn request_cancel(&self, id: i64) -> Result<bool, StoreError> {
        let queued = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'queued'",
        )
        .bind(now())
        .bind(id)
        .execute(self.pool())
        .await?;
        let running =
            sqlx::query("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'")
                .bind(id)
                .execute(self.pool())
                .await?;
        Ok(queued.rows_affected() + running.rows_affected() > 0)
    }

    /// True when someone asked the job to stop.
    pub async fn cancel_requested(&self, id: i64) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT cancel_requested FROM jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some_and(|(c,)| c != 0))
    }

    /// Ends a job as cancelled (it stopped at a checkpoint it can resume from).
    pub async fn cancel_job(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET state = 'cancelled', finished_at = ? WHERE id = ?")
            .bind(now())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Queues a failed or cancelled job again (it resumes from its last checkpoint). Returns
    /// false when the job is not in such a state.
    pub async fn requeue_job(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', cancel_requested = 0, error = NULL, finished_at = NULL
             WHERE id = ? AND state IN ('failed', 'cancelled')",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Jobs of `kind` left running by a previous process go back to the queue (they resume
    /// from their last checkpoint); returns their ids.
    pub async fn requeue_interrupted_jobs(&self, kind: &str) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "UPDATE jobs SET state = 'queued', cancel_requested = 0 WHERE kind = ? AND state = 'running' RETURNING id",
        )
        .bind(kind)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The newest jobs of `kind` first.
    pub async fn jobs_of_kind(&self, kind: &str, limit: i64) -> Result<Vec<JobInfo>, StoreError> {
        let rows: Vec<JobRow> = sqlx::query_as(concat!(
            job_select!(),
            " WHERE j.kind = ? ORDER BY j.created_at DESC, j.id DESC LIMIT ?"
        ))
        .bind(kind)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(job_info).collect())
    }

    /// Jobs of `kind` left running by a previous process are marked failed; returns how many.
    /// (Imports are transactional, so an interrupted one stored nothing.)
    pub async fn fail_interrupted_jobs(&self, kind: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'failed', error = 'interrupted by a server restart', finished_at = ?
             WHERE kind = ? AND state IN ('queued', 'running')",
        )
        .bind(now())
        .bind(kind)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Store, StoreOptions};

    #[tokio::test]
    async fn job_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        let a = s.create_job("import", "{}", None).await.unwrap();
        assert_eq!(s.job(a).await.unwrap().state, "queued");
        s.job_progress(a, 0.5).await.unwrap();
        assert_eq!(
            (
                s.job(a).await.unwrap().state.as_str(),
                s.job(a).await.unwrap().progress
            ),
            ("running", 0.5)
        );
        s.finish_job(a, None).await.unwrap();
        let done = s.job(a).await.unwrap();
        assert_eq!((done.state.as_str(), done.progress), ("succeeded", 1.0));
        let b = s.create_job("import", "{}", None).await.unwrap();
        s.finish_job(b, Some("boom")).await.unwrap();
        assert_eq!(s.job(b).await.unwrap().error.as_deref(), Some("boom"));
        let c = s.create_job("import", "{}", None).await.unwrap();
        s.job_progress(c, 0.1).await.unwrap();
        assert_eq!(s.fail_interrupted_jobs("import").await.unwrap(), 1);
        assert_eq!(s.job(c).await.unwrap().state, "failed");
    }

    #[tokio::test]
    async fn worker_queue_events_cancel_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        let a = s.create_job("train", "cfg-a", None).await.unwrap();
        let b = s.create_job("train", "cfg-b", None).await.unwrap();
        s.create_job("import", "{}", None).await.unwrap();
        assert_eq!(
            s.claim_next_job("train").await.unwrap(),
            Some((a, "cfg-a".into()))
        );
        assert_eq!(s.job(a).await.unwrap().state, "running");
        assert_eq!(s.add_job_event(a, "{\"step\":1}").await.unwrap(), 1);
        assert_eq!(s.add_job_event(a, "{\"step\":2}").await.unwrap(), 2);
        assert_eq!(
            s.job_events(a, 1).await.unwrap(),
            [(2, "{\"step\":2}".to_string())]
        );
        // Cancelling: the queued job at once, the running one when it looks.
        assert!(s.request_cancel(b).await.unwrap());
        assert_eq!(s.job(b).await.unwrap().state, "cancelled");
        assert!(!s.cancel_requested(a).await.unwrap());
        assert!(s.request_cancel(a).await.unwrap());
        assert!(s.cancel_requested(a).await.unwrap());
        s.cancel_job(a).await.unwrap();
        assert!(!s.request_cancel(a).await.unwrap(), "already ended");
        // Resume: back to the queue, claimed again with a clear cancel flag.
        assert!(s.requeue_job(a).await.unwrap());
        assert_eq!(
            s.claim_next_job("train").await.unwrap().map(|j| j.0),
            Some(a)
        );
        assert!(!s.cancel_requested(a).await.unwrap());
        // A restart puts running jobs back in the queue.
        assert_eq!(s.requeue_interrupted_jobs("train").await.unwrap(), [a]);
        assert_eq!(s.job(a).await.unwrap().state, "queued");
        assert_eq!(s.jobs_of_kind("train", 10).await.unwrap().len(), 2);
        s.set_job_result(a, "{}").await.unwrap();
        assert_eq!(
            s.job_config(a).await.unwrap(),
            ("cfg-a".into(), Some("{}".into()))
        );
    }
}

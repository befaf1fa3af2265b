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
}

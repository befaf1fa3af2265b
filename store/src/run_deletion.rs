//! Deleting an evaluation run. Its predictions, review settings, shares and every judgement of
//! them go with it (the rows cascade), so a run that people have judged is deleted only after
//! the caller has kept the judgements' export (`jobs::review::delete_run`), and only while
//! they are still what the export holds.

use crate::db::{Store, StoreError};
use crate::records::{JobKind, JobState};
use crate::sql;

/// What a caller read of a run's judgements: deleting the run refuses when they changed since,
/// as a judgement saved or edited in between would be in no export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JudgementsSeen {
    pub count: i64,
    /// The sum of their versions: every edit bumps one.
    pub versions: i64,
}

impl Store {
    /// How many judgements run `job` holds now, and their versions.
    pub async fn judgements_seen(&self, job: i64) -> Result<JudgementsSeen, StoreError> {
        judgements_seen(self.pool(), job).await
    }

    /// Deletes evaluation run `job` and everything stored for it, when its judgements are
    /// still `seen`. Refused for a queued or running run (cancel it first) and for anything
    /// that is not an evaluation run. QA annotations promoted from its judgements stay.
    pub async fn delete_eval_run(&self, job: i64, seen: JudgementsSeen) -> Result<(), StoreError> {
        let mut tx = self.pool().begin_immediate().await?;
        let row: Option<(String, String)> =
            sql::query_as("SELECT kind, state FROM jobs WHERE id = $1")
                .bind(job)
                .fetch_optional(&mut tx)
                .await?;
        let not_found = || StoreError::NotFound(format!("evaluation run {job}"));
        let (kind, state) = row.ok_or_else(not_found)?;
        if kind.parse::<JobKind>().ok() != Some(JobKind::Eval) {
            return Err(not_found());
        }
        let state: JobState = state.parse().map_err(|_| {
            StoreError::Invalid(format!("run {job} has the unknown state {state:?}"))
        })?;
        if state.is_live() {
            return Err(StoreError::Conflict(format!(
                "run {job} is {state}: cancel it before deleting it"
            )));
        }
        let now = judgements_seen(&mut tx, job).await?;
        if now != seen {
            return Err(StoreError::Conflict(format!(
                "run {job}'s judgements changed while it was being deleted ({} then, {} now): nothing was deleted; delete it again",
                seen.count, now.count
            )));
        }
        sql::query("DELETE FROM jobs WHERE id = $1")
            .bind(job)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn judgements_seen<'a>(
    on: impl Into<sql::On<'a>>,
    job: i64,
) -> Result<JudgementsSeen, StoreError> {
    // PostgreSQL sums BIGINTs into NUMERIC: cast back.
    let (count, versions): (i64, i64) = sql::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM judgements WHERE job_id = $1",
    )
    .bind(job)
    .fetch_one(on)
    .await?;
    Ok(JudgementsSeen { count, versions })
}

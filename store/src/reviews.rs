//! Human review of evaluation runs: who may review a run, the queue each reviewer works
//! through, judgements with their history, what they measure, and the corrected explanations
//! that become QA annotations; and judgements of single shared inspections. The rules are in
//! docs/review.md.

mod edits;
mod fixes;
mod inspections;
mod judgements;
mod queue;

use crate::sql;
use anomaly::evaluation::EvalConfig;
use review::{QueueOrder, QueuePlan};

use crate::db::{now, Store, StoreError};
use crate::job_protocol::JobConfig;
use crate::records::{JobKind, Role, UserInfo};
use crate::review_records::ReviewSettings;

impl Store {
    /// The configuration of evaluation run `job`; NotFound for any other job.
    async fn review_run(&self, job: i64) -> Result<EvalConfig, StoreError> {
        let info = self.job(job).await?;
        if info.kind != JobKind::Eval {
            return Err(StoreError::NotFound(format!("evaluation run {job}")));
        }
        let (config, _) = self.job_config(job).await?;
        JobConfig::<EvalConfig>::decode(&config)
            .map_err(|e| StoreError::Invalid(format!("evaluation run {job}: {e}")))
    }

    /// Whether `user` may review run `job`: admins and members review every run (they see
    /// them all); reviewers only runs shared with them or open to all.
    pub async fn may_review(&self, user: &UserInfo, job: i64) -> Result<bool, StoreError> {
        if user.disabled {
            return Ok(false);
        }
        let (n,): (i64,) = sql::query_as(
            "SELECT COUNT(*) FROM jobs j WHERE j.id = $1 AND j.kind = 'eval' AND ($2
                OR EXISTS (SELECT 1 FROM review_queues q WHERE q.job_id = $1 AND q.open_to_all)
                OR EXISTS (SELECT 1 FROM review_shares s WHERE s.job_id = $1 AND s.user_id = $3))",
        )
        .bind(job)
        .bind(user.role != Role::Reviewer)
        .bind(user.id)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    /// The owner of `job`, an evaluation run or a drafting job (the two kinds whose queues
    /// are shared with reviewers); NotFound for anything else.
    async fn review_queue_owner(&self, job: i64) -> Result<i64, StoreError> {
        let info = self.job(job).await?;
        if !matches!(info.kind, JobKind::Eval | JobKind::DraftQa) {
            return Err(StoreError::NotFound(format!(
                "evaluation run or drafting job {job}"
            )));
        }
        let owner: (Option<i64>,) = sql::query_as("SELECT owner_id FROM jobs WHERE id = $1")
            .bind(job)
            .fetch_one(self.pool())
            .await?;
        Ok(owner.0.unwrap_or(0))
    }

    /// Whether `user` may change how run (or drafting job) `job` is reviewed and who reviews
    /// it: its owner and admins (promoting fixes is for admins only: [`Store::promote_fix`]).
    pub async fn may_manage_review(&self, user: &UserInfo, job: i64) -> Result<bool, StoreError> {
        if user.disabled || user.role == Role::Reviewer {
            return Ok(false);
        }
        let owner = self.review_queue_owner(job).await?;
        Ok(user.role == Role::Admin || owner == user.id)
    }

    /// Whether `user` may see dataset image `image_id` (file, thumbnail, page): everyone but
    /// reviewers, and reviewers when a run they may review judged it or used it as template,
    /// or a drafting job shared with them drafted its annotation.
    pub async fn may_see_image(&self, user: &UserInfo, image_id: i64) -> Result<bool, StoreError> {
        if user.role != Role::Reviewer {
            return Ok(!user.disabled);
        }
        let (seen,): (bool,) = sql::query_as(
            "SELECT EXISTS (SELECT 1 FROM predictions p
                WHERE (p.image_id = $1 OR p.template_id = $1) AND (
                EXISTS (SELECT 1 FROM review_queues q WHERE q.job_id = p.job_id AND q.open_to_all)
                OR EXISTS (SELECT 1 FROM review_shares s WHERE s.job_id = p.job_id AND s.user_id = $2)))
             OR EXISTS (SELECT 1 FROM qa_drafts d JOIN review_shares s ON s.job_id = d.job_id
                WHERE d.image_id = $1 AND s.user_id = $2)",
        )
        .bind(image_id)
        .bind(user.id)
        .fetch_one(self.pool())
        .await?;
        Ok(seen && !user.disabled)
    }

    /// The runs `user` may review, newest first.
    pub async fn reviewable_runs(&self, user: &UserInfo) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = sql::query_as(
            "SELECT j.id FROM jobs j WHERE j.kind = 'eval' AND ($1
                OR EXISTS (SELECT 1 FROM review_queues q WHERE q.job_id = j.id AND q.open_to_all)
                OR EXISTS (SELECT 1 FROM review_shares s WHERE s.job_id = j.id AND s.user_id = $2))
             ORDER BY j.id DESC",
        )
        .bind(user.role != Role::Reviewer && !user.disabled)
        .bind(user.id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// How run `job` is reviewed (the defaults until someone sets them).
    pub async fn review_settings(&self, job: i64) -> Result<ReviewSettings, StoreError> {
        self.review_run(job).await?;
        let row: Option<(i64, f64, String, i64, bool)> = sql::query_as(
            "SELECT judgements, overlap, queue_order, seed, open_to_all FROM review_queues WHERE job_id = $1",
        )
        .bind(job)
        .fetch_optional(self.pool())
        .await?;
        let (plan, open_to_all) = match row {
            None => (
                QueuePlan {
                    // Seeded by the run, so two runs double different items.
                    seed: job as u64,
                    ..QueuePlan::default()
                },
                false,
            ),
            Some((judgements, overlap, order, seed, open)) => (
                QueuePlan {
                    judgements: judgements as u32,
                    overlap,
                    order: order
                        .parse::<QueueOrder>()
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                    seed: seed as u64,
                },
                open,
            ),
        };
        Ok(ReviewSettings {
            plan,
            open_to_all,
            shared_with: self.review_shares(job).await?,
        })
    }

    /// Sets how run `job` is reviewed. Items already judged keep their judgements; a smaller
    /// number only stops asking for more.
    pub async fn set_review_plan(
        &self,
        job: i64,
        plan: QueuePlan,
        open_to_all: bool,
    ) -> Result<(), StoreError> {
        self.review_run(job).await?;
        let plan = plan.validated().map_err(StoreError::Invalid)?;
        sql::query(
            "INSERT INTO review_queues (job_id, judgements, overlap, queue_order, seed, open_to_all, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT(job_id) DO UPDATE SET judgements = excluded.judgements,
                overlap = excluded.overlap, queue_order = excluded.queue_order,
                seed = excluded.seed, open_to_all = excluded.open_to_all,
                updated_at = excluded.updated_at",
        )
        .bind(job)
        .bind(plan.judgements as i64)
        .bind(plan.overlap)
        .bind(plan.order.as_str())
        .bind(plan.seed as i64)
        .bind(open_to_all)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Shares run (or drafting job) `job`'s queue with the user named `username`.
    pub async fn share_review(&self, job: i64, username: &str) -> Result<(), StoreError> {
        self.review_queue_owner(job).await?;
        let user = self.user(username).await?;
        sql::query(
            "INSERT INTO review_shares (job_id, user_id, shared_at) VALUES ($1, $2, $3)
             ON CONFLICT(job_id, user_id) DO NOTHING",
        )
        .bind(job)
        .bind(user.id)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The users run or drafting job `job`'s review queue is shared with, by name.
    pub async fn review_shares(&self, job: i64) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sql::query_as(
            "SELECT u.username FROM review_shares s JOIN users u ON u.id = s.user_id
             WHERE s.job_id = $1 ORDER BY u.username",
        )
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// Takes a share back (the reviewer's judgements and decisions stay); false when there was
    /// none.
    pub async fn unshare_review(&self, job: i64, username: &str) -> Result<bool, StoreError> {
        let user = self.user(username).await?;
        let r = sql::query("DELETE FROM review_shares WHERE job_id = $1 AND user_id = $2")
            .bind(job)
            .bind(user.id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests;

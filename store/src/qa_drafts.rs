//! QA drafts: what a drafting job's model wrote for each image, and people's decisions on them.
//! Accepted and edited drafts become QA annotations of source `generated_verified` (verified by
//! whoever decided, when they did), a person's own answer one of source `manual`; a rejected
//! draft keeps its reason. Deciding names the version it was made from, so two people deciding
//! the same draft cannot overwrite each other (docs/review.md).

use crate::sql;
use std::path::PathBuf;

use anomaly::dataset::qa::Region;
use anomaly::qa_draft::DraftConfig;
use anomaly::synth::qa::MANUAL_QUESTION;

use crate::db::{now, Store, StoreError};
use crate::draft_records::{DraftDecision, DraftInfo, DraftProgress, DraftStatus, QaSourceCounts};
use crate::records::{Role, UserInfo};

/// An image a drafting job takes, with what the dataset knows of it.
#[derive(Clone, Debug, PartialEq)]
pub struct DraftTarget {
    pub image_id: i64,
    pub rel_path: String,
    /// The image file and its mask, relative to the data folder.
    pub file: PathBuf,
    pub mask: Option<PathBuf>,
    pub category: String,
    /// good, logical or structural.
    pub label: String,
    /// The defect's name, from an annotation of the image.
    pub defect: Option<String>,
    /// The question of the image's first annotation; the plain question without one.
    pub question: String,
}

/// What a model drafted for one image.
#[derive(Clone, Debug)]
pub struct NewDraft<'a> {
    pub image_id: i64,
    pub question: &'a str,
    pub draft: &'a str,
    pub raw: &'a str,
    pub prompt: &'a str,
    /// The defect's name and region the prompt told (kept by the annotation it becomes).
    pub anomaly: Option<&'a str>,
    pub region: Option<Region>,
}

#[derive(sqlx::FromRow)]
struct DraftRow {
    id: i64,
    job_id: i64,
    image_id: i64,
    rel_path: String,
    category: String,
    label: String,
    has_mask: bool,
    question: String,
    draft: String,
    raw: String,
    prompt: String,
    status: String,
    answer: Option<String>,
    reason: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<i64>,
    version: i64,
    qa_id: Option<i64>,
}

impl DraftRow {
    fn info(self) -> Result<DraftInfo, StoreError> {
        Ok(DraftInfo {
            status: self.status.parse().map_err(StoreError::Invalid)?,
            id: self.id,
            job_id: self.job_id,
            image_id: self.image_id,
            rel_path: self.rel_path,
            category: self.category,
            label: self.label,
            has_mask: self.has_mask,
            question: self.question,
            draft: self.draft,
            raw: self.raw,
            prompt: self.prompt,
            answer: self.answer,
            reason: self.reason,
            decided_by: self.decided_by,
            decided_at: self.decided_at,
            version: self.version,
            qa_id: self.qa_id,
        })
    }
}

/// The columns of a [`DraftRow`], for queries that add their WHERE.
macro_rules! draft_select {
    () => {
        "SELECT d.id, d.job_id, d.image_id, i.rel_path, i.category, i.label,
        i.has_mask, d.question, d.draft, d.raw, d.prompt, d.status, d.answer,
        d.reason, u.username AS decided_by, d.decided_at, d.version, d.qa_id
     FROM qa_drafts d JOIN images i ON i.id = d.image_id LEFT JOIN users u ON u.id = d.decided_by"
    };
}

impl Store {
    /// The images drafting job `cfg` takes, in the dataset's order: those of its category and
    /// label, without an annotation unless `include_annotated`, at most `limit`.
    pub async fn draft_targets(&self, cfg: &DraftConfig) -> Result<Vec<DraftTarget>, StoreError> {
        let dataset = self.dataset(&cfg.dataset).await?;
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            String,
            bool,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = sql::query_as(
            "SELECT i.id, i.rel_path, d.root, i.file, i.category, i.label, i.has_mask,
                    (SELECT q.anomaly FROM qa q WHERE q.image_id = i.id AND q.anomaly IS NOT NULL
                     ORDER BY q.id LIMIT 1),
                    (SELECT q.question FROM qa q WHERE q.image_id = i.id ORDER BY q.id LIMIT 1)
             FROM images i JOIN datasets d ON d.id = i.dataset_id
             WHERE i.dataset_id = $1 AND ($2 IS NULL OR i.category = $2)
               AND ($3 IS NULL OR i.label = $3)
               AND ($4 OR NOT EXISTS (SELECT 1 FROM qa q WHERE q.image_id = i.id))
             ORDER BY i.category, i.rel_path
             LIMIT $5",
        )
        .bind(dataset.id)
        .bind(cfg.category.as_deref().filter(|c| !c.is_empty()))
        .bind(cfg.label.map(|l| l.as_str()))
        .bind(cfg.include_annotated)
        .bind(cfg.limit.map_or(i64::MAX, |n| n as i64))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(image_id, rel_path, root, file, category, label, has_mask, defect, question)| {
                    let root = PathBuf::from(root);
                    let mask = crate::datasets::stored_file(
                        &file,
                        has_mask,
                        crate::datasets::ImageFile::Mask,
                    )
                    .map(|m| root.join(m));
                    DraftTarget {
                        image_id,
                        rel_path,
                        file: root.join(file),
                        mask,
                        category,
                        label,
                        defect,
                        question: question.unwrap_or_else(|| MANUAL_QUESTION.to_string()),
                    }
                },
            )
            .collect())
    }

    /// Stores a model's draft for an image of drafting job `job`; one stored already (a job
    /// that resumed) is kept as it is.
    pub async fn save_draft(&self, job: i64, d: &NewDraft<'_>) -> Result<(), StoreError> {
        let region = d
            .region
            .map(|r| serde_json::to_string(&r))
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        sql::query(
            "INSERT INTO qa_drafts (job_id, image_id, question, draft, raw, prompt, anomaly, region, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (job_id, image_id) DO NOTHING",
        )
        .bind(job)
        .bind(d.image_id)
        .bind(d.question)
        .bind(d.draft)
        .bind(d.raw)
        .bind(d.prompt)
        .bind(d.anomaly)
        .bind(region)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The images drafting job `job` has drafted.
    pub async fn drafted_images(&self, job: i64) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> =
            sql::query_as("SELECT image_id FROM qa_drafts WHERE job_id = $1 ORDER BY image_id")
                .bind(job)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|(i,)| i).collect())
    }

    /// One draft.
    pub async fn draft(&self, id: i64) -> Result<DraftInfo, StoreError> {
        let row: Option<DraftRow> = sql::query_as(concat!(draft_select!(), " WHERE d.id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.ok_or_else(|| StoreError::NotFound(format!("draft {id}")))?
            .info()
    }

    /// Every draft of job `job`, in the order they were written.
    pub async fn drafts(&self, job: i64) -> Result<Vec<DraftInfo>, StoreError> {
        let rows: Vec<DraftRow> = sql::query_as(concat!(
            draft_select!(),
            " WHERE d.job_id = $1 ORDER BY d.id"
        ))
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(DraftRow::info).collect()
    }

    /// Whether `user` may see drafting job `job`'s drafts and decide on them: members and
    /// admins always, reviewers when the job's queue is shared with them (`share_review`).
    pub async fn may_decide_drafts(&self, user: &UserInfo, job: i64) -> Result<bool, StoreError> {
        let (n,): (i64,) = sql::query_as(
            "SELECT COUNT(*) FROM jobs j WHERE j.id = $1 AND j.kind = 'draft_qa' AND ($2
                OR EXISTS (SELECT 1 FROM review_shares s WHERE s.job_id = $1 AND s.user_id = $3))",
        )
        .bind(job)
        .bind(user.role != Role::Reviewer)
        .bind(user.id)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0 && !user.disabled)
    }

    /// The drafting jobs shared with `user` for decisions, newest first.
    pub async fn shared_draft_jobs(&self, user: &UserInfo) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = sql::query_as(
            "SELECT j.id FROM jobs j JOIN review_shares s ON s.job_id = j.id
             WHERE j.kind = 'draft_qa' AND s.user_id = $1 ORDER BY j.id DESC",
        )
        .bind(user.id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// How many of job `job`'s drafts stand where.
    pub async fn draft_progress(&self, job: i64) -> Result<DraftProgress, StoreError> {
        let rows: Vec<(String, i64)> = sql::query_as(
            "SELECT status, COUNT(*) FROM qa_drafts WHERE job_id = $1 GROUP BY status",
        )
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        let mut p = DraftProgress::default();
        for (status, n) in rows {
            p.total += n;
            match status.parse::<DraftStatus>().map_err(StoreError::Invalid)? {
                DraftStatus::Pending => p.pending = n,
                DraftStatus::Accepted => p.accepted = n,
                DraftStatus::Edited => p.edited = n,
                DraftStatus::Rejected => p.rejected = n,
                DraftStatus::Manual => p.manual = n,
            }
        }
        Ok(p)
    }

    /// Records `user`'s decision on draft `id`, made from its version `version`, and makes the
    /// image's annotation follow it: accepting or editing writes (or rewrites) a
    /// `generated_verified` annotation verified by `user` now, a person's own answer a `manual`
    /// one, and rejecting removes the annotation an earlier decision wrote. The version the
    /// decision replaces goes to the history. A decision made from an older version (someone
    /// decided meanwhile) is refused with theirs, and nothing changes.
    pub async fn decide_draft(
        &self,
        user: &UserInfo,
        id: i64,
        version: i64,
        decision: DraftDecision,
    ) -> Result<DraftInfo, StoreError> {
        let job: Option<(i64,)> = sql::query_as("SELECT job_id FROM qa_drafts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        // A reviewer is refused alike whether the draft is not shared with them or not there.
        let allowed = match job {
            Some((job,)) => self.may_decide_drafts(user, job).await?,
            None => !user.disabled && user.role != Role::Reviewer,
        };
        if !allowed {
            return Err(StoreError::Forbidden(format!(
                "draft {id}: its drafting job is not shared with {}",
                user.username
            )));
        }
        if job.is_none() {
            return Err(StoreError::NotFound(format!("draft {id}")));
        }
        let decision = decision.normalized().map_err(StoreError::Invalid)?;
        let mut tx = self.pool().begin_immediate().await?;
        type Current = (
            i64,
            String,
            String,
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let row: Option<Current> = sql::query_as(
            "SELECT d.image_id, d.question, d.draft, d.version, d.status, d.answer, d.reason,
                    u.username, d.decided_by, d.decided_at, d.anomaly, d.region, d.qa_id
             FROM qa_drafts d LEFT JOIN users u ON u.id = d.decided_by WHERE d.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut tx)
        .await?;
        let (
            image,
            question,
            draft,
            current,
            status,
            answer,
            reason,
            by_name,
            by,
            at,
            anomaly,
            region,
            qa_id,
        ) = row.ok_or_else(|| StoreError::NotFound(format!("draft {id}")))?;
        if current != version {
            let theirs = answer
                .as_deref()
                .or(reason.as_deref())
                .map(|t| format!(": {t:?}"))
                .unwrap_or_default();
            return Err(StoreError::Conflict(format!(
                "{} decided this draft first (version {current}, {status}{theirs}); nothing was saved: look at their decision and decide again",
                by_name.as_deref().unwrap_or("someone")
            )));
        }
        sql::query(
            "INSERT INTO qa_draft_history (draft_id, version, status, answer, reason, decided_by, decided_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(current)
        .bind(&status)
        .bind(&answer)
        .bind(&reason)
        .bind(by)
        .bind(at)
        .execute(&mut tx)
        .await?;
        let t = now();
        let (new_answer, new_reason, source) = match &decision {
            DraftDecision::Accept => (Some(draft), None, Some("generated_verified")),
            DraftDecision::Edit { answer } => {
                (Some(answer.clone()), None, Some("generated_verified"))
            }
            DraftDecision::Manual { answer } => (Some(answer.clone()), None, Some("manual")),
            DraftDecision::Reject { reason } => (None, Some(reason.clone()), None),
        };
        let qa_id = match (qa_id, &new_answer, source) {
            (Some(q), Some(text), Some(source)) => {
                sql::query(
                    "UPDATE qa SET answer = $1, source = $2, verified_by = $3, verified_at = $4 WHERE id = $5",
                )
                .bind(text)
                .bind(source)
                .bind(user.id)
                .bind(t)
                .bind(q)
                .execute(&mut tx)
                .await?;
                Some(q)
            }
            (None, Some(text), Some(source)) => {
                let (q,): (i64,) = sql::query_as(
                    "INSERT INTO qa (image_id, question, answer, source, anomaly, region, verified_by,
                        verified_at, from_draft)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(image)
                .bind(&question)
                .bind(text)
                .bind(source)
                .bind(&anomaly)
                .bind(&region)
                .bind(user.id)
                .bind(t)
                .bind(id)
                .fetch_one(&mut tx)
                .await?;
                Some(q)
            }
            (Some(q), _, _) => {
                sql::query("DELETE FROM qa WHERE id = $1")
                    .bind(q)
                    .execute(&mut tx)
                    .await?;
                None
            }
            (None, _, _) => None,
        };
        sql::query(
            "UPDATE qa_drafts SET status = $1, answer = $2, reason = $3, decided_by = $4, decided_at = $5,
                version = version + 1, qa_id = $6 WHERE id = $7",
        )
        .bind(decision.status().as_str())
        .bind(&new_answer)
        .bind(&new_reason)
        .bind(user.id)
        .bind(t)
        .bind(qa_id)
        .bind(id)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        self.draft(id).await
    }

    /// Dataset `name`'s annotations by source, how many generated ones a named person
    /// verified, and the drafts waiting for a decision.
    pub async fn qa_source_counts(&self, name: &str) -> Result<QaSourceCounts, StoreError> {
        let d = self.dataset(name).await?;
        let (
            images,
            annotated_images,
            manual,
            generated_verified,
            verified_by_person,
            pending_drafts,
        ): (i64, i64, i64, i64, i64, i64) = sql::query_as(
            "SELECT (SELECT COUNT(*) FROM images WHERE dataset_id = $1),
                    COUNT(DISTINCT q.image_id),
                    COUNT(*) FILTER (WHERE q.source = 'manual'),
                    COUNT(*) FILTER (WHERE q.source = 'generated_verified'),
                    COUNT(*) FILTER (WHERE q.source = 'generated_verified' AND q.verified_by IS NOT NULL),
                    (SELECT COUNT(*) FROM qa_drafts x JOIN images y ON y.id = x.image_id
                     WHERE y.dataset_id = $1 AND x.status = 'pending')
             FROM qa q JOIN images i ON i.id = q.image_id WHERE i.dataset_id = $1",
        )
        .bind(d.id)
        .fetch_one(self.pool())
        .await?;
        Ok(QaSourceCounts {
            images,
            annotated_images,
            manual,
            generated_verified,
            verified_by_person,
            pending_drafts,
        })
    }
}

#[cfg(test)]
mod tests;

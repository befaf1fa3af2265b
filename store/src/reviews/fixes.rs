//! What review gives back to the dataset: corrected explanations an admin promotes to QA
//! annotations (source `generated_verified`, with who verified them and when), and reviewers'
//! flags that an image's label is wrong.

use crate::sql;
use anomaly::synth::qa::MANUAL_QUESTION;

use crate::db::{Store, StoreError};
use crate::records::{Role, UserInfo};
use crate::review_records::{FixInfo, LabelFlag};

impl Store {
    /// The corrected explanations of run `job`, oldest first, with the QA annotation each
    /// became once promoted.
    pub async fn review_fixes(&self, job: i64) -> Result<Vec<FixInfo>, StoreError> {
        self.review_run(job).await?;
        let rows: Vec<FixInfo> = sql::query_as(
            "SELECT j.id AS judgement_id, j.job_id, j.image_id, i.rel_path, j.prompt,
                    u.username AS reviewer, p.explanation AS original,
                    j.fixed_explanation AS fixed, j.updated_at AS at,
                    (SELECT q.id FROM qa q WHERE q.from_judgement = j.id) AS qa_id
             FROM judgements j
             JOIN users u ON u.id = j.reviewer_id
             JOIN images i ON i.id = j.image_id
             JOIN predictions p ON p.job_id = j.job_id AND p.image_id = j.image_id AND p.prompt = j.prompt
             WHERE j.job_id = $1 AND j.fixed_explanation IS NOT NULL
             ORDER BY j.updated_at, j.id",
        )
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// Makes judgement `judgement_id`'s corrected explanation a QA annotation of its image
    /// (admins only): source `generated_verified`, verified by the reviewer who wrote it, at
    /// the time they saved it. The question is the image's first annotation's, or the plain
    /// one. Promoting twice gives the same annotation.
    pub async fn promote_fix(
        &self,
        admin: &UserInfo,
        judgement_id: i64,
    ) -> Result<i64, StoreError> {
        if admin.role != Role::Admin || admin.disabled {
            return Err(StoreError::Forbidden(
                "only admins turn corrected explanations into QA annotations".into(),
            ));
        }
        let mut tx = self.pool().begin_immediate().await?;
        let row: Option<(i64, i64, Option<String>, i64)> = sql::query_as(
            "SELECT image_id, reviewer_id, fixed_explanation, updated_at FROM judgements WHERE id = $1",
        )
        .bind(judgement_id)
        .fetch_optional(&mut tx)
        .await?;
        let (image, reviewer, fixed, at) =
            row.ok_or_else(|| StoreError::NotFound(format!("judgement {judgement_id}")))?;
        let fixed = fixed.ok_or_else(|| {
            StoreError::Invalid(format!(
                "judgement {judgement_id} has no corrected explanation to promote"
            ))
        })?;
        let done: Option<(i64,)> = sql::query_as("SELECT id FROM qa WHERE from_judgement = $1")
            .bind(judgement_id)
            .fetch_optional(&mut tx)
            .await?;
        if let Some((id,)) = done {
            return Ok(id);
        }
        let first: Option<(String, Option<String>, Option<String>)> = sql::query_as(
            "SELECT question, anomaly, region FROM qa WHERE image_id = $1 ORDER BY id LIMIT 1",
        )
        .bind(image)
        .fetch_optional(&mut tx)
        .await?;
        // The defect's name and region describe the image, not the answer: they carry over.
        let (question, anomaly, region) =
            first.unwrap_or_else(|| (MANUAL_QUESTION.to_string(), None, None));
        let (id,): (i64,) = sql::query_as(
            "INSERT INTO qa (image_id, question, answer, source, anomaly, region, verified_by,
                verified_at, from_judgement)
             VALUES ($1, $2, $3, 'generated_verified', $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(image)
        .bind(question)
        .bind(&fixed)
        .bind(anomaly)
        .bind(region)
        .bind(reviewer)
        .bind(at)
        .bind(judgement_id)
        .fetch_one(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Reviewers' flags that an image of dataset `dataset` is labelled wrongly, newest first.
    pub async fn label_flags(&self, dataset: &str) -> Result<Vec<LabelFlag>, StoreError> {
        let d = self.dataset(dataset).await?;
        let rows: Vec<LabelFlag> = sql::query_as(
            "SELECT j.id AS judgement_id, j.job_id, j.image_id, i.rel_path, i.label,
                    u.username AS reviewer, j.comment, j.updated_at AS at
             FROM judgements j JOIN images i ON i.id = j.image_id JOIN users u ON u.id = j.reviewer_id
             WHERE i.dataset_id = $1 AND j.verdict = 'label_wrong'
             ORDER BY j.updated_at DESC, j.id DESC",
        )
        .bind(d.id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }
}

//! Judgements: saving one (new, or an edit of one's own with its version checked), their
//! history, what a run's judgements measure, and the export.

use crate::sql;
use std::collections::BTreeMap;

use review::{summarize, ExplanationCall, Judgement, ReviewedItem, RunReview, Score, VerdictCall};

use super::edits::{Judged, Save};
use crate::db::{now, Store, StoreError};
use crate::records::{Role, UserInfo};
use crate::review_records::{ItemKey, JudgementInfo, JudgementRow as ExportRow};

/// The columns every judgement query reads, with the reviewer's name.
macro_rules! judgement_select {
    () => {
        "SELECT j.id, j.job_id, j.image_id, j.prompt, j.reviewer_id, u.username AS reviewer,
                j.verdict, j.explanation, j.score, j.tags, j.comment, j.fixed_explanation,
                j.version, j.created_at, j.updated_at
         FROM judgements j JOIN users u ON u.id = j.reviewer_id"
    };
}
pub(super) use judgement_select;

#[derive(sqlx::FromRow)]
pub(super) struct JudgementRow {
    pub id: i64,
    pub image_id: i64,
    pub prompt: String,
    pub reviewer_id: i64,
    pub reviewer: String,
    pub verdict: String,
    pub explanation: String,
    pub score: i64,
    pub tags: String,
    pub comment: String,
    pub fixed_explanation: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

fn stored(what: &str, e: review::ReviewError) -> StoreError {
    StoreError::Invalid(format!("stored {what} cannot be read: {e}"))
}

/// A judgement as stored, back into its typed form.
pub(super) fn parse(
    verdict: &str,
    explanation: &str,
    score: i64,
    tags: &str,
    comment: String,
    fixed_explanation: Option<String>,
) -> Result<Judgement, StoreError> {
    Ok(Judgement {
        verdict: verdict
            .parse::<VerdictCall>()
            .map_err(|e| stored("judgement", e))?,
        explanation: explanation
            .parse::<ExplanationCall>()
            .map_err(|e| stored("judgement", e))?,
        score: Score::try_from(score).map_err(|e| stored("judgement", e))?,
        tags: Judgement::parse_tags(tags).map_err(|e| stored("judgement", e))?,
        comment,
        fixed_explanation,
    })
}

pub(super) fn judgement_infos(rows: Vec<JudgementRow>) -> Result<Vec<JudgementInfo>, StoreError> {
    rows.into_iter()
        .map(|r| {
            Ok(JudgementInfo {
                id: r.id,
                judgement: parse(
                    &r.verdict,
                    &r.explanation,
                    r.score,
                    &r.tags,
                    r.comment,
                    r.fixed_explanation,
                )?,
                reviewer: r.reviewer,
                version: r.version,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    version: i64,
    verdict: String,
    explanation: String,
    score: i64,
    tags: String,
    comment: String,
    fixed_explanation: Option<String>,
    written_at: i64,
}

/// An earlier version of a judgement.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JudgementVersion {
    pub version: i64,
    pub judgement: Judgement,
    pub written_at: i64,
}

impl Store {
    /// Saves `user`'s judgement of item `key` in run `job`. A first judgement needs the item
    /// to still need one (else Conflict: the queue moved on); an edit of one's own names the
    /// version it started from (else Conflict: it was changed elsewhere) and keeps the old
    /// version in the history. Nothing is stored when anything is refused.
    pub async fn save_judgement(
        &self,
        user: &UserInfo,
        job: i64,
        key: &ItemKey,
        judgement: Judgement,
        edit_of_version: Option<i64>,
    ) -> Result<JudgementInfo, StoreError> {
        let j = judgement
            .normalized()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.check_may_review(user, job).await?;
        let required = self
            .review_settings(job)
            .await?
            .plan
            .required(key.image_id, &key.prompt);
        let tags = Judgement::tags_text(&j.tags);
        let t = now();
        // IMMEDIATE: two reviewers taking the last open judgement of an item are serialized,
        // and the count below is the one the insert sees.
        let mut tx = self.pool().begin_immediate().await?;
        let (exists,): (i64,) = sql::query_as(
            "SELECT COUNT(*) FROM predictions WHERE job_id = $1 AND image_id = $2 AND prompt = $3",
        )
        .bind(job)
        .bind(key.image_id)
        .bind(&key.prompt)
        .fetch_one(&mut tx)
        .await?;
        if exists == 0 {
            return Err(StoreError::NotFound(format!(
                "prediction of image {} with prompt {:?} in run {job}",
                key.image_id, key.prompt
            )));
        }
        let mine: Option<(i64, i64)> = sql::query_as(
            "SELECT id, version FROM judgements
             WHERE job_id = $1 AND image_id = $2 AND prompt = $3 AND reviewer_id = $4",
        )
        .bind(job)
        .bind(key.image_id)
        .bind(&key.prompt)
        .bind(user.id)
        .fetch_optional(&mut tx)
        .await?;
        let id = match Judged::RunItem.save(mine, edit_of_version)? {
            Save::Edit(id) => {
                Judged::RunItem.edit(&mut tx, id, &j, &tags, t).await?;
                id
            }
            Save::Insert => {
                let (given,): (i64,) = sql::query_as(
                    "SELECT COUNT(*) FROM judgements WHERE job_id = $1 AND image_id = $2 AND prompt = $3",
                )
                .bind(job)
                .bind(key.image_id)
                .bind(&key.prompt)
                .fetch_one(&mut tx)
                .await?;
                if given >= i64::from(required) {
                    return Err(StoreError::Conflict(format!(
                        "this item has the {required} judgement(s) it needs already (another reviewer's came first): go on to the next"
                    )));
                }
                let r: (i64,) = sql::query_as(
                    "INSERT INTO judgements (job_id, image_id, prompt, reviewer_id, verdict,
                        explanation, score, tags, comment, fixed_explanation, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                )
                .bind(job)
                .bind(key.image_id)
                .bind(&key.prompt)
                .bind(user.id)
                .bind(j.verdict.as_str())
                .bind(j.explanation.as_str())
                .bind(i64::from(j.score))
                .bind(&tags)
                .bind(&j.comment)
                .bind(&j.fixed_explanation)
                .bind(t)
                .bind(t)
                .fetch_one(&mut tx)
                .await?;
                r.0
            }
        };
        tx.commit().await?;
        self.judgement(id).await
    }

    /// One judgement by id.
    pub async fn judgement(&self, id: i64) -> Result<JudgementInfo, StoreError> {
        let rows: Vec<JudgementRow> =
            sql::query_as(concat!(judgement_select!(), " WHERE j.id = $1"))
                .bind(id)
                .fetch_all(self.pool())
                .await?;
        judgement_infos(rows)?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("judgement {id}")))
    }

    /// The earlier versions of judgement `id`, oldest first: for its author, the run's owner
    /// and admins.
    pub async fn judgement_history(
        &self,
        user: &UserInfo,
        id: i64,
    ) -> Result<Vec<JudgementVersion>, StoreError> {
        let head: Option<(i64, i64)> =
            sql::query_as("SELECT job_id, reviewer_id FROM judgements WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        let (job, author) = head.ok_or_else(|| StoreError::NotFound(format!("judgement {id}")))?;
        if author != user.id && !self.may_manage_review(user, job).await? {
            return Err(StoreError::Forbidden(
                "only its author, the run's owner and admins see a judgement's history".into(),
            ));
        }
        let rows: Vec<HistoryRow> = sql::query_as(
            "SELECT version, verdict, explanation, score, tags, comment, fixed_explanation, written_at
             FROM judgement_history WHERE judgement_id = $1 ORDER BY version",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(JudgementVersion {
                    version: r.version,
                    judgement: parse(
                        &r.verdict,
                        &r.explanation,
                        r.score,
                        &r.tags,
                        r.comment,
                        r.fixed_explanation,
                    )?,
                    written_at: r.written_at,
                })
            })
            .collect()
    }

    /// Every judgement of run `job` with its item, for exports.
    pub async fn review_export(&self, job: i64) -> Result<Vec<ExportRow>, StoreError> {
        self.review_run(job).await?;
        let rows: Vec<ExportRow> = sql::query_as(
            "SELECT j.id AS judgement_id, j.job_id, j.image_id, i.rel_path, i.category, i.label,
                    j.prompt, p.verdict AS model_verdict, p.explanation AS model_explanation,
                    p.bert_f1, u.username AS reviewer, j.verdict, j.explanation, j.score, j.tags,
                    j.comment, j.fixed_explanation, j.version, j.created_at, j.updated_at
             FROM judgements j
             JOIN users u ON u.id = j.reviewer_id
             JOIN images i ON i.id = j.image_id
             JOIN predictions p ON p.job_id = j.job_id AND p.image_id = j.image_id AND p.prompt = j.prompt
             WHERE j.job_id = $1 ORDER BY j.prompt, i.rel_path, j.created_at, j.id",
        )
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// What run `job`'s judgements measure (review::summary).
    pub async fn run_review(&self, job: i64) -> Result<RunReview, StoreError> {
        self.review_run(job).await?;
        let rows: Vec<JudgementRow> = sql::query_as(concat!(
            judgement_select!(),
            " WHERE j.job_id = $1 ORDER BY j.created_at, j.id"
        ))
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        // Most runs are never reviewed, and every run page asks: skip reading its predictions.
        if rows.is_empty() {
            return Ok(summarize(&[]));
        }
        let f1: Vec<(i64, String, Option<f64>)> = sql::query_as(
            "SELECT image_id, prompt, bert_f1 FROM predictions
             WHERE job_id = $1 ORDER BY prompt, image_id",
        )
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        let mut items: BTreeMap<(String, i64), ReviewedItem> = BTreeMap::new();
        for (image, prompt, bert_f1) in f1 {
            items.insert(
                (prompt.clone(), image),
                ReviewedItem {
                    prompt,
                    bert_f1,
                    judgements: Vec::new(),
                },
            );
        }
        for r in rows {
            let reviewer = r.reviewer_id;
            let key = (r.prompt.clone(), r.image_id);
            let j = parse(
                &r.verdict,
                &r.explanation,
                r.score,
                &r.tags,
                r.comment,
                r.fixed_explanation,
            )?;
            if let Some(item) = items.get_mut(&key) {
                item.judgements.push((reviewer, j));
            }
        }
        let items: Vec<ReviewedItem> = items.into_values().collect();
        Ok(summarize(&items))
    }

    /// Whether `user` may read run `job`'s judgements of others (the run page's review
    /// figures, the export): anyone who may review it, as soon as the figures are in.
    pub async fn may_read_reviews(&self, user: &UserInfo, job: i64) -> Result<bool, StoreError> {
        Ok((user.role != Role::Reviewer && !user.disabled) || self.may_review(user, job).await?)
    }
}

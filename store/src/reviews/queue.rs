//! A reviewer's way through a run: which item comes next, which came before, what one item
//! shows (blind to others' judgements until the caller's own is in), and progress.

use crate::sql;
use std::collections::HashMap;

use review::{Outcome, QueuePlan};

use super::judgements::{judgement_infos, JudgementRow};
use crate::db::{Store, StoreError};
use crate::records::UserInfo;
use crate::review_records::{ItemKey, ReviewItem, ReviewProgress};

/// One prediction of the run with what the queue needs to know of it.
struct QueueEntry {
    key: ItemKey,
    outcome: Outcome,
    /// Reviewers who judged it.
    judged_by: Vec<i64>,
}

fn outcome(verdict: &str, label: &str) -> Outcome {
    match (verdict, label == "good") {
        ("normal", true) | ("anomalous", false) => Outcome::Correct,
        ("normal", false) | ("anomalous", true) => Outcome::Wrong,
        _ => Outcome::Undecided,
    }
}

impl Store {
    async fn queue_entries(&self, job: i64) -> Result<(QueuePlan, Vec<QueueEntry>), StoreError> {
        let plan = self.review_settings(job).await?.plan;
        let rows: Vec<(i64, String, String, String)> = sql::query_as(
            "SELECT p.image_id, p.prompt, p.verdict, i.label FROM predictions p
             JOIN images i ON i.id = p.image_id WHERE p.job_id = $1",
        )
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        let judged: Vec<(i64, String, i64)> =
            sql::query_as("SELECT image_id, prompt, reviewer_id FROM judgements WHERE job_id = $1")
                .bind(job)
                .fetch_all(self.pool())
                .await?;
        let mut by_item: HashMap<(i64, String), Vec<i64>> = HashMap::new();
        for (image, prompt, reviewer) in judged {
            by_item.entry((image, prompt)).or_default().push(reviewer);
        }
        let mut entries: Vec<QueueEntry> = rows
            .into_iter()
            .map(|(image_id, prompt, verdict, label)| {
                let judged_by = by_item
                    .remove(&(image_id, prompt.clone()))
                    .unwrap_or_default();
                QueueEntry {
                    outcome: outcome(&verdict, &label),
                    key: ItemKey { image_id, prompt },
                    judged_by,
                }
            })
            .collect();
        entries.sort_by_cached_key(|e| {
            (
                plan.order_key(e.key.image_id, &e.key.prompt, e.outcome),
                e.key.clone(),
            )
        });
        Ok((plan, entries))
    }

    /// The item `user` should judge next in run `job`: the first in queue order after `after`
    /// (the one just shown or skipped), wrapping around, that the user has not judged and that
    /// still needs a judgement. None when nothing is left for this user.
    pub async fn next_review_item(
        &self,
        user: &UserInfo,
        job: i64,
        after: Option<&ItemKey>,
    ) -> Result<Option<ItemKey>, StoreError> {
        self.check_may_review(user, job).await?;
        let (plan, entries) = self.queue_entries(job).await?;
        let open = |e: &&QueueEntry| {
            !e.judged_by.contains(&user.id)
                && (e.judged_by.len() as u32) < plan.required(e.key.image_id, &e.key.prompt)
        };
        let start = after
            .and_then(|a| entries.iter().position(|e| &e.key == a))
            .map_or(0, |i| i + 1);
        let found = entries[start..]
            .iter()
            .chain(entries[..start].iter())
            .filter(|e| Some(&e.key) != after)
            .find(open);
        Ok(found.map(|e| e.key.clone()))
    }

    /// The item `user` judged before `current` in run `job` (their latest judgement when
    /// `current` is one they have not judged). None at the first.
    pub async fn previous_review_item(
        &self,
        user: &UserInfo,
        job: i64,
        current: Option<&ItemKey>,
    ) -> Result<Option<ItemKey>, StoreError> {
        self.check_may_review(user, job).await?;
        let mine: Vec<(i64, String)> = sql::query_as(
            "SELECT image_id, prompt FROM judgements WHERE job_id = $1 AND reviewer_id = $2
             ORDER BY created_at, id",
        )
        .bind(job)
        .bind(user.id)
        .fetch_all(self.pool())
        .await?;
        let keys: Vec<ItemKey> = mine
            .into_iter()
            .map(|(image_id, prompt)| ItemKey { image_id, prompt })
            .collect();
        let at = current.and_then(|c| keys.iter().position(|k| k == c));
        Ok(match at {
            Some(0) => None,
            Some(i) => Some(keys[i - 1].clone()),
            None => keys.last().cloned(),
        })
    }

    /// Item `key` of run `job` as `user` reviews it. Others' judgements are left out until
    /// the user's own is in, so a second reviewer judges blind.
    pub async fn review_item(
        &self,
        user: &UserInfo,
        job: i64,
        key: &ItemKey,
    ) -> Result<ReviewItem, StoreError> {
        self.check_may_review(user, job).await?;
        let cfg = self.review_run(job).await?;
        let row: Option<PredictionView> = sql::query_as(
            "SELECT i.rel_path, i.category, i.label, i.has_mask, p.template_id, p.verdict,
                    p.explanation, p.raw, p.bert_f1
             FROM predictions p JOIN images i ON i.id = p.image_id
             WHERE p.job_id = $1 AND p.image_id = $2 AND p.prompt = $3",
        )
        .bind(job)
        .bind(key.image_id)
        .bind(&key.prompt)
        .fetch_optional(self.pool())
        .await?;
        let p = row.ok_or_else(|| {
            StoreError::NotFound(format!(
                "prediction of image {} with prompt {:?} in run {job}",
                key.image_id, key.prompt
            ))
        })?;
        let rows: Vec<JudgementRow> = sql::query_as(concat!(
            super::judgements::judgement_select!(),
            " WHERE j.job_id = $1 AND j.image_id = $2 AND j.prompt = $3 ORDER BY j.created_at, j.id"
        ))
        .bind(job)
        .bind(key.image_id)
        .bind(&key.prompt)
        .fetch_all(self.pool())
        .await?;
        let judged = rows.len() as u32;
        let (mine, others): (Vec<JudgementRow>, Vec<JudgementRow>) =
            rows.into_iter().partition(|r| r.reviewer_id == user.id);
        let mine = judgement_infos(mine)?.pop();
        let others = if mine.is_some() {
            judgement_infos(others)?
        } else {
            Vec::new()
        };
        let plan = self.review_settings(job).await?.plan;
        Ok(ReviewItem {
            job_id: job,
            key: key.clone(),
            rel_path: p.rel_path,
            category: p.category,
            label: p.label,
            has_mask: p.has_mask,
            template_id: p.template_id,
            model: cfg.model,
            verdict: p.verdict,
            explanation: p.explanation,
            raw: p.raw,
            bert_f1: p.bert_f1,
            references: self.reference_answers(key.image_id).await?,
            required: plan.required(key.image_id, &key.prompt),
            judged,
            mine,
            others,
        })
    }

    /// How far run `job`'s review has come, with what is left for `user`.
    pub async fn review_progress(
        &self,
        user: &UserInfo,
        job: i64,
    ) -> Result<ReviewProgress, StoreError> {
        let (plan, entries) = self.queue_entries(job).await?;
        let mut progress = ReviewProgress {
            items: entries.len(),
            ..ReviewProgress::default()
        };
        for e in &entries {
            let required = plan.required(e.key.image_id, &e.key.prompt) as usize;
            progress.needed += required;
            progress.given += e.judged_by.len().min(required);
            progress.complete += usize::from(e.judged_by.len() >= required);
            progress.left_for_me +=
                usize::from(e.judged_by.len() < required && !e.judged_by.contains(&user.id));
        }
        progress.per_reviewer = sql::query_as(
            "SELECT u.username, COUNT(*) FROM judgements j JOIN users u ON u.id = j.reviewer_id
             WHERE j.job_id = $1 GROUP BY u.username ORDER BY u.username",
        )
        .bind(job)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|(n, c): (String, i64)| (n, c as usize))
        .collect();
        Ok(progress)
    }

    /// Forbidden when `user` may not review run `job` (NotFound when it is not a run).
    pub(super) async fn check_may_review(
        &self,
        user: &UserInfo,
        job: i64,
    ) -> Result<(), StoreError> {
        self.review_run(job).await?;
        if self.may_review(user, job).await? {
            Ok(())
        } else {
            Err(StoreError::Forbidden(format!(
                "run {job} is not shared with you for review"
            )))
        }
    }
}

#[derive(sqlx::FromRow)]
struct PredictionView {
    rel_path: String,
    category: String,
    label: String,
    has_mask: bool,
    template_id: Option<i64>,
    verdict: String,
    explanation: String,
    raw: String,
    bert_f1: Option<f64>,
}

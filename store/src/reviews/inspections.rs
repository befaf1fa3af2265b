//! Judgements of single inspections: an inspection's owner shares it (`inspection_shares`), and
//! whoever may see it once it has finished judges its verdict and explanation with the same
//! judgement a run's item gets, one each, editable with its version checked and its history
//! kept. Others' judgements stay hidden from a reviewer until theirs is in (as in a run's
//! blind overlap); the inspection's owner and admins see them all.

use crate::sql;
use review::{Judgement, VerdictCall};

use super::edits::{Judged, Save};
use super::judgements::parse;
use crate::db::{now, Store, StoreError};
use crate::job_protocol::JobState;
use crate::records::{JobInfo, JobKind, Role, UserInfo};
use crate::review_records::{InspectionReview, JudgementInfo, SharedInspection};

/// The columns an inspection judgement query reads, with the reviewer's name.
macro_rules! inspection_judgement_select {
    () => {
        "SELECT j.id, j.reviewer_id, u.username AS reviewer, j.verdict, j.explanation, j.score,
                j.tags, j.comment, j.fixed_explanation, j.version, j.created_at, j.updated_at
         FROM inspection_judgements j JOIN users u ON u.id = j.reviewer_id"
    };
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    reviewer_id: i64,
    reviewer: String,
    verdict: String,
    explanation: String,
    score: i64,
    tags: String,
    comment: String,
    fixed_explanation: Option<String>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn info(self) -> Result<(i64, JudgementInfo), StoreError> {
        Ok((
            self.reviewer_id,
            JudgementInfo {
                id: self.id,
                judgement: parse(
                    &self.verdict,
                    &self.explanation,
                    self.score,
                    &self.tags,
                    self.comment,
                    self.fixed_explanation,
                )?,
                reviewer: self.reviewer,
                version: self.version,
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
        ))
    }
}

impl Store {
    /// Inspection `job` when `user` may see it: NotFound otherwise, as for one that does not
    /// exist (an inspection is private to its owner and those it is shared with).
    async fn visible_inspection(&self, user: &UserInfo, job: i64) -> Result<JobInfo, StoreError> {
        let hidden = || StoreError::NotFound(format!("inspection {job}"));
        let info = self.job(job).await.map_err(|_| hidden())?;
        if info.kind != JobKind::Inspect || !self.may_see_job(user, job).await? {
            return Err(hidden());
        }
        Ok(info)
    }

    /// Saves `user`'s judgement of inspection `job`: a first one, or with `edit_of_version` an
    /// edit of their own made from that version (else Conflict), the replaced version kept in
    /// the history. The inspection must have finished with a verdict, and "the label is wrong"
    /// does not apply (an upload has no label). Nothing is stored when anything is refused.
    pub async fn judge_inspection(
        &self,
        user: &UserInfo,
        job: i64,
        judgement: Judgement,
        edit_of_version: Option<i64>,
    ) -> Result<JudgementInfo, StoreError> {
        let info = self.visible_inspection(user, job).await?;
        if user.disabled {
            return Err(StoreError::Forbidden("this account is disabled".into()));
        }
        let j = judgement
            .normalized()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        if j.verdict == VerdictCall::LabelWrong {
            return Err(StoreError::Invalid(
                "verdict: an uploaded image has no label that could be wrong; the verdict is right or wrong".into(),
            ));
        }
        if info.state != JobState::Succeeded {
            return Err(StoreError::Conflict(format!(
                "inspection {job} has not finished with a verdict yet: judge it once it has"
            )));
        }
        let tags = Judgement::tags_text(&j.tags);
        let t = now();
        let mut tx = self.pool().begin_immediate().await?;
        let mine: Option<(i64, i64)> = sql::query_as(
            "SELECT id, version FROM inspection_judgements WHERE job_id = $1 AND reviewer_id = $2",
        )
        .bind(job)
        .bind(user.id)
        .fetch_optional(&mut tx)
        .await?;
        let id = match Judged::Inspection.save(mine, edit_of_version)? {
            Save::Edit(id) => {
                Judged::Inspection.edit(&mut tx, id, &j, &tags, t).await?;
                id
            }
            Save::Insert => {
                let r: (i64,) = sql::query_as(
                    "INSERT INTO inspection_judgements (job_id, reviewer_id, verdict, explanation,
                        score, tags, comment, fixed_explanation, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                )
                .bind(job)
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
        let row: Row = sql::query_as(concat!(inspection_judgement_select!(), " WHERE j.id = $1"))
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        Ok(row.info()?.1)
    }

    /// What `user` may see of inspection `job`'s judgements: their own, and the others' once
    /// theirs is in (all of them for the owner and admins).
    pub async fn inspection_review(
        &self,
        user: &UserInfo,
        job: i64,
    ) -> Result<InspectionReview, StoreError> {
        self.visible_inspection(user, job).await?;
        let (owner,): (Option<i64>,) = sql::query_as("SELECT owner_id FROM jobs WHERE id = $1")
            .bind(job)
            .fetch_one(self.pool())
            .await?;
        let rows: Vec<Row> = sql::query_as(concat!(
            inspection_judgement_select!(),
            " WHERE j.job_id = $1 ORDER BY j.created_at, j.id"
        ))
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        let all = rows
            .into_iter()
            .map(Row::info)
            .collect::<Result<Vec<_>, _>>()?;
        let total = all.len();
        let (mine, others): (Vec<_>, Vec<_>) = all.into_iter().partition(|(r, _)| *r == user.id);
        let mine = mine.into_iter().next().map(|(_, j)| j);
        let sees_all = user.role == Role::Admin || owner == Some(user.id) || mine.is_some();
        Ok(InspectionReview {
            judgements: total,
            mine,
            others: if sees_all {
                others.into_iter().map(|(_, j)| j).collect()
            } else {
                Vec::new()
            },
        })
    }

    /// The inspections shared with `user`, newest first, with whether they have judged each.
    pub async fn shared_inspections(
        &self,
        user: &UserInfo,
    ) -> Result<Vec<SharedInspection>, StoreError> {
        let rows: Vec<(i64, String, bool)> = sql::query_as(
            "SELECT j.id, COALESCE(u.username, '(deleted user)'),
                    EXISTS (SELECT 1 FROM inspection_judgements x
                            WHERE x.job_id = j.id AND x.reviewer_id = $1)
             FROM inspection_shares s JOIN jobs j ON j.id = s.job_id
             LEFT JOIN users u ON u.id = j.owner_id
             WHERE s.user_id = $1 AND j.kind = 'inspect' ORDER BY j.id DESC",
        )
        .bind(user.id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(job_id, owner, judged)| SharedInspection {
                job_id,
                owner,
                judged,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use review::{ExplanationCall, Judgement, ReviewTag, Score, VerdictCall};

    use crate::records::{JobKind, Role};
    use crate::sql;
    use crate::testing::Fixture;
    use crate::{JobOwner, StoreError};

    fn judgement(verdict: VerdictCall, score: i64) -> Judgement {
        Judgement {
            verdict,
            explanation: ExplanationCall::Partly,
            score: Score::try_from(score).unwrap(),
            tags: vec![ReviewTag::Vague],
            comment: "it names no place".into(),
            fixed_explanation: None,
        }
    }

    #[tokio::test]
    async fn those_an_inspection_is_shared_with_judge_it_once_each_blind_to_the_others() {
        let f = Fixture::new().await;
        let s = &f.store;
        let mk = |name: &'static str, role| async move {
            s.create_user(name, "password1", role).await.unwrap()
        };
        let (mel, bob, rex, rio, ada) = (
            mk("mel", Role::Member).await,
            mk("bob", Role::Member).await,
            mk("rex", Role::Reviewer).await,
            mk("rio", Role::Reviewer).await,
            mk("ada", Role::Admin).await,
        );
        let job = s
            .create_job(JobKind::Inspect, "{}", JobOwner::User(mel.id))
            .await
            .unwrap();
        s.share_inspection(job, rex.id, None).await.unwrap();
        s.share_inspection(job, rio.id, None).await.unwrap();
        let j = judgement(VerdictCall::Right, 3);

        // Not finished yet; not shared with bob (hidden, as if absent).
        let e = s.judge_inspection(&rex, job, j.clone(), None).await;
        assert!(matches!(e, Err(StoreError::Conflict(_))), "{e:?}");
        s.claim_next(&[JobKind::Inspect]).await.unwrap().unwrap();
        s.finish_job(job, None).await.unwrap();
        let e = s.judge_inspection(&bob, job, j.clone(), None).await;
        assert!(matches!(e, Err(StoreError::NotFound(_))), "{e:?}");
        let e = s.inspection_review(&bob, job).await;
        assert!(matches!(e, Err(StoreError::NotFound(_))), "{e:?}");
        // An upload has no label to be wrong; a 100 KB comment is refused.
        for bad in [
            judgement(VerdictCall::LabelWrong, 3),
            Judgement {
                comment: "x".repeat(100 * 1024),
                ..j.clone()
            },
        ] {
            let e = s.judge_inspection(&rex, job, bad, None).await;
            assert!(matches!(e, Err(StoreError::Invalid(_))), "{e:?}");
        }
        assert_eq!(s.inspection_review(&ada, job).await.unwrap().judgements, 0);

        let first = s
            .judge_inspection(&rex, job, j.clone(), None)
            .await
            .unwrap();
        assert_eq!((first.reviewer.as_str(), first.version), ("rex", 1));
        // Rio has not judged: rex's judgement is counted but not shown to him.
        let blind = s.inspection_review(&rio, job).await.unwrap();
        assert_eq!((blind.judgements, blind.others.len()), (1, 0));
        assert!(blind.mine.is_none());
        // The owner and admins see it.
        assert_eq!(
            s.inspection_review(&mel, job).await.unwrap().others,
            vec![first.clone()]
        );
        assert_eq!(
            s.inspection_review(&ada, job).await.unwrap().others.len(),
            1
        );
        s.judge_inspection(&rio, job, judgement(VerdictCall::Wrong, 1), None)
            .await
            .unwrap();
        let after = s.inspection_review(&rio, job).await.unwrap();
        assert_eq!(after.others, vec![first.clone()]);

        // Once each; an edit names its version, a stale one is refused, the old one kept.
        let e = s.judge_inspection(&rex, job, j.clone(), None).await;
        assert!(matches!(e, Err(StoreError::Conflict(_))), "{e:?}");
        let edited = s
            .judge_inspection(&rex, job, judgement(VerdictCall::Right, 5), Some(1))
            .await
            .unwrap();
        assert_eq!((edited.version, edited.judgement.score.get()), (2, 5));
        let e = s
            .judge_inspection(&rex, job, judgement(VerdictCall::Right, 4), Some(1))
            .await;
        assert!(matches!(e, Err(StoreError::Conflict(_))), "{e:?}");
        let (old_score,): (i64,) = sql::query_as(
            "SELECT score FROM inspection_judgement_history WHERE judgement_id = $1 AND version = 1",
        )
        .bind(first.id)
        .fetch_one(s.pool())
        .await
        .unwrap();
        assert_eq!(old_score, 3);

        let listed = s.shared_inspections(&rex).await.unwrap();
        assert_eq!(
            (
                listed.len(),
                listed[0].job_id,
                listed[0].owner.as_str(),
                listed[0].judged
            ),
            (1, job, "mel", true)
        );
        assert!(s.shared_inspections(&bob).await.unwrap().is_empty());
    }
}

//! Saving a judgement, shared by run items and inspections: whether a save is a first
//! judgement or an edit of the reviewer's own from the version they saw (else a conflict that
//! says what happened), and the edit itself with the replaced version kept in the history.

use crate::sql;
use review::Judgement;

use crate::db::StoreError;

/// The table a judgement lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Judged {
    /// A run's prediction (`judgements`, `judgement_history`).
    RunItem,
    /// A shared inspection (`inspection_judgements`, `inspection_judgement_history`).
    Inspection,
}

/// What a save does.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Save {
    /// A first judgement of the thing by this reviewer.
    Insert,
    /// An edit of their judgement `id`.
    Edit(i64),
}

impl Judged {
    fn what(self) -> &'static str {
        match self {
            Judged::RunItem => "this item",
            Judged::Inspection => "this inspection",
        }
    }

    /// The save that `edit_of_version` asks for, given the reviewer's own judgement (id and
    /// version) if they have one; Conflict when the two disagree.
    pub(super) fn save(
        self,
        mine: Option<(i64, i64)>,
        edit_of_version: Option<i64>,
    ) -> Result<Save, StoreError> {
        let what = self.what();
        match (mine, edit_of_version) {
            (Some((id, version)), Some(from)) if version == from => Ok(Save::Edit(id)),
            (Some((_, version)), Some(from)) => Err(StoreError::Conflict(format!(
                "your judgement of {what} was changed elsewhere (it is at version {version}; this form was made from version {from}): reload it, then edit"
            ))),
            (Some(_), None) => Err(StoreError::Conflict(format!(
                "you judged {what} already: edit your judgement instead"
            ))),
            (None, Some(_)) => Err(StoreError::Conflict(format!(
                "your judgement of {what} is gone: reload it"
            ))),
            (None, None) => Ok(Save::Insert),
        }
    }

    /// Replaces judgement `id` with `j` (its `tags` as stored), keeping the replaced version in
    /// the history and counting the version up; `t` is the time of the edit.
    pub(super) async fn edit(
        self,
        tx: &mut sql::Tx,
        id: i64,
        j: &Judgement,
        tags: &str,
        t: i64,
    ) -> Result<(), StoreError> {
        let (keep, update) = match self {
            Judged::RunItem => (
                "INSERT INTO judgement_history (judgement_id, version, verdict, explanation,
                    score, tags, comment, fixed_explanation, written_at)
                 SELECT id, version, verdict, explanation, score, tags, comment,
                    fixed_explanation, updated_at FROM judgements WHERE id = $1",
                "UPDATE judgements SET verdict = $1, explanation = $2, score = $3, tags = $4,
                    comment = $5, fixed_explanation = $6, version = version + 1, updated_at = $7
                 WHERE id = $8",
            ),
            Judged::Inspection => (
                "INSERT INTO inspection_judgement_history (judgement_id, version, verdict,
                    explanation, score, tags, comment, fixed_explanation, written_at)
                 SELECT id, version, verdict, explanation, score, tags, comment,
                    fixed_explanation, updated_at FROM inspection_judgements WHERE id = $1",
                "UPDATE inspection_judgements SET verdict = $1, explanation = $2, score = $3,
                    tags = $4, comment = $5, fixed_explanation = $6, version = version + 1,
                    updated_at = $7
                 WHERE id = $8",
            ),
        };
        sql::query(keep).bind(id).execute(&mut *tx).await?;
        sql::query(update)
            .bind(j.verdict.as_str())
            .bind(j.explanation.as_str())
            .bind(i64::from(j.score))
            .bind(tags)
            .bind(&j.comment)
            .bind(&j.fixed_explanation)
            .bind(t)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_is_an_insert_an_edit_or_a_conflict_that_says_why() {
        let j = Judged::RunItem;
        assert_eq!(j.save(None, None).unwrap(), Save::Insert);
        assert_eq!(j.save(Some((7, 2)), Some(2)).unwrap(), Save::Edit(7));
        let says = |r: Result<Save, StoreError>| match r {
            Err(StoreError::Conflict(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(says(j.save(Some((7, 3)), Some(2)))
            .contains("at version 3; this form was made from version 2"));
        assert!(says(j.save(Some((7, 3)), None)).contains("you judged this item already"));
        assert!(says(Judged::Inspection.save(None, Some(1)))
            .contains("your judgement of this inspection is gone"));
    }
}

//! Who besides its owner and the admins may see an inspection and the upload it shows.

use crate::db::{now, Store, StoreError};
use crate::records::{Role, UserInfo};
use crate::sql;

impl Store {
    /// Lets `user_id` see inspection `job_id` (and `upload`, the image it shows, if any).
    pub async fn share_inspection(
        &self,
        job_id: i64,
        user_id: i64,
        upload: Option<i64>,
    ) -> Result<(), StoreError> {
        sql::query(
            "INSERT INTO inspection_shares (job_id, user_id, upload_id, shared_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT(job_id, user_id) DO NOTHING",
        )
        .bind(job_id)
        .bind(user_id)
        .bind(upload)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Takes a share back; false when there was none.
    pub async fn unshare_inspection(&self, job_id: i64, user_id: i64) -> Result<bool, StoreError> {
        let r = sql::query("DELETE FROM inspection_shares WHERE job_id = $1 AND user_id = $2")
            .bind(job_id)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// The users inspection `job_id` is shared with, by name.
    pub async fn inspection_shares(&self, job_id: i64) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sql::query_as(
            "SELECT u.username FROM inspection_shares s JOIN users u ON u.id = s.user_id
             WHERE s.job_id = $1 ORDER BY u.username",
        )
        .bind(job_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// Whether `user` may see job `job_id`: an inspection is its owner's, the admins' and
    /// those it is shared with; other jobs are the team's, except that reviewers see only the
    /// evaluation runs and drafting jobs shared with them for review. False for a job that does not exist.
    pub async fn may_see_job(&self, user: &UserInfo, job_id: i64) -> Result<bool, StoreError> {
        let (n,): (i64,) = sql::query_as(
            "SELECT COUNT(*) FROM jobs j WHERE j.id = $1 AND ($2 OR j.owner_id = $3
                OR (j.kind = 'inspect'
                    AND EXISTS (SELECT 1 FROM inspection_shares s WHERE s.job_id = $1 AND s.user_id = $3))
                OR (j.kind != 'inspect' AND $4)
                OR (j.kind = 'eval'
                    AND EXISTS (SELECT 1 FROM review_queues q WHERE q.job_id = $1 AND q.open_to_all))
                OR (j.kind IN ('eval', 'draft_qa')
                    AND EXISTS (SELECT 1 FROM review_shares r WHERE r.job_id = $1 AND r.user_id = $3)))",
        )
        .bind(job_id)
        .bind(user.role == Role::Admin)
        .bind(user.id)
        .bind(user.role != Role::Reviewer)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0 && !user.disabled)
    }

    /// Whether `user` may see upload `upload_id`: its owner, an admin, or someone an
    /// inspection showing it is shared with. False for an upload that does not exist.
    pub async fn may_see_upload(
        &self,
        user: &UserInfo,
        upload_id: i64,
    ) -> Result<bool, StoreError> {
        let (n,): (i64,) = sql::query_as(
            "SELECT COUNT(*) FROM uploads p WHERE p.id = $1 AND ($2 OR p.owner_id = $3
                OR EXISTS (SELECT 1 FROM inspection_shares s WHERE s.upload_id = $1 AND s.user_id = $3))",
        )
        .bind(upload_id)
        .bind(user.role == Role::Admin)
        .bind(user.id)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::db::StoreOptions;
    use crate::records::{JobKind, Role};
    use crate::JobOwner;

    #[tokio::test]
    async fn owners_admins_and_those_shared_with_see_it_nobody_else() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::test_db::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        let ada = s
            .create_user("ada", "password1", Role::Admin)
            .await
            .unwrap();
        let mel = s
            .create_user("mel", "password1", Role::Member)
            .await
            .unwrap();
        let tom = s
            .create_user("tom", "password1", Role::Member)
            .await
            .unwrap();
        let rex = s
            .create_user("rex", "password1", Role::Reviewer)
            .await
            .unwrap();
        let up = s
            .add_upload("aa", "uploads/aa.png", "a.png", (4, 4), Some(mel.id))
            .await
            .unwrap();
        let job = s
            .create_job(JobKind::Inspect, "{}", JobOwner::User(mel.id))
            .await
            .unwrap();
        for (who, sees) in [(&ada, true), (&mel, true), (&tom, false), (&rex, false)] {
            assert_eq!(s.may_see_job(who, job).await.unwrap(), sees);
            assert_eq!(
                s.may_see_upload(who, up).await.unwrap(),
                sees,
                "{}",
                who.username
            );
        }
        s.share_inspection(job, rex.id, Some(up)).await.unwrap();
        s.share_inspection(job, rex.id, Some(up)).await.unwrap();
        assert!(s.may_see_job(&rex, job).await.unwrap());
        assert!(s.may_see_upload(&rex, up).await.unwrap());
        assert!(!s.may_see_upload(&tom, up).await.unwrap());
        assert_eq!(s.inspection_shares(job).await.unwrap(), ["rex"]);
        assert!(s.unshare_inspection(job, rex.id).await.unwrap());
        assert!(!s.unshare_inspection(job, rex.id).await.unwrap());
        assert!(!s.may_see_upload(&rex, up).await.unwrap());
        assert!(
            !s.may_see_upload(&ada, up + 1).await.unwrap(),
            "no such upload"
        );
    }
}

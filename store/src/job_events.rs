//! A job's progress events: appended while it runs, read by live pages and later views, and
//! compacted when it ends so generated text does not stay one row per piece.

use crate::db::{now, Store, StoreError};
use crate::records::JobEvent;
use crate::sql;

impl Store {
    /// Appends a progress event; returns its sequence number.
    pub async fn add_job_event(&self, id: i64, event: &JobEvent) -> Result<i64, StoreError> {
        let (seq,): (i64,) = sql::query_as(
            "INSERT INTO job_events (job_id, seq, at, data)
             VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_events WHERE job_id = $2), $3, $4)
             RETURNING seq",
        )
        .bind(id)
        .bind(id)
        .bind(now())
        .bind(event.to_json())
        .fetch_one(self.pool())
        .await?;
        Ok(seq)
    }

    /// Events of a job after sequence number `after`, in order, as stored (JSON). Events
    /// this version cannot read are passed on as they are; [`JobEvent::from_json`] reads them.
    pub async fn job_events(&self, id: i64, after: i64) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sql::query_as(
            "SELECT seq, data FROM job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(id)
        .bind(after)
        .fetch_all(self.pool())
        .await?)
    }

    /// Merges each run of consecutive text pieces of job `id` into one event at the run's
    /// last sequence number (readers that concatenate pieces see the same text, and the job's
    /// highest number stays, so a resumed job's new events never reuse a number a client has
    /// seen); other events stay as they are. Called when the job ends.
    pub async fn compact_job_events(&self, id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let rows: Vec<(i64, String)> =
            sql::query_as("SELECT seq, data FROM job_events WHERE job_id = $1 ORDER BY seq")
                .bind(id)
                .fetch_all(&mut tx)
                .await?;
        // (last seq, merged text, earlier seqs) of each run of pieces.
        let mut runs: Vec<(i64, String, Vec<i64>)> = Vec::new();
        let mut open = false;
        for (seq, data) in rows {
            match JobEvent::from_json(&data) {
                Some(JobEvent::Text { text }) if open => {
                    let run = runs.last_mut().expect("an open run");
                    run.1.push_str(&text);
                    run.2.push(run.0);
                    run.0 = seq;
                }
                Some(JobEvent::Text { text }) => {
                    runs.push((seq, text, Vec::new()));
                    open = true;
                }
                _ => open = false,
            }
        }
        for (last, text, earlier) in runs.into_iter().filter(|r| !r.2.is_empty()) {
            sql::query("UPDATE job_events SET data = $1 WHERE job_id = $2 AND seq = $3")
                .bind(JobEvent::Text { text }.to_json())
                .bind(id)
                .bind(last)
                .execute(&mut tx)
                .await?;
            for seq in earlier {
                sql::query("DELETE FROM job_events WHERE job_id = $1 AND seq = $2")
                    .bind(id)
                    .bind(seq)
                    .execute(&mut tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::StoreOptions;
    use crate::records::{JobKind, JobState};
    use crate::JobOwner;

    fn text(t: &str) -> JobEvent {
        JobEvent::Text { text: t.into() }
    }

    #[tokio::test]
    async fn ending_a_job_merges_its_text_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::test_db::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        let id = s
            .create_job(JobKind::Inspect, "{}", JobOwner::System)
            .await
            .unwrap();
        let log = JobEvent::Log {
            message: "loaded".into(),
        };
        for e in [
            log.clone(),
            text("The "),
            text("cap "),
            text("is broken."),
            log.clone(),
            text("!"),
        ] {
            s.add_job_event(id, &e).await.unwrap();
        }
        s.end_job(id, JobState::Succeeded, None).await.unwrap();
        let events: Vec<(i64, Option<JobEvent>)> = s
            .job_events(id, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|(seq, e)| (seq, JobEvent::from_json(&e)))
            .collect();
        assert_eq!(
            events,
            [
                (1, Some(log.clone())),
                (4, Some(text("The cap is broken."))),
                (5, Some(log)),
                (6, Some(text("!"))),
            ]
        );
        // New events still follow the last sequence number (a resumed job keeps its order).
        assert_eq!(s.add_job_event(id, &text("more")).await.unwrap(), 7);
    }
}

//! Exports of a run's judgements, shared by `/api/reviews/RUN.csv` and
//! `vlm-inspect review export`: one row per judgement with its item, reviewer, every field
//! and its times; and deleting a run, which keeps that export of its judgements first.

use std::io::Write;
use std::path::{Path, PathBuf};

use anomaly::report::csv_text;
use store::{JudgementRow, JudgementsSeen, Store, StoreError};

/// The columns of [`export_csv`].
pub const REVIEW_CSV_HEADER: [&str; 20] = [
    "judgement_id",
    "job_id",
    "image_id",
    "image",
    "category",
    "label",
    "prompt",
    "model_verdict",
    "bert_f1",
    "reviewer",
    "verdict",
    "explanation",
    "score",
    "tags",
    "comment",
    "fixed_explanation",
    "version",
    "created_at",
    "updated_at",
    "model_explanation",
];

/// The CSV header and one row per judgement (RFC 4180 quoting; text cells that a spreadsheet
/// would run as a formula get a leading quote).
pub fn export_csv(rows: &[JudgementRow]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail: errors only come from the writer underneath.
    let _ = out.write_record(REVIEW_CSV_HEADER);
    for r in rows {
        let _ = out.write_record([
            r.judgement_id.to_string().as_str(),
            &r.job_id.to_string(),
            &r.image_id.to_string(),
            &csv_text(&r.rel_path),
            &csv_text(&r.category),
            &r.label,
            &csv_text(&r.prompt),
            &r.model_verdict,
            &r.bert_f1.map(|x| format!("{x:.6}")).unwrap_or_default(),
            &csv_text(&r.reviewer),
            &r.verdict,
            &r.explanation,
            &r.score.to_string(),
            &r.tags,
            &csv_text(&r.comment),
            &csv_text(r.fixed_explanation.as_deref().unwrap_or("")),
            &r.version.to_string(),
            &r.created_at.to_string(),
            &r.updated_at.to_string(),
            &csv_text(&r.model_explanation),
        ]);
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// What deleting a run kept of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunDeleted {
    /// The judgements deleted with the run.
    pub judgements: i64,
    /// Their export (CSV, then JSON), written before the run was deleted; empty when nobody
    /// had judged it.
    pub kept: Vec<PathBuf>,
}

/// Where a data folder keeps the judgements of deleted runs.
pub fn exports_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("exports")
}

/// Deletes evaluation run `job` (the caller has checked who may). A run that people judged is
/// refused unless `with_reviews`; then its judgements are first written to
/// `exports/run-JOB-judgements-TIME.csv` and `.json` in the data folder, and the run is deleted
/// only if they are still what the files hold (a judgement saved meanwhile refuses it and the
/// files are removed). The CLI's own output folder `runs/eval-JOB` goes too.
pub async fn delete_run(
    store: &Store,
    data_dir: &Path,
    job: i64,
    with_reviews: bool,
) -> Result<RunDeleted, StoreError> {
    let mut seen = store.judgements_seen(job).await?;
    let mut kept = Vec::new();
    if seen.count > 0 {
        if !with_reviews {
            return Err(StoreError::RunHasReviews {
                job,
                judgements: seen.count,
            });
        }
        let rows = store.review_export(job).await?;
        seen = JudgementsSeen {
            count: rows.len() as i64,
            versions: rows.iter().map(|r| r.version).sum(),
        };
        kept = keep_export(data_dir, job, &rows)?;
    }
    if let Err(e) = store.delete_eval_run(job, seen).await {
        for f in &kept {
            let _ = std::fs::remove_file(f);
        }
        return Err(e);
    }
    let outputs = data_dir.join("runs").join(format!("eval-{job}"));
    if outputs.is_dir() {
        std::fs::remove_dir_all(&outputs).map_err(|e| StoreError::File {
            path: outputs.clone(),
            reason: format!("the run was deleted, but not its output folder: {e}"),
        })?;
    }
    Ok(RunDeleted {
        judgements: seen.count,
        kept,
    })
}

/// Writes the export of run `job`'s judgements as CSV and JSON, each complete on disk (written
/// to a temporary file, synced, then renamed) before the run may go.
fn keep_export(
    data_dir: &Path,
    job: i64,
    rows: &[JudgementRow],
) -> Result<Vec<PathBuf>, StoreError> {
    let dir = exports_dir(data_dir);
    let file_error = |path: &Path, e: std::io::Error| StoreError::File {
        path: path.to_path_buf(),
        reason: format!("cannot keep the run's judgements, so it was not deleted: {e}"),
    };
    std::fs::create_dir_all(&dir).map_err(|e| file_error(&dir, e))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let json =
        serde_json::to_string_pretty(rows).map_err(|e| StoreError::Invalid(e.to_string()))? + "\n";
    let mut kept = Vec::new();
    for (ext, text) in [("csv", export_csv(rows)), ("json", json)] {
        let path = dir.join(format!("run-{job}-judgements-{stamp}.{ext}"));
        let part = dir.join(format!("run-{job}-judgements-{stamp}.{ext}.part"));
        let written = std::fs::File::create(&part).and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&part, &path)) {
            let _ = std::fs::remove_file(&part);
            for f in &kept {
                let _ = std::fs::remove_file(f);
            }
            return Err(file_error(&path, e));
        }
        kept.push(path);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_judgement_with_quoting_and_formula_guard() {
        let row = JudgementRow {
            judgement_id: 7,
            job_id: 3,
            image_id: 11,
            rel_path: "pushpins/test/logical_anomalies/000.png".into(),
            category: "pushpins".into(),
            label: "logical".into(),
            prompt: "P1".into(),
            model_verdict: "normal".into(),
            model_explanation: "All pins, \"as expected\".".into(),
            bert_f1: Some(0.5),
            reviewer: "rex".into(),
            verdict: "wrong".into(),
            explanation: "wrong".into(),
            score: 1,
            tags: "missed_defect,vague".into(),
            comment: "=HYPERLINK(\"x\")".into(),
            fixed_explanation: Some("A pin is missing,\nbottom left.".into()),
            version: 2,
            created_at: 100,
            updated_at: 200,
        };
        let text = export_csv(&[row]);
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(r.headers().unwrap().len(), REVIEW_CSV_HEADER.len());
        let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(recs.len(), 1);
        assert_eq!(&recs[0][9], "rex");
        assert_eq!(&recs[0][13], "missed_defect,vague");
        assert_eq!(&recs[0][14], "'=HYPERLINK(\"x\")");
        assert_eq!(&recs[0][15], "A pin is missing,\nbottom left.");
        assert_eq!(&recs[0][19], "All pins, \"as expected\".");
    }
}

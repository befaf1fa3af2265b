//! Exports of a run's judgements, shared by `/api/reviews/RUN.csv` and
//! `vlm-inspect review export`: one row per judgement with its item, reviewer, every field
//! and its times.

use anomaly::report::csv_text;
use store::JudgementRow;

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

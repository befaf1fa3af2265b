//! QA annotations as JSON Lines: one object per question–answer pair.
//!
//! ```json
//! {"image":"pushpins/test/logical_anomalies/000.png","question":"Is there any defect?",
//!  "answer":"Yes: the cell in row 1, column 2 is empty.","source":"manual",
//!  "anomaly":"missing pushpin","region":{"x":0.21,"y":0.22,"w":0.17,"h":0.19}}
//! ```
//! `image` is the path relative to the dataset root; `anomaly` and `region` are optional.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use super::DatasetError;

/// Who wrote the answer (the paper has one of each per image).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QaSource {
    /// Written by a person.
    Manual,
    /// Generated (by a model or our generator) and checked by a person.
    GeneratedVerified,
}

impl QaSource {
    pub fn as_str(self) -> &'static str {
        match self {
            QaSource::Manual => "manual",
            QaSource::GeneratedVerified => "generated_verified",
        }
    }
}

impl fmt::Display for QaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QaSource {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "manual" => Ok(QaSource::Manual),
            "generated_verified" => Ok(QaSource::GeneratedVerified),
            other => Err(DatasetError::Invalid(format!(
                "unknown QA source {other:?} (manual or generated_verified)"
            ))),
        }
    }
}

/// A box in image-relative coordinates (0..1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// The box around the non-zero pixels, in image-relative units.
pub fn mask_region(mask: &image::GrayImage) -> Option<Region> {
    let (w, h) = mask.dimensions();
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for (x, y, p) in mask.enumerate_pixels() {
        if p.0[0] > 0 {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    (x1 >= x0 && y1 >= y0).then(|| {
        let r = |v: f32| (v * 1000.0).round() / 1000.0;
        Region {
            x: r(x0 as f32 / w as f32),
            y: r(y0 as f32 / h as f32),
            w: r((x1 - x0 + 1) as f32 / w as f32),
            h: r((y1 - y0 + 1) as f32 / h as f32),
        }
    })
}

/// One question–answer annotation of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QaRecord {
    pub image: String,
    pub question: String,
    pub answer: String,
    pub source: QaSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// Who verified a generated answer in review, and when (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<i64>,
}

/// Parses a JSONL file's text. Every bad line is reported (file name, line number, reason);
/// `known_images`, when given, must contain each record's `image`.
pub fn parse_jsonl(
    file: &str,
    text: &str,
    known_images: Option<&HashSet<String>>,
) -> Result<Vec<QaRecord>, Vec<DatasetError>> {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let err = |reason: String| DatasetError::QaLine {
            file: file.to_string(),
            line: line_no,
            reason,
        };
        let record: QaRecord = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                errors.push(err(e.to_string()));
                continue;
            }
        };
        if record.question.trim().is_empty() || record.answer.trim().is_empty() {
            errors.push(err("question and answer must not be empty".into()));
            continue;
        }
        if let Some(r) = record.region {
            let ok = [r.x, r.y, r.w, r.h]
                .iter()
                .all(|v| v.is_finite() && (0.0..=1.0).contains(v));
            if !ok || r.x + r.w > 1.0 + 1e-4 || r.y + r.h > 1.0 + 1e-4 {
                errors.push(err(
                    "region must lie inside the image (x, y, w, h between 0 and 1)".into(),
                ));
                continue;
            }
        }
        if let Some(known) = known_images {
            if !known.contains(&record.image) {
                errors.push(err(format!("unknown image {:?}", record.image)));
                continue;
            }
        }
        records.push(record);
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

/// Writes records as JSON Lines.
pub fn to_jsonl(records: &[QaRecord]) -> String {
    let mut out = String::new();
    for r in records {
        // Serialising these plain records cannot fail.
        out.push_str(&serde_json::to_string(r).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(image: &str) -> QaRecord {
        QaRecord {
            image: image.into(),
            question: "Is there a defect?".into(),
            answer: "Yes, a pin is missing.".into(),
            source: QaSource::Manual,
            anomaly: Some("missing pin".into()),
            region: Some(Region {
                x: 0.1,
                y: 0.2,
                w: 0.3,
                h: 0.4,
            }),
            verified_by: None,
            verified_at: None,
        }
    }

    #[test]
    fn round_trip() {
        let recs = vec![
            record("a.png"),
            QaRecord {
                source: QaSource::GeneratedVerified,
                anomaly: None,
                region: None,
                ..record("b.png")
            },
        ];
        let text = to_jsonl(&recs);
        assert_eq!(text.lines().count(), 2);
        assert!(!text.contains("\"region\":null"));
        assert_eq!(parse_jsonl("qa.jsonl", &text, None).unwrap(), recs);
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let known: HashSet<String> = ["a.png".to_string()].into();
        let text = [
            serde_json::to_string(&record("a.png")).unwrap(),
            "{not json".to_string(),
            String::new(),
            serde_json::to_string(&record("missing.png")).unwrap(),
            r#"{"image":"a.png","question":"q","answer":"a","source":"guessed"}"#.to_string(),
            r#"{"image":"a.png","question":"q","answer":"","source":"manual"}"#.to_string(),
            r#"{"image":"a.png","question":"q","answer":"a","source":"manual","region":{"x":0.9,"y":0,"w":0.5,"h":0.1}}"#.to_string(),
            r#"{"image":"a.png","question":"q","answer":"a","source":"manual","extra":1}"#.to_string(),
        ]
        .join("\n");
        let errors = parse_jsonl("qa.jsonl", &text, Some(&known)).unwrap_err();
        let lines: Vec<usize> = errors
            .iter()
            .map(|e| match e {
                DatasetError::QaLine { line, .. } => *line,
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(lines, [2, 4, 5, 6, 7, 8]);
        assert!(
            errors[1]
                .to_string()
                .contains("unknown image \"missing.png\""),
            "{}",
            errors[1]
        );
        assert!(
            errors[0].to_string().starts_with("qa.jsonl, line 2:"),
            "{}",
            errors[0]
        );
    }
}

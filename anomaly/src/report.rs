//! The results of an evaluation run, recomputed from its stored predictions: per prompt the
//! paper's Table 1 (accuracy per anomaly type), Table 2 (BERTScore of explanations of correctly
//! detected anomalies, and whether they name the annotated defect and agree with its region:
//! [`crate::naming`]), Good-Acc and balanced accuracy, per-category scores, confusion counts,
//! and the diversity of the explanations; as text tables, CSV and JSON.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::diversity::{distinct_n, self_bleu};
use crate::metrics::{percent, score, Judged, Scores};
use crate::naming::{Check, NamingScores};
use crate::verdict::Verdict;
use crate::Label;

/// One stored prediction, as the report reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub image_id: i64,
    pub category: String,
    pub label: Label,
    pub prompt: String,
    pub verdict: Verdict,
    pub explanation: String,
    /// BERTScore against the image's reference answers (correctly detected anomalies only).
    pub bert_p: Option<f64>,
    pub bert_r: Option<f64>,
    pub bert_f1: Option<f64>,
    /// The explanation against the image's annotated defect and region (correctly detected
    /// anomalies with such annotations only; computed when the report is, never stored).
    #[serde(default)]
    pub check: Option<Check>,
}

impl Prediction {
    /// True when the verdict matches the label (undecided is wrong).
    pub fn correct(&self) -> bool {
        match self.verdict {
            Verdict::Anomalous => self.label.is_anomalous(),
            Verdict::Normal => !self.label.is_anomalous(),
            Verdict::Undecided => false,
        }
    }

    /// Whether this prediction's explanation is scored with BERTScore, as the paper does: an
    /// anomaly that was detected.
    pub fn explanation_is_scored(&self) -> bool {
        self.label.is_anomalous() && self.verdict == Verdict::Anomalous
    }
}

/// Mean BERTScore over the scored explanations of one prompt.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BertMeans {
    pub p: f64,
    pub r: f64,
    pub f1: f64,
    /// How many explanations the means are over.
    pub n: usize,
}

/// Everything shown for one prompt of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PromptReport {
    pub prompt: String,
    pub images: usize,
    pub scores: Scores,
    pub per_category: BTreeMap<String, Scores>,
    /// None when no anomaly was detected (or BERTScore was not computed).
    pub bertscore: Option<BertMeans>,
    pub distinct_1: Option<f64>,
    pub distinct_2: Option<f64>,
    pub self_bleu: Option<f64>,
    /// Whether the explanations of correctly detected anomalies name the defect and place it
    /// where its region is, over the prompt and per category.
    pub naming: NamingScores,
    pub naming_per_category: BTreeMap<String, NamingScores>,
}

/// Reports per prompt, in the order `prompts` gives (prompts without predictions are skipped).
pub fn report(prompts: &[String], predictions: &[Prediction]) -> Vec<PromptReport> {
    prompts
        .iter()
        .filter_map(|name| {
            let mine: Vec<&Prediction> = predictions.iter().filter(|p| &p.prompt == name).collect();
            (!mine.is_empty()).then(|| prompt_report(name, &mine))
        })
        .collect()
}

fn prompt_report(name: &str, mine: &[&Prediction]) -> PromptReport {
    let judged: Vec<Judged> = mine
        .iter()
        .map(|p| Judged {
            category: p.category.clone(),
            label: p.label,
            verdict: p.verdict,
        })
        .collect();
    let (scores, per_category) = score(&judged);
    let scored: Vec<(f64, f64, f64)> = mine
        .iter()
        .filter(|p| p.explanation_is_scored())
        .filter_map(|p| Some((p.bert_p?, p.bert_r?, p.bert_f1?)))
        .collect();
    let bertscore = (!scored.is_empty()).then(|| {
        let n = scored.len() as f64;
        BertMeans {
            p: scored.iter().map(|s| s.0).sum::<f64>() / n,
            r: scored.iter().map(|s| s.1).sum::<f64>() / n,
            f1: scored.iter().map(|s| s.2).sum::<f64>() / n,
            n: scored.len(),
        }
    });
    let mut naming = NamingScores::default();
    let mut naming_per_category: BTreeMap<String, NamingScores> = BTreeMap::new();
    for p in mine.iter().filter(|p| p.explanation_is_scored()) {
        if let Some(c) = &p.check {
            naming.add(c);
            naming_per_category
                .entry(p.category.clone())
                .or_default()
                .add(c);
        }
    }
    let texts: Vec<String> = mine
        .iter()
        .map(|p| p.explanation.clone())
        .filter(|t| !t.trim().is_empty())
        .collect();
    PromptReport {
        prompt: name.to_string(),
        images: mine.len(),
        scores,
        per_category,
        bertscore,
        distinct_1: distinct_n(&texts, 1),
        distinct_2: distinct_n(&texts, 2),
        self_bleu: self_bleu(&texts),
        naming,
        naming_per_category,
    }
}

/// A row label as the paper's tables write it: the model, then "+ CoI" for a Chain-of-Image
/// prompt (with its name).
pub fn method_name(model: &str, prompt: &str) -> String {
    if prompt == "plain" {
        model.to_string()
    } else {
        format!("{model} + CoI ({prompt})")
    }
}

/// Table 1 (with Good-Acc and balanced accuracy added) as a Markdown table.
pub fn table1(model: &str, reports: &[PromptReport]) -> String {
    let mut t = String::from(
        "| Method | Logical-Acc | Struct-Acc | Average | Good-Acc | Balanced | Images |\n|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let s = &r.scores;
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} |",
            method_name(model, &r.prompt),
            percent(s.logical.accuracy()),
            percent(s.structural.accuracy()),
            percent(s.average()),
            percent(s.good.accuracy()),
            percent(s.balanced()),
            r.images
        );
    }
    t
}

fn ratio(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "n/a".into())
}

/// A share × 100 with its counts, "62.5 (5/8)", or "n/a" when nothing was counted.
pub fn share(part: usize, of: usize) -> String {
    if of == 0 {
        "n/a".into()
    } else {
        format!("{} ({part}/{of})", percent(Some(part as f64 / of as f64)))
    }
}

/// Table 2 (BERTScore F1 × 100 of correctly detected anomalies, with P and R), the share of
/// them whose explanation names the defect and whose location words agree with its region,
/// and the explanations' diversity, as a Markdown table.
pub fn table2(model: &str, reports: &[PromptReport]) -> String {
    let mut t = String::from(
        "| Method | BERTScore | P | R | Scored | Distinct-1 | Distinct-2 | Self-BLEU | Names defect | Location agrees |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let b = r.bertscore.as_ref();
        let n = &r.naming;
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            method_name(model, &r.prompt),
            percent(b.map(|b| b.f1)),
            percent(b.map(|b| b.p)),
            percent(b.map(|b| b.r)),
            b.map(|b| b.n).unwrap_or(0),
            ratio(r.distinct_1),
            ratio(r.distinct_2),
            ratio(r.self_bleu),
            share(n.named, n.judged),
            share(n.location_agrees, n.located)
        );
    }
    t
}

/// A text cell as a spreadsheet should show it: one that starts like a formula (`=`, `+`, `-`,
/// `@`, a tab or a carriage return) gets a leading apostrophe, so a model's reply or a prompt
/// name is never evaluated when the download is opened (OWASP's advice on CSV injection).
pub fn csv_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// One CSV line per stored prediction (with the image's file and the template's, raw output
/// included), for spreadsheets.
pub struct CsvRow<'a> {
    pub prediction: &'a Prediction,
    pub image: &'a str,
    pub template: &'a str,
    pub raw: &'a str,
    pub new_tokens: i64,
    pub latency_ms: i64,
}

/// The columns of [`csv`].
pub const CSV_HEADER: [&str; 17] = [
    "image_id",
    "image",
    "category",
    "label",
    "prompt",
    "template",
    "verdict",
    "correct",
    "bert_p",
    "bert_r",
    "bert_f1",
    "names_defect",
    "location",
    "new_tokens",
    "latency_ms",
    "explanation",
    "raw",
];

/// The CSV header and rows (RFC 4180 quoting by the `csv` crate; text cells through
/// [`csv_text`]). `names_defect` is true, false or empty (not judged), `location` agrees,
/// disagrees, no_location_words or empty (no region, or not a detected anomaly).
pub fn csv(rows: &[CsvRow]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let num = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
    // Writing to memory cannot fail: errors only come from the writer underneath.
    let _ = out.write_record(CSV_HEADER);
    for r in rows {
        let p = r.prediction;
        let _ = out.write_record([
            p.image_id.to_string().as_str(),
            &csv_text(r.image),
            &csv_text(&p.category),
            p.label.as_str(),
            &csv_text(&p.prompt),
            &csv_text(r.template),
            p.verdict.as_str(),
            if p.correct() { "true" } else { "false" },
            &num(p.bert_p),
            &num(p.bert_r),
            &num(p.bert_f1),
            match p.check.and_then(|c| c.named) {
                Some(true) => "true",
                Some(false) => "false",
                None => "",
            },
            p.check
                .and_then(|c| c.location)
                .map(|l| l.as_str())
                .unwrap_or(""),
            &r.new_tokens.to_string(),
            &r.latency_ms.to_string(),
            &csv_text(&p.explanation),
            &csv_text(r.raw),
        ]);
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(label: Label, prompt: &str, verdict: Verdict, f1: Option<f64>) -> Prediction {
        Prediction {
            image_id: 0,
            category: "box".into(),
            label,
            prompt: prompt.into(),
            verdict,
            explanation: format!("{verdict:?} because of {label}"),
            bert_p: f1.map(|f| f + 0.1),
            bert_r: f1.map(|f| f - 0.1),
            bert_f1: f1,
            check: None,
        }
    }

    /// Two prompts over 2 logical, 2 structural, 2 good images, computed by hand.
    fn set() -> Vec<Prediction> {
        use Label::*;
        use Verdict::*;
        vec![
            pred(Logical, "plain", Anomalous, Some(0.8)),
            pred(Logical, "plain", Normal, None),
            pred(Structural, "plain", Undecided, None),
            pred(Structural, "plain", Anomalous, Some(0.6)),
            pred(Good, "plain", Normal, None),
            pred(Good, "plain", Anomalous, None),
            pred(Logical, "P1", Anomalous, Some(0.9)),
            pred(Logical, "P1", Anomalous, Some(0.7)),
            pred(Structural, "P1", Anomalous, Some(0.5)),
            pred(Structural, "P1", Anomalous, None),
            pred(Good, "P1", Anomalous, None),
            pred(Good, "P1", Anomalous, None),
        ]
    }

    #[test]
    fn tables_by_hand() {
        let reports = report(&["plain".into(), "P1".into(), "P9".into()], &set());
        assert_eq!(reports.len(), 2, "a prompt without predictions is skipped");
        let plain = &reports[0];
        // Logical 1/2, structural 1/2 (undecided is wrong), good 1/2.
        assert_eq!(plain.scores.average(), Some(0.5));
        assert_eq!(plain.scores.good.accuracy(), Some(0.5));
        assert_eq!(plain.scores.balanced(), Some(0.5));
        // BERTScore over the two detected anomalies: (0.8 + 0.6) / 2.
        let b = plain.bertscore.as_ref().unwrap();
        assert_eq!(b.n, 2);
        assert!((b.f1 - 0.7).abs() < 1e-12 && (b.p - 0.8).abs() < 1e-12);
        let p1 = &reports[1];
        // Everything anomalous: anomalies all right, normals all wrong.
        assert_eq!(p1.scores.average(), Some(1.0));
        assert_eq!(p1.scores.good.accuracy(), Some(0.0));
        assert_eq!(p1.scores.balanced(), Some(0.5));
        // The detected anomaly without a score (no reference) is not averaged.
        assert_eq!(p1.bertscore.as_ref().unwrap().n, 3);
        let t1 = table1("tiny", &reports);
        assert!(
            t1.contains("| tiny | 50.0 | 50.0 | 50.0 | 50.0 | 50.0 | 6 |"),
            "{t1}"
        );
        assert!(
            t1.contains("| tiny + CoI (P1) | 100.0 | 100.0 | 100.0 | 0.0 | 50.0 | 6 |"),
            "{t1}"
        );
        let t2 = table2("tiny", &reports);
        assert!(t2.contains("| tiny | 70.0 | 80.0 | 60.0 | 2 |"), "{t2}");
        assert!(
            t2.contains("| tiny + CoI (P1) | 70.0 | 80.0 | 60.0 | 3 |"),
            "{t2}"
        );
    }

    #[test]
    fn a_split_without_a_type_reports_not_available() {
        let only_good = vec![pred(Label::Good, "plain", Verdict::Normal, None)];
        let r = report(&["plain".into()], &only_good);
        let t1 = table1("m", &r);
        assert!(
            t1.contains("| m | n/a | n/a | n/a | 100.0 | n/a | 1 |"),
            "{t1}"
        );
        let t2 = table2("m", &r);
        assert!(t2.contains("| m | n/a | n/a | n/a | 0 |"), "{t2}");
    }

    #[test]
    fn a_model_that_says_nothing_is_wrong_and_adds_no_explanation() {
        let mut silent = pred(Label::Logical, "plain", Verdict::Undecided, None);
        silent.explanation = String::new();
        let mut spoke = pred(Label::Logical, "plain", Verdict::Anomalous, Some(0.5));
        spoke.explanation = "the pin is missing on the left".into();
        let r = &report(&["plain".into()], &[silent, spoke])[0];
        assert_eq!(r.scores.logical.accuracy(), Some(0.5));
        assert_eq!(r.scores.undecided_anomalies, 1);
        // Diversity is over what was said: one explanation, so no self-BLEU.
        assert_eq!(
            r.distinct_1,
            Some(6.0 / 7.0),
            "the, pin, is, missing, on, the, left"
        );
        assert_eq!(r.self_bleu, None);
        assert_eq!(r.bertscore.as_ref().map(|b| b.n), Some(1));
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut p = pred(Label::Logical, "P1", Verdict::Anomalous, Some(0.5));
        p.explanation = "a \"bent\" pin,\nleft".into();
        let rows = [CsvRow {
            prediction: &p,
            image: "test/logical/000.png",
            template: "",
            raw: "x",
            new_tokens: 3,
            latency_ms: 12,
        }];
        let text = csv(&rows);
        let line = text.lines().nth(1).unwrap();
        assert!(line.starts_with("0,test/logical/000.png,box,logical,P1,,anomalous,true,0.600000,0.400000,0.500000,,,3,12,\"a \"\"bent\"\" pin,"));
        assert!(text.ends_with("left\",x\n"));
        assert!(text.starts_with("image_id,image,category,label,prompt,template,verdict,"));
        assert!(text.starts_with(
            "image_id,image,category,label,prompt,template,verdict,correct,bert_p,bert_r,bert_f1,names_defect,location,new_tokens,"
        ));
    }

    /// Naming counts by hand: only correctly detected anomalies with a check count, overall and
    /// per category, and Table 2 and the CSV show them.
    #[test]
    fn naming_by_hand() {
        use crate::naming::LocationMatch::*;
        let with = |label, verdict, category: &str, named, location| {
            let mut p = pred(label, "plain", verdict, None);
            p.category = category.into();
            p.check = Some(Check { named, location });
            p
        };
        use Label::*;
        use Verdict::*;
        let set = vec![
            with(Logical, Anomalous, "box", Some(true), Some(Agrees)),
            with(Logical, Anomalous, "box", Some(false), Some(Disagrees)),
            with(
                Structural,
                Anomalous,
                "box",
                Some(true),
                Some(NoLocationWords),
            ),
            with(Structural, Anomalous, "bag", Some(true), None),
            with(Logical, Anomalous, "bag", None, Some(Agrees)),
            // Not counted: a missed anomaly, an undecided one, a false alarm.
            with(Logical, Normal, "bag", Some(false), Some(Disagrees)),
            with(Structural, Undecided, "bag", Some(false), None),
            with(Good, Anomalous, "bag", Some(false), Some(Disagrees)),
            // A detected anomaly without annotations to compare with.
            pred(Logical, "plain", Anomalous, None),
        ];
        let r = &report(&["plain".into()], &set)[0];
        // Named: true, false, true, true of 4 judged; location: agrees, disagrees, agrees of 3
        // located, one without words.
        assert_eq!(
            r.naming,
            NamingScores {
                judged: 4,
                named: 3,
                located: 3,
                location_agrees: 2,
                no_location_words: 1
            }
        );
        let b = &r.naming_per_category["box"];
        assert_eq!(
            (b.named, b.judged, b.location_agrees, b.located),
            (2, 3, 1, 2)
        );
        let g = &r.naming_per_category["bag"];
        assert_eq!(
            (g.named, g.judged, g.location_agrees, g.located),
            (1, 1, 1, 1)
        );
        let t2 = table2("m", std::slice::from_ref(r));
        assert!(t2.contains("| Names defect | Location agrees |"), "{t2}");
        assert!(t2.contains("| 75.0 (3/4) | 66.7 (2/3) |"), "{t2}");
        let none = report(&["plain".into()], &[pred(Good, "plain", Normal, None)]);
        assert!(table2("m", &none).contains("| n/a | n/a |"));
        assert_eq!(share(0, 0), "n/a");
        assert_eq!(share(1, 3), "33.3 (1/3)");
        let rows: Vec<CsvRow> = set
            .iter()
            .take(3)
            .map(|p| CsvRow {
                prediction: p,
                image: "i.png",
                template: "",
                raw: "",
                new_tokens: 1,
                latency_ms: 2,
            })
            .collect();
        let text = csv(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].contains(",true,agrees,1,2,"), "{}", lines[1]);
        assert!(lines[2].contains(",false,disagrees,1,2,"), "{}", lines[2]);
        assert!(
            lines[3].contains(",true,no_location_words,1,2,"),
            "{}",
            lines[3]
        );
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_not_formulas() {
        let mut p = pred(
            Label::Logical,
            "=HYPERLINK(\"http://x\")",
            Verdict::Anomalous,
            None,
        );
        p.explanation = "+cmd|' /C calc'!A0".into();
        let rows = [CsvRow {
            prediction: &p,
            image: "@evil.png",
            template: "-1+1",
            raw: "\tx",
            new_tokens: 3,
            latency_ms: 12,
        }];
        let text = csv(&rows);
        let line = text.lines().nth(1).unwrap();
        for cell in [
            "'@evil.png",
            "\"'=HYPERLINK(\"\"http://x\"\")\"",
            "'-1+1",
            "'+cmd|' /C calc'!A0",
            "'\tx",
        ] {
            assert!(line.contains(cell), "{cell} in {line}");
        }
        assert_eq!(csv_text("plain words"), "plain words");
        assert_eq!(csv_text(""), "");
        // Numbers we write ourselves stay numbers.
        assert!(line.contains(",3,12,"));
    }
}

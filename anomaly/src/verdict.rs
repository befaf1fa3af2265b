//! Reading a verdict out of a model's free text: normal, anomalous or undecided (which counts as
//! wrong). Real outputs say it in many ways: a final `Verdict:` line (what our prompts ask for),
//! a leading yes/no to "Is there any defect?", or a step-by-step text whose early steps list
//! differences and whose last step judges them. So: an explicit verdict line wins, then a
//! leading yes/no, then the last clause that takes a side, read with negations ("no defects",
//! "nothing is missing", "defect: none").

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Normal,
    Anomalous,
    Undecided,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Normal => "normal",
            Verdict::Anomalous => "anomalous",
            Verdict::Undecided => "undecided",
        }
    }
}

/// Markers after which the model states its verdict; the last one in the text counts.
const MARKERS: [&str; 8] = [
    "verdict:",
    "final verdict",
    "final answer:",
    "final judgment:",
    "final judgement:",
    "conclusion:",
    "judgment:",
    "answer:",
];

/// Phrases that say "normal" outright.
const NORMAL_PHRASES: [&str; 24] = [
    "defect: none",
    "defects: none",
    "anomaly: none",
    "anomalies: none",
    "is normal",
    "are normal",
    "appears normal",
    "looks normal",
    "seems normal",
    "normal image",
    "normal sample",
    "normal product",
    "as expected",
    "flawless",
    "free of",
    "free from",
    "intact",
    "kein defekt",
    "keine defekte",
    "keine fehler",
    "aucun défaut",
    "sans défaut",
    "sin defectos",
    "ningún defecto",
];

/// Single words that are a verdict by themselves (e.g. `Verdict: normal`).
const NORMAL_WORDS: [&str; 6] = ["normal", "good", "ok", "okay", "fine", "none"];

/// Word stems that report a defect.
const ANOMALY_STEMS: [&str; 28] = [
    "defect",
    "anomal",
    "abnormal",
    "damage",
    "missing",
    "broken",
    "crack",
    "scratch",
    "contamina",
    "misplac",
    "misalign",
    "wrong",
    "faulty",
    "flaw",
    "dent",
    "torn",
    "bent",
    "irregular",
    "inconsisten",
    "incorrect",
    "deform",
    "extra",
    "absent",
    "hole",
    "fehler",
    "défaut",
    "defecto",
    "anormal",
];

/// Phrases of a model that does not commit: the clause takes no side.
const HEDGES: [&str; 6] = [
    "cannot determine",
    "can't determine",
    "unable to determine",
    "not sure",
    "unclear whether",
    "hard to tell",
];

/// Words that negate a following defect word within a few words.
const NEGATORS: [&str; 14] = [
    "no", "not", "without", "nothing", "none", "never", "neither", "nor", "free", "isn", "doesn",
    "aren", "kein", "aucun",
];

/// Reads the verdict of `text`.
pub fn parse_verdict(text: &str) -> Verdict {
    let lower = text.to_lowercase();
    // 1. An explicit verdict: the last marker's line.
    if let Some((pos, marker)) = MARKERS
        .iter()
        .filter_map(|m| lower.rfind(m).map(|p| (p, *m)))
        .max_by_key(|(p, m)| (*p, m.len()))
    {
        let after = &lower[pos + marker.len()..];
        let line = after
            .lines()
            .find(|l| !l.trim().trim_matches(['*', ':', ' ']).is_empty())
            .unwrap_or("");
        let v = judge_span(line);
        if v != Verdict::Undecided {
            return v;
        }
    }
    // 2. A leading yes/no (the plain question asks "Is there any defect?").
    let words = words_of(&lower);
    match words.first().map(String::as_str) {
        Some("yes") | Some("ja") | Some("oui") | Some("sí") | Some("si") => {
            return Verdict::Anomalous
        }
        Some("no") | Some("nein") | Some("non") => {
            // "No defects" and "No, …" both say normal; "No doubt, there is a crack" is rare.
            return Verdict::Normal;
        }
        _ => {}
    }
    for (zh, v) in [
        ("无缺陷", Verdict::Normal),
        ("没有缺陷", Verdict::Normal),
        ("有缺陷", Verdict::Anomalous),
        ("异常", Verdict::Anomalous),
        ("正常", Verdict::Normal),
    ] {
        if lower.contains(zh) {
            return v;
        }
    }
    // 3. The last clause that takes a side.
    judge_span(&lower)
}

/// The verdict of a span: its clauses from last to first, the first that takes a side.
fn judge_span(span: &str) -> Verdict {
    let mut clauses: Vec<String> = vec![String::new()];
    for ch in span.chars() {
        if matches!(ch, '.' | '!' | '?' | '\n' | ';') {
            clauses.push(String::new());
        } else if let Some(c) = clauses.last_mut() {
            c.push(ch);
        }
    }
    let clauses: Vec<String> = clauses
        .iter()
        .flat_map(|c| {
            let mut parts = vec![c.clone()];
            for sep in [" but ", " however", " whereas ", " except ", " although "] {
                parts = parts
                    .iter()
                    .flat_map(|p| p.split(sep).map(String::from).collect::<Vec<_>>())
                    .collect();
            }
            parts
        })
        .collect();
    for clause in clauses.iter().rev() {
        let v = judge_clause(clause);
        if v != Verdict::Undecided {
            return v;
        }
    }
    Verdict::Undecided
}

fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != 'é' && c != 'í')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// One clause: defect words not negated say anomalous; negated ones or normal phrases say
/// normal; both or neither say nothing.
fn judge_clause(clause: &str) -> Verdict {
    if HEDGES.iter().any(|h| clause.contains(h)) {
        return Verdict::Undecided;
    }
    let words = words_of(clause);
    let mut anomalous = 0;
    let mut normal = NORMAL_PHRASES
        .iter()
        .filter(|p| clause.contains(*p))
        .count();
    if words.len() <= 2 && words.iter().any(|w| NORMAL_WORDS.contains(&w.as_str())) {
        normal += 1;
    }
    for (i, w) in words.iter().enumerate() {
        // "anomalous" and "defective" are stems too; "defects: none" is a normal phrase.
        if !ANOMALY_STEMS.iter().any(|s| w.starts_with(s)) {
            continue;
        }
        let negated = words[i.saturating_sub(4)..i]
            .iter()
            .any(|n| NEGATORS.contains(&n.as_str()));
        if negated {
            normal += 1;
        } else {
            anomalous += 1;
        }
    }
    if clause.contains("none") && anomalous > 0 && clause.contains(':') {
        // "Defects: none", "missing parts: none".
        return Verdict::Normal;
    }
    match (anomalous > 0, normal > 0) {
        (true, false) => Verdict::Anomalous,
        (false, true) => Verdict::Normal,
        _ => Verdict::Undecided,
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict::{Anomalous as A, Normal as N, Undecided as U};
    use super::*;

    #[test]
    fn forty_real_shaped_outputs() {
        let cases: &[(&str, Verdict)] = &[
            ("Verdict: anomalous", A),
            ("Verdict: normal", N),
            ("VERDICT: Anomalous.", A),
            ("**Verdict:** normal", N),
            ("Step 1: The template shows four pushpins. Step 2: The test image lacks one. Step 3: This is a defect.\nVerdict: anomalous", A),
            ("Step 1: Two oranges and a banana. Step 2: The test image has a slightly different lighting. Step 3: These differences are normal variations.\nVerdict: normal", N),
            ("Yes, there is a defect: the cap is missing.", A),
            ("Yes.", A),
            ("No, there are no defects in this image.", N),
            ("No.", N),
            ("No defects are visible.", N),
            ("There is no defect in this image.", N),
            ("The image does not contain any defects.", N),
            ("The product appears normal.", N),
            ("Defect: none.", N),
            ("Defects: none", N),
            ("The screw bag contains an extra washer, which is a logical anomaly.", A),
            ("There is a scratch on the surface near the top-left corner.", A),
            ("The cable is broken in the middle.", A),
            ("Nothing is missing and all parts are in place.", N),
            ("The template has no defects, but the test image has a crack on the left.", A),
            ("Although the lighting differs, the object is intact.", N),
            ("Step 2: The test image shows a missing pushpin in row 2. Step 3: After comparison, this is just a shadow; the test image is normal.", N),
            ("Step 4: The test image contains a defect: the label is misplaced to the right.", A),
            ("Final answer: normal", N),
            ("Conclusion: the breakfast box is defective because the granola is missing.", A),
            ("The juice bottle label is misaligned.", A),
            ("I cannot determine whether there is a defect from this image.", U),
            ("The image shows a bottle on a table.", U),
            ("", U),
            ("Everything looks as expected.", N),
            ("The surface is free of scratches and dents.", N),
            ("Without any visible damage, the connector looks fine.", N),
            ("The pins are not bent and the housing isn't cracked.", N),
            ("Answer: Yes. The pushpin in the third compartment is absent.", A),
            ("Kein Defekt erkennbar.", N),
            ("Il y a un défaut sur le bouchon.", A),
            ("Aucun défaut visible.", N),
            ("El producto tiene un defecto en la etiqueta.", A),
            ("该图像无缺陷。", N),
            ("图像中存在异常：缺少一个螺丝。", A),
            ("The orange is in the wrong compartment.", A),
            ("All four splicing connectors are correctly placed; no anomalies were found.", N),
            ("Judgment: anomalous. Reason: the cable is torn.", A),
            ("Step 1: rules. Step 2: differences: the left side has a dent. Step 3: the dent violates rule 1. Step 4: The test image contains defects; the main anomaly is a dent on the left.", A),
        ];
        assert!(cases.len() >= 40);
        // Hostile input: long, odd characters, only punctuation.
        let long = "The part looks fine. ".repeat(5000) + "Verdict: anomalous";
        assert_eq!(parse_verdict(&long), A);
        assert_eq!(parse_verdict("\u{0}\u{fffd}🙂 ::: ;;; ..."), U);
        assert_eq!(parse_verdict("verdict:"), U);
        let mut wrong = Vec::new();
        for (text, want) in cases {
            let got = parse_verdict(text);
            if got != *want {
                wrong.push(format!("{text:?}: {got:?}, want {want:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}

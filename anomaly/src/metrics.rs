//! The paper's scores of a set of predictions: accuracy per anomaly type (Logical-Acc,
//! Struct-Acc, and Good-Acc = 1 − false-positive rate), their Average (mean of logical and
//! structural, as Table 1), balanced accuracy (mean of normal and anomalous accuracy, as MMAD
//! reports it), per category and overall. Undecided verdicts count as wrong. A type with no
//! images has no accuracy ("n/a"), never a division by zero.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::verdict::Verdict;
use crate::Label;

/// One judged image.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    pub category: String,
    pub label: Label,
    pub verdict: Verdict,
}

/// Correct out of total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    pub correct: usize,
    pub total: usize,
}

impl Count {
    /// The accuracy, or None when there is nothing to count.
    pub fn accuracy(&self) -> Option<f64> {
        (self.total > 0).then(|| self.correct as f64 / self.total as f64)
    }

    fn add(&mut self, correct: bool) {
        self.total += 1;
        self.correct += correct as usize;
    }
}

/// Accuracies of one group of images, with the confusion counts behind them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Scores {
    pub logical: Count,
    pub structural: Count,
    pub good: Count,
    /// Anomalies judged anomalous / normal / undecided.
    pub true_positives: usize,
    pub false_negatives: usize,
    pub undecided_anomalies: usize,
    /// Normal images judged anomalous / normal / undecided.
    pub false_positives: usize,
    pub true_negatives: usize,
    pub undecided_normals: usize,
}

impl Scores {
    pub fn of<'a>(items: impl IntoIterator<Item = &'a Judged>) -> Self {
        let mut s = Scores::default();
        for j in items {
            let anomalous = j.label.is_anomalous();
            let right = match j.verdict {
                Verdict::Anomalous => anomalous,
                Verdict::Normal => !anomalous,
                Verdict::Undecided => false,
            };
            match j.label {
                Label::Logical => s.logical.add(right),
                Label::Structural => s.structural.add(right),
                Label::Good => s.good.add(right),
            }
            match (anomalous, j.verdict) {
                (true, Verdict::Anomalous) => s.true_positives += 1,
                (true, Verdict::Normal) => s.false_negatives += 1,
                (true, Verdict::Undecided) => s.undecided_anomalies += 1,
                (false, Verdict::Anomalous) => s.false_positives += 1,
                (false, Verdict::Normal) => s.true_negatives += 1,
                (false, Verdict::Undecided) => s.undecided_normals += 1,
            }
        }
        s
    }

    /// The paper's Average: the mean of Logical-Acc and Struct-Acc (None unless both exist).
    pub fn average(&self) -> Option<f64> {
        Some((self.logical.accuracy()? + self.structural.accuracy()?) / 2.0)
    }

    /// Mean of the accuracy on normal images and on anomalous ones (None unless both exist).
    pub fn balanced(&self) -> Option<f64> {
        let anomalies = Count {
            correct: self.logical.correct + self.structural.correct,
            total: self.logical.total + self.structural.total,
        };
        Some((self.good.accuracy()? + anomalies.accuracy()?) / 2.0)
    }
}

/// Overall scores and scores per category.
pub fn score(items: &[Judged]) -> (Scores, BTreeMap<String, Scores>) {
    let mut by_category: BTreeMap<String, Vec<&Judged>> = BTreeMap::new();
    for j in items {
        by_category.entry(j.category.clone()).or_default().push(j);
    }
    let per = by_category
        .into_iter()
        .map(|(c, list)| (c, Scores::of(list)))
        .collect();
    (Scores::of(items), per)
}

/// A percentage with one decimal, or "n/a".
pub fn percent(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}", 100.0 * x))
        .unwrap_or_else(|| "n/a".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(category: &str, label: Label, verdict: Verdict) -> Judged {
        Judged {
            category: category.into(),
            label,
            verdict,
        }
    }

    #[test]
    fn hand_computed_tables() {
        use Label::*;
        use Verdict::*;
        let items = vec![
            // pushpins: 2 logical (1 right), 1 structural (right), 2 good (1 right, 1 undecided)
            j("pushpins", Logical, Anomalous),
            j("pushpins", Logical, Normal),
            j("pushpins", Structural, Anomalous),
            j("pushpins", Good, Normal),
            j("pushpins", Good, Undecided),
            // screw_bag: 1 logical (undecided), no structural, 1 good (false positive)
            j("screw_bag", Logical, Undecided),
            j("screw_bag", Good, Anomalous),
        ];
        let (all, per) = score(&items);
        assert_eq!(
            all.logical,
            Count {
                correct: 1,
                total: 3
            }
        );
        assert_eq!(
            all.structural,
            Count {
                correct: 1,
                total: 1
            }
        );
        assert_eq!(
            all.good,
            Count {
                correct: 1,
                total: 3
            }
        );
        // Average = (1/3 + 1) / 2; balanced = (1/3 + 2/4) / 2.
        assert!((all.average().unwrap() - (1.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        assert!((all.balanced().unwrap() - (1.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12);
        assert_eq!(
            (
                all.true_positives,
                all.false_negatives,
                all.undecided_anomalies
            ),
            (2, 1, 1)
        );
        assert_eq!(
            (
                all.false_positives,
                all.true_negatives,
                all.undecided_normals
            ),
            (1, 1, 1)
        );
        let pins = &per["pushpins"];
        assert_eq!(percent(pins.logical.accuracy()), "50.0");
        assert_eq!(percent(pins.good.accuracy()), "50.0");
        // No structural anomalies in screw_bag: n/a, and so is its Average.
        let bag = &per["screw_bag"];
        assert_eq!(bag.structural.accuracy(), None);
        assert_eq!(percent(bag.structural.accuracy()), "n/a");
        assert_eq!(bag.average(), None);
        assert_eq!(percent(bag.good.accuracy()), "0.0");
        let (empty, per) = score(&[]);
        assert_eq!((empty.balanced(), per.len()), (None, 0));
    }
}

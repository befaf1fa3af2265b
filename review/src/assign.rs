//! Which items of a run need a second, blind judgement, and the order a review queue offers
//! them in. Both are seeded and depend only on the item, so every reviewer, every restart and
//! every re-read of the queue agree without storing a plan.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ReviewError;

/// The order a queue offers unreviewed items in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueOrder {
    /// Predictions whose verdict disagrees with the label first (then seeded random): the
    /// errors are what a reviewer learns most from.
    #[default]
    WrongFirst,
    /// Undecided verdicts first, then wrong ones, then the rest: the model's own uncertainty
    /// as far as its text shows it (our models give no probability with a verdict).
    UncertainFirst,
    /// Seeded random.
    Random,
}

impl QueueOrder {
    /// Every order, as offered.
    pub const ALL: [QueueOrder; 3] = [
        QueueOrder::WrongFirst,
        QueueOrder::UncertainFirst,
        QueueOrder::Random,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueOrder::WrongFirst => "wrong_first",
            QueueOrder::UncertainFirst => "uncertain_first",
            QueueOrder::Random => "random",
        }
    }
}

impl FromStr for QueueOrder {
    type Err = ReviewError;
    fn from_str(s: &str) -> Result<Self, ReviewError> {
        QueueOrder::ALL
            .into_iter()
            .find(|o| o.as_str() == s.trim())
            .ok_or_else(|| ReviewError::Unknown {
                what: "queue order",
                value: s.trim().to_string(),
                expected: "wrong_first, uncertain_first, random".into(),
            })
    }
}

impl fmt::Display for QueueOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run's queue is reviewed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuePlan {
    /// Judgements every item needs, 1 to [`QueuePlan::MAX_JUDGEMENTS`].
    pub judgements: u32,
    /// Share of items (0 to 1) that get one more, blind judgement, for agreement figures.
    pub overlap: f64,
    pub order: QueueOrder,
    pub seed: u64,
}

impl Default for QueuePlan {
    fn default() -> Self {
        QueuePlan {
            judgements: 1,
            overlap: 0.2,
            order: QueueOrder::WrongFirst,
            seed: 0,
        }
    }
}

/// Where a prediction stands, as far as the queue order needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Correct,
    Wrong,
    Undecided,
}

impl QueuePlan {
    /// More judgements per item than a team would ever ask for.
    pub const MAX_JUDGEMENTS: u32 = 5;

    /// Checks the numbers a form or a command line gave.
    pub fn validated(self) -> Result<QueuePlan, String> {
        if !(1..=Self::MAX_JUDGEMENTS).contains(&self.judgements) {
            return Err(format!(
                "judgements per item is {}; it must be 1 to {}",
                self.judgements,
                Self::MAX_JUDGEMENTS
            ));
        }
        if !(0.0..=1.0).contains(&self.overlap) {
            return Err(format!(
                "the blind-overlap share is {}; it must be 0 to 1 (0.2 is one item in five)",
                self.overlap
            ));
        }
        Ok(self)
    }

    /// Judgements item (`image`, `prompt`) needs: the plan's number, one more for the seeded
    /// overlap share.
    pub fn required(&self, image: i64, prompt: &str) -> u32 {
        // Compared on 53 bits so that overlap 1.0 takes every item and 0.0 none.
        let u = (self.hash(b"overlap", image, prompt) >> 11) as f64 / (1u64 << 53) as f64;
        self.judgements + u32::from(u < self.overlap)
    }

    /// Sort key of an item in the queue: smaller first.
    pub fn order_key(&self, image: i64, prompt: &str, outcome: Outcome) -> (u8, u64) {
        let rank = match (self.order, outcome) {
            (QueueOrder::Random, _) => 0,
            (QueueOrder::WrongFirst, Outcome::Wrong | Outcome::Undecided) => 0,
            (QueueOrder::WrongFirst, Outcome::Correct) => 1,
            (QueueOrder::UncertainFirst, Outcome::Undecided) => 0,
            (QueueOrder::UncertainFirst, Outcome::Wrong) => 1,
            (QueueOrder::UncertainFirst, Outcome::Correct) => 2,
        };
        (rank, self.hash(b"order", image, prompt))
    }

    fn hash(&self, purpose: &[u8], image: i64, prompt: &str) -> u64 {
        let mut h = Sha256::new();
        h.update(purpose);
        h.update(self.seed.to_le_bytes());
        h.update(image.to_le_bytes());
        h.update(prompt.as_bytes());
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        u64::from_le_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(overlap: f64) -> QueuePlan {
        QueuePlan {
            overlap,
            seed: 7,
            ..QueuePlan::default()
        }
    }

    #[test]
    fn overlap_takes_about_its_share_and_the_same_items_every_time() {
        let p = plan(0.2);
        let doubled: Vec<i64> = (0..10_000).filter(|&i| p.required(i, "P1") == 2).collect();
        assert!((1_850..2_150).contains(&doubled.len()), "{}", doubled.len());
        let again: Vec<i64> = (0..10_000).filter(|&i| p.required(i, "P1") == 2).collect();
        assert_eq!(doubled, again);
        // Another prompt or seed picks other items.
        let other: Vec<i64> = (0..10_000).filter(|&i| p.required(i, "P2") == 2).collect();
        assert_ne!(doubled, other);
        assert!((0..1000).all(|i| plan(0.0).required(i, "x") == 1));
        assert!((0..1000).all(|i| plan(1.0).required(i, "x") == 2));
        let three = QueuePlan {
            judgements: 3,
            ..plan(0.0)
        };
        assert_eq!(three.required(1, "x"), 3);
    }

    #[test]
    fn wrong_first_puts_errors_ahead_and_uncertain_first_undecided_ones() {
        let p = plan(0.2);
        let mut items: Vec<(i64, Outcome)> = (0..30)
            .map(|i| {
                let o = match i % 3 {
                    0 => Outcome::Correct,
                    1 => Outcome::Wrong,
                    _ => Outcome::Undecided,
                };
                (i, o)
            })
            .collect();
        items.sort_by_key(|&(i, o)| p.order_key(i, "P1", o));
        assert!(items[..20].iter().all(|(_, o)| *o != Outcome::Correct));
        let u = QueuePlan {
            order: QueueOrder::UncertainFirst,
            ..p
        };
        items.sort_by_key(|&(i, o)| u.order_key(i, "P1", o));
        assert!(items[..10].iter().all(|(_, o)| *o == Outcome::Undecided));
        assert!(items[10..20].iter().all(|(_, o)| *o == Outcome::Wrong));
        let r = QueuePlan {
            order: QueueOrder::Random,
            ..p
        };
        items.sort_by_key(|&(i, o)| r.order_key(i, "P1", o));
        assert!(
            items[..10].iter().any(|(_, o)| *o == Outcome::Correct),
            "random mixes outcomes"
        );
    }

    #[test]
    fn bad_plans_are_refused_with_the_range() {
        let e = QueuePlan {
            judgements: 0,
            ..plan(0.2)
        }
        .validated()
        .unwrap_err();
        assert!(e.contains("1 to 5"), "{e}");
        assert!(plan(1.5).validated().unwrap_err().contains("0 to 1"));
        assert!(plan(f64::NAN).validated().is_err());
        assert_eq!("random".parse::<QueueOrder>(), Ok(QueueOrder::Random));
        assert!("newest".parse::<QueueOrder>().is_err());
    }
}

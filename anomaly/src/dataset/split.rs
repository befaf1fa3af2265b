//! The paper's split protocol: train = every normal training image + a seeded random fraction
//! of the test split's anomalies (stratified by category and anomaly type); test = the rest
//! of the test split. Validation images belong to neither side.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use super::{DatasetError, SourceSplit};
use crate::rng::{name_hash, Rng};
use crate::Label;

/// Which side of a split an image is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Train,
    Test,
}

/// The minimum an image must tell the split: a stable key and where it came from.
#[derive(Clone, Debug)]
pub struct SplitItem {
    /// A stable key, e.g. the image's path in the dataset.
    pub key: String,
    pub category: String,
    pub split: SourceSplit,
    pub label: Label,
}

/// A computed split: the side of each item (None: validation, in neither side).
#[derive(Clone, Debug, PartialEq)]
pub struct SplitPlan {
    /// `split-<seed>-<fraction>-<hash>`: the same seed, fraction and images give the same id.
    pub id: String,
    pub seed: u64,
    pub fraction: f64,
    /// Parallel to the input items.
    pub sides: Vec<Option<Side>>,
}

/// Computes the split. The anomalies moved to training in each (category, label) stratum are
/// `round(fraction × n)`, chosen by a seeded shuffle of the stratum sorted by key.
pub fn plan(items: &[SplitItem], seed: u64, fraction: f64) -> Result<SplitPlan, DatasetError> {
    if !(0.0..=1.0).contains(&fraction) || !fraction.is_finite() {
        return Err(DatasetError::Invalid(format!(
            "fraction must be between 0 and 1, got {fraction}"
        )));
    }
    let mut sides: Vec<Option<Side>> = items
        .iter()
        .map(|it| match (it.split, it.label) {
            (SourceSplit::Train, _) => Some(Side::Train),
            (SourceSplit::Validation, _) => None,
            (SourceSplit::Test, _) => Some(Side::Test),
        })
        .collect();
    let mut strata: BTreeMap<(&str, Label), Vec<usize>> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        if it.split == SourceSplit::Test && it.label.is_anomalous() {
            strata
                .entry((it.category.as_str(), it.label))
                .or_default()
                .push(i);
        }
    }
    for ((category, label), mut members) in strata {
        members.sort_by(|&a, &b| items[a].key.cmp(&items[b].key));
        let mut rng = Rng::derive(seed, &[name_hash(category), label as u64]);
        rng.shuffle(&mut members);
        let take = (fraction * members.len() as f64).round() as usize;
        for &i in &members[..take] {
            sides[i] = Some(Side::Train);
        }
    }
    let mut hasher = Sha256::new();
    let mut keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    keys.sort_unstable();
    for k in keys {
        hasher.update(k.as_bytes());
        hasher.update([0]);
    }
    let digest = hex::encode(hasher.finalize());
    let id = format!("split-{seed}-{fraction}-{}", &digest[..8]);
    Ok(SplitPlan {
        id,
        seed,
        fraction,
        sides,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<SplitItem> {
        let mut v = Vec::new();
        for cat in ["a", "b"] {
            for (split, label, n) in [
                (SourceSplit::Train, Label::Good, 30),
                (SourceSplit::Validation, Label::Good, 5),
                (SourceSplit::Test, Label::Good, 20),
                (SourceSplit::Test, Label::Logical, 40),
                (SourceSplit::Test, Label::Structural, 25),
            ] {
                for i in 0..n {
                    v.push(SplitItem {
                        key: format!("{cat}/{split}/{label}/{i:03}"),
                        category: cat.into(),
                        split,
                        label,
                    });
                }
            }
        }
        v
    }

    #[test]
    fn fraction_stratification_and_sides() {
        let items = items();
        let p = plan(&items, 42, 0.1).unwrap();
        for cat in ["a", "b"] {
            for (label, expect) in [(Label::Logical, 4), (Label::Structural, 3)] {
                let moved = items
                    .iter()
                    .zip(&p.sides)
                    .filter(|(it, s)| {
                        it.category == cat && it.label == label && **s == Some(Side::Train)
                    })
                    .count();
                assert_eq!(moved, expect, "{cat} {label}");
            }
        }
        for (it, side) in items.iter().zip(&p.sides) {
            match (it.split, it.label) {
                (SourceSplit::Train, _) => assert_eq!(*side, Some(Side::Train)),
                (SourceSplit::Validation, _) => assert_eq!(*side, None),
                (SourceSplit::Test, Label::Good) => assert_eq!(*side, Some(Side::Test)),
                _ => assert!(side.is_some()),
            }
        }
    }

    #[test]
    fn deterministic_seed_dependent_and_order_independent() {
        let items = items();
        let a = plan(&items, 7, 0.1).unwrap();
        assert_eq!(a, plan(&items, 7, 0.1).unwrap());
        let b = plan(&items, 8, 0.1).unwrap();
        assert_ne!(a.sides, b.sides);
        assert_ne!(a.id, b.id);
        let mut reversed = items.clone();
        reversed.reverse();
        let r = plan(&reversed, 7, 0.1).unwrap();
        let mut back = r.sides.clone();
        back.reverse();
        assert_eq!(back, a.sides, "the split does not depend on input order");
        assert_eq!(r.id, a.id);
    }

    #[test]
    fn disjoint_and_bounded() {
        let items = items();
        assert!(plan(&items, 1, 1.5).is_err());
        assert!(plan(&items, 1, -0.1).is_err());
        let none = plan(&items, 1, 0.0).unwrap();
        assert!(items
            .iter()
            .zip(&none.sides)
            .all(|(it, s)| it.split != SourceSplit::Test || *s == Some(Side::Test)));
        let all = plan(&items, 1, 1.0).unwrap();
        let test_anomalies = items
            .iter()
            .zip(&all.sides)
            .filter(|(it, s)| it.label.is_anomalous() && **s == Some(Side::Test))
            .count();
        assert_eq!(test_anomalies, 0);
    }
}

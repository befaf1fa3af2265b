//! Ground-truth labels of an inspected image.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What an image really shows (MVTec LOCO's three test folders).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// A normal product.
    Good,
    /// A rule is broken: missing, extra, misplaced or mismatched parts.
    Logical,
    /// The appearance is damaged: scratches, cracks, contamination, bent parts.
    Structural,
}

impl Label {
    /// Every label, in table order.
    pub const ALL: [Label; 3] = [Label::Good, Label::Logical, Label::Structural];

    /// True for logical and structural anomalies.
    pub fn is_anomalous(self) -> bool {
        self != Label::Good
    }

    /// The name used in folders, files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Good => "good",
            Label::Logical => "logical",
            Label::Structural => "structural",
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A label name that is not good, logical or structural.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown label {0:?} (expected good, logical or structural)")]
pub struct UnknownLabel(pub String);

impl FromStr for Label {
    type Err = UnknownLabel;
    /// Accepts the short names and MVTec LOCO's folder names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "good" | "normal" => Ok(Label::Good),
            "logical" | "logical_anomalies" => Ok(Label::Logical),
            "structural" | "structural_anomalies" => Ok(Label::Structural),
            _ => Err(UnknownLabel(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_loco_names() {
        assert_eq!("logical_anomalies".parse(), Ok(Label::Logical));
        assert_eq!("Structural".parse(), Ok(Label::Structural));
        assert_eq!("good".parse(), Ok(Label::Good));
        assert!("broken".parse::<Label>().is_err());
        for l in Label::ALL {
            assert_eq!(l.as_str().parse(), Ok(l));
        }
        assert!(!Label::Good.is_anomalous() && Label::Logical.is_anomalous());
    }
}

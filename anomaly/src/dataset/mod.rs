//! Datasets: the MVTec LOCO AD folder layout and a generic one, QA annotations, the split
//! protocol, and the checks an import runs. Described for users in `docs/datasets.md`.

pub mod check;
pub mod layout;
pub mod qa;
pub mod split;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::Label;

/// MVTec LOCO AD's five product categories.
pub const LOCO_CATEGORIES: [&str; 5] = [
    "breakfast_box",
    "juice_bottle",
    "pushpins",
    "screw_bag",
    "splicing_connectors",
];

/// Which part of the source dataset an image comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceSplit {
    Train,
    Validation,
    Test,
}

impl SourceSplit {
    /// The folder name.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceSplit::Train => "train",
            SourceSplit::Validation => "validation",
            SourceSplit::Test => "test",
        }
    }
}

impl fmt::Display for SourceSplit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceSplit {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(SourceSplit::Train),
            "validation" => Ok(SourceSplit::Validation),
            "test" => Ok(SourceSplit::Test),
            other => Err(DatasetError::Invalid(format!(
                "unknown split {other:?} (train, validation or test)"
            ))),
        }
    }
}

/// One image found in a dataset folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageEntry {
    pub category: String,
    pub split: SourceSplit,
    pub label: Label,
    /// Path relative to the dataset root, with '/' separators (the image's reference in QA files).
    pub rel_path: String,
    /// Ground-truth masks relative to the root (several per image in LOCO; combined on import).
    pub masks: Vec<String>,
}

/// What a dataset folder holds.
#[derive(Clone, Debug)]
pub struct DatasetScan {
    pub root: PathBuf,
    /// "loco" or "folder".
    pub layout: &'static str,
    pub images: Vec<ImageEntry>,
}

/// Every way reading a dataset can fail; each names the file (and line) at fault.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("missing folder {0}")]
    MissingFolder(PathBuf),
    #[error("unknown category {name:?} in {root}: expected one of {expected}")]
    UnknownCategory {
        name: String,
        root: PathBuf,
        expected: String,
    },
    #[error("{path}: not a readable image: {reason}")]
    BadImage { path: PathBuf, reason: String },
    #[error("{mask}: mask is {mask_size:?} but its image {image} is {image_size:?}")]
    MaskSize {
        mask: PathBuf,
        image: PathBuf,
        mask_size: (u32, u32),
        image_size: (u32, u32),
    },
    #[error("{a} and {b} are the same image (duplicate content)")]
    Duplicate { a: String, b: String },
    #[error("{file}, line {line}: {reason}")]
    QaLine {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>, e: impl fmt::Display) -> Self {
        DatasetError::Io {
            path: path.into(),
            reason: e.to_string(),
        }
    }
}

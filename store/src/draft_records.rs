//! Records of QA drafting, shared by the server and the browser: a model drafts an image's QA
//! answer, and people accept, edit or reject the draft, or write their own answer instead.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest answer a person may write (the `qa_drafts.answer` limit).
pub const MAX_DRAFT_ANSWER: usize = 4000;
/// Longest reason for a rejection.
pub const MAX_DRAFT_REASON: usize = 2000;

/// Where a draft stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftStatus {
    /// Nobody has decided yet.
    Pending,
    /// Taken as the model wrote it.
    Accepted,
    /// Taken with a person's corrections.
    Edited,
    /// Not taken; the reason is kept.
    Rejected,
    /// Replaced by an answer a person wrote.
    Manual,
}

impl DraftStatus {
    pub const ALL: [DraftStatus; 5] = [
        DraftStatus::Pending,
        DraftStatus::Accepted,
        DraftStatus::Edited,
        DraftStatus::Rejected,
        DraftStatus::Manual,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DraftStatus::Pending => "pending",
            DraftStatus::Accepted => "accepted",
            DraftStatus::Edited => "edited",
            DraftStatus::Rejected => "rejected",
            DraftStatus::Manual => "manual",
        }
    }
}

impl fmt::Display for DraftStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DraftStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DraftStatus::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown draft status {s:?}"))
    }
}

/// What a person decides about a draft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum DraftDecision {
    /// The draft becomes the image's annotation as written.
    Accept,
    /// A corrected draft becomes the annotation.
    Edit { answer: String },
    /// Not taken, for this reason.
    Reject { reason: String },
    /// The person's own answer becomes the annotation instead (source `manual`).
    Manual { answer: String },
}

impl DraftDecision {
    /// The status it gives the draft.
    pub fn status(&self) -> DraftStatus {
        match self {
            DraftDecision::Accept => DraftStatus::Accepted,
            DraftDecision::Edit { .. } => DraftStatus::Edited,
            DraftDecision::Reject { .. } => DraftStatus::Rejected,
            DraftDecision::Manual { .. } => DraftStatus::Manual,
        }
    }

    /// The decision with its text trimmed, or why it cannot be taken: an empty or overlong
    /// answer or reason.
    pub fn normalized(self) -> Result<DraftDecision, String> {
        let text = |what: &str, t: String, max: usize| {
            let t = t.trim().to_string();
            if t.is_empty() {
                Err(format!("{what}: write something"))
            } else if t.chars().count() > max {
                Err(format!(
                    "{what}: at most {max} characters ({} given)",
                    t.chars().count()
                ))
            } else {
                Ok(t)
            }
        };
        Ok(match self {
            DraftDecision::Accept => DraftDecision::Accept,
            DraftDecision::Edit { answer } => DraftDecision::Edit {
                answer: text("answer", answer, MAX_DRAFT_ANSWER)?,
            },
            DraftDecision::Reject { reason } => DraftDecision::Reject {
                reason: text("reason", reason, MAX_DRAFT_REASON)?,
            },
            DraftDecision::Manual { answer } => DraftDecision::Manual {
                answer: text("answer", answer, MAX_DRAFT_ANSWER)?,
            },
        })
    }
}

/// One draft with its image and what was decided, as the drafts screen shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DraftInfo {
    pub id: i64,
    pub job_id: i64,
    pub image_id: i64,
    pub rel_path: String,
    pub category: String,
    /// The dataset's label: good, logical or structural.
    pub label: String,
    pub has_mask: bool,
    pub question: String,
    /// The model's answer, and its raw reply.
    pub draft: String,
    pub raw: String,
    /// What the model was asked.
    pub prompt: String,
    pub status: DraftStatus,
    /// What became the annotation (accepted, edited, manual).
    pub answer: Option<String>,
    pub reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    /// Bumped by every decision; a decision names the version it was made from.
    pub version: i64,
    /// The QA annotation it became.
    pub qa_id: Option<i64>,
}

/// How far a drafting job's drafts have been decided.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftProgress {
    pub total: i64,
    pub pending: i64,
    pub accepted: i64,
    pub edited: i64,
    pub rejected: i64,
    pub manual: i64,
}

/// A dataset's QA annotations by source, and how many generated ones a person verified.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaSourceCounts {
    pub images: i64,
    /// Images with at least one annotation.
    pub annotated_images: i64,
    pub manual: i64,
    pub generated_verified: i64,
    /// Generated annotations with a named verifier (from a review fix or a draft).
    pub verified_by_person: i64,
    /// Drafts waiting for a decision.
    pub pending_drafts: i64,
}

impl QaSourceCounts {
    /// The share of generated annotations that a named person verified; None without any.
    pub fn verified_fraction(&self) -> Option<f64> {
        (self.generated_verified > 0)
            .then(|| self.verified_by_person as f64 / self.generated_verified as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_decisions_are_checked() {
        for s in DraftStatus::ALL {
            assert_eq!(s.as_str().parse::<DraftStatus>(), Ok(s));
        }
        assert!("maybe".parse::<DraftStatus>().is_err());
        assert_eq!(
            DraftDecision::Edit {
                answer: "  A pin is missing.  ".into()
            }
            .normalized(),
            Ok(DraftDecision::Edit {
                answer: "A pin is missing.".into()
            })
        );
        let e = DraftDecision::Reject { reason: " ".into() }
            .normalized()
            .unwrap_err();
        assert!(e.contains("reason"), "{e}");
        let e = DraftDecision::Manual {
            answer: "x".repeat(MAX_DRAFT_ANSWER + 1),
        }
        .normalized()
        .unwrap_err();
        assert!(e.contains("at most 4000"), "{e}");
        let json = serde_json::to_string(&DraftDecision::Reject {
            reason: "wrong defect".into(),
        })
        .unwrap();
        assert_eq!(json, r#"{"action":"reject","reason":"wrong defect"}"#);
    }

    #[test]
    fn the_verified_fraction_is_of_generated_annotations() {
        let mut c = QaSourceCounts::default();
        assert_eq!(c.verified_fraction(), None);
        c.generated_verified = 4;
        c.verified_by_person = 1;
        assert_eq!(c.verified_fraction(), Some(0.25));
    }
}

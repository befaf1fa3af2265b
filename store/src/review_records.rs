//! Records of the review workflow, shared by the server and the browser.

use review::{Judgement, QueuePlan};
use serde::{Deserialize, Serialize};

/// One prediction of a run, as a review queue names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemKey {
    pub image_id: i64,
    pub prompt: String,
}

/// How a run is reviewed and by whom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewSettings {
    pub plan: QueuePlan,
    /// Every reviewer may review, besides those named.
    pub open_to_all: bool,
    /// Reviewers the queue is shared with, by name.
    pub shared_with: Vec<String>,
}

/// A stored judgement with its author and times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgementInfo {
    pub id: i64,
    pub reviewer: String,
    pub judgement: Judgement,
    /// Bumped by every edit; an edit names the version it started from.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An inspection's judgements as one caller may see them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InspectionReview {
    /// How many judgements it has in all.
    pub judgements: usize,
    pub mine: Option<JudgementInfo>,
    /// Others' judgements: empty for a reviewer until theirs is in.
    pub others: Vec<JudgementInfo>,
}

/// An inspection shared with the caller, as the review list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedInspection {
    pub job_id: i64,
    pub owner: String,
    /// Whether the caller has judged it.
    pub judged: bool,
}

/// Everything the review screen shows of one item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    pub job_id: i64,
    pub key: ItemKey,
    pub rel_path: String,
    pub category: String,
    /// The dataset's label: good, logical or structural.
    pub label: String,
    pub has_mask: bool,
    pub template_id: Option<i64>,
    pub model: String,
    pub verdict: String,
    pub explanation: String,
    pub raw: String,
    pub bert_f1: Option<f64>,
    /// The image's QA answers.
    pub references: Vec<String>,
    /// Judgements this item needs, and has.
    pub required: u32,
    pub judged: u32,
    pub mine: Option<JudgementInfo>,
    /// Others' judgements: empty until the caller's own is in (blind overlap).
    pub others: Vec<JudgementInfo>,
}

/// How far a run's review has come.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReviewProgress {
    pub items: usize,
    /// Judgements all items need together, and those given.
    pub needed: usize,
    pub given: usize,
    /// Items with all the judgements they need.
    pub complete: usize,
    /// Judgements per reviewer, by name.
    pub per_reviewer: Vec<(String, usize)>,
    /// Items the caller could still judge.
    pub left_for_me: usize,
}

/// One judgement as exported (`/api/reviews/RUN.csv|json`, `vlm-inspect review export`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct JudgementRow {
    pub judgement_id: i64,
    pub job_id: i64,
    pub image_id: i64,
    pub rel_path: String,
    pub category: String,
    pub label: String,
    pub prompt: String,
    pub model_verdict: String,
    pub model_explanation: String,
    pub bert_f1: Option<f64>,
    pub reviewer: String,
    pub verdict: String,
    pub explanation: String,
    pub score: i64,
    pub tags: String,
    pub comment: String,
    pub fixed_explanation: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A reviewer's word that an image's label is wrong, for the dataset's admins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct LabelFlag {
    pub judgement_id: i64,
    pub job_id: i64,
    pub image_id: i64,
    pub rel_path: String,
    pub label: String,
    pub reviewer: String,
    pub comment: String,
    pub at: i64,
}

/// A corrected explanation an admin may promote to a QA annotation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct FixInfo {
    pub judgement_id: i64,
    pub job_id: i64,
    pub image_id: i64,
    pub rel_path: String,
    pub prompt: String,
    pub reviewer: String,
    pub original: String,
    pub fixed: String,
    pub at: i64,
    /// The QA annotation it became, once promoted.
    pub qa_id: Option<i64>,
}

//! Plain records that cross the server/browser boundary.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a signed-in user may do. Checked by [`crate::authorize`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages users, datasets and training runs; can do everything a member can.
    Admin,
    /// Inspects images and runs evaluations.
    Member,
    /// Reads and reviews explanations.
    Reviewer,
}

impl Role {
    /// Every role, in the order the UI lists them.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Member, Role::Reviewer];

    /// The name stored in the database and shown in the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Reviewer => "reviewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of admin, member, reviewer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected admin, member or reviewer)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "reviewer" => Ok(Role::Reviewer),
            _ => Err(UnknownRole(s.to_string())),
        }
    }
}

/// A user account as the UI and the CLI see it (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

pub use crate::job_protocol::*;

/// A background job (import, training, evaluation, inspection) as the pages list it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    pub id: i64,
    pub kind: JobKind,
    pub state: JobState,
    /// 0.0 ..= 1.0
    pub progress: f64,
    /// The username, or "(system)", "(command line)", "(deleted user)".
    pub owner: String,
    /// Unix seconds.
    pub created_at: i64,
    pub error: Option<String>,
    /// How many times a runner has taken it.
    pub attempts: u32,
}

/// An API token (its secret is shown once, when created).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: i64,
    pub user: String,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A model the server can run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// Files on the server; for a remote model, its base URL.
    pub path: String,
    /// Set for a model served by an OpenAI-compatible server.
    #[serde(default)]
    pub remote: Option<RemoteSpec>,
}

/// A remote model's settings. The API key is not among them: only where it comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteSpec {
    /// Up to the API version: `https://api.openai.com/v1`, `http://gpu-box:8000/v1`.
    pub base_url: String,
    /// The server's name for the model (`gpt-4o`).
    pub remote_model: String,
    pub api_key: KeySource,
    /// Requests in flight at once (default 4).
    pub max_concurrency: usize,
    /// Images are downscaled so their longer side is at most this many pixels.
    #[serde(default)]
    pub max_image_side: Option<u32>,
    #[serde(default)]
    pub detail: Option<DetailLevel>,
    /// US dollars per million prompt tokens.
    #[serde(default)]
    pub price_in: Option<f64>,
    /// US dollars per million completion tokens.
    #[serde(default)]
    pub price_out: Option<f64>,
    /// Seconds to wait for the first token (default 120).
    #[serde(default)]
    pub first_token_timeout_s: Option<f64>,
}

/// Where a remote model's API key comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "lowercase")]
pub enum KeySource {
    /// The server needs none (a local vLLM or Ollama).
    None,
    /// An environment variable of the server.
    Env { var: String },
    /// A key entered in the UI, kept in a file under the data folder readable by the
    /// server's user only.
    File,
}

/// OpenAI's `image_url.detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetailLevel {
    Auto,
    Low,
    High,
}

impl DetailLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            DetailLevel::Auto => "auto",
            DetailLevel::Low => "low",
            DetailLevel::High => "high",
        }
    }
}

impl FromStr for DetailLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DetailLevel::Auto),
            "low" => Ok(DetailLevel::Low),
            "high" => Ok(DetailLevel::High),
            other => Err(format!("detail {other:?}: one of auto, low, high")),
        }
    }
}

/// Who answered a remote request and how fast.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedBy {
    pub first_token_ms: Option<i64>,
    /// The provider's model id (`gpt-4o-2024-08-06`).
    pub model: Option<String>,
    /// The provider's `system_fingerprint`.
    pub fingerprint: Option<String>,
}

/// A dataset the server has imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub id: i64,
    pub name: String,
    pub layout: String,
    pub image_count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!(" Admin ".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
    }
}

/// Counts of one (category, split, label) cell of a dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountRow {
    pub category: String,
    pub split: String,
    pub label: String,
    pub images: i64,
}

/// What `dataset stats` and the dataset page show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetStats {
    pub dataset: DatasetInfo,
    pub counts: Vec<CountRow>,
    /// (source, number of QA annotations)
    pub qa_by_source: Vec<(String, i64)>,
    /// The annotations by source, how many a named person verified, and pending drafts.
    pub qa: crate::draft_records::QaSourceCounts,
    pub splits: Vec<SplitInfo>,
}

/// A stored split of a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    pub key: String,
    pub seed: i64,
    pub fraction: f64,
    pub train_images: i64,
    pub test_images: i64,
    /// Anomalies moved to the training side.
    pub train_anomalies: i64,
}

/// Which images the browser lists; empty strings mean "any".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFilter {
    pub category: String,
    pub split: String,
    pub label: String,
    /// Only images with at least one QA of this source.
    pub qa_source: String,
}

/// One tile of the thumbnail grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    pub id: i64,
    pub category: String,
    pub split: String,
    pub label: String,
    pub rel_path: String,
}

/// A page of the browser's grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePage {
    pub images: Vec<ImageSummary>,
    /// Images matching the filter, over all pages.
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// An image of a split with what dense supervision needs: its mask and defect kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitImage {
    pub image_id: i64,
    /// The image file, relative to the data folder.
    pub file: std::path::PathBuf,
    /// Its defect mask, relative to the data folder (None for normal images and anomalies
    /// imported without one).
    pub mask: Option<std::path::PathBuf>,
    pub category: String,
    pub label: String,
    /// The defect's name from its QA annotations (e.g. "missing pin"), when they give one.
    pub anomaly: Option<String>,
    pub sha256: String,
}

/// A QA annotation of an image in a split (training data for Part A).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitQa {
    pub image_id: i64,
    /// The image file, relative to the data folder.
    pub file: std::path::PathBuf,
    pub category: String,
    pub label: String,
    pub question: String,
    pub answer: String,
}

/// A QA annotation as shown on the image page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QaInfo {
    pub id: i64,
    pub question: String,
    pub answer: String,
    pub source: String,
    pub anomaly: Option<String>,
}

/// Everything the image page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageDetail {
    pub summary: ImageSummary,
    pub dataset: String,
    pub width: i64,
    pub height: i64,
    pub has_mask: bool,
    pub sha256: String,
    pub qa: Vec<QaInfo>,
}

/// A prompt a user wrote (the built-in ones are not stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptInfo {
    pub id: i64,
    pub name: String,
    pub text: String,
    pub chain_of_image: bool,
    pub author: String,
    pub created_at: i64,
}

/// An image an evaluation judges, or a template it may use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalImage {
    pub image_id: i64,
    /// The image file, relative to the data folder.
    pub file: std::path::PathBuf,
    pub category: String,
    pub label: String,
    pub rel_path: String,
}

/// One stored prediction of an evaluation job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictionRecord {
    pub image_id: i64,
    pub rel_path: String,
    pub category: String,
    pub label: String,
    pub prompt: String,
    pub template_id: Option<i64>,
    pub verdict: String,
    pub explanation: String,
    pub raw: String,
    pub prompt_tokens: i64,
    pub new_tokens: i64,
    pub latency_ms: i64,
    /// Set for a remote model's replies.
    pub served: Option<ServedBy>,
    pub bert_p: Option<f64>,
    pub bert_r: Option<f64>,
    pub bert_f1: Option<f64>,
    /// For a correctly detected anomaly whose QA annotations give a defect name or a region:
    /// whether the explanation names the defect and where it places it. Recomputed by
    /// `Store::eval_report` from the annotations, never stored.
    #[serde(default)]
    pub check: Option<ExplanationCheck>,
}

/// An explanation against its image's annotated defect (`anomaly::naming`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplanationCheck {
    /// None: the annotations name no defect.
    pub names_defect: Option<bool>,
    /// None: the annotations have no region.
    pub location: Option<LocationCheck>,
}

/// How an explanation's location words compare with the annotated region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationCheck {
    Agrees,
    Disagrees,
    NoLocationWords,
}

impl LocationCheck {
    /// As the per-image browser words it.
    pub fn describe(self) -> &'static str {
        match self {
            LocationCheck::Agrees => "agrees",
            LocationCheck::Disagrees => "disagrees",
            LocationCheck::NoLocationWords => "none",
        }
    }
}

/// An uploaded image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadInfo {
    pub id: i64,
    /// Relative to the data folder.
    pub file: String,
    pub original_name: String,
    pub width: i64,
    pub height: i64,
    pub owner: String,
}

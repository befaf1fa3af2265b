//! The jobs protocol: what kind a job is, what state it is in, the events it reports and the
//! results it stores. The server writes these, the CLI prints them and the browser reads them,
//! all through these types (re-exported by [`crate::records`]; compiles for the browser).

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// A dataset import (config [`ImportJob`]).
    Import,
    /// A Part A training run (config: `anomaly::finetune::FinetuneConfig`).
    Train,
    /// An evaluation run (config: `anomaly::evaluation::EvalConfig`).
    Eval,
    /// One Inspect-page request (config: `anomaly::evaluation::InspectConfig`).
    Inspect,
    /// A model drafts QA annotations for a dataset's images (config:
    /// `anomaly::qa_draft::DraftConfig`), for people to decide on.
    #[serde(rename = "draft_qa")]
    DraftQa,
}

impl JobKind {
    pub const ALL: [JobKind; 5] = [
        JobKind::Import,
        JobKind::Train,
        JobKind::Eval,
        JobKind::Inspect,
        JobKind::DraftQa,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Import => "import",
            JobKind::Train => "train",
            JobKind::Eval => "eval",
            JobKind::Inspect => "inspect",
            JobKind::DraftQa => "draft_qa",
        }
    }

    /// The worker lane that runs this kind: each lane takes one job at a time, so kinds in
    /// different lanes never wait for each other.
    pub fn lane(self) -> Lane {
        match self {
            JobKind::Inspect => Lane::Interactive,
            JobKind::Eval | JobKind::DraftQa => Lane::Batch,
            JobKind::Train => Lane::Training,
            JobKind::Import => Lane::Data,
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored kind this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job kind {0:?}")]
pub struct UnknownKind(pub String);

impl FromStr for JobKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// The name stored in the database and shown in the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Succeeded, failed or cancelled: nothing more will happen unless it is resumed.
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }

    /// Queued or running.
    pub fn is_live(self) -> bool {
        !self.is_ended()
    }

    /// Failed or cancelled: it can be queued again and resume.
    pub fn is_resumable(self) -> bool {
        matches!(self, JobState::Failed | JobState::Cancelled)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored state this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for JobState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// The worker lanes. Each runs one job at a time, so a 30-epoch training run never delays an
/// evaluation, and neither delays an inspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    /// Inspect-page requests: a person is waiting.
    Interactive,
    /// Evaluation runs.
    Batch,
    /// Training runs.
    Training,
    /// Dataset imports.
    Data,
}

impl Lane {
    pub const ALL: [Lane; 4] = [Lane::Interactive, Lane::Batch, Lane::Training, Lane::Data];

    /// The kinds this lane runs.
    pub fn kinds(self) -> Vec<JobKind> {
        JobKind::ALL
            .into_iter()
            .filter(|k| k.lane() == self)
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Batch => "batch",
            Lane::Training => "training",
            Lane::Data => "data",
        }
    }
}

/// One step of a training run, as its curves plot it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainStep {
    /// Steps done, counting this one.
    pub step: usize,
    pub total_steps: usize,
    /// 1-based epoch this step belongs to.
    pub epoch: usize,
    pub epochs: usize,
    /// Mean answer-token loss of the step's batches.
    pub loss: f64,
    /// Learning rate the step used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    #[serde(default)]
    pub grad_norm: f64,
    /// Real (non-padding) tokens per second over this step.
    pub tokens_per_s: f64,
    /// Seconds to the end at the pace of this session so far.
    pub eta_s: f64,
}

/// One stored prediction of an evaluation run, as its progress reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PredictionEvent {
    /// Predictions stored so far (this one included) and in all.
    pub done: usize,
    pub total: usize,
    pub prompt: String,
    pub image_id: i64,
    pub image: String,
    pub verdict: String,
    pub new_tokens: usize,
    pub latency_ms: u64,
}

/// What a job reports while it runs, in order. Stored as JSON (tagged by `kind`) and sent to
/// live pages as server-sent events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobEvent {
    /// A runner took the job (again): where it runs and which attempt this is.
    Started { device: String, attempt: u32 },
    /// What is being done and the share of the whole job done, 0..=1 (imports).
    Phase { phase: String, fraction: f64 },
    /// A line for the job's log.
    Log { message: String },
    /// A training step (stored as "progress", as before this protocol).
    #[serde(rename = "progress")]
    Step(TrainStep),
    /// Training restarted from the checkpoint after `step`: later steps are redone.
    Resumed { step: usize },
    /// A checkpoint was written.
    Checkpoint { dir: String },
    /// An evaluation stored a prediction.
    Prediction(PredictionEvent),
    /// A drafting job stored its `done`-th draft of `total`, for image `image`.
    Drafted {
        done: usize,
        total: usize,
        image: String,
    },
    /// An evaluation scored this many explanations with BERTScore.
    Bertscore { scored: usize },
    /// A piece of generated text (inspections stream their reply this way).
    Text { text: String },
    /// The job ended (not stored: the job row says it; sent last to live pages).
    End {
        state: JobState,
        #[serde(default)]
        error: Option<String>,
    },
}

impl JobEvent {
    /// The JSON stored and sent.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Reads one event; None for anything this version cannot read.
    pub fn from_json(text: &str) -> Option<JobEvent> {
        serde_json::from_str(text).ok()
    }

    /// The end state, when this is the end notice.
    pub fn end_state(&self) -> Option<JobState> {
        match self {
            JobEvent::End { state, .. } => Some(*state),
            _ => None,
        }
    }
}

/// The version of the job configuration envelope this build writes and reads.
pub const JOB_CONFIG_VERSION: u32 = 1;

/// Every job's configuration as stored: a version and the kind's own settings (JSON), so a
/// job queued by another version fails with a clear message instead of a parse error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobConfig<T> {
    pub version: u32,
    pub config: T,
}

/// A stored configuration this build cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("this job was queued by a vlm-inspect with configuration version {found}; this one reads version {JOB_CONFIG_VERSION}")]
    Version { found: u64 },
    #[error("this job's configuration has no version: it was queued by an older vlm-inspect")]
    Unversioned,
    #[error("this job's configuration cannot be read: {0}")]
    Malformed(String),
}

impl<T: Serialize + DeserializeOwned> JobConfig<T> {
    /// Wraps `config` in the current version.
    pub fn encode(config: &T) -> String {
        serde_json::to_string(&serde_json::json!({
            "version": JOB_CONFIG_VERSION,
            "config": config,
        }))
        .unwrap_or_else(|_| "{}".into())
    }

    /// Reads a stored configuration, checking its version first.
    pub fn decode(text: &str) -> Result<T, ConfigError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| ConfigError::Unversioned)?;
        match value.get("version").and_then(|v| v.as_u64()) {
            None => Err(ConfigError::Unversioned),
            Some(v) if v != u64::from(JOB_CONFIG_VERSION) => Err(ConfigError::Version { found: v }),
            Some(_) => serde_json::from_value(value["config"].clone())
                .map_err(|e| ConfigError::Malformed(e.to_string())),
        }
    }
}

/// What an import job is asked to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportJob {
    /// A folder on the server.
    pub source: String,
    pub layout: ImportLayout,
    /// A QA JSONL file on the server (default: `<source>/qa.jsonl` when present).
    #[serde(default)]
    pub qa_file: Option<String>,
    pub name: String,
}

/// The folder layouts an import reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportLayout {
    /// MVTec LOCO AD (`train/good`, `test/logical_anomalies`, `ground_truth/...`).
    Loco,
    /// `<category>/{good,logical,structural}`.
    Folder,
}

impl FromStr for ImportLayout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "loco" => Ok(ImportLayout::Loco),
            "folder" => Ok(ImportLayout::Folder),
            other => Err(format!("unknown layout {other:?}: loco or folder")),
        }
    }
}

/// What an import stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportResult {
    pub dataset: String,
    pub images: usize,
    pub qa: usize,
    pub seconds: f64,
}

/// What a training run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    /// The registered adapter's model name.
    pub model: String,
    pub adapter: String,
    pub steps: usize,
    pub final_loss: Option<f64>,
    /// The device it ran on, as the runner opened it.
    #[serde(default)]
    pub device: String,
}

/// What an evaluation run stored, besides its predictions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    pub predictions: usize,
    /// BERTScore's hash, or why there is no Table 2.
    pub bertscore: String,
    pub bertscore_ok: bool,
    #[serde(default)]
    pub device: String,
    /// Tokens the run's predictions used (as the model's server counted them, for a remote
    /// model) and, when the model has prices, what they cost in US dollars.
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

/// What a drafting job stored, besides its drafts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DraftResult {
    pub drafts: usize,
    pub device: String,
}

/// The reply to one inspection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InspectResult {
    pub verdict: String,
    pub explanation: String,
    pub raw: String,
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    pub latency_ms: u64,
    /// The template image used (Chain-of-Image prompts on a base model).
    pub template_id: Option<i64>,
    #[serde(default)]
    pub device: String,
    /// For a remote model: who answered and how fast.
    #[serde(default)]
    pub served: Option<crate::records::ServedBy>,
}

/// The owner name shown for jobs the server queued itself (e.g. the first evaluation).
pub const SYSTEM_OWNER: &str = "(system)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_states_round_trip_and_unknown_ones_are_errors() {
        for k in JobKind::ALL {
            assert_eq!(k.as_str().parse::<JobKind>(), Ok(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>(), Ok(s));
        }
        assert!("train ".parse::<JobKind>().is_err());
        assert!("done".parse::<JobState>().is_err());
        // Every kind has exactly one lane, and every lane runs something.
        for lane in Lane::ALL {
            assert!(!lane.kinds().is_empty(), "{lane:?}");
        }
        assert_eq!(Lane::Interactive.kinds(), [JobKind::Inspect]);
        assert!(JobState::Cancelled.is_resumable() && !JobState::Succeeded.is_resumable());
        assert!(JobState::Queued.is_live() && JobState::Failed.is_ended());
    }

    #[test]
    fn events_keep_their_wire_format() {
        let step = JobEvent::Step(TrainStep {
            step: 3,
            total_steps: 4,
            epoch: 1,
            epochs: 2,
            loss: 1.5,
            lr: 1e-4,
            grad_norm: 0.5,
            tokens_per_s: 10.0,
            eta_s: 3.0,
        });
        let json = step.to_json();
        assert!(json.starts_with(r#"{"kind":"progress","step":3"#), "{json}");
        assert_eq!(JobEvent::from_json(&json), Some(step));
        let end = JobEvent::End {
            state: JobState::Failed,
            error: Some("boom".into()),
        };
        assert_eq!(
            end.to_json(),
            r#"{"kind":"end","state":"failed","error":"boom"}"#
        );
        assert_eq!(
            JobEvent::from_json(r#"{"kind":"end","state":"cancelled"}"#)
                .and_then(|e| e.end_state()),
            Some(JobState::Cancelled)
        );
        // A text piece that merely contains the end marker is not the end.
        let text = JobEvent::Text {
            text: r#"{"kind":"end"}"#.into(),
        };
        assert_eq!(
            JobEvent::from_json(&text.to_json()).unwrap().end_state(),
            None
        );
        assert_eq!(JobEvent::from_json("not json"), None);
        assert_eq!(JobEvent::from_json(r#"{"kind":"telepathy"}"#), None);
    }

    #[test]
    fn configs_carry_a_version_and_other_versions_fail_clearly() {
        let job = ImportJob {
            source: "/data/loco".into(),
            layout: ImportLayout::Loco,
            qa_file: None,
            name: "loco".into(),
        };
        let text = JobConfig::encode(&job);
        assert!(text.contains("\"version\":1"), "{text}");
        assert_eq!(JobConfig::<ImportJob>::decode(&text), Ok(job));
        let newer = text.replace("\"version\":1", "\"version\":7");
        assert_eq!(
            JobConfig::<ImportJob>::decode(&newer),
            Err(ConfigError::Version { found: 7 })
        );
        let e = JobConfig::<ImportJob>::decode(&newer)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("version 7") && e.contains("reads version 1"),
            "{e}"
        );
        assert_eq!(
            JobConfig::<ImportJob>::decode(r#"{"source":"x","name":"y"}"#),
            Err(ConfigError::Unversioned)
        );
        assert_eq!(
            JobConfig::<ImportJob>::decode("base_model = \"x\""),
            Err(ConfigError::Unversioned)
        );
        assert!(matches!(
            JobConfig::<ImportJob>::decode(r#"{"version":1,"config":{"name":3}}"#),
            Err(ConfigError::Malformed(_))
        ));
    }
}

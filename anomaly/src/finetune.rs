//! Part A's training data and job configuration. Every QA annotation of an image on the
//! training side of a split is one example: the image and the question in the model's chat
//! format (one `<image>` line, then the question as annotated), the answer as the reply,
//! followed by the model's end-of-reply token. Loss falls on the answer and that token only.
//! Inference with a fine-tuned model asks in exactly this format ([`qa_prompt`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vlm::chat::{ChatError, ChatVlm};
use vlm::tokenizer::{ChatTemplate, TemplateError};
use vlm::train::{Example, TrainOptions};
use vlm::FieldError;

use crate::ConfigError;

/// A training run as a TOML file (`vlm-inspect train --config FILE`) or the training form.
///
/// ```toml
/// base_model = "tiny-llava"     # a registered model name, a LLaVA or InternVL folder
/// dataset = "demo"
/// split = "s0-f0.1"             # the key of a split of that dataset
/// name = "tiny-llava-qa"        # optional: the model variant the adapter is registered as
///
/// [training]                    # optional, every field defaults (vlm::train::TrainOptions)
/// epochs = 30
/// learning_rate = 1e-4
/// [training.lora]
/// rank = 8
/// targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneConfig {
    pub base_model: String,
    pub dataset: String,
    pub split: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// cpu, wgpu[:N] or cuda[:N].
    #[serde(default = "default_device")]
    pub device: String,
    /// What the examples teach: the split's QA pairs (Part A), or image descriptions (the
    /// embedded default's stage 1, which aligns a new vision tower to the language model).
    #[serde(default, skip_serializing_if = "Task::is_qa")]
    pub task: Task,
    /// How many times each example of an anomalous image appears per epoch (1: as annotated).
    /// The training side of a 10% split holds about eight normal images per anomalous one; a
    /// repeat evens the classes so the model does not learn to answer "normal" to everything.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub anomaly_repeat: u32,
    /// At most this many tiles per image for tiling models (InternVL), so examples stay short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_patches: Option<usize>,
    #[serde(default)]
    pub training: TrainOptions,
}

/// The kind of examples a run trains on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Every QA annotation of the split's training side, as annotated.
    #[default]
    Qa,
    /// One example per training image: [`CAPTION_QUESTION`] answered with the image's most
    /// detailed annotation (the generator's ground-truth description for `loco-synth`).
    Caption,
}

impl Task {
    fn is_qa(&self) -> bool {
        *self == Task::Qa
    }
}

/// Beside an adapter we train: what it was trained on, so inference asks it the right way (a
/// caption-trained stage is still a base model for prompting; a QA-trained one answers QA).
pub const ADAPTER_TASK_FILE: &str = "vlm_inspect.json";

/// Records the run's task, dataset and split next to its adapter.
pub fn write_adapter_task(adapter: &Path, config: &FinetuneConfig) -> std::io::Result<()> {
    let v = serde_json::json!({
        "task": config.task,
        "dataset": config.dataset,
        "split": config.split,
    });
    std::fs::write(adapter.join(ADAPTER_TASK_FILE), v.to_string())
}

/// The task an adapter was trained on (QA when it does not say: PEFT adapters, ours before).
pub fn adapter_task(adapter: &Path) -> Task {
    #[derive(Deserialize)]
    struct Recorded {
        task: Task,
    }
    std::fs::read_to_string(adapter.join(ADAPTER_TASK_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<Recorded>(&t).ok())
        .map(|r| r.task)
        .unwrap_or_default()
}

/// The question of caption examples.
pub const CAPTION_QUESTION: &str = "Describe this image.";

/// Caption examples from `(image, answer)` annotations: per image (in first-seen order), the
/// longest answer.
pub fn caption_items(annotations: impl IntoIterator<Item = (PathBuf, String)>) -> Vec<QaItem> {
    let mut order: Vec<PathBuf> = Vec::new();
    let mut best: HashMap<PathBuf, String> = HashMap::new();
    for (image, answer) in annotations {
        match best.get(&image) {
            Some(b) if b.len() >= answer.len() => {}
            Some(_) => {
                best.insert(image, answer);
            }
            None => {
                order.push(image.clone());
                best.insert(image, answer);
            }
        }
    }
    order
        .into_iter()
        .map(|image| QaItem {
            answer: best.remove(&image).unwrap_or_default(),
            question: CAPTION_QUESTION.to_string(),
            image,
        })
        .collect()
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// Maximum of `anomaly_repeat`: beyond it an epoch is mostly copies.
pub const MAX_ANOMALY_REPEAT: u32 = 64;

/// `items` with each item of an anomalous image (`anomalous(item)`) repeated `times` times, in
/// place (the trainer shuffles every epoch).
pub fn repeat_anomalies(
    items: Vec<QaItem>,
    times: u32,
    anomalous: impl Fn(&QaItem) -> bool,
) -> Vec<QaItem> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let n = if anomalous(&item) { times.max(1) } else { 1 };
        for _ in 1..n {
            out.push(item.clone());
        }
        out.push(item);
    }
    out
}

fn default_device() -> String {
    "cpu".into()
}

impl FinetuneConfig {
    /// Parses and validates a TOML configuration; errors name the field.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let cfg: FinetuneConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Why this configuration cannot start, naming the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (field, v) in [
            ("base_model", &self.base_model),
            ("dataset", &self.dataset),
            ("split", &self.split),
        ] {
            if v.trim().is_empty() {
                return Err(FieldError::new(field, "must not be empty"));
            }
        }
        if let Some(n) = &self.name {
            if n.trim().is_empty() || n.contains('/') {
                return Err(FieldError::new(
                    "name",
                    format!("{n:?} is not a usable model name"),
                ));
            }
        }
        if !(1..=MAX_ANOMALY_REPEAT).contains(&self.anomaly_repeat) {
            return Err(FieldError::new(
                "anomaly_repeat",
                format!(
                    "{} is not between 1 and {MAX_ANOMALY_REPEAT}",
                    self.anomaly_repeat
                ),
            ));
        }
        if self.max_patches == Some(0) {
            return Err(FieldError::new("max_patches", "at least 1 tile per image"));
        }
        self.device
            .parse::<vlm::DeviceSpec>()
            .map_err(|e| FieldError::new("device", e.to_string()))?;
        self.training.validate().map_err(|e| e.within("training"))
    }
}

/// One QA annotation with its image file.
#[derive(Clone, Debug, PartialEq)]
pub struct QaItem {
    pub image: PathBuf,
    pub question: String,
    pub answer: String,
}

/// The prompt text of a QA example (and of asking a fine-tuned model): one image, then the
/// question.
pub fn qa_prompt(template: &ChatTemplate, question: &str) -> Result<String, TemplateError> {
    template.prompt_with_images(None, 1, question)
}

/// Why QA items cannot become training examples.
#[derive(Debug, thiserror::Error)]
pub enum ExampleError {
    #[error("the model has no end-of-reply token")]
    NoEndToken,
    #[error("{}: a QA answer is empty", .0.display())]
    EmptyAnswer(PathBuf),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Tokenizer(#[from] vlm::weights::WeightError),
    #[error(transparent)]
    Prompt(#[from] ChatError),
}

/// Tokenised examples for `items`, each image decoded and preprocessed once (into at most
/// `max_patches` tiles for tiling models, when given).
pub fn qa_examples<B: burn::tensor::backend::Backend>(
    model: &ChatVlm<B>,
    items: &[QaItem],
    max_patches: Option<usize>,
) -> Result<Vec<Example>, ExampleError> {
    let end = *model
        .stop_tokens()
        .first()
        .ok_or(ExampleError::NoEndToken)?;
    let mut pixels: HashMap<&Path, vlm::chat::Pixels> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    let template = model.template();
    let separator = template.reply_separator();
    for item in items {
        if item.answer.trim().is_empty() {
            return Err(ExampleError::EmptyAnswer(item.image.clone()));
        }
        let image = match pixels.get(item.image.as_path()) {
            Some(px) => px.clone(),
            None => {
                let px = model.load_images(std::slice::from_ref(&item.image), max_patches)?;
                pixels.insert(&item.image, px.clone());
                px
            }
        };
        let ids = |t: &str| -> Result<Vec<i64>, ExampleError> {
            Ok(model
                .prompt_ids(t, &image.per_image)?
                .into_iter()
                .map(i64::from)
                .collect())
        };
        let prompt = qa_prompt(template, &item.question)?;
        let full = format!("{prompt}{separator}{}", item.answer);
        let (p, f) = (ids(&prompt)?, ids(&full)?);
        // The answer's tokens as they come in the whole text; a merge across the boundary
        // (rare) falls back to the prompt's tokens plus the rest.
        let mut answer: Vec<i64> = match f.strip_prefix(p.as_slice()) {
            Some(rest) if !rest.is_empty() => rest.to_vec(),
            _ => model
                .tokenizer()
                .encode(&format!("{separator}{}", item.answer))?
                .into_iter()
                .map(i64::from)
                .collect(),
        };
        answer.push(end as i64);
        out.push(Example::new(p, answer, image.tiles));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_toml_with_defaults_and_named_errors() {
        let cfg = FinetuneConfig::from_toml(
            "base_model = \"m\"\ndataset = \"demo\"\nsplit = \"s\"\n[training]\nepochs = 2\n[training.lora]\nrank = 4\n",
        )
        .unwrap();
        assert_eq!(cfg.training.epochs, 2);
        assert_eq!(cfg.training.lora.rank, 4);
        assert_eq!(cfg.training.learning_rate, 1e-4, "the paper's default");
        assert_eq!(cfg.training.lora.targets.len(), 7);
        assert_eq!(FinetuneConfig::from_toml(&cfg.to_toml()).unwrap(), cfg);
        let bad = |extra: &str| {
            FinetuneConfig::from_toml(&format!(
                "base_model = \"m\"\ndataset = \"d\"\nsplit = \"s\"\n{extra}"
            ))
            .unwrap_err()
            .to_string()
        };
        assert!(bad("[training.lora]\nrank = 0").contains("training.lora.rank"));
        // A bad value is told apart from an unreadable file, and names its field in full.
        let field = |extra: &str| match FinetuneConfig::from_toml(&format!(
            "base_model = \"m\"\ndataset = \"d\"\nsplit = \"s\"\n{extra}"
        )) {
            Err(ConfigError::Field(f)) => f.field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field("[training.lora]\nrank = 0"), "training.lora.rank");
        assert_eq!(field("[training]\nbatch_size = 0"), "training.batch_size");
        assert!(matches!(
            FinetuneConfig::from_toml("base_model = "),
            Err(ConfigError::Parse(_))
        ));
        assert!(bad("[training]\nlearning_rate = -1e-4").contains("training.learning_rate"));
        assert!(
            bad("[training]\nepoch = 3").contains("epoch"),
            "unknown fields are errors"
        );
        assert!(bad("device = \"tpu\"").contains("device"));
        assert!(bad("anomaly_repeat = 0").contains("anomaly_repeat"));
        assert!(bad("anomaly_repeat = 65").contains("anomaly_repeat"));
        assert!(bad("max_patches = 0").contains("max_patches"));
        assert_eq!(cfg.anomaly_repeat, 1);
        assert!(
            !cfg.to_toml().contains("anomaly_repeat"),
            "the default stays unwritten"
        );
        assert!(FinetuneConfig::from_toml("dataset = \"d\"")
            .unwrap_err()
            .to_string()
            .contains("base_model"));
    }

    #[test]
    fn anomalous_items_repeat_in_place_and_normal_ones_stay_single() {
        let item = |i: &str| QaItem {
            image: PathBuf::from(i),
            question: "q".into(),
            answer: "a".into(),
        };
        let items = vec![item("good/0"), item("bad/1"), item("good/2"), item("bad/3")];
        let names = |v: Vec<QaItem>| -> Vec<String> {
            v.iter().map(|i| i.image.display().to_string()).collect()
        };
        let is_bad = |i: &QaItem| i.image.starts_with("bad");
        assert_eq!(
            names(repeat_anomalies(items.clone(), 3, is_bad)),
            ["good/0", "bad/1", "bad/1", "bad/1", "good/2", "bad/3", "bad/3", "bad/3"]
        );
        assert_eq!(
            names(repeat_anomalies(items.clone(), 1, is_bad)),
            names(items)
        );
    }

    #[test]
    fn the_prompt_is_one_image_then_the_question() {
        assert_eq!(
            qa_prompt(&ChatTemplate::llava(), "Is there any defect?").unwrap(),
            "USER: <image>\nIs there any defect? ASSISTANT:"
        );
    }
}

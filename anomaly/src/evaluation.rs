//! What an evaluation run is: a model, prompts, and the test side of a dataset split, with
//! decoding and scoring settings. Stored as a job's JSON config; the CLI and the web form
//! build the same thing.

use serde::{Deserialize, Serialize};

use crate::explain::Decoding;
use crate::ConfigError;
use vlm::FieldError;

/// The layer whose hidden states BERTScore compares (all-MiniLM-L6-v2 has six; bert_score has
/// no default for this model, so the last one).
pub const DEFAULT_BERT_LAYER: usize = 6;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// A registered model name or a folder on the server (LLaVA or InternVL, or a LoRA adapter
    /// of one).
    pub model: String,
    pub dataset: String,
    /// A split key; its test side is judged.
    pub split: String,
    /// Built-in (plain, P1, P2, P3) or user prompt names, in table order.
    pub prompts: Vec<String>,
    /// Judge only this many test images, spread over categories and labels.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Seeds the choice of template images.
    #[serde(default)]
    pub seed: u64,
    /// One template image (a dataset image id) for every test image instead of a seeded
    /// normal training image of the test image's category.
    #[serde(default)]
    pub template: Option<i64>,
    #[serde(default = "cpu")]
    pub device: String,
    #[serde(default)]
    pub decoding: Decoding,
    #[serde(default = "bert_layer")]
    pub bert_layer: usize,
}

fn cpu() -> String {
    "cpu".into()
}

fn bert_layer() -> usize {
    DEFAULT_BERT_LAYER
}

impl EvalConfig {
    /// A run with the defaults for everything but what names it.
    pub fn new(model: &str, dataset: &str, split: &str, prompts: &[&str]) -> Self {
        EvalConfig {
            model: model.into(),
            dataset: dataset.into(),
            split: split.into(),
            prompts: prompts.iter().map(|p| p.to_string()).collect(),
            limit: None,
            seed: 0,
            template: None,
            device: cpu(),
            decoding: Decoding::default(),
            bert_layer: DEFAULT_BERT_LAYER,
        }
    }

    /// Checks what can be checked without the database; errors name the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        let bad = |field: &str, reason: &str| Err(FieldError::new(field, reason));
        for (field, value) in [
            ("model", &self.model),
            ("dataset", &self.dataset),
            ("split", &self.split),
        ] {
            if value.trim().is_empty() {
                return bad(field, "required");
            }
        }
        if self.prompts.is_empty() {
            return bad("prompts", "choose at least one");
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.prompts {
            if p.trim().is_empty() {
                return bad("prompts", "an empty prompt name");
            }
            if !seen.insert(p.to_lowercase()) {
                return Err(FieldError::new("prompts", format!("{p:?} is listed twice")));
            }
        }
        if self.limit == Some(0) {
            return bad("limit", "must be at least 1");
        }
        let d = &self.decoding;
        if d.max_new_tokens == 0 || d.max_new_tokens > 4096 {
            return bad("max_new_tokens", "1 to 4096");
        }
        if !(d.temperature >= 0.0 && d.temperature.is_finite()) {
            return bad("temperature", "a number ≥ 0");
        }
        if !(d.top_p > 0.0 && d.top_p <= 1.0) {
            return bad("top_p", "in (0, 1]");
        }
        if d.max_patches == Some(0) {
            return bad("max_patches", "at least 1 tile per image");
        }
        if self.bert_layer == 0 {
            return bad("bert_layer", "at least 1");
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(text)
            .map_err(|e| ConfigError::Parse(format!("evaluation config: {e}")))
    }
}

/// The image an inspection judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageRef {
    /// An image of an imported dataset (by id).
    Dataset(i64),
    /// An uploaded image (by id).
    Upload(i64),
}

/// One image put in front of a model from the Inspect page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InspectConfig {
    pub model: String,
    pub prompt: String,
    pub image: ImageRef,
    /// A dataset image to use as the template; None picks a seeded normal training image of
    /// the category (the test image's own, or `category` of `dataset` for an upload).
    #[serde(default)]
    pub template: Option<i64>,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "cpu")]
    pub device: String,
    #[serde(default)]
    pub decoding: Decoding,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_defaults() {
        let c = EvalConfig::new("m", "d", "s", &["plain", "P1"]);
        assert_eq!(EvalConfig::from_json(&c.to_json()).unwrap(), c);
        let minimal = r#"{"model":"m","dataset":"d","split":"s","prompts":["P2"]}"#;
        let m = EvalConfig::from_json(minimal).unwrap();
        assert_eq!((m.device.as_str(), m.bert_layer), ("cpu", 6));
        assert_eq!(m.decoding.max_new_tokens, 256);
        assert!(EvalConfig::from_json("{").is_err());
    }

    #[test]
    fn bad_configs_name_the_field() {
        let ok = EvalConfig::new("m", "d", "s", &["plain"]);
        assert!(ok.validate().is_ok());
        let check = |f: &dyn Fn(&mut EvalConfig), field: &str| {
            let mut c = ok.clone();
            f(&mut c);
            let e = c.validate().unwrap_err();
            assert_eq!(e.field, field, "{e}");
        };
        check(&|c| c.model = " ".into(), "model");
        check(&|c| c.prompts.clear(), "prompts");
        check(&|c| c.prompts = vec!["P1".into(), "p1".into()], "prompts");
        check(&|c| c.limit = Some(0), "limit");
        check(&|c| c.decoding.max_new_tokens = 0, "max_new_tokens");
        check(&|c| c.decoding.temperature = f32::NAN, "temperature");
        check(&|c| c.decoding.top_p = 0.0, "top_p");
    }
}

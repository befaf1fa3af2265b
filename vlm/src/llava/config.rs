//! LLaVA's `config.json`: the text and vision configs (each filled with transformers'
//! defaults), the image token, the projector and which vision features it takes.

use std::path::Path;

use crate::clip::config::{Activation, ClipVisionConfig};
use crate::llama::LlamaConfig;
use crate::weights::WeightError;

/// Whether the class token's feature goes to the language model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureStrategy {
    /// Drop the class token (LLaVA-1.5).
    Default,
    /// Keep it.
    Full,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LlavaConfig {
    pub text: LlamaConfig,
    pub vision: ClipVisionConfig,
    /// `image_token_id` (transformers 5) or `image_token_index` (4.x); default 32000.
    pub image_token_id: u32,
    pub projector_act: Activation,
    pub projector_bias: bool,
    /// Indices into the vision tower's hidden states (0 = embeddings; negative from the end),
    /// resolved to `0..=layers`. Several are concatenated along the feature axis.
    pub feature_layers: Vec<usize>,
    pub strategy: FeatureStrategy,
}

impl LlavaConfig {
    /// Parses `config.json` text; `source` names the file in errors.
    pub fn from_json(source: &str, text: &str) -> Result<Self, WeightError> {
        let bad = |reason: String| WeightError::Config {
            path: source.to_string(),
            reason,
        };
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if let Some(kind) = v.get("model_type").and_then(|m| m.as_str()) {
            if kind != "llava" {
                return Err(bad(format!("model_type {kind:?} is not llava")));
            }
        }
        let mut text_cfg = v
            .get("text_config")
            .cloned()
            .unwrap_or(serde_json::json!({}));
        // A top-level tie flag applies to the text model when its own config has none.
        if let (Some(t), Some(obj)) = (v.get("tie_word_embeddings"), text_cfg.as_object_mut()) {
            obj.entry("tie_word_embeddings").or_insert(t.clone());
        }
        let text = LlamaConfig::from_value(source, &text_cfg)?;
        let vision_cfg = v
            .get("vision_config")
            .cloned()
            .unwrap_or_else(ClipVisionConfig::llava_defaults);
        let vision = ClipVisionConfig::from_value(&vision_cfg)
            .map_err(|e| WeightError::setting(source, e))?;
        let image_token_id = v
            .get("image_token_id")
            .or_else(|| v.get("image_token_index"))
            .and_then(|x| x.as_u64())
            .unwrap_or(32000) as u32;
        let projector_act = Activation::parse(
            "projector_hidden_act",
            v.get("projector_hidden_act")
                .and_then(|x| x.as_str())
                .unwrap_or("gelu"),
        )
        .map_err(|e| WeightError::setting(source, e))?;
        let strategy = match v
            .get("vision_feature_select_strategy")
            .and_then(|x| x.as_str())
            .unwrap_or("default")
        {
            "default" => FeatureStrategy::Default,
            "full" => FeatureStrategy::Full,
            other => {
                return Err(bad(format!(
                    "vision_feature_select_strategy {other:?} is unknown"
                )))
            }
        };
        let layers: Vec<i64> = match v.get("vision_feature_layer") {
            None | Some(serde_json::Value::Null) => vec![-2],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_i64()).collect(),
            Some(x) => x.as_i64().into_iter().collect(),
        };
        let count = vision.num_hidden_layers as i64 + 1;
        let mut feature_layers = Vec::new();
        for l in &layers {
            let idx = if *l < 0 { count + l } else { *l };
            if !(0..count).contains(&idx) {
                return Err(bad(format!(
                    "vision_feature_layer {l} is outside the tower's {count} hidden states"
                )));
            }
            feature_layers.push(idx as usize);
        }
        if feature_layers.is_empty() {
            return Err(bad("vision_feature_layer is empty".into()));
        }
        Ok(LlavaConfig {
            text,
            vision,
            image_token_id,
            projector_act,
            projector_bias: v
                .get("multimodal_projector_bias")
                .and_then(|x| x.as_bool())
                .unwrap_or(true),
            feature_layers,
            strategy,
        })
    }

    pub fn from_file(path: &Path) -> Result<Self, WeightError> {
        let text = std::fs::read_to_string(path).map_err(|e| WeightError::io(path, e))?;
        Self::from_json(&path.display().to_string(), &text)
    }

    /// Tokens each image takes in the prompt.
    pub fn tokens_per_image(&self) -> usize {
        self.vision.num_patches()
            + match self.strategy {
                FeatureStrategy::Default => 0,
                FeatureStrategy::Full => 1,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llava-hf/llava-1.5-7b-hf's config.json: most fields left to transformers' defaults.
    const LLAVA_15_7B: &str = r#"{
      "architectures": ["LlavaForConditionalGeneration"], "ignore_index": -100,
      "image_token_index": 32000, "model_type": "llava", "pad_token_id": 32001,
      "projector_hidden_act": "gelu",
      "text_config": {"_name_or_path": "lmsys/vicuna-7b-v1.5", "architectures": ["LlamaForCausalLM"],
        "max_position_embeddings": 4096, "model_type": "llama", "rms_norm_eps": 1e-05,
        "torch_dtype": "float16", "vocab_size": 32064},
      "tie_word_embeddings": false, "torch_dtype": "float16", "transformers_version": "4.36.0.dev0",
      "vision_config": {"hidden_size": 1024, "image_size": 336, "intermediate_size": 4096,
        "model_type": "clip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 24,
        "patch_size": 14, "projection_dim": 768, "vocab_size": 32000},
      "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "vocab_size": 32064
    }"#;

    #[test]
    fn real_llava_15_config_gets_transformers_defaults() {
        let c = LlavaConfig::from_json("config.json", LLAVA_15_7B).unwrap();
        let t = &c.text;
        assert_eq!(
            (
                t.hidden_size,
                t.intermediate_size,
                t.num_hidden_layers,
                t.num_attention_heads
            ),
            (4096, 11008, 32, 32)
        );
        assert_eq!(
            (t.num_key_value_heads, t.head_dim, t.vocab_size),
            (32, 128, 32064)
        );
        assert_eq!(
            (t.rope_theta, t.rms_norm_eps, t.tie_word_embeddings),
            (10000.0, 1e-5, false)
        );
        assert_eq!(
            (t.bos_token_id, t.eos_token_ids.as_slice()),
            (Some(1), &[2][..])
        );
        let v = &c.vision;
        assert_eq!(
            (
                v.hidden_size,
                v.num_hidden_layers,
                v.patch_size,
                v.image_size
            ),
            (1024, 24, 14, 336)
        );
        assert_eq!(
            (v.hidden_act, v.layer_norm_eps),
            (Activation::QuickGelu, 1e-5)
        );
        assert_eq!(c.image_token_id, 32000);
        assert_eq!(c.feature_layers, [23], "-2 of 25 hidden states");
        assert_eq!(c.tokens_per_image(), 576);
        assert_eq!(
            (c.projector_act, c.projector_bias),
            (Activation::Gelu, true)
        );
    }

    #[test]
    fn feature_layer_lists_token_ids_and_bad_values() {
        let c = LlavaConfig::from_json(
            "c",
            r#"{"image_token_id": 7, "vision_feature_layer": [-1, 0],
                "vision_feature_select_strategy": "full",
                "vision_config": {"num_hidden_layers": 2, "image_size": 28, "patch_size": 14}}"#,
        )
        .unwrap();
        assert_eq!(
            (c.image_token_id, c.feature_layers.clone()),
            (7, vec![2, 0])
        );
        assert_eq!(c.tokens_per_image(), 5);
        for bad in [
            r#"{"vision_feature_layer": -40}"#,
            r#"{"vision_feature_select_strategy": "cls"}"#,
            r#"{"projector_hidden_act": "swish"}"#,
            r#"{"model_type": "qwen2_vl"}"#,
            r#"{"vision_config": {"image_size": 30, "patch_size": 14}}"#,
        ] {
            let err = LlavaConfig::from_json("cfg.json", bad)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("cfg.json: "), "{err}");
        }
    }
}

//! InternVL's `config.json`: the text and vision configs, the image token, the pixel shuffle
//! and the projector, with transformers' `InternVLConfig` defaults.

use std::path::Path;

use crate::clip::config::Activation;
use crate::internvit::InternVitConfig;
use crate::llama::LlamaConfig;
use crate::weights::WeightError;
use crate::FieldError;

#[derive(Clone, Debug, PartialEq)]
pub struct InternVlConfig {
    pub text: LlamaConfig,
    pub vision: InternVitConfig,
    /// `<IMG_CONTEXT>`'s id; default 151667.
    pub image_token_id: u32,
    /// Patches merged per side by the pixel shuffle (1 / `downsample_ratio`: 2).
    pub shuffle: usize,
    pub projector_act: Activation,
}

impl InternVlConfig {
    /// Parses `config.json` text; `source` names the file in errors.
    pub fn from_json(source: &str, text: &str) -> Result<Self, WeightError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| WeightError::Config {
            path: source.to_string(),
            reason: e.to_string(),
        })?;
        let setting = |e: FieldError| WeightError::setting(source, e);
        if let Some(kind) = v.get("model_type").and_then(|m| m.as_str()) {
            if kind != "internvl" {
                return Err(setting(FieldError::new(
                    "model_type",
                    format!("{kind:?} is not internvl"),
                )));
            }
        }
        let mut text_cfg = v
            .get("text_config")
            .cloned()
            .unwrap_or(serde_json::json!({"model_type": "qwen2"}));
        // The head is tied as the top-level flag says (InternVLConfig's default: tied): the
        // composed model ties its own lm_head, whatever the text config says.
        let tied = v
            .get("tie_word_embeddings")
            .and_then(|t| t.as_bool())
            .unwrap_or(true);
        if let Some(obj) = text_cfg.as_object_mut() {
            obj.insert("tie_word_embeddings".into(), tied.into());
        }
        let text = LlamaConfig::from_value(source, &text_cfg)?;
        let vision =
            InternVitConfig::from_value(v.get("vision_config").unwrap_or(&serde_json::json!({})))
                .map_err(setting)?;
        let ratio = v
            .get("downsample_ratio")
            .and_then(|x| x.as_f64())
            .unwrap_or(0.5);
        let shuffle = (1.0 / ratio).round();
        let whole = ratio > 0.0 && shuffle >= 1.0 && (1.0 / ratio - shuffle).abs() < 1e-6;
        if !(whole && vision.grid().is_multiple_of(shuffle as usize)) {
            return Err(setting(FieldError::new(
                "downsample_ratio",
                format!(
                    "{ratio} must be 1/k for a whole k dividing the {} patches per side",
                    vision.grid()
                ),
            )));
        }
        match v.get("vision_feature_layer") {
            None | Some(serde_json::Value::Null) => {}
            Some(x) if x.as_i64() == Some(-1) => {}
            Some(x) => {
                return Err(setting(FieldError::new(
                    "vision_feature_layer",
                    format!("{x} is not supported (only -1, the last layer)"),
                )))
            }
        }
        match v
            .get("vision_feature_select_strategy")
            .and_then(|x| x.as_str())
        {
            None | Some("default") => {}
            Some(other) => {
                return Err(setting(FieldError::new(
                    "vision_feature_select_strategy",
                    format!("{other:?} is not supported (only default: the CLS token is dropped)"),
                )))
            }
        }
        let projector_act = Activation::parse(
            "projector_hidden_act",
            v.get("projector_hidden_act")
                .and_then(|x| x.as_str())
                .unwrap_or("gelu"),
        )
        .map_err(setting)?;
        Ok(InternVlConfig {
            text,
            vision,
            image_token_id: v
                .get("image_token_id")
                .and_then(|x| x.as_u64())
                .unwrap_or(151667) as u32,
            shuffle: shuffle as usize,
            projector_act,
        })
    }

    pub fn from_file(path: &Path) -> Result<Self, WeightError> {
        let text = std::fs::read_to_string(path).map_err(|e| WeightError::io(path, e))?;
        Self::from_json(&path.display().to_string(), &text)
    }

    /// Image tokens each tile takes in the prompt (256 for 448 px tiles of 14 px patches).
    pub fn tokens_per_tile(&self) -> usize {
        self.vision.num_patches() / (self.shuffle * self.shuffle)
    }

    /// Width of the pixel-shuffled features the projector takes.
    pub fn shuffled_width(&self) -> usize {
        self.vision.hidden_size * self.shuffle * self.shuffle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_level_flag_ties_the_head() {
        let cfg = |top: &str| {
            InternVlConfig::from_json(
                "c",
                &format!(r#"{{{top} "text_config": {{"model_type": "qwen2", "tie_word_embeddings": false}}}}"#),
            )
            .unwrap()
        };
        assert!(
            cfg("").text.tie_word_embeddings,
            "InternVLConfig's default is tied"
        );
        assert!(
            !cfg(r#""tie_word_embeddings": false,"#)
                .text
                .tie_word_embeddings
        );
        let c = cfg("");
        assert_eq!(
            (c.image_token_id, c.shuffle, c.tokens_per_tile()),
            (151667, 2, 256)
        );
        assert_eq!(c.text.family, crate::llama::DecoderFamily::Qwen2);
    }

    #[test]
    fn settings_it_cannot_run_are_named() {
        for (bad, field) in [
            (r#"{"model_type": "llava"}"#, "model_type"),
            (r#"{"downsample_ratio": 0.3}"#, "downsample_ratio"),
            (r#"{"downsample_ratio": 0.0}"#, "downsample_ratio"),
            (r#"{"vision_feature_layer": -2}"#, "vision_feature_layer"),
            (
                r#"{"vision_feature_select_strategy": "full"}"#,
                "vision_feature_select_strategy",
            ),
            (
                r#"{"projector_hidden_act": "tanh"}"#,
                "projector_hidden_act",
            ),
            (
                r#"{"vision_config": {"norm_type": "x"}}"#,
                "vision_config.norm_type",
            ),
        ] {
            let err = InternVlConfig::from_json("config.json", bad).unwrap_err();
            match err {
                WeightError::Setting { error, .. } => assert_eq!(error.field, field, "{bad}"),
                other => panic!("{bad}: {other}"),
            }
        }
    }
}

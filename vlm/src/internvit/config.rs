//! `vision_config` of InternVL checkpoints, with transformers' `InternVLVisionConfig` defaults
//! (InternViT-300M at 448 px).

use serde::Deserialize;

use crate::clip::config::Activation;
use crate::FieldError;

/// The normalisation before attention and before the MLP (`norm_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisionNormKind {
    LayerNorm,
    RmsNorm,
}

/// The tower's hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct InternVitConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    /// Square tiles only (InternVL's processor always makes them).
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_act: Activation,
    pub norm: VisionNormKind,
    pub layer_norm_eps: f64,
    /// Biases on the q/k/v projections.
    pub attention_bias: bool,
    /// RMSNorm of the whole query and key vectors before the heads split.
    pub qk_norm: bool,
    pub absolute_positions: bool,
    /// True: no final LayerNorm (the patches' mean is the pooled output; InternVL never pools).
    pub mean_pooling: bool,
    /// A stored `mask_token` for masked image modelling, unused for inference.
    pub mask_token: bool,
}

/// A size given as one number or `[height, width]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Size {
    One(usize),
    Two(Vec<usize>),
}

impl Size {
    fn square(self, field: &str) -> Result<usize, FieldError> {
        match self {
            Size::One(n) => Ok(n),
            Size::Two(v) if v.len() == 2 && v[0] == v[1] => Ok(v[0]),
            Size::Two(v) => Err(FieldError::new(
                field,
                format!("{v:?} is not supported (only square sizes)"),
            )),
        }
    }
}

#[derive(Deserialize, Default)]
struct Raw {
    model_type: Option<String>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_channels: Option<usize>,
    image_size: Option<Size>,
    patch_size: Option<Size>,
    hidden_act: Option<String>,
    norm_type: Option<String>,
    layer_norm_eps: Option<f64>,
    attention_bias: Option<bool>,
    use_qk_norm: Option<bool>,
    use_absolute_position_embeddings: Option<bool>,
    use_mean_pooling: Option<bool>,
    use_mask_token: Option<bool>,
}

impl InternVitConfig {
    /// Reads a `vision_config` object.
    pub fn from_value(v: &serde_json::Value) -> Result<Self, FieldError> {
        let raw: Raw = serde_json::from_value(v.clone())
            .map_err(|e| FieldError::new("vision_config", e.to_string()))?;
        if let Some(t) = raw.model_type.as_deref() {
            if t != "internvl_vision" {
                return Err(FieldError::new(
                    "vision_config.model_type",
                    format!("{t:?} is not internvl_vision"),
                ));
            }
        }
        let norm = match raw.norm_type.as_deref().unwrap_or("layer_norm") {
            "layer_norm" => VisionNormKind::LayerNorm,
            "rms_norm" => VisionNormKind::RmsNorm,
            other => {
                return Err(FieldError::new(
                    "vision_config.norm_type",
                    format!("{other:?} is not supported (layer_norm, rms_norm)"),
                ))
            }
        };
        let hidden_act = Activation::parse(
            "vision_config.hidden_act",
            raw.hidden_act.as_deref().unwrap_or("gelu"),
        )?;
        let cfg = InternVitConfig {
            hidden_size: raw.hidden_size.unwrap_or(1024),
            intermediate_size: raw.intermediate_size.unwrap_or(4096),
            num_hidden_layers: raw.num_hidden_layers.unwrap_or(24),
            num_attention_heads: raw.num_attention_heads.unwrap_or(16),
            num_channels: raw.num_channels.unwrap_or(3),
            image_size: match raw.image_size {
                Some(s) => s.square("vision_config.image_size")?,
                None => 448,
            },
            patch_size: match raw.patch_size {
                Some(s) => s.square("vision_config.patch_size")?,
                None => 14,
            },
            hidden_act,
            norm,
            layer_norm_eps: raw.layer_norm_eps.unwrap_or(1e-6),
            attention_bias: raw.attention_bias.unwrap_or(false),
            qk_norm: raw.use_qk_norm.unwrap_or(false),
            absolute_positions: raw.use_absolute_position_embeddings.unwrap_or(true),
            mean_pooling: raw.use_mean_pooling.unwrap_or(true),
            mask_token: raw.use_mask_token.unwrap_or(false),
        };
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(FieldError::new(
                "vision_config.num_attention_heads",
                format!(
                    "hidden_size {} is not a multiple of {} heads",
                    cfg.hidden_size, cfg.num_attention_heads
                ),
            ));
        }
        if cfg.patch_size == 0 || !cfg.image_size.is_multiple_of(cfg.patch_size) {
            return Err(FieldError::new(
                "vision_config.patch_size",
                format!(
                    "image_size {} is not a multiple of patch_size {}",
                    cfg.image_size, cfg.patch_size
                ),
            ));
        }
        Ok(cfg)
    }

    /// Patches along one side of a tile.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Patches per tile (without the CLS token).
    pub fn num_patches(&self) -> usize {
        self.grid() * self.grid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_internvit_300m() {
        let c = InternVitConfig::from_value(&serde_json::json!({})).unwrap();
        assert_eq!(
            (c.hidden_size, c.num_hidden_layers, c.num_attention_heads),
            (1024, 24, 16)
        );
        assert_eq!(
            (c.image_size, c.patch_size, c.num_patches()),
            (448, 14, 1024)
        );
        assert_eq!(c.norm, VisionNormKind::LayerNorm);
        assert!(c.mean_pooling && !c.qk_norm && !c.attention_bias);
    }

    #[test]
    fn reads_lists_and_refuses_what_it_cannot_run() {
        let c = InternVitConfig::from_value(&serde_json::json!({
            "image_size": [28, 28], "patch_size": [7, 7], "norm_type": "rms_norm",
            "hidden_size": 32, "num_attention_heads": 4}))
        .unwrap();
        assert_eq!(
            (c.image_size, c.grid(), c.norm),
            (28, 4, VisionNormKind::RmsNorm)
        );
        for (bad, field) in [
            (
                serde_json::json!({"image_size": [448, 224]}),
                "vision_config.image_size",
            ),
            (
                serde_json::json!({"norm_type": "batch_norm"}),
                "vision_config.norm_type",
            ),
            (
                serde_json::json!({"hidden_act": "relu"}),
                "vision_config.hidden_act",
            ),
            (
                serde_json::json!({"hidden_size": 30, "num_attention_heads": 4}),
                "vision_config.num_attention_heads",
            ),
            (
                serde_json::json!({"image_size": 30, "patch_size": 7}),
                "vision_config.patch_size",
            ),
            (
                serde_json::json!({"model_type": "clip_vision_model"}),
                "vision_config.model_type",
            ),
        ] {
            assert_eq!(
                InternVitConfig::from_value(&bad).unwrap_err().field,
                field,
                "{bad}"
            );
        }
    }
}

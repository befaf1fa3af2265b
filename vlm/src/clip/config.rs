//! `vision_config` of CLIP vision towers, with transformers' `CLIPVisionConfig` defaults.

use serde::Deserialize;

use crate::FieldError;

/// The activation between the two MLP layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(1.702 x)`, CLIP's own.
    QuickGelu,
    /// The exact (erf) GELU.
    Gelu,
}

impl Activation {
    /// Parses transformers' `hidden_act` names; `field` names the setting in the error.
    pub fn parse(field: &str, name: &str) -> Result<Self, FieldError> {
        match name {
            "quick_gelu" => Ok(Activation::QuickGelu),
            "gelu" => Ok(Activation::Gelu),
            other => Err(FieldError::new(
                field,
                format!("activation {other:?} is not supported (quick_gelu, gelu)"),
            )),
        }
    }
}

/// The vision tower's hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipVisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
}

#[derive(Deserialize, Default)]
struct Raw {
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_channels: Option<usize>,
    image_size: Option<usize>,
    patch_size: Option<usize>,
    hidden_act: Option<String>,
    layer_norm_eps: Option<f64>,
}

impl ClipVisionConfig {
    /// transformers' `CLIPVisionConfig()` defaults: ViT-B/32 at 224 px.
    pub fn clip_defaults() -> serde_json::Value {
        serde_json::json!({
            "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
            "num_attention_heads": 12, "image_size": 224, "patch_size": 32
        })
    }

    /// What `LlavaConfig` uses when a checkpoint has no `vision_config` at all: CLIP ViT-L/14
    /// at 336 px, LLaVA-1.5's tower.
    pub fn llava_defaults() -> serde_json::Value {
        serde_json::json!({
            "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
            "num_attention_heads": 16, "image_size": 336, "patch_size": 14
        })
    }

    /// Reads a `vision_config` object; fields it leaves out take `CLIPVisionConfig`'s defaults.
    /// Errors name the field inside `vision_config`.
    pub fn from_value(v: &serde_json::Value) -> Result<Self, FieldError> {
        let raw: Raw = serde_json::from_value(v.clone())
            .map_err(|e| FieldError::new("vision_config", e.to_string()))?;
        let d = Self::clip_defaults();
        let or = |x: Option<usize>, key: &str| x.unwrap_or(d[key].as_u64().unwrap_or(0) as usize);
        let cfg = ClipVisionConfig {
            hidden_size: or(raw.hidden_size, "hidden_size"),
            intermediate_size: or(raw.intermediate_size, "intermediate_size"),
            num_hidden_layers: or(raw.num_hidden_layers, "num_hidden_layers"),
            num_attention_heads: or(raw.num_attention_heads, "num_attention_heads"),
            num_channels: raw.num_channels.unwrap_or(3),
            image_size: or(raw.image_size, "image_size"),
            patch_size: or(raw.patch_size, "patch_size"),
            hidden_act: Activation::parse(
                "vision_config.hidden_act",
                raw.hidden_act.as_deref().unwrap_or("quick_gelu"),
            )?,
            layer_norm_eps: raw.layer_norm_eps.unwrap_or(1e-5),
        };
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(FieldError::new(
                "vision_config.hidden_size",
                format!(
                    "{} is not a multiple of num_attention_heads {}",
                    cfg.hidden_size, cfg.num_attention_heads
                ),
            ));
        }
        if cfg.patch_size == 0 || !cfg.image_size.is_multiple_of(cfg.patch_size) {
            return Err(FieldError::new(
                "vision_config.image_size",
                format!(
                    "{} is not a multiple of patch_size {}",
                    cfg.image_size, cfg.patch_size
                ),
            ));
        }
        Ok(cfg)
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Patches per image (without the class token).
    pub fn num_patches(&self) -> usize {
        self.grid() * self.grid()
    }
}

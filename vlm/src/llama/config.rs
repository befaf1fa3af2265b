//! `config.json` of LLaMA-architecture checkpoints (LLaMA itself and Qwen2, which differs only
//! in its attention biases and defaults), in transformers 4.x style (`rope_theta`,
//! `torch_dtype`) and 5.x style (`rope_parameters`, `dtype`), with transformers' defaults.

use serde::Deserialize;
use std::path::Path;

use crate::weights::WeightError;
use crate::FieldError;

/// Which transformers class the checkpoint was written by (`model_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecoderFamily {
    /// `LlamaForCausalLM` (also InternLM2.5 as InternVL stores it).
    Llama,
    /// `Qwen2ForCausalLM`: biases on the q/k/v projections, none on o_proj (Qwen2.5 and
    /// InternVL3's language model).
    Qwen2,
}

impl DecoderFamily {
    fn from_model_type(t: Option<&str>) -> Result<Self, FieldError> {
        match t {
            None | Some("llama") => Ok(DecoderFamily::Llama),
            Some("qwen2") => Ok(DecoderFamily::Qwen2),
            Some(other) => Err(FieldError::new(
                "model_type",
                format!("{other:?} is not supported (only llama and qwen2)"),
            )),
        }
    }
}

/// The decoder's hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub family: DecoderFamily,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Fewer than `num_attention_heads` means grouped-query attention.
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub max_position_embeddings: usize,
    /// The output head shares the token embedding matrix.
    pub tie_word_embeddings: bool,
    /// Biases on the q/k/v projections (LLaMA's `attention_bias`; always in Qwen2).
    pub qkv_bias: bool,
    /// A bias on o_proj (LLaMA's `attention_bias`; never in Qwen2).
    pub o_bias: bool,
    pub mlp_bias: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
}

/// The raw file; every field a checkpoint may leave out is optional.
#[derive(Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<serde_json::Value>,
    rope_parameters: Option<serde_json::Value>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    hidden_act: Option<String>,
    use_sliding_window: Option<bool>,
    layer_types: Option<Vec<String>>,
    bos_token_id: Option<serde_json::Value>,
    eos_token_id: Option<serde_json::Value>,
}

/// Token ids written as one number or a list (`eos_token_id` and friends).
pub(crate) fn ids(v: Option<&serde_json::Value>) -> Vec<u32> {
    match v {
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().map(|n| vec![n as u32]).unwrap_or_default()
        }
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64())
            .map(|n| n as u32)
            .collect(),
        _ => Vec::new(),
    }
}

impl LlamaConfig {
    /// Parses `config.json` text; `source` names the file in errors.
    pub fn from_json(source: &str, text: &str) -> Result<Self, WeightError> {
        let bad = |reason: String| WeightError::Config {
            path: source.to_string(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        Self::from_value(source, &value)
    }

    /// Reads a parsed config object (a whole `config.json`, or a VLM's `text_config`).
    pub fn from_value(source: &str, value: &serde_json::Value) -> Result<Self, WeightError> {
        let bad = |reason: String| WeightError::Config {
            path: source.to_string(),
            reason,
        };
        let raw: RawConfig =
            serde_json::from_value(value.clone()).map_err(|e| bad(e.to_string()))?;
        Self::from_raw(raw).map_err(|e| WeightError::setting(source, e))
    }

    /// Reads `config.json` from a file.
    pub fn from_file(path: &Path) -> Result<Self, WeightError> {
        let text = std::fs::read_to_string(path).map_err(|e| WeightError::io(path, e))?;
        Self::from_json(&path.display().to_string(), &text)
    }

    fn from_raw(raw: RawConfig) -> Result<Self, FieldError> {
        let family = DecoderFamily::from_model_type(raw.model_type.as_deref())?;
        // Qwen2 uses a window only when asked to, and then on the layers `layer_types` names.
        let sliding = raw.use_sliding_window.unwrap_or(false)
            && raw
                .layer_types
                .as_ref()
                .is_none_or(|t| t.iter().any(|l| l == "sliding_attention"));
        if sliding {
            return Err(FieldError::new(
                "use_sliding_window",
                "sliding-window attention is not supported",
            ));
        }
        let qwen2 = family == DecoderFamily::Qwen2;
        if let Some(act) = raw.hidden_act.as_deref() {
            if act != "silu" {
                return Err(FieldError::new(
                    "hidden_act",
                    format!("{act:?} is not supported (only silu)"),
                ));
            }
        }
        // transformers 5.x: {"rope_parameters": {"rope_type": "default", "rope_theta": ...}}
        let mut rope_theta = raw.rope_theta;
        for params in [&raw.rope_parameters, &raw.rope_scaling]
            .into_iter()
            .flatten()
        {
            if params.is_null() {
                continue;
            }
            let kind = params
                .get("rope_type")
                .or_else(|| params.get("type"))
                .and_then(|v| v.as_str())
                .unwrap_or("default");
            if kind != "default" {
                return Err(FieldError::new(
                    "rope_type",
                    format!("{kind:?} is not supported (only the default rope)"),
                ));
            }
            if let Some(t) = params.get("rope_theta").and_then(|v| v.as_f64()) {
                rope_theta = Some(t);
            }
        }
        let hidden_size = raw.hidden_size.unwrap_or(4096);
        let num_attention_heads = raw.num_attention_heads.unwrap_or(32);
        if num_attention_heads == 0 || hidden_size == 0 {
            return Err(FieldError::new(
                "hidden_size",
                "hidden_size and num_attention_heads must be positive",
            ));
        }
        let num_key_value_heads = raw.num_key_value_heads.unwrap_or(num_attention_heads);
        if num_key_value_heads == 0 || !num_attention_heads.is_multiple_of(num_key_value_heads) {
            return Err(FieldError::new(
                "num_key_value_heads",
                format!("num_attention_heads ({num_attention_heads}) must be a multiple of num_key_value_heads ({num_key_value_heads})"),
            ));
        }
        let head_dim = raw.head_dim.unwrap_or(hidden_size / num_attention_heads);
        if !head_dim.is_multiple_of(2) {
            return Err(FieldError::new(
                "head_dim",
                format!("{head_dim} must be even for rotary embeddings"),
            ));
        }
        let attention_bias = raw.attention_bias.unwrap_or(false);
        Ok(LlamaConfig {
            family,
            vocab_size: raw.vocab_size.unwrap_or(if qwen2 { 151936 } else { 32000 }),
            hidden_size,
            intermediate_size: raw
                .intermediate_size
                .unwrap_or(if qwen2 { 22016 } else { 11008 }),
            num_hidden_layers: raw.num_hidden_layers.unwrap_or(32),
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: raw.rms_norm_eps.unwrap_or(1e-6),
            rope_theta: rope_theta.unwrap_or(10000.0),
            max_position_embeddings: raw.max_position_embeddings.unwrap_or(if qwen2 {
                32768
            } else {
                2048
            }),
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
            qkv_bias: qwen2 || attention_bias,
            o_bias: !qwen2 && attention_bias,
            mlp_bias: !qwen2 && raw.mlp_bias.unwrap_or(false),
            // The classes' defaults when the keys are absent (a VLM's text_config often is):
            // LlamaConfig's 1 and 2, Qwen2Config's none.
            bos_token_id: match raw.bos_token_id {
                None if qwen2 => None,
                None => Some(1),
                some => ids(some.as_ref()).first().copied(),
            },
            eos_token_ids: match raw.eos_token_id {
                None if qwen2 => Vec::new(),
                None => vec![2],
                some => ids(some.as_ref()),
            },
        })
    }

    /// SmolLM2-135M's sizes (for benchmarks and docs).
    pub fn smollm2_135m() -> Self {
        LlamaConfig {
            family: DecoderFamily::Llama,
            vocab_size: 49152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            head_dim: 64,
            rms_norm_eps: 1e-5,
            rope_theta: 100000.0,
            max_position_embeddings: 8192,
            tie_word_embeddings: true,
            qkv_bias: false,
            o_bias: false,
            mlp_bias: false,
            bos_token_id: Some(1),
            eos_token_ids: vec![2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_transformers_styles() {
        let v4 = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":96,
            "num_attention_heads":4,"num_key_value_heads":2,"num_hidden_layers":2,"vocab_size":128,
            "rope_theta":500000.0,"torch_dtype":"float32","tie_word_embeddings":false,"rope_scaling":null,
            "eos_token_id":[2,3]}"#;
        let v5 = r#"{"hidden_size":64,"intermediate_size":96,"num_attention_heads":4,"num_key_value_heads":2,
            "num_hidden_layers":2,"vocab_size":128,"dtype":"bfloat16",
            "rope_parameters":{"rope_type":"default","rope_theta":500000.0},"eos_token_id":2}"#;
        let a = LlamaConfig::from_json("v4", v4).unwrap();
        let b = LlamaConfig::from_json("v5", v5).unwrap();
        assert_eq!(a.rope_theta, 500000.0);
        assert_eq!(b.rope_theta, 500000.0);
        assert_eq!((a.head_dim, a.num_key_value_heads), (16, 2));
        assert_eq!(a.eos_token_ids, [2, 3]);
        assert_eq!(b.eos_token_ids, [2]);
    }

    #[test]
    fn fills_defaults_and_rejects_what_it_cannot_run() {
        let c =
            LlamaConfig::from_json("min", r#"{"hidden_size":64,"num_attention_heads":4}"#).unwrap();
        assert_eq!(
            (c.num_key_value_heads, c.rms_norm_eps, c.rope_theta),
            (4, 1e-6, 10000.0)
        );
        assert!(!c.tie_word_embeddings);
        for bad in [
            r#"{"rope_scaling":{"rope_type":"llama3","factor":8.0}}"#,
            r#"{"hidden_act":"gelu"}"#,
            r#"{"model_type":"gemma"}"#,
            r#"{"model_type":"qwen2","use_sliding_window":true,"sliding_window":4096}"#,
            r#"{"num_attention_heads":6,"num_key_value_heads":4}"#,
            r#"{"hidden_size":"big"}"#,
            "not json",
        ] {
            let err = LlamaConfig::from_json("config.json", bad)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("config.json:"), "{err}");
        }
    }

    #[test]
    fn qwen2_has_qkv_biases_and_its_own_defaults() {
        let q = LlamaConfig::from_json(
            "qwen2",
            r#"{"model_type":"qwen2","hidden_size":64,"num_attention_heads":4,
                "use_sliding_window":false,"layer_types":["full_attention"]}"#,
        )
        .unwrap();
        assert_eq!(q.family, DecoderFamily::Qwen2);
        assert_eq!((q.qkv_bias, q.o_bias, q.mlp_bias), (true, false, false));
        assert_eq!((q.vocab_size, q.max_position_embeddings), (151936, 32768));
        assert_eq!((q.bos_token_id, q.eos_token_ids.len()), (None, 0));
        // A window asked for but on no layer is full attention.
        let full =
            r#"{"model_type":"qwen2","use_sliding_window":true,"layer_types":["full_attention"]}"#;
        assert!(LlamaConfig::from_json("q", full).is_ok());
        let l = LlamaConfig::from_json("llama", r#"{"attention_bias":true}"#).unwrap();
        assert_eq!(
            (l.family, l.qkv_bias, l.o_bias),
            (DecoderFamily::Llama, true, true)
        );
    }
}

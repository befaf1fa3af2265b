//! `config.json` of a BERT checkpoint, with transformers' `BertConfig` defaults.

use std::path::Path;

use serde::Deserialize;

use crate::clip::config::Activation;
use crate::weights::WeightError;
use crate::FieldError;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub position_embedding_type: String,
    pub pad_token_id: u32,
}

impl Default for BertConfig {
    fn default() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            position_embedding_type: "absolute".into(),
            pad_token_id: 0,
        }
    }
}

impl BertConfig {
    pub fn from_file(path: &Path) -> Result<Self, WeightError> {
        let bad = |reason: String| WeightError::Config {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| WeightError::io(path, e))?;
        let cfg: BertConfig = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        cfg.activation()
            .map_err(|e| WeightError::setting(&path.display().to_string(), e))?;
        if cfg.position_embedding_type != "absolute" {
            return Err(bad(format!(
                "position_embedding_type {:?} is not supported (absolute)",
                cfg.position_embedding_type
            )));
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                cfg.hidden_size, cfg.num_attention_heads
            )));
        }
        Ok(cfg)
    }

    pub fn activation(&self) -> Result<Activation, FieldError> {
        Activation::parse("hidden_act", &self.hidden_act)
    }
}

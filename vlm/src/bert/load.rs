//! Opening a BERT folder (config.json, model.safetensors, tokenizer.json); keys with or without
//! the `bert.` prefix, the pooler ignored.

use std::path::Path;

use burn::module::Param;
use burn::nn::Embedding;
use burn::tensor::backend::Backend;

use super::config::BertConfig;
use super::model::{Bert, BertLayer};
use crate::clip::load::layer_norm;
use crate::clip::model::ClipAttention;
use crate::llama::load::{linear, tensor};
use crate::tokenizer::Tokenizer;
use crate::weights::{ShardedSafeTensors, TensorSource, Tracker, WeightError};

/// A loaded encoder with its tokenizer.
#[derive(Debug)]
pub struct Encoder<B: Backend> {
    pub config: BertConfig,
    pub model: Bert<B>,
    pub tokenizer: Tokenizer,
}

fn embedding<B: Backend>(
    tr: &mut Tracker,
    name: &str,
    shape: [usize; 2],
    device: &B::Device,
) -> Result<Embedding<B>, WeightError> {
    let w = tr.take(name, &shape)?;
    Ok(Embedding {
        weight: Param::from_tensor(tensor(w, device)),
    })
}

/// Builds the encoder from `source`.
pub fn build<B: Backend>(
    cfg: &BertConfig,
    source: &mut dyn TensorSource,
    device: &B::Device,
) -> Result<Bert<B>, WeightError> {
    let prefix = if source.names().iter().any(|n| n.starts_with("bert.")) {
        "bert."
    } else {
        ""
    };
    let mut tr = Tracker::new(source);
    let (h, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
    let act = cfg
        .activation()
        .map_err(|e| WeightError::setting("config.json", e))?;
    let e = format!("{prefix}embeddings");
    let word_embeddings = embedding(
        &mut tr,
        &format!("{e}.word_embeddings.weight"),
        [cfg.vocab_size, h],
        device,
    )?;
    let position_embeddings = embedding(
        &mut tr,
        &format!("{e}.position_embeddings.weight"),
        [cfg.max_position_embeddings, h],
        device,
    )?;
    let token_type_embeddings = embedding(
        &mut tr,
        &format!("{e}.token_type_embeddings.weight"),
        [cfg.type_vocab_size, h],
        device,
    )?;
    let embeddings_norm = layer_norm(&mut tr, &format!("{e}.LayerNorm"), h, eps, device)?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for i in 0..cfg.num_hidden_layers {
        let l = format!("{prefix}encoder.layer.{i}");
        let proj = |tr: &mut Tracker, name: &str, d_in, d_out| {
            linear(tr, &format!("{l}.{name}"), d_in, d_out, true, device)
        };
        layers.push(BertLayer {
            attention: ClipAttention {
                q_proj: proj(&mut tr, "attention.self.query", h, h)?,
                k_proj: proj(&mut tr, "attention.self.key", h, h)?,
                v_proj: proj(&mut tr, "attention.self.value", h, h)?,
                out_proj: proj(&mut tr, "attention.output.dense", h, h)?,
                n_heads: cfg.num_attention_heads,
            },
            attention_norm: layer_norm(
                &mut tr,
                &format!("{l}.attention.output.LayerNorm"),
                h,
                eps,
                device,
            )?,
            intermediate: proj(&mut tr, "intermediate.dense", h, cfg.intermediate_size)?,
            output: proj(&mut tr, "output.dense", cfg.intermediate_size, h)?,
            output_norm: layer_norm(&mut tr, &format!("{l}.output.LayerNorm"), h, eps, device)?,
            act,
        });
    }
    tr.finish(|n| n.contains("pooler.") || n.ends_with("position_ids"))?;
    Ok(Bert {
        word_embeddings,
        position_embeddings,
        token_type_embeddings,
        embeddings_norm,
        layers,
    })
}

/// Opens a BERT folder.
pub fn open<B: Backend>(dir: &Path, device: &B::Device) -> Result<Encoder<B>, WeightError> {
    let config = BertConfig::from_file(&dir.join("config.json"))?;
    let mut source = ShardedSafeTensors::open_dir(dir)?;
    let model = build(&config, &mut source, device)?;
    let tokenizer = Tokenizer::from_file(&dir.join("tokenizer.json"))?;
    Ok(Encoder {
        config,
        model,
        tokenizer,
    })
}

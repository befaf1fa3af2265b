//! Building a [`Llama`] from checkpoint tensors with transformers' key names.

use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, Linear, RmsNorm};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::config::LlamaConfig;
use super::model::{Attention, DecoderLayer, Llama, Mlp};
use crate::weights::{HostTensor, ShardedSafeTensors, TensorSource, Tracker, WeightError};

pub(crate) fn tensor<B: Backend, const D: usize>(
    t: HostTensor,
    device: &B::Device,
) -> Tensor<B, D> {
    let shape: [usize; D] = t.shape.clone().try_into().unwrap_or([0; D]);
    Tensor::from_data(TensorData::new(t.data, shape), device)
}

/// A `Linear` from a transformers weight `[out, in]` (Burn keeps `[in, out]`).
pub(crate) fn linear_from<B: Backend>(
    w: HostTensor,
    bias: Option<HostTensor>,
    device: &B::Device,
) -> Linear<B> {
    linear_from_transposed(w.transposed(), bias, device)
}

/// A `Linear` from a weight already in Burn's `[in, out]` order.
fn linear_from_transposed<B: Backend>(
    wt: HostTensor,
    bias: Option<HostTensor>,
    device: &B::Device,
) -> Linear<B> {
    Linear {
        weight: Param::from_tensor(tensor(wt, device)),
        bias: bias.map(|b| Param::from_tensor(tensor(b, device))),
    }
}

pub(crate) fn linear<B: Backend>(
    tr: &mut Tracker,
    name: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
    device: &B::Device,
) -> Result<Linear<B>, WeightError> {
    let wt = tr.take_transposed(&format!("{name}.weight"), [d_out, d_in])?;
    let b = if bias {
        Some(tr.take(&format!("{name}.bias"), &[d_out])?)
    } else {
        None
    };
    Ok(linear_from_transposed(wt, b, device))
}

/// An RMSNorm with its weight from `{name}.weight`.
pub(crate) fn rms<B: Backend>(
    tr: &mut Tracker,
    name: &str,
    d: usize,
    eps: f64,
    device: &B::Device,
) -> Result<RmsNorm<B>, WeightError> {
    Ok(RmsNorm {
        gamma: Param::from_tensor(tensor(tr.take(&format!("{name}.weight"), &[d])?, device)),
        epsilon: eps,
    })
}

/// Where the decoder's tensors live in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLayout {
    /// Prefix of the decoder body, e.g. `model.` or `language_model.model.`.
    pub body: String,
    /// Name of the output head's weight, e.g. `lm_head.weight`.
    pub head: String,
}

impl Default for KeyLayout {
    fn default() -> Self {
        KeyLayout {
            body: "model.".into(),
            head: "lm_head.weight".into(),
        }
    }
}

/// Builds the decoder, taking its tensors from `tr` (which records what was used).
pub fn build<B: Backend>(
    cfg: &LlamaConfig,
    keys: &KeyLayout,
    tr: &mut Tracker,
    device: &B::Device,
) -> Result<Llama<B>, WeightError> {
    let (h, p) = (cfg.hidden_size, &keys.body);
    let (q_out, kv_out) = (
        cfg.num_attention_heads * cfg.head_dim,
        cfg.num_key_value_heads * cfg.head_dim,
    );
    let embed_key = format!("{p}embed_tokens.weight");
    // The embedding and head first: the largest matrices, whose conversion briefly holds two
    // copies, then cost the least on top of what is already loaded (peak ≈ the model + a
    // layer's weight, not the model + the embedding).
    let (embed_tokens, head_t) = if cfg.tie_word_embeddings {
        // Some tied checkpoints still store a copy of the head; it is the embedding again.
        tr.skip(&keys.head);
        // One matrix serves both: the head's transposed copy also answers embedding lookups.
        (None, tr.take_transposed(&embed_key, [cfg.vocab_size, h])?)
    } else {
        let embedding = Embedding {
            weight: Param::from_tensor(tensor(tr.take(&embed_key, &[cfg.vocab_size, h])?, device)),
        };
        (
            Some(embedding),
            tr.take_transposed(&keys.head, [cfg.vocab_size, h])?,
        )
    };
    let lm_head = linear_from_transposed(head_t, None, device);
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for i in 0..cfg.num_hidden_layers {
        let l = format!("{p}layers.{i}");
        let (qb, ob) = (cfg.qkv_bias, cfg.o_bias);
        let self_attn = Attention {
            q_proj: linear(tr, &format!("{l}.self_attn.q_proj"), h, q_out, qb, device)?.into(),
            k_proj: linear(tr, &format!("{l}.self_attn.k_proj"), h, kv_out, qb, device)?.into(),
            v_proj: linear(tr, &format!("{l}.self_attn.v_proj"), h, kv_out, qb, device)?.into(),
            o_proj: linear(tr, &format!("{l}.self_attn.o_proj"), q_out, h, ob, device)?.into(),
            n_heads: cfg.num_attention_heads,
            n_kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
        };
        let mb = cfg.mlp_bias;
        let mlp = Mlp {
            gate_proj: linear(
                tr,
                &format!("{l}.mlp.gate_proj"),
                h,
                cfg.intermediate_size,
                mb,
                device,
            )?
            .into(),
            up_proj: linear(
                tr,
                &format!("{l}.mlp.up_proj"),
                h,
                cfg.intermediate_size,
                mb,
                device,
            )?
            .into(),
            down_proj: linear(
                tr,
                &format!("{l}.mlp.down_proj"),
                cfg.intermediate_size,
                h,
                mb,
                device,
            )?
            .into(),
        };
        layers.push(DecoderLayer {
            input_layernorm: rms(
                tr,
                &format!("{l}.input_layernorm"),
                h,
                cfg.rms_norm_eps,
                device,
            )?,
            self_attn,
            post_attention_layernorm: rms(
                tr,
                &format!("{l}.post_attention_layernorm"),
                h,
                cfg.rms_norm_eps,
                device,
            )?,
            mlp,
        });
    }
    let norm = rms(tr, &format!("{p}norm"), h, cfg.rms_norm_eps, device)?;
    Ok(Llama {
        embed_tokens,
        layers,
        norm,
        lm_head,
        lm_head_quant: None,
        rope_theta: cfg.rope_theta,
        head_dim: cfg.head_dim,
    })
}

/// Rotary caches some exporters store; they are recomputed, never loaded.
pub fn ignorable(name: &str) -> bool {
    name.ends_with("rotary_emb.inv_freq")
}

/// Loads a Hugging Face `LlamaForCausalLM` folder (config.json + safetensors, sharded or not).
pub fn from_hf_dir<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(LlamaConfig, Llama<B>), WeightError> {
    let cfg = LlamaConfig::from_file(&dir.join("config.json"))?;
    let mut source = ShardedSafeTensors::open_dir(dir)?;
    let model = from_source(&cfg, &KeyLayout::default(), &mut source, device)?;
    Ok((cfg, model))
}

/// Builds the decoder from any tensor source and checks that nothing is missing or left over.
pub fn from_source<B: Backend>(
    cfg: &LlamaConfig,
    keys: &KeyLayout,
    source: &mut dyn TensorSource,
    device: &B::Device,
) -> Result<Llama<B>, WeightError> {
    let mut tr = Tracker::new(source);
    let model = build(cfg, keys, &mut tr, device)?;
    tr.finish(ignorable)?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_across_tile_edges() {
        let (rows, cols) = (37, 70);
        let t = HostTensor {
            shape: vec![rows, cols],
            data: (0..rows * cols).map(|i| i as f32).collect(),
        };
        let out = t.clone().transposed();
        assert_eq!(out.shape, [cols, rows]);
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(out.data[c * rows + r], t.data[r * cols + c]);
            }
        }
    }
}

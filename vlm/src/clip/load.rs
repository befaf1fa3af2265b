//! Building a [`ClipVision`] from checkpoint tensors under a name prefix (e.g.
//! `vision_tower.vision_model.`).

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::backend::Backend;

use super::config::ClipVisionConfig;
use super::model::{ClipAttention, ClipLayer, ClipMlp, ClipVision};
use crate::llama::load::{linear, linear_from, tensor};
use crate::weights::{Tracker, WeightError};

/// A LayerNorm with weight and bias from `{name}.weight` / `{name}.bias`.
pub fn layer_norm<B: Backend>(
    tr: &mut Tracker,
    name: &str,
    d: usize,
    eps: f64,
    device: &B::Device,
) -> Result<LayerNorm<B>, WeightError> {
    let mut ln = LayerNormConfig::new(d).with_epsilon(eps).init(device);
    ln.gamma = Param::from_tensor(tensor(tr.take(&format!("{name}.weight"), &[d])?, device));
    ln.beta = Some(Param::from_tensor(tensor(
        tr.take(&format!("{name}.bias"), &[d])?,
        device,
    )));
    Ok(ln)
}

/// Builds the tower from tensors named `{prefix}embeddings.*`, `{prefix}encoder.layers.N.*`,
/// `{prefix}pre_layrnorm.*` and `{prefix}post_layernorm.*`.
pub fn build<B: Backend>(
    cfg: &ClipVisionConfig,
    prefix: &str,
    tr: &mut Tracker,
    device: &B::Device,
) -> Result<ClipVision<B>, WeightError> {
    let (d, p, c) = (cfg.hidden_size, cfg.patch_size, cfg.num_channels);
    let eps = cfg.layer_norm_eps;
    let mut conv = tr.take(
        &format!("{prefix}embeddings.patch_embedding.weight"),
        &[d, c, p, p],
    )?;
    conv.shape = vec![d, c * p * p];
    let class = tr.take(&format!("{prefix}embeddings.class_embedding"), &[d])?;
    let positions = tr.take(
        &format!("{prefix}embeddings.position_embedding.weight"),
        &[cfg.num_patches() + 1, d],
    )?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for i in 0..cfg.num_hidden_layers {
        let l = format!("{prefix}encoder.layers.{i}");
        let proj = |tr: &mut Tracker, name: &str| {
            linear(tr, &format!("{l}.self_attn.{name}"), d, d, true, device)
        };
        layers.push(ClipLayer {
            layer_norm1: layer_norm(tr, &format!("{l}.layer_norm1"), d, eps, device)?,
            self_attn: ClipAttention {
                q_proj: proj(tr, "q_proj")?,
                k_proj: proj(tr, "k_proj")?,
                v_proj: proj(tr, "v_proj")?,
                out_proj: proj(tr, "out_proj")?,
                n_heads: cfg.num_attention_heads,
            },
            layer_norm2: layer_norm(tr, &format!("{l}.layer_norm2"), d, eps, device)?,
            mlp: ClipMlp {
                fc1: linear(
                    tr,
                    &format!("{l}.mlp.fc1"),
                    d,
                    cfg.intermediate_size,
                    true,
                    device,
                )?,
                fc2: linear(
                    tr,
                    &format!("{l}.mlp.fc2"),
                    cfg.intermediate_size,
                    d,
                    true,
                    device,
                )?,
                act: cfg.hidden_act,
            },
        });
    }
    Ok(ClipVision {
        patch_embedding: linear_from(conv, None, device),
        class_embedding: Param::from_tensor(tensor(class, device)),
        position_embedding: Param::from_tensor(tensor(positions, device)),
        pre_layrnorm: layer_norm(tr, &format!("{prefix}pre_layrnorm"), d, eps, device)?,
        layers,
        post_layernorm: layer_norm(tr, &format!("{prefix}post_layernorm"), d, eps, device)?,
        patch_size: p,
    })
}

//! Building an [`InternVit`] from checkpoint tensors under a name prefix (e.g. `vision_tower.`).

use burn::module::Param;
use burn::nn::RmsNorm;
use burn::tensor::backend::Backend;

use super::config::{InternVitConfig, VisionNormKind};
use super::model::{InternVit, VisionNorm, VitAttention, VitLayer, VitMlp};
use crate::clip::load::layer_norm;
use crate::llama::load::{linear, linear_from, rms, tensor};
use crate::weights::{Tracker, WeightError};

fn norm<B: Backend>(
    cfg: &InternVitConfig,
    tr: &mut Tracker,
    name: &str,
    device: &B::Device,
) -> Result<VisionNorm<B>, WeightError> {
    let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
    Ok(match cfg.norm {
        VisionNormKind::LayerNorm => VisionNorm::Layer(layer_norm(tr, name, d, eps, device)?),
        VisionNormKind::RmsNorm => VisionNorm::Rms(rms(tr, name, d, eps, device)?),
    })
}

/// Builds the tower from tensors named `{prefix}embeddings.*`, `{prefix}encoder.layer.N.*`
/// and `{prefix}layernorm.*`.
pub fn build<B: Backend>(
    cfg: &InternVitConfig,
    prefix: &str,
    tr: &mut Tracker,
    device: &B::Device,
) -> Result<InternVit<B>, WeightError> {
    let (d, p, c) = (cfg.hidden_size, cfg.patch_size, cfg.num_channels);
    let e = format!("{prefix}embeddings");
    let mut conv = tr.take(
        &format!("{e}.patch_embeddings.projection.weight"),
        &[d, c, p, p],
    )?;
    conv.shape = vec![d, c * p * p];
    let conv_bias = tr.take(&format!("{e}.patch_embeddings.projection.bias"), &[d])?;
    let cls = tr.take(&format!("{e}.cls_token"), &[1, 1, d])?;
    let position_embeddings = if cfg.absolute_positions {
        let mut t = tr.take(
            &format!("{e}.position_embeddings"),
            &[1, cfg.num_patches() + 1, d],
        )?;
        t.shape = vec![cfg.num_patches() + 1, d];
        Some(Param::from_tensor(tensor(t, device)))
    } else {
        None
    };
    if cfg.mask_token {
        tr.skip(&format!("{e}.mask_token"));
    }
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for i in 0..cfg.num_hidden_layers {
        let l = format!("{prefix}encoder.layer.{i}");
        let a = format!("{l}.attention");
        let ab = cfg.attention_bias;
        // q/k norms use RMSNorm's own default epsilon, not layer_norm_eps.
        let qk = |tr: &mut Tracker, name: &str| -> Result<Option<RmsNorm<B>>, WeightError> {
            cfg.qk_norm
                .then(|| rms(tr, &format!("{a}.{name}"), d, 1e-6, device))
                .transpose()
        };
        let lambda = |tr: &mut Tracker, name: &str| -> Result<_, WeightError> {
            Ok(Param::from_tensor(tensor(
                tr.take(&format!("{l}.{name}"), &[d])?,
                device,
            )))
        };
        layers.push(VitLayer {
            layernorm_before: norm(cfg, tr, &format!("{l}.layernorm_before"), device)?,
            attention: VitAttention {
                q_proj: linear(tr, &format!("{a}.q_proj"), d, d, ab, device)?,
                k_proj: linear(tr, &format!("{a}.k_proj"), d, d, ab, device)?,
                v_proj: linear(tr, &format!("{a}.v_proj"), d, d, ab, device)?,
                projection_layer: linear(tr, &format!("{a}.projection_layer"), d, d, true, device)?,
                q_norm: qk(tr, "q_norm")?,
                k_norm: qk(tr, "k_norm")?,
                n_heads: cfg.num_attention_heads,
            },
            lambda_1: lambda(tr, "lambda_1")?,
            layernorm_after: norm(cfg, tr, &format!("{l}.layernorm_after"), device)?,
            mlp: VitMlp {
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
            lambda_2: lambda(tr, "lambda_2")?,
        });
    }
    let layernorm = if cfg.mean_pooling {
        None
    } else {
        Some(layer_norm(
            tr,
            &format!("{prefix}layernorm"),
            d,
            cfg.layer_norm_eps,
            device,
        )?)
    };
    let mut cls = cls;
    cls.shape = vec![d];
    Ok(InternVit {
        patch_embedding: linear_from(conv, Some(conv_bias), device),
        cls_token: Param::from_tensor(tensor(cls, device)),
        position_embeddings,
        layers,
        layernorm,
        patch_size: p,
        image_size: cfg.image_size,
        channels: c,
    })
}

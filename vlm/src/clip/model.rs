//! The vision transformer's modules and forward pass.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, Linear};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::config::Activation;
use crate::attention::{self, Visibility};
use crate::{activations, fused_grad};

/// A linear layer over every row of `[n, tokens, in]` as one `[n·tokens, in]` matrix product.
/// Burn's `Linear` on a 3-D input runs one small product per batch element (repacking the
/// weight each time); for batches of short sequences (BERTScore's sentences, several images)
/// one large product is several times faster.
pub fn linear_rows<B: Backend>(layer: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [n, t, d] = x.dims();
    if n == 1 {
        return layer.forward(x);
    }
    let y = layer.forward(x.reshape([n * t, d]));
    let out = y.dims()[1];
    y.reshape([n, t, out])
}

/// The image cut into `p × p` patches row by row, each flattened as (channel, row, column)
/// like a patch convolution's weight, so that the convolution is one matrix product.
///
/// # Shapes
/// - pixels: `[n, channels, height, width]` → `[n, (height/p)·(width/p), channels·p·p]`
pub fn patches<B: Backend>(pixels: Tensor<B, 4>, p: usize) -> Tensor<B, 3> {
    let [n, c, hgt, wid] = pixels.dims();
    let (gh, gw) = (hgt / p, wid / p);
    pixels
        .reshape([n, c, gh, p, gw, p])
        .permute([0, 2, 4, 1, 3, 5])
        .reshape([n, gh * gw, c * p * p])
}

/// Self-attention with biases, no mask (every patch sees every patch).
#[derive(Module, Debug)]
pub struct ClipAttention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub out_proj: Linear<B>,
    pub n_heads: usize,
}

impl<B: Backend> ClipAttention<B> {
    /// # Shapes
    /// - x: `[n, tokens, hidden]` → the same
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.forward_masked(x, None)
    }

    /// Without attention to padding keys (BERT's padding): `keep` is `n × tokens`, false for
    /// padding.
    pub fn forward_masked(&self, x: Tensor<B, 3>, keep: Option<&[bool]>) -> Tensor<B, 3> {
        let q = linear_rows(&self.q_proj, x.clone());
        let k = linear_rows(&self.k_proj, x.clone());
        let v = linear_rows(&self.v_proj, x);
        linear_rows(&self.out_proj, attend(q, k, v, self.n_heads, keep))
    }
}

/// Scaled dot-product attention of projected queries, keys and values, split into `heads`
/// heads and joined again; with `keep` (`n × tokens`, false for padding), no query sees a
/// padding key. On the CPU the fused attention computes it ([`attention::fused_cpu`]).
///
/// # Shapes
/// - q, k, v: `[n, tokens, hidden]` → `[n, tokens, hidden]`
pub fn attend<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    heads: usize,
    keep: Option<&[bool]>,
) -> Tensor<B, 3> {
    let [n, t, d] = q.dims();
    let hd = d / heads;
    let scale = (hd as f32).powf(-0.5);
    let split = |y: Tensor<B, 3>| y.reshape([n, t, heads, hd]).swap_dims(1, 2);
    let (q, k, v) = (split(q), split(k), split(v));
    let visible = Visibility {
        causal: false,
        keep,
    };
    let fused = attention::fused_cpu(&q, &k, &v, scale, visible)
        .or_else(|| fused_grad::attention(&q, &k, &v, scale, visible));
    if let Some(out) = fused {
        return out;
    }
    let device = q.device();
    let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale);
    let scores = match keep {
        Some(keep) => {
            let additive: Vec<f32> = keep.iter().map(|&k| if k { 0.0 } else { MASKED }).collect();
            scores + Tensor::<B, 4>::from_data(TensorData::new(additive, [n, 1, 1, t]), &device)
        }
        None => scores,
    };
    softmax(scores, 3)
        .matmul(v)
        .swap_dims(1, 2)
        .reshape([n, t, d])
}

/// Additive value for padding keys on Burn's path (finite, so a padding query's row stays
/// finite).
const MASKED: f32 = -32768.0;

/// fc1 → activation → fc2.
#[derive(Module, Debug)]
pub struct ClipMlp<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
    #[module(skip)]
    pub act: Activation,
}

/// Applies an activation.
pub fn activate<B: Backend, const D: usize>(act: Activation, x: Tensor<B, D>) -> Tensor<B, D> {
    match act {
        Activation::QuickGelu => activations::quick_gelu(x),
        Activation::Gelu => activations::exact_gelu(x),
    }
}

impl<B: Backend> ClipMlp<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        linear_rows(&self.fc2, activate(self.act, linear_rows(&self.fc1, x)))
    }
}

/// One pre-norm encoder layer.
#[derive(Module, Debug)]
pub struct ClipLayer<B: Backend> {
    pub layer_norm1: LayerNorm<B>,
    pub self_attn: ClipAttention<B>,
    pub layer_norm2: LayerNorm<B>,
    pub mlp: ClipMlp<B>,
}

impl<B: Backend> ClipLayer<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = x.clone() + self.self_attn.forward(self.layer_norm1.forward(x));
        x.clone() + self.mlp.forward(self.layer_norm2.forward(x))
    }
}

/// The whole tower.
#[derive(Module, Debug)]
pub struct ClipVision<B: Backend> {
    /// The patch convolution (stride = kernel, no bias) as a matrix `[channels·p·p, hidden]`.
    pub patch_embedding: Linear<B>,
    pub class_embedding: Param<Tensor<B, 1>>,
    /// `[patches + 1, hidden]`
    pub position_embedding: Param<Tensor<B, 2>>,
    pub pre_layrnorm: LayerNorm<B>,
    pub layers: Vec<ClipLayer<B>>,
    pub post_layernorm: LayerNorm<B>,
    pub patch_size: usize,
}

/// What the tower computes for a batch of images.
#[derive(Debug, Clone)]
pub struct VisionOutput<B: Backend> {
    /// The input to the first layer (embeddings after the pre-layernorm), then the output of
    /// every layer: `layers + 1` tensors `[n, patches + 1, hidden]`, as transformers'
    /// `hidden_states`.
    pub hidden_states: Vec<Tensor<B, 3>>,
    /// The class token of the last layer after the post-layernorm, `[n, hidden]`.
    pub pooled: Tensor<B, 2>,
}

impl<B: Backend> ClipVision<B> {
    /// Patch, class and position embeddings.
    ///
    /// # Shapes
    /// - pixels: `[n, channels, size, size]` → `[n, patches + 1, hidden]`
    pub fn embed(&self, pixels: Tensor<B, 4>) -> Tensor<B, 3> {
        let n = pixels.dims()[0];
        let x = self
            .patch_embedding
            .forward(patches(pixels, self.patch_size));
        let d = x.dims()[2];
        let cls = self
            .class_embedding
            .val()
            .reshape([1, 1, d])
            .expand([n, 1, d]);
        let x = Tensor::cat(vec![cls, x], 1);
        x + self.position_embedding.val().unsqueeze_dim(0)
    }

    /// Runs the tower, keeping every layer's output.
    ///
    /// # Shapes
    /// - pixels: `[n, channels, size, size]`
    pub fn forward(&self, pixels: Tensor<B, 4>) -> VisionOutput<B> {
        self.forward_layers(pixels, self.layers.len())
    }

    /// Runs only the first `layers` layers (LLaVA needs the second-to-last's output, so the
    /// last layer need not run); `pooled` then comes from the last layer run.
    pub fn forward_layers(&self, pixels: Tensor<B, 4>, layers: usize) -> VisionOutput<B> {
        let mut x = self.pre_layrnorm.forward(self.embed(pixels));
        let mut hidden_states = vec![x.clone()];
        for layer in self.layers.iter().take(layers) {
            x = layer.forward(x);
            hidden_states.push(x.clone());
        }
        let [n, _, d] = x.dims();
        let cls = x.slice([0..n, 0..1, 0..d]).reshape([n, d]);
        VisionOutput {
            hidden_states,
            pooled: self.post_layernorm.forward(cls),
        }
    }
}

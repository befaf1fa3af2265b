//! The decoder's modules and forward pass.

use burn::module::Module;
use burn::nn::{Embedding, Linear, RmsNorm};

use std::sync::Arc;

use crate::attention::{self, Visibility};
use crate::lora::{quant_rows, LoraLinear};
use crate::quant::QuantMatrix;
use crate::{activations, fused_grad, norms};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::cache::KvCache;
use super::rope::Rotation;

/// The additive mask's value for hidden keys: half of f16's lowest number, so that a score
/// plus the mask stays finite on half-precision backends (a row of -inf makes softmax NaN,
/// and NaN in a padding row's values poisons every row through 0 × NaN).
const MASKED: f32 = -32768.0;

/// Which tokens are real (not padding), for the past and current tokens of each sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    pub batch: usize,
    /// Past + current tokens per sequence.
    pub total: usize,
    /// `batch × total`, row-major: true for real tokens.
    pub keep: Vec<bool>,
}

impl Mask {
    /// Every token real.
    pub fn all(batch: usize, total: usize) -> Self {
        Mask {
            batch,
            total,
            keep: vec![true; batch * total],
        }
    }

    /// From a 0/1 attention mask, `batch × total` row-major.
    pub fn from_ones(batch: usize, total: usize, ones: &[i64]) -> Self {
        Mask {
            batch,
            total,
            keep: ones.iter().map(|&v| v != 0).collect(),
        }
    }

    /// Position ids of the last `seq` tokens: the count of real tokens before each one (as
    /// transformers' generate computes them), 1 for padding.
    pub fn positions(&self, seq: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.batch * seq);
        for b in 0..self.batch {
            let row = &self.keep[b * self.total..(b + 1) * self.total];
            let mut count = 0i64;
            let mut all = Vec::with_capacity(self.total);
            for &k in row {
                count += k as i64;
                all.push(if k { count - 1 } else { 1 });
            }
            out.extend_from_slice(&all[self.total - seq..]);
        }
        out
    }

    /// False when every query may see every key (one new token, no padding): no mask needed.
    pub fn needed(&self, seq: usize) -> bool {
        seq > 1 || self.keep.iter().any(|&k| !k)
    }

    /// The additive attention mask: 0 where query i may see key j (causal, key not padding),
    /// [`MASKED`] elsewhere.
    ///
    /// # Shapes
    /// - returns: `[batch, 1, seq, total]`
    pub fn additive<B: Backend>(&self, seq: usize, device: &B::Device) -> Tensor<B, 4> {
        let past = self.total - seq;
        let mut data = Vec::with_capacity(self.batch * seq * self.total);
        for b in 0..self.batch {
            for i in 0..seq {
                for j in 0..self.total {
                    let visible = j <= past + i && self.keep[b * self.total + j];
                    data.push(if visible { 0.0f32 } else { MASKED });
                }
            }
        }
        Tensor::from_data(
            TensorData::new(data, [self.batch, 1, seq, self.total]),
            device,
        )
    }
}

impl Mask {
    /// The additive mask laid out like the attention scores of [`Attention::forward`], where
    /// the `rep` query heads sharing a key/value head are stacked: adding it is then a plain
    /// element-wise add (a broadcast add walks strides, measured at 15% of prefill).
    ///
    /// # Shapes
    /// - returns: `[batch, kv_heads, rep × seq, total]`
    pub fn for_heads<B: Backend>(
        &self,
        seq: usize,
        kv_heads: usize,
        rep: usize,
        device: &B::Device,
    ) -> Tensor<B, 4> {
        let (b, t) = (self.batch, self.total);
        self.additive::<B>(seq, device)
            .unsqueeze_dim::<5>(2)
            .expand([b, kv_heads, rep, seq, t])
            .reshape([b, kv_heads, rep * seq, t])
    }
}

/// Multi-head attention with grouped key/value heads.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub q_proj: LoraLinear<B>,
    pub k_proj: LoraLinear<B>,
    pub v_proj: LoraLinear<B>,
    pub o_proj: LoraLinear<B>,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

impl<B: Backend> Attention<B> {
    /// # Shapes
    /// - x: `[batch, seq, hidden]`; rotations for `heads` and `kv_heads` (see [`Rotation`]);
    ///   keys: which of the past + seq tokens are real; mask: their additive form
    ///   `[batch, kv_heads, rep × seq, past + seq]` (see [`Mask::for_heads`]) for Burn's ops,
    ///   made from `keys` when `None` and needed
    /// - returns: `[batch, seq, hidden]`
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rotate_q: &Rotation<B>,
        rotate_k: &Rotation<B>,
        keys: &Mask,
        mask: Option<&Tensor<B, 4>>,
        cache: Option<(&mut KvCache<B>, usize)>,
    ) -> Tensor<B, 3> {
        let [b, s, _] = x.dims();
        let x_device = x.device();
        let (h, kvh, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let rep = h / kvh;
        // Rotate in `[batch, seq, heads, head_dim]`, where the projections are contiguous.
        let [q, k, v] = LoraLinear::forward_shared([&self.q_proj, &self.k_proj, &self.v_proj], x);
        let q = rotate_q.apply(q.reshape([b, s, h, hd]));
        let k = rotate_k.apply(k.reshape([b, s, kvh, hd]));
        let v = v.reshape([b, s, kvh, hd]);
        let (k, v) = (k.swap_dims(1, 2), v.swap_dims(1, 2));
        let q = q.swap_dims(1, 2);
        let scale = 1.0 / (hd as f32).sqrt();
        let visible = Visibility {
            causal: true,
            keep: keys.keep.contains(&false).then_some(&keys.keep[..]),
        };
        let mut cache = cache;
        let fused = match cache.as_mut() {
            Some((c, layer)) => c.attend_in_place(*layer, &q, &k, &v, scale, visible),
            None => attention::fused_cpu(&q, &k, &v, scale, visible)
                .or_else(|| fused_grad::attention(&q, &k, &v, scale, visible)),
        };
        if let Some(out) = fused {
            return self.o_proj.forward(out);
        }
        let (k, v) = match cache {
            Some((c, layer)) => c.append(layer, k, v),
            None => (k, v),
        };
        // Burn's ops: the `rep` query heads that share a key/value head become rows of one
        // matrix, so the keys and values are never copied `rep` times.
        let fallback;
        let mask = match mask {
            Some(m) => Some(m),
            None if keys.needed(s) => {
                fallback = keys.for_heads::<B>(s, kvh, rep, &x_device);
                Some(&fallback)
            }
            None => None,
        };
        let q = q.reshape([b, kvh, rep * s, hd]);
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale);
        let scores = match mask {
            Some(m) => scores + m.clone(),
            None => scores,
        };
        let out = softmax(scores, 3).matmul(v).reshape([b, h, s, hd]);
        self.o_proj
            .forward(out.swap_dims(1, 2).reshape([b, s, h * hd]))
    }
}

/// The SwiGLU feed-forward block.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub gate_proj: LoraLinear<B>,
    pub up_proj: LoraLinear<B>,
    pub down_proj: LoraLinear<B>,
}

impl<B: Backend> Mlp<B> {
    /// # Shapes
    /// - x: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [gate, up] = LoraLinear::forward_shared([&self.gate_proj, &self.up_proj], x);
        self.down_proj.forward(activations::silu_mul(gate, up))
    }
}

/// One pre-norm decoder layer.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    pub input_layernorm: RmsNorm<B>,
    pub self_attn: Attention<B>,
    pub post_attention_layernorm: RmsNorm<B>,
    pub mlp: Mlp<B>,
}

/// The whole decoder with its output head.
#[derive(Module, Debug)]
pub struct Llama<B: Backend> {
    /// None for tied checkpoints: their lookups read the output head's columns, so the
    /// vocabulary matrix is held once.
    pub embed_tokens: Option<Embedding<B>>,
    pub layers: Vec<DecoderLayer<B>>,
    pub norm: RmsNorm<B>,
    /// The output head, `[hidden, vocab]` (Burn's layout; a matmul against a transposed view
    /// would copy the matrix at every step).
    pub lm_head: Linear<B>,
    /// The output head as a GGUF's quantised blocks `[vocab, hidden]`, for decoding on the
    /// CPU ([`crate::quant`]); None for every other model.
    pub lm_head_quant: Option<Arc<QuantMatrix>>,
    pub rope_theta: f64,
    pub head_dim: usize,
}

impl<B: Backend> Llama<B> {
    /// Token embeddings.
    ///
    /// # Shapes
    /// - ids: `[batch, seq]` → `[batch, seq, hidden]`
    pub fn embed(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        match &self.embed_tokens {
            Some(e) => e.forward(ids),
            None => {
                let [b, s] = ids.dims();
                let w = self.lm_head.weight.val();
                let h = w.dims()[0];
                w.select(1, ids.reshape([b * s]))
                    .transpose()
                    .reshape([b, s, h])
            }
        }
    }

    /// Logits for token ids; see [`Llama::forward_embeds`].
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        mask: &Mask,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 3> {
        self.forward_embeds(self.embed(ids), mask, cache)
    }

    /// Logits for input embeddings (the vision-language models put image features here).
    /// `mask` covers the cached and the current tokens.
    ///
    /// # Shapes
    /// - embeds: `[batch, seq, hidden]`
    /// - returns: `[batch, seq, vocab]`
    pub fn forward_embeds(
        &self,
        embeds: Tensor<B, 3>,
        mask: &Mask,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 3> {
        self.lm_head_forward(self.hidden_states(embeds, mask, cache))
    }

    /// The final normalised hidden states.
    ///
    /// # Shapes
    /// - embeds: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    pub fn hidden_states(
        &self,
        embeds: Tensor<B, 3>,
        mask: &Mask,
        mut cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 3> {
        let device = embeds.device();
        let [b, s, _] = embeds.dims();
        let positions = mask.positions(s);
        let (h, kvh) = self
            .layers
            .first()
            .map(|l| (l.self_attn.n_heads, l.self_attn.n_kv_heads))
            .unwrap_or((1, 1));
        let rotation = |heads| {
            Rotation::new(
                &positions,
                [b, s, heads, self.head_dim],
                self.rope_theta,
                &device,
            )
        };
        let rotate_q = rotation(h);
        let rotate_k = if kvh == h {
            rotate_q.clone()
        } else {
            rotation(kvh)
        };
        // The fused CPU attention reads `mask` itself; Burn's ops add this tensor.
        let additive = (mask.needed(s) && !(attention::fuses::<B>() || fused_grad::applies::<B>()))
            .then(|| mask.for_heads::<B>(s, kvh, h / kvh, &device));
        let mut x = embeds;
        for (i, layer) in self.layers.iter().enumerate() {
            let c = cache.as_deref_mut().map(|c| (c, i));
            let h = layer.self_attn.forward(
                norms::rms_norm(&layer.input_layernorm, x.clone()),
                &rotate_q,
                &rotate_k,
                mask,
                additive.as_ref(),
                c,
            );
            x = x + h;
            x = x.clone()
                + layer
                    .mlp
                    .forward(norms::rms_norm(&layer.post_attention_layernorm, x));
        }
        if let Some(c) = cache {
            c.advance(s);
        }
        norms::rms_norm(&self.norm, x)
    }

    /// Logits of each sequence's last token only (what generation needs: the output head is a
    /// fifth of a small model's prefill work when applied to every position).
    ///
    /// # Shapes
    /// - embeds: `[batch, seq, hidden]`
    /// - returns: `[batch, vocab]`
    pub fn forward_last(
        &self,
        embeds: Tensor<B, 3>,
        mask: &Mask,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 2> {
        let hidden = self.hidden_states(embeds, mask, cache);
        let [b, s, d] = hidden.dims();
        let last = hidden.slice([0..b, s - 1..s, 0..d]);
        self.lm_head_forward(last).reshape([b, self.vocab_size()])
    }

    /// Size of the vocabulary (rows of the output head).
    pub fn vocab_size(&self) -> usize {
        self.lm_head.weight.dims()[1]
    }

    /// Projects hidden states to vocabulary logits.
    ///
    /// # Shapes
    /// - x: `[batch, seq, hidden]` → `[batch, seq, vocab]`
    pub fn lm_head_forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        if let Some(y) = self.lm_head_quant.as_ref().and_then(|q| quant_rows(q, &x)) {
            return y;
        }
        self.lm_head.forward(x)
    }

    /// Number of decoder layers (the size a [`KvCache`] needs).
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Mask;

    #[test]
    fn positions_skip_left_padding() {
        let m = Mask::from_ones(2, 5, &[0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
        assert_eq!(m.positions(5), [1, 1, 0, 1, 2, 0, 1, 2, 3, 4]);
        assert_eq!(m.positions(1), [2, 4]);
    }
}

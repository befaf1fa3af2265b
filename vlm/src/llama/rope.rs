//! Rotary position embeddings, transformers' "default" type: the two halves of each head are
//! rotated (`rotate_half`), not interleaved pairs.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// cos and sin tables for the given positions.
///
/// # Shapes
/// - positions: `batch × seq` values, row-major
/// - returns: two tensors `[batch, seq, 1, head_dim]`
pub fn tables<B: Backend>(
    positions: &[i64],
    batch: usize,
    seq: usize,
    head_dim: usize,
    theta: f64,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let half = head_dim / 2;
    // inv_freq in f32 as transformers computes it: 1 / theta^(2i/d).
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| (1.0 / theta.powf((2 * i) as f64 / head_dim as f64)) as f32)
        .collect();
    let mut cos = Vec::with_capacity(batch * seq * head_dim);
    let mut sin = Vec::with_capacity(batch * seq * head_dim);
    for &p in positions {
        // cos/sin of the frequencies, repeated for both halves of the head.
        for _ in 0..2 {
            for f in &inv_freq {
                let angle = p as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
    }
    let shape = [batch, seq, 1, head_dim];
    (
        Tensor::from_data(TensorData::new(cos, shape), device),
        Tensor::from_data(TensorData::new(sin, shape), device),
    )
}

/// Applies the rotation to queries or keys.
///
/// # Shapes
/// - x: `[batch, seq, heads, head_dim]`; cos, sin: `[batch, seq, 1, head_dim]`
pub fn apply<B: Backend>(x: Tensor<B, 4>, cos: &Tensor<B, 4>, sin: &Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, s, h, d] = x.dims();
    let x1 = x.clone().slice([0..b, 0..s, 0..h, 0..d / 2]);
    let x2 = x.clone().slice([0..b, 0..s, 0..h, d / 2..d]);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x * cos.clone() + rotated * sin.clone()
}

//! Rotary position embeddings, transformers' "default" type: the two halves of each head are
//! rotated (`rotate_half`), not interleaved pairs.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// cos and sin tables for some positions, repeated for every head so that applying them is a
/// plain element-wise product (a broadcast over heads walks strides: 10% of prefill).
#[derive(Clone, Debug)]
pub struct Rotation<B: Backend> {
    /// `[batch, seq, heads, head_dim]`
    pub cos: Tensor<B, 4>,
    /// `[batch, seq, heads, head_dim]`
    pub sin: Tensor<B, 4>,
}

impl<B: Backend> Rotation<B> {
    /// Tables for `positions` (`batch × seq` values, row-major).
    pub fn new(
        positions: &[i64],
        [batch, seq, heads, head_dim]: [usize; 4],
        theta: f64,
        device: &B::Device,
    ) -> Self {
        let half = head_dim / 2;
        // inv_freq in f32 as transformers computes it: 1 / theta^(2i/d).
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| (1.0 / theta.powf((2 * i) as f64 / head_dim as f64)) as f32)
            .collect();
        let n = batch * seq * heads * head_dim;
        let (mut cos, mut sin) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut row_cos = Vec::with_capacity(head_dim);
        let mut row_sin = Vec::with_capacity(head_dim);
        for &p in positions {
            row_cos.clear();
            row_sin.clear();
            // The frequencies repeat for both halves of the head.
            for f in inv_freq.iter().chain(&inv_freq) {
                let angle = p as f32 * f;
                row_cos.push(angle.cos());
                row_sin.push(angle.sin());
            }
            for _ in 0..heads {
                cos.extend_from_slice(&row_cos);
                sin.extend_from_slice(&row_sin);
            }
        }
        let shape = [batch, seq, heads, head_dim];
        Rotation {
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
        }
    }

    /// Rotates queries or keys.
    ///
    /// # Shapes
    /// - x: `[batch, seq, heads, head_dim]` → the same
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, s, h, d] = x.dims();
        let x1 = x.clone().slice([0..b, 0..s, 0..h, 0..d / 2]);
        let x2 = x.clone().slice([0..b, 0..s, 0..h, d / 2..d]);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * self.cos.clone() + rotated * self.sin.clone()
    }
}

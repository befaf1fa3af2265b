//! Rotary position embeddings, transformers' "default" type: the two halves of each head are
//! rotated (`rotate_half`), not interleaved pairs.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::{fastmath, fused_grad, host};

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
        if let Some(y) = fused_grad::rotate(&x, &self.cos, &self.sin) {
            return y;
        }
        // On the CPU: one pass in place instead of six ops with a buffer each.
        let tables = (host::cpu_tensor(&self.cos), host::cpu_tensor(&self.sin));
        if let (Some(cos), Some(sin)) = tables {
            if let (Some(cos), Some(sin)) = (cos.as_slice::<f32>(), sin.as_slice::<f32>()) {
                let d = x.dims()[3];
                if x.dims() == self.cos.dims() && d.is_multiple_of(2) {
                    let rotated = host::in_place(x, |xs| fastmath::rotate_halves(xs, cos, sin, d));
                    match rotated {
                        Ok(y) => return y,
                        Err(x) => return self.apply_ops(x),
                    }
                }
            }
        }
        self.apply_ops(x)
    }

    /// [`Self::apply`] with Burn's ops.
    fn apply_ops(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, s, h, d] = x.dims();
        let x1 = x.clone().slice([0..b, 0..s, 0..h, 0..d / 2]);
        let x2 = x.clone().slice([0..b, 0..s, 0..h, d / 2..d]);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * self.cos.clone() + rotated * self.sin.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{cpu_device, Cpu};

    #[test]
    fn in_place_rotation_equals_burns_ops() {
        let device = cpu_device();
        let shape = [2, 5, 3, 8];
        let rotation =
            Rotation::<Cpu>::new(&[0, 1, 2, 3, 4, 7, 8, 9, 10, 11], shape, 10000.0, &device);
        let x: Vec<f32> = (0..240)
            .map(|i| ((i * 13 % 31) as f32 - 15.0) * 0.1)
            .collect();
        let x = Tensor::<Cpu, 4>::from_data(TensorData::new(x, shape), &device);
        let fast = rotation
            .apply(x.clone())
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let ops = rotation.apply_ops(x).into_data().to_vec::<f32>().unwrap();
        for (a, b) in fast.iter().zip(&ops) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}

//! Activations that run in place on the CPU backend's buffers with the vectorised loops of
//! [`crate::fastmath`], and through Burn's ops on every other backend (and under autodiff,
//! which needs Burn's ops for the backward pass).
//!
//! Burn's CPU SiLU is a sigmoid (a scalar `expf` per element), a multiply and a new buffer for
//! each; SwiGLU then multiplies by `up` in another pass. Here each is one pass over the buffer.

use burn::tensor::activation::{gelu, sigmoid, silu};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::host::{cpu_tensor, in_place};
use crate::{fastmath, fused_grad};

/// silu(gate) · up, SwiGLU's product.
pub fn silu_mul<B: Backend, const D: usize>(gate: Tensor<B, D>, up: Tensor<B, D>) -> Tensor<B, D> {
    if let Some(y) = fused_grad::silu_mul(&gate, &up) {
        return y;
    }
    if gate.dims() == up.dims() {
        if let Some(up_flex) = cpu_tensor(&up) {
            if let Some(up_data) = up_flex.as_slice::<f32>() {
                match in_place(gate, |g| fastmath::silu_mul(g, up_data)) {
                    Ok(out) => return out,
                    Err(gate) => return silu(gate) * up,
                }
            }
        }
    }
    silu(gate) * up
}

/// x · σ(1.702 x), CLIP's quick GELU.
pub fn quick_gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    in_place(x, fastmath::quick_gelu).unwrap_or_else(|x| x.clone() * sigmoid(x.mul_scalar(1.702)))
}

/// The exact (erf) GELU.
pub fn exact_gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    in_place(x, fastmath::gelu).unwrap_or_else(gelu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Cpu;
    use burn::backend::Autodiff;
    use burn::tensor::TensorData;

    fn close<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) {
        let (a, b) = (
            a.into_data().to_vec::<f32>().unwrap(),
            b.into_data().to_vec::<f32>().unwrap(),
        );
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 2e-6, "{x} vs {y}");
        }
    }

    fn input<B: Backend>(device: &B::Device) -> Tensor<B, 2> {
        let v: Vec<f32> = (0..40).map(|i| (i as f32 - 20.0) * 0.31).collect();
        Tensor::from_data(TensorData::new(v, [4, 10]), device)
    }

    #[test]
    fn cpu_in_place_equals_burns_ops_and_leaves_shared_buffers_alone() {
        let device = crate::device::cpu_device();
        let x = input::<Cpu>(&device);
        let up = x.clone().mul_scalar(0.5);
        // `x` is still used afterwards: the in-place path must copy, not overwrite it.
        close(silu_mul(x.clone(), up.clone()), silu(x.clone()) * up);
        close(
            quick_gelu(x.clone()),
            x.clone() * sigmoid(x.clone().mul_scalar(1.702)),
        );
        close(exact_gelu(x.clone()), gelu(x.clone()));
        close(x, input::<Cpu>(&device));
        // A transposed view is not contiguous: Burn's ops compute it.
        let t = input::<Cpu>(&device).transpose();
        close(
            quick_gelu(t.clone()),
            t.clone() * sigmoid(t.mul_scalar(1.702)),
        );
    }

    #[test]
    fn autodiff_gives_gradients() {
        let device = crate::device::cpu_device();
        let x = input::<Autodiff<Cpu>>(&device).require_grad();
        let y = silu_mul(x.clone(), x.clone()).sum();
        let grads = y.backward();
        assert!(x.grad(&grads).is_some());
    }
}

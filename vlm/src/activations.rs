//! Activations that run in place on the CPU backend's buffers with the vectorised loops of
//! [`crate::fastmath`], and through Burn's ops on every other backend (and under autodiff,
//! which needs Burn's ops for the backward pass).
//!
//! Burn's CPU SiLU is a sigmoid (a scalar `expf` per element), a multiply and a new buffer for
//! each; SwiGLU then multiplies by `up` in another pass. Here each is one pass over the buffer.

use std::any::{Any, TypeId};

use burn::tensor::activation::{gelu, sigmoid, silu};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_flex::FlexTensor;

use crate::device::Cpu;
use crate::fastmath;

/// silu(gate) · up, SwiGLU's product.
pub fn silu_mul<B: Backend, const D: usize>(gate: Tensor<B, D>, up: Tensor<B, D>) -> Tensor<B, D> {
    if gate.dims() == up.dims() {
        if let Some(up_flex) = flex(&up) {
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

/// The CPU tensor behind `t` when `B` is the plain CPU backend (a cheap handle clone).
fn flex<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Option<FlexTensor> {
    if TypeId::of::<B>() != TypeId::of::<Cpu>() {
        return None;
    }
    match t.clone().into_primitive() {
        TensorPrimitive::Float(p) => (&p as &dyn Any).downcast_ref::<FlexTensor>().cloned(),
        TensorPrimitive::QFloat(_) => None,
    }
}

/// Applies `f` to the elements of a contiguous f32 CPU tensor in place (copying the buffer
/// first if another tensor shares it); gives `x` back untouched when it cannot.
fn in_place<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    f: impl FnOnce(&mut [f32]),
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    if TypeId::of::<B>() != TypeId::of::<Cpu>() {
        return Err(x);
    }
    let suitable = flex(&x).is_some_and(|t| {
        t.dtype() == DType::F32
            && t.layout().start_offset() == 0
            && t.as_slice::<f32>()
                .is_some_and(|s| s.len() == t.storage::<f32>().len())
    });
    if !suitable {
        return Err(x);
    }
    let TensorPrimitive::Float(p) = x.into_primitive() else {
        unreachable!("checked to be a float tensor")
    };
    let mut t = *(Box::new(p) as Box<dyn Any>)
        .downcast::<FlexTensor>()
        .expect("B is the CPU backend");
    f(t.storage_mut::<f32>());
    let p = *(Box::new(t) as Box<dyn Any>)
        .downcast::<B::FloatTensorPrimitive>()
        .expect("B is the CPU backend");
    Ok(Tensor::from_primitive(TensorPrimitive::Float(p)))
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn autodiff_keeps_burns_ops() {
        let device = crate::device::cpu_device();
        let x = input::<Autodiff<Cpu>>(&device).require_grad();
        let y = silu_mul(x.clone(), x.clone()).sum();
        let grads = y.backward();
        assert!(x.grad(&grads).is_some());
    }
}

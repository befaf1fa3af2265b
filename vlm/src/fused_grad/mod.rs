//! The fused CPU kernels under autodiff: attention, SwiGLU's product, RMS norm, the rotary
//! embedding and the output head's cross-entropy as single autodiff operations on
//! `Autodiff<Cpu>`, each with its own backward pass.
//!
//! Burn's autodiff records every op of their textbook forms (a SwiGLU is a sigmoid, two
//! multiplies and their backward passes; attention a score tensor, a mask, a softmax and two
//! products), each a full pass over a new buffer, mostly on one core. Here each is one
//! operation whose forward and backward run on all cores over the CPU backend's buffers, and
//! the attention keeps no probability tensor (it recomputes the softmax from each row's saved
//! log-sum-exp, as flash attention does). Other backends, and plain inference, never come here.

use std::any::{Any, TypeId};

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_flex::FlexTensor;

use crate::device::Cpu;

mod attention;
mod cross_entropy;
mod rms_norm;
mod rotate;
mod silu_mul;

pub use attention::attention;
pub use cross_entropy::head_cross_entropy;
pub use rms_norm::rms_norm;
pub use rotate::rotate;
pub use silu_mul::silu_mul;

/// The training backend these operations serve.
type Trained = Autodiff<Cpu>;
/// Its tensors: a CPU tensor and its node in the autodiff graph (burn-autodiff does not name
/// the type publicly).
type AutodiffTensor = burn::tensor::ops::FloatTensor<Trained>;

/// Whether `B` is the CPU backend under autodiff.
pub fn applies<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<Trained>()
}

/// The autodiff tensor behind `t` when `B` is [`Trained`] and `t` holds f32 (a cheap handle
/// clone).
fn inner<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Option<AutodiffTensor> {
    if !applies::<B>() || t.dtype() != DType::F32 {
        return None;
    }
    match t.clone().into_primitive() {
        TensorPrimitive::Float(p) => (Box::new(p) as Box<dyn Any>)
            .downcast::<AutodiffTensor>()
            .ok()
            .map(|b| *b),
        TensorPrimitive::QFloat(_) => None,
    }
}

/// `t` as a tensor of `B` (which [`inner`] proved to be [`Trained`]).
fn outer<B: Backend, const D: usize>(t: AutodiffTensor) -> Tensor<B, D> {
    let p = *(Box::new(t) as Box<dyn Any>)
        .downcast::<B::FloatTensorPrimitive>()
        .expect("B is Autodiff<Cpu>, checked by `inner`");
    Tensor::from_primitive(TensorPrimitive::Float(p))
}

/// A contiguous f32 tensor's elements.
fn elements(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("an f32 tensor made contiguous by `to_contiguous`")
}

#[cfg(test)]
mod tests;

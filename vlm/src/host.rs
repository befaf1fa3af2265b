//! Direct access to the CPU backend's buffers, for the fused CPU kernels (attention,
//! activations, norms, rotary embeddings): a tensor's storage read in place, or written in
//! place when no other tensor shares it.

use std::any::{Any, TypeId};

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_flex::FlexTensor;

use crate::device::Cpu;

/// Whether `B` is the plain CPU backend (not under autodiff, which needs Burn's ops for its
/// backward pass).
pub fn is_plain_cpu<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<Cpu>()
}

/// The CPU tensor behind `t` when `B` is the plain CPU backend (a cheap handle clone).
pub(crate) fn cpu_tensor<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Option<FlexTensor> {
    if !is_plain_cpu::<B>() {
        return None;
    }
    match t.clone().into_primitive() {
        TensorPrimitive::Float(p) => (&p as &dyn Any).downcast_ref::<FlexTensor>().cloned(),
        TensorPrimitive::QFloat(_) => None,
    }
}

/// Applies `f` to the elements of a contiguous f32 CPU tensor in place (copying the buffer
/// first if another tensor shares it); gives `x` back untouched when it cannot.
pub(crate) fn in_place<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    f: impl FnOnce(&mut [f32]),
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    if !is_plain_cpu::<B>() {
        return Err(x);
    }
    let suitable = cpu_tensor(&x).is_some_and(|t| {
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

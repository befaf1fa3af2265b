//! SwiGLU's product silu(gate) · up as one autodiff operation.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{elements, inner, outer};
use crate::device::Cpu;
use crate::fastmath;

/// Elements per parallel task: large enough that splitting costs nothing measurable.
const CHUNK: usize = 16 * 1024;

/// silu(gate) · up with its own backward pass, when `B` is the CPU backend under autodiff and
/// both are f32 of one shape; `None` otherwise.
pub fn silu_mul<B: Backend, const D: usize>(
    gate: &Tensor<B, D>,
    up: &Tensor<B, D>,
) -> Option<Tensor<B, D>> {
    if gate.dims() != up.dims() {
        return None;
    }
    let (g, u) = (inner(gate)?, inner(up)?);
    let (gc, uc) = (g.primitive.to_contiguous(), u.primitive.to_contiguous());
    let mut out = elements(&gc).to_vec();
    out.par_chunks_mut(CHUNK)
        .zip(elements(&uc).par_chunks(CHUNK))
        .for_each(|(o, u)| fastmath::silu_mul(o, u));
    let out = FlexTensor::from_data(TensorData::new(out, gate.dims()));
    let result = match SiluMul
        .prepare::<NoCheckpointing>([g.node.clone(), u.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((gc, uc), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some(outer(result))
}

#[derive(Debug)]
struct SiluMul;

impl Backward<Cpu, 2> for SiluMul {
    /// gate and up, contiguous.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (g, u) = ops.state;
        let dy = grads.consume::<Cpu>(&ops.node).to_contiguous();
        let shape = g.layout().shape().clone();
        let (gs, us, dys) = (elements(&g), elements(&u), elements(&dy));
        let mut dg = vec![0.0f32; gs.len()];
        let mut du = vec![0.0f32; gs.len()];
        dg.par_chunks_mut(CHUNK)
            .zip(du.par_chunks_mut(CHUNK))
            .zip(gs.par_chunks(CHUNK).zip(us.par_chunks(CHUNK)))
            .zip(dys.par_chunks(CHUNK))
            .for_each(|(((dg, du), (g, u)), dy)| fastmath::silu_mul_backward(g, u, dy, dg, du));
        let [pg, pu] = ops.parents;
        if let Some(node) = pg {
            grads.register::<Cpu>(
                node.id,
                FlexTensor::from_data(TensorData::new(dg, shape.clone())),
            );
        }
        if let Some(node) = pu {
            grads.register::<Cpu>(node.id, FlexTensor::from_data(TensorData::new(du, shape)));
        }
    }
}

//! RMS norm as one autodiff operation.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::nn::RmsNorm;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{elements, inner, outer};
use crate::device::Cpu;
use crate::fastmath;

/// Rows per parallel task.
const ROWS: usize = 32;

/// `norm.forward(x)` with its own backward pass (for the input and, when it is trained, the
/// scale), when `B` is the CPU backend under autodiff; `None` otherwise.
pub fn rms_norm<B: Backend, const D: usize>(
    norm: &RmsNorm<B>,
    x: &Tensor<B, D>,
) -> Option<Tensor<B, D>> {
    let gamma = norm.gamma.val();
    let d = x.dims()[D - 1];
    if gamma.dims()[0] != d || d == 0 {
        return None;
    }
    let (xa, ga) = (inner(x)?, inner(&gamma)?);
    let (xc, gc) = (xa.primitive.to_contiguous(), ga.primitive.to_contiguous());
    let eps = norm.epsilon as f32;
    let mut out = elements(&xc).to_vec();
    let g = elements(&gc);
    out.par_chunks_mut(ROWS * d)
        .for_each(|rows| fastmath::rms_norm(rows, g, eps));
    let out = FlexTensor::from_data(TensorData::new(out, x.dims()));
    let result = match RmsNormOp
        .prepare::<NoCheckpointing>([xa.node.clone(), ga.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((xc, gc, eps), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some(outer(result))
}

#[derive(Debug)]
struct RmsNormOp;

impl Backward<Cpu, 2> for RmsNormOp {
    /// The input and the scale (contiguous), and epsilon.
    type State = (FlexTensor, FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (x, gamma, eps) = ops.state;
        let dy = grads.consume::<Cpu>(&ops.node).to_contiguous();
        let (xs, g, dys) = (elements(&x), elements(&gamma), elements(&dy));
        let d = g.len();
        let [px, pg] = ops.parents;
        if let Some(node) = px {
            let mut dx = vec![0.0f32; xs.len()];
            dx.par_chunks_mut(ROWS * d)
                .zip(xs.par_chunks(ROWS * d).zip(dys.par_chunks(ROWS * d)))
                .for_each(|(dx, (x, dy))| fastmath::rms_norm_backward(x, g, dy, dx, eps));
            let shape = x.layout().shape().clone();
            grads.register::<Cpu>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
        if let Some(node) = pg {
            // d gamma_j = Σ over rows of dy_j · x_j / rms(row).
            let mut dg = vec![0.0f64; d];
            for (x, dy) in xs.chunks_exact(d).zip(dys.chunks_exact(d)) {
                let r = 1.0 / ((fastmath::dot(x, x) / d as f32 + eps).sqrt() as f64);
                for ((s, &x), &dy) in dg.iter_mut().zip(x).zip(dy) {
                    *s += (dy * x) as f64 * r;
                }
            }
            let dg: Vec<f32> = dg.into_iter().map(|v| v as f32).collect();
            grads.register::<Cpu>(node.id, FlexTensor::from_data(TensorData::new(dg, [d])));
        }
    }
}

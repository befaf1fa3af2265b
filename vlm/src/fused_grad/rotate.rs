//! The rotary embedding as one autodiff operation (Burn's form is two slices, a negation, a
//! concatenation, two products and a sum, each with its backward pass).

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

/// Rows (of head_dim) per parallel task.
const ROWS: usize = 64;

/// x · cos + rotate_half(x) · sin with its own backward pass, when `B` is the CPU backend under
/// autodiff; `None` otherwise. `cos` and `sin` are constants of x's shape.
///
/// # Shapes
/// - x, cos, sin: `[batch, seq, heads, head_dim]` → the same
pub fn rotate<B: Backend>(
    x: &Tensor<B, 4>,
    cos: &Tensor<B, 4>,
    sin: &Tensor<B, 4>,
) -> Option<Tensor<B, 4>> {
    let d = x.dims()[3];
    if x.dims() != cos.dims() || x.dims() != sin.dims() || d == 0 || !d.is_multiple_of(2) {
        return None;
    }
    let (xa, c, s) = (inner(x)?, inner(cos)?, inner(sin)?);
    let (c, s) = (c.primitive.to_contiguous(), s.primitive.to_contiguous());
    let mut out = elements(&xa.primitive.to_contiguous()).to_vec();
    rows_in_parallel(&mut out, &c, &s, d, fastmath::rotate_halves);
    let out = FlexTensor::from_data(TensorData::new(out, x.dims()));
    let result = match Rotate
        .prepare::<NoCheckpointing>([xa.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((c, s, x.dims()), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some(outer(result))
}

/// Applies `f` to blocks of rows of `xs` and the matching rows of the tables, on all cores.
fn rows_in_parallel(
    xs: &mut [f32],
    cos: &FlexTensor,
    sin: &FlexTensor,
    d: usize,
    f: fn(&mut [f32], &[f32], &[f32], usize),
) {
    let block = ROWS * d;
    xs.par_chunks_mut(block)
        .zip(elements(cos).par_chunks(block))
        .zip(elements(sin).par_chunks(block))
        .for_each(|((x, c), s)| f(x, c, s, d));
}

#[derive(Debug)]
struct Rotate;

impl Backward<Cpu, 1> for Rotate {
    /// The cos and sin tables (contiguous), and the shape.
    type State = (FlexTensor, FlexTensor, [usize; 4]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (cos, sin, shape) = ops.state;
        let dy = grads.consume::<Cpu>(&ops.node);
        let [parent] = ops.parents;
        let Some(node) = parent else { return };
        let d = shape[3];
        let mut dx = elements(&dy.to_contiguous()).to_vec();
        rows_in_parallel(&mut dx, &cos, &sin, d, fastmath::rotate_halves_back);
        grads.register::<Cpu>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
    }
}

//! The output head and the answer's cross-entropy as one autodiff operation: Burn's form is a
//! linear op and a log-softmax, gather and mean over `[rows, vocabulary]` (49,152 columns for
//! SmolLM2), each pass a new buffer; here the logits become probabilities in place, and the
//! backward pass is one product.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;
use std::sync::Arc;

use super::{elements, inner, outer};
use crate::device::Cpu;
use crate::fastmath;
use crate::strided_product::{product, Parallelism};

/// The mean over rows of −log softmax(x · weight)[target], with its own backward pass for `x`,
/// when `B` is the CPU backend under autodiff and the weight is frozen; `None` otherwise (or
/// when a target is outside the vocabulary: Burn's ops then take it, as before).
///
/// # Shapes
/// - x: `[rows, hidden]`; weight: `[hidden, vocabulary]` (Burn's `Linear` layout); targets:
///   `rows` ids → `[1]`
pub fn head_cross_entropy<B: Backend>(
    x: &Tensor<B, 2>,
    weight: &Tensor<B, 2>,
    targets: &[usize],
) -> Option<Tensor<B, 1>> {
    let [rows, hidden] = x.dims();
    let [w_hidden, vocab] = weight.dims();
    if w_hidden != hidden || targets.len() != rows || rows == 0 {
        return None;
    }
    if targets.iter().any(|&t| t >= vocab) {
        return None;
    }
    let (xa, wa) = (inner(x)?, inner(weight)?);
    if wa.is_tracked() {
        return None; // a trained head: Burn's ops give its gradient
    }
    let w = weight_matrix(&wa.primitive)?;
    let xc = xa.primitive.to_contiguous();
    let mut probs = vec![0.0f32; rows * vocab];
    // SAFETY: x is rows × hidden row-major; `weight_matrix` checked the weight's strides and
    // extent; `probs` holds rows × vocab.
    unsafe {
        product(
            rows,
            vocab,
            hidden,
            probs.as_mut_ptr(),
            vocab,
            false,
            (elements(&xc).as_ptr(), hidden as isize, 1),
            (w.ptr, w.row, w.col),
            1.0,
            Parallelism::Rayon(0),
        );
    }
    // Each row: its loss, and its logits turned into probabilities in place.
    let losses: Vec<f64> = probs
        .par_chunks_mut(vocab)
        .zip(targets.par_iter())
        .map(|(row, &t)| {
            let target = row[t];
            let max = fastmath::max(row);
            let sum = fastmath::exp_shifted_sum(row, max);
            fastmath::scale(row, 1.0 / sum);
            (max + sum.ln() - target) as f64
        })
        .collect();
    let loss = (losses.iter().sum::<f64>() / rows as f64) as f32;
    let out = FlexTensor::from_data(TensorData::new(vec![loss], [1]));
    let nodes = [xa.node.clone(), wa.node.clone()];
    let result = match HeadCrossEntropy
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let saved = Saved {
                probs: Arc::new(probs),
                targets: targets.into(),
                weight: wa.primitive,
                rows,
                hidden,
                vocab,
            };
            prep.finish(saved, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some(outer(result))
}

/// A weight's storage as a matrix for `gemm`: its first element and strides.
struct Matrix {
    ptr: *const f32,
    row: isize,
    col: isize,
}

/// The f32 weight `[hidden, vocabulary]` as a strided matrix (a transposed view needs no copy).
fn weight_matrix(w: &FlexTensor) -> Option<Matrix> {
    if w.dtype() != DType::F32 {
        return None;
    }
    let layout = w.layout();
    let (shape, strides) = (layout.shape(), layout.strides());
    if strides.len() != 2 || strides.iter().any(|&s| s < 0) {
        return None;
    }
    let data = w.storage::<f32>();
    let last = layout.start_offset()
        + (shape[0].saturating_sub(1)) * strides[0] as usize
        + (shape[1].saturating_sub(1)) * strides[1] as usize;
    if last >= data.len() {
        return None;
    }
    Some(Matrix {
        ptr: data[layout.start_offset()..].as_ptr(),
        row: strides[0],
        col: strides[1],
    })
}

#[derive(Debug)]
struct HeadCrossEntropy;

/// The softmax of each row, the targets and the (frozen) weight.
#[derive(Clone, Debug)]
struct Saved {
    probs: Arc<Vec<f32>>,
    targets: Arc<[usize]>,
    weight: FlexTensor,
    rows: usize,
    hidden: usize,
    vocab: usize,
}

impl Backward<Cpu, 2> for HeadCrossEntropy {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        let upstream = elements(&grads.consume::<Cpu>(&ops.node).to_contiguous())[0];
        let [px, _] = ops.parents;
        let Some(node) = px else { return };
        // d logits = (softmax − one-hot) · upstream / rows.
        let factor = upstream / s.rows as f32;
        let mut d_logits = Arc::try_unwrap(s.probs).unwrap_or_else(|shared| (*shared).clone());
        d_logits
            .par_chunks_mut(s.vocab)
            .zip(s.targets.par_iter())
            .for_each(|(row, &t)| {
                row[t] -= 1.0;
                fastmath::scale(row, factor);
            });
        let w = weight_matrix(&s.weight).expect("checked in the forward pass");
        let mut dx = vec![0.0f32; s.rows * s.hidden];
        // dx = d_logits · weightᵀ.
        // SAFETY: as in the forward pass, with weightᵀ read through swapped strides.
        unsafe {
            product(
                s.rows,
                s.hidden,
                s.vocab,
                dx.as_mut_ptr(),
                s.hidden,
                false,
                (d_logits.as_ptr(), s.vocab as isize, 1),
                (w.ptr, w.col, w.row),
                1.0,
                Parallelism::Rayon(0),
            );
        }
        let dx = FlexTensor::from_data(TensorData::new(dx, [s.rows, s.hidden]));
        grads.register::<Cpu>(node.id, dx);
    }
}

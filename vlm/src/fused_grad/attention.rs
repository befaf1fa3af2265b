//! Attention as one autodiff operation: the fused forward (saving each row's log-sum-exp) and
//! the flash-style backward of [`crate::attention_backward`].

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_flex::FlexTensor;

use super::{elements, inner, outer};
use crate::attention::{attend_saving, operand, Dims, Visibility};
use crate::attention_backward::{attend_backward, Forward};
use crate::device::Cpu;

/// Softmax(q kᵀ × scale, masked) v with its own backward pass, when `B` is the CPU backend
/// under autodiff and the operands are f32 with a contiguous head_dim; `None` otherwise.
///
/// # Shapes
/// - q: `[batch, heads, queries, head_dim]`; k, v: `[batch, kv_heads, keys, head_dim]` (views
///   of any strides)
/// - returns: `[batch, queries, heads × head_dim]`
pub fn attention<B: Backend>(
    q: &Tensor<B, 4>,
    k: &Tensor<B, 4>,
    v: &Tensor<B, 4>,
    scale: f32,
    visible: Visibility,
) -> Option<Tensor<B, 3>> {
    let [batch, heads, queries, head_dim] = q.dims();
    let [_, kv_heads, keys, _] = k.dims();
    let (q, k, v) = (inner(q)?, inner(k)?, inner(v)?);
    let dims = Dims {
        batch,
        heads,
        kv_heads,
        queries,
        keys,
        head_dim,
    };
    let mut lse = vec![0.0f32; batch * heads * queries];
    let out = attend_saving(
        operand(&q.primitive)?,
        operand(&k.primitive)?,
        operand(&v.primitive)?,
        dims,
        scale,
        visible,
        Some(&mut lse),
    )
    .ok()?;
    let out = FlexTensor::from_data(TensorData::new(out, [batch, queries, heads * head_dim]));
    let nodes = [q.node.clone(), k.node.clone(), v.node.clone()];
    let result = match FusedAttention
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let saved = Saved {
                q: q.primitive,
                k: k.primitive,
                v: v.primitive,
                out: out.clone(),
                lse: Arc::new(lse),
                dims,
                scale,
                causal: visible.causal,
                keep: visible.keep.map(Arc::from),
            };
            prep.finish(saved, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some(outer(result))
}

#[derive(Debug)]
struct FusedAttention;

/// What the backward pass needs: the inputs (handles to their buffers), the output and each
/// row's log-sum-exp.
#[derive(Clone, Debug)]
struct Saved {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    out: FlexTensor,
    lse: Arc<Vec<f32>>,
    dims: Dims,
    scale: f32,
    causal: bool,
    keep: Option<Arc<[bool]>>,
}

impl Backward<Cpu, 3> for FusedAttention {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        let d_out = grads.consume::<Cpu>(&ops.node).to_contiguous();
        let visible = Visibility {
            causal: s.causal,
            keep: s.keep.as_deref(),
        };
        let operands = (operand(&s.q), operand(&s.k), operand(&s.v));
        let (Some(q), Some(k), Some(v)) = operands else {
            unreachable!("the forward pass took these operands")
        };
        let forward = Forward {
            out: elements(&s.out),
            lse: &s.lse,
        };
        let g = attend_backward(q, k, v, forward, elements(&d_out), s.dims, s.scale, visible)
            .expect("the forward pass checked these shapes");
        let Dims {
            batch,
            heads,
            kv_heads,
            queries,
            keys,
            head_dim,
        } = s.dims;
        // Tokens-first buffers seen as [batch, heads, rows, head_dim], the inputs' shapes.
        let heads_view = |data: Vec<f32>, rows: usize, heads: usize| {
            FlexTensor::from_data(TensorData::new(data, [batch, rows, heads, head_dim]))
                .transpose(1, 2)
        };
        let [pq, pk, pv] = ops.parents;
        if let Some(node) = pq {
            grads.register::<Cpu>(node.id, heads_view(g.q, queries, heads));
        }
        if let Some(node) = pk {
            grads.register::<Cpu>(node.id, heads_view(g.k, keys, kv_heads));
        }
        if let Some(node) = pv {
            grads.register::<Cpu>(node.id, heads_view(g.v, keys, kv_heads));
        }
    }
}

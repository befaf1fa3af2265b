//! The backward pass of the fused CPU attention ([`crate::attention`]), flash-style: the
//! forward pass keeps only each query row's log-sum-exp, and this pass recomputes the softmax
//! block by block instead of reading a stored `[heads, queries, keys]` probability tensor.
//!
//! For a block of query rows (scores S = scale · Q Kᵀ, probabilities P = exp(S − lse), output
//! O = P V and its gradient dO):
//! - dV += Pᵀ dO
//! - dP = dO Vᵀ, dS = P ∘ (dP − rowsum(dO ∘ O))
//! - dQ = scale · dS K, dK += scale · dSᵀ Q
//!
//! One task per (batch, query head); grouped-query heads sum their key and value gradients at
//! the end, so no two tasks write the same memory.

use rayon::prelude::*;

use crate::attention::{check, AttentionError, Dims, Operand, SharedOut, Visibility};
use crate::fastmath;
use crate::strided_product::{product, Parallelism};

/// Query rows per block: a block's probabilities and their gradients (two `rows × keys`
/// buffers) stay within L2 for the sequence lengths of training.
const ROWS: usize = 64;

/// The gradients of attention's inputs, tokens-first (the layout the projections produced):
/// `q`: `[batch, queries, heads, head_dim]`; `k`, `v`: `[batch, keys, kv_heads, head_dim]`.
pub struct AttentionGrads {
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
}

/// What the forward pass produced, for its backward pass.
#[derive(Clone, Copy)]
pub struct Forward<'a> {
    /// The output, `[batch, queries, heads × head_dim]` row-major.
    pub out: &'a [f32],
    /// Each row's log-sum-exp, `[batch, heads, queries]` (see `attention::attend_saving`).
    pub lse: &'a [f32],
}

/// The gradients of q, k and v given the output's gradient `d_out` (laid out like the output).
#[allow(clippy::too_many_arguments)]
pub fn attend_backward(
    q: Operand,
    k: Operand,
    v: Operand,
    forward: Forward,
    d_out: &[f32],
    dims: Dims,
    scale: f32,
    visible: Visibility,
) -> Result<AttentionGrads, AttentionError> {
    check(&q, &k, &v, dims, visible)?;
    let Dims {
        batch,
        heads,
        kv_heads,
        queries,
        keys,
        head_dim: hd,
    } = dims;
    let outputs = batch * queries * heads * hd;
    for got in [forward.out.len(), d_out.len()] {
        if got != outputs {
            return Err(AttentionError::Output { got, want: outputs });
        }
    }
    if forward.lse.len() != batch * heads * queries {
        return Err(AttentionError::Saved {
            got: forward.lse.len(),
            want: batch * heads * queries,
        });
    }
    let mut dq = vec![0.0f32; outputs];
    if outputs == 0 || keys == 0 {
        let kv = vec![0.0f32; batch * keys * kv_heads * hd];
        return Ok(AttentionGrads {
            q: dq,
            k: kv.clone(),
            v: kv,
        });
    }
    let dq_ptr = SharedOut(dq.as_mut_ptr());
    let task = Task {
        q,
        k,
        v,
        forward,
        d_out,
        dims,
        scale,
        visible,
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = (0..batch * heads)
        .into_par_iter()
        .map(|bh| task.run(bh / heads, bh % heads, dq_ptr))
        .collect();
    // Sum the query heads of each group into the key/value head they read.
    let rep = heads / kv_heads;
    let mut dk = vec![0.0f32; batch * keys * kv_heads * hd];
    let mut dv = vec![0.0f32; dk.len()];
    for (bh, (pk, pv)) in partials.iter().enumerate() {
        let (b, g) = (bh / heads, bh % heads / rep);
        for j in 0..keys {
            let at = ((b * keys + j) * kv_heads + g) * hd;
            let row = j * hd..(j + 1) * hd;
            for (d, s) in dk[at..at + hd].iter_mut().zip(&pk[row.clone()]) {
                *d += s;
            }
            for (d, s) in dv[at..at + hd].iter_mut().zip(&pv[row]) {
                *d += s;
            }
        }
    }
    Ok(AttentionGrads {
        q: dq,
        k: dk,
        v: dv,
    })
}

/// The shared inputs of the per-head tasks.
#[derive(Clone, Copy)]
struct Task<'a> {
    q: Operand<'a>,
    k: Operand<'a>,
    v: Operand<'a>,
    forward: Forward<'a>,
    d_out: &'a [f32],
    dims: Dims,
    scale: f32,
    visible: Visibility<'a>,
}

impl Task<'_> {
    /// One (batch, query head): writes its rows of dq, returns its share of dk and dv
    /// (`[keys, head_dim]` each).
    fn run(&self, b: usize, h: usize, dq: SharedOut) -> (Vec<f32>, Vec<f32>) {
        let Dims {
            heads,
            kv_heads,
            queries,
            keys,
            head_dim: hd,
            ..
        } = self.dims;
        let (q, k, v) = (&self.q, &self.k, &self.v);
        let g = h / (heads / kv_heads);
        let width = heads * hd;
        let past = keys.saturating_sub(queries);
        let keep = self.visible.keep.map(|k| &k[b * keys..(b + 1) * keys]);
        let mut dk = vec![0.0f32; keys * hd];
        let mut dv = vec![0.0f32; keys * hd];
        let mut p = vec![0.0f32; ROWS * keys];
        let mut dp = vec![0.0f32; ROWS * keys];
        let k0 = k.data[k.at(b, g, 0)..].as_ptr();
        let v0 = v.data[v.at(b, g, 0)..].as_ptr();
        let (k_row, v_row, q_row) = (
            k.strides.row as isize,
            v.strides.row as isize,
            q.strides.row as isize,
        );
        for start in (0..queries).step_by(ROWS) {
            let rows = ROWS.min(queries - start);
            let end = if self.visible.causal {
                past + start + rows
            } else {
                keys
            };
            let (p, dp) = (&mut p[..rows * end], &mut dp[..rows * end]);
            let q_blk = q.data[q.at(b, h, start)..].as_ptr();
            let out_at = (b * queries + start) * width + h * hd;
            let do_blk = self.d_out[out_at..].as_ptr();
            // SAFETY (all products): `check` proved every row of q, k and v in bounds, the
            // output-shaped buffers have batch × queries × width elements, and each buffer
            // written here holds the rows × columns at the row stride given.
            unsafe {
                // P: the scores, then their softmax with the saved log-sum-exp.
                product(
                    rows,
                    end,
                    hd,
                    p.as_mut_ptr(),
                    end,
                    false,
                    (q_blk, q_row, 1),
                    (k0, 1, k_row),
                    self.scale,
                    Parallelism::None,
                );
            }
            for r in 0..rows {
                let row = &mut p[r * end..(r + 1) * end];
                let lse = self.forward.lse[(b * heads + h) * queries + start + r];
                let seen = if self.visible.causal {
                    past + start + r + 1
                } else {
                    end
                };
                if lse == f32::NEG_INFINITY {
                    row.fill(0.0); // saw no key: no gradient
                    continue;
                }
                fastmath::exp_shifted_sum(&mut row[..seen], lse);
                row[seen..].fill(0.0);
                if let Some(keep) = keep {
                    for (x, &kept) in row.iter_mut().zip(keep) {
                        if !kept {
                            *x = 0.0;
                        }
                    }
                }
            }
            unsafe {
                // dP = dO Vᵀ; dV += Pᵀ dO.
                product(
                    rows,
                    end,
                    hd,
                    dp.as_mut_ptr(),
                    end,
                    false,
                    (do_blk, width as isize, 1),
                    (v0, 1, v_row),
                    1.0,
                    Parallelism::None,
                );
                product(
                    end,
                    hd,
                    rows,
                    dv.as_mut_ptr(),
                    hd,
                    true,
                    (p.as_ptr(), 1, end as isize),
                    (do_blk, width as isize, 1),
                    1.0,
                    Parallelism::None,
                );
            }
            for r in 0..rows {
                let at = out_at + r * width;
                let d = fastmath::dot(&self.d_out[at..at + hd], &self.forward.out[at..at + hd]);
                fastmath::softmax_backward(
                    &p[r * end..(r + 1) * end],
                    &mut dp[r * end..(r + 1) * end],
                    d,
                );
            }
            let dq_at = ((b * queries + start) * heads + h) * hd;
            unsafe {
                // dQ = scale · dS K (this task's rows only); dK += scale · dSᵀ Q.
                // Rows of this (batch, head) only: no other task writes them.
                product(
                    rows,
                    hd,
                    end,
                    dq.get().add(dq_at),
                    width,
                    false,
                    (dp.as_ptr(), end as isize, 1),
                    (k0, k_row, 1),
                    self.scale,
                    Parallelism::None,
                );
                product(
                    end,
                    hd,
                    rows,
                    dk.as_mut_ptr(),
                    hd,
                    true,
                    (dp.as_ptr(), 1, end as isize),
                    (q_blk, q_row, 1),
                    self.scale,
                    Parallelism::None,
                );
            }
        }
        (dk, dv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::Strides;

    #[test]
    fn mismatched_buffers_are_errors() {
        let dims = Dims {
            batch: 1,
            heads: 2,
            kv_heads: 1,
            queries: 3,
            keys: 3,
            head_dim: 4,
        };
        fn operand(data: &[f32], heads: usize) -> Operand<'_> {
            Operand {
                data,
                offset: 0,
                strides: Strides::tokens_first(3, heads, 4),
            }
        }
        let (q, kv) = (vec![0.1f32; 24], vec![0.2f32; 12]);
        let visible = Visibility {
            causal: true,
            keep: None,
        };
        let (out, lse) = (vec![0.0f32; 24], vec![0.0f32; 6]);
        let run = |out: &[f32], lse: &[f32], d_out: &[f32]| {
            attend_backward(
                operand(&q, 2),
                operand(&kv, 1),
                operand(&kv, 1),
                Forward { out, lse },
                d_out,
                dims,
                0.5,
                visible,
            )
            .map(|g| (g.q.len(), g.k.len(), g.v.len()))
        };
        assert_eq!(run(&out, &lse, &out), Ok((24, 12, 12)));
        assert_eq!(
            run(&out, &lse, &out[..20]),
            Err(AttentionError::Output { got: 20, want: 24 })
        );
        assert_eq!(
            run(&out, &lse[..5], &out),
            Err(AttentionError::Saved { got: 5, want: 6 })
        );
    }
}

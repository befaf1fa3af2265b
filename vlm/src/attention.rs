//! Fused attention on the CPU: flash-style tiles with an online softmax.
//!
//! Burn's ops build the whole `[heads, queries, keys]` score tensor, add a mask tensor of the
//! same size, take a scalar `exp` of every score and multiply again: for a 1,384-token
//! Chain-of-Image prompt that is 69 MB of scores a layer, written and read four times, and the
//! upper triangle of a causal mask computed only to be thrown away. Here each task takes a tile
//! of query rows, walks the key blocks it may see (the causal limit ends the walk; padding keys
//! are skipped), multiplies with the `gemm` crate into a small score tile that stays in cache,
//! and keeps a running maximum and sum per row (the online softmax), so no score tensor and no
//! mask tensor exist. Keys and values are read in place, through their strides: grouped-query
//! heads share them without copies.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use crate::fastmath;
use crate::host::{self, cpu_tensor};

/// [`attend`] on Burn tensors, when `B` is the plain CPU backend and the operands are f32 with
/// a contiguous head_dim; `None` otherwise (autodiff needs Burn's ops for its backward pass, a
/// GPU backend has its own kernels), and the caller computes attention with Burn's ops.
///
/// # Shapes
/// - q: `[batch, heads, queries, head_dim]`; k, v: `[batch, kv_heads, keys, head_dim]` (views
///   of any strides)
/// - returns: `[batch, queries, heads × head_dim]`
pub fn fused_cpu<B: Backend>(
    q: &Tensor<B, 4>,
    k: &Tensor<B, 4>,
    v: &Tensor<B, 4>,
    scale: f32,
    visible: Visibility,
) -> Option<Tensor<B, 3>> {
    let (kf, vf) = (cpu_tensor(k)?, cpu_tensor(v)?);
    let [_, kv_heads, keys, _] = k.dims();
    attend_query(
        q,
        operand(&kf)?,
        operand(&vf)?,
        kv_heads,
        keys,
        scale,
        visible,
    )
}

/// [`attend`] of a CPU query tensor against keys and values already in memory (a tensor's
/// storage, or the key/value cache's buffers); `None` when `q` is not an f32 CPU tensor or
/// the shapes do not fit.
///
/// # Shapes
/// - q: `[batch, heads, queries, head_dim]`; k, v: `[batch, kv_heads, keys, head_dim]`
/// - returns: `[batch, queries, heads × head_dim]`
pub(crate) fn attend_query<B: Backend>(
    q: &Tensor<B, 4>,
    k: Operand,
    v: Operand,
    kv_heads: usize,
    keys: usize,
    scale: f32,
    visible: Visibility,
) -> Option<Tensor<B, 3>> {
    let qf = cpu_tensor(q)?;
    let [batch, heads, queries, head_dim] = q.dims();
    let dims = Dims {
        batch,
        heads,
        kv_heads,
        queries,
        keys,
        head_dim,
    };
    let out = attend(operand(&qf)?, k, v, dims, scale, visible).ok()?;
    let shape = [batch, queries, heads * head_dim];
    Some(Tensor::from_data(TensorData::new(out, shape), &q.device()))
}

/// Whether [`fused_cpu`] computes attention for `B` (given f32 operands).
pub fn fuses<B: Backend>() -> bool {
    host::is_plain_cpu::<B>()
}

/// A 4-D f32 tensor's storage as an [`Operand`]: non-negative strides, head_dim contiguous.
pub(crate) fn operand(t: &FlexTensor) -> Option<Operand<'_>> {
    if t.dtype() != DType::F32 {
        return None;
    }
    let layout = t.layout();
    let s = layout.strides();
    if s.len() != 4 || s.iter().any(|&x| x < 0) || (s[3] != 1 && layout.shape()[3] > 1) {
        return None;
    }
    Some(Operand {
        data: t.storage::<f32>(),
        offset: layout.start_offset(),
        strides: Strides {
            batch: s[0] as usize,
            head: s[1] as usize,
            row: s[2] as usize,
        },
    })
}

/// Element strides of an operand seen as `[batch, heads, rows, head_dim]`; head_dim is
/// contiguous. Any permutation of a row-major tensor fits (a view needs no copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strides {
    pub batch: usize,
    pub head: usize,
    pub row: usize,
}

impl Strides {
    /// `[batch, rows, heads, head_dim]` row-major: a projection's output split into heads.
    pub fn tokens_first(rows: usize, heads: usize, head_dim: usize) -> Self {
        Strides {
            batch: rows * heads * head_dim,
            head: head_dim,
            row: heads * head_dim,
        }
    }

    /// `[batch, heads, rows, head_dim]` row-major: the key/value cache's layout.
    pub fn heads_first(rows: usize, heads: usize, head_dim: usize) -> Self {
        Strides {
            batch: heads * rows * head_dim,
            head: rows * head_dim,
            row: head_dim,
        }
    }
}

/// One operand: its storage and where `[batch, head, row, 0]` lies in it.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub strides: Strides,
}

impl Operand<'_> {
    pub(crate) fn at(&self, batch: usize, head: usize, row: usize) -> usize {
        self.offset + batch * self.strides.batch + head * self.strides.head + row * self.strides.row
    }
}

/// Sizes of an attention problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub batch: usize,
    /// Query heads; a multiple of `kv_heads` (grouped-query attention shares each key/value
    /// head among `heads / kv_heads` query heads).
    pub heads: usize,
    pub kv_heads: usize,
    /// Query rows: the last `queries` of the `keys` positions when causal.
    pub queries: usize,
    pub keys: usize,
    pub head_dim: usize,
}

/// Which keys a query may see.
#[derive(Clone, Copy, Debug)]
pub struct Visibility<'a> {
    /// Query i (at position keys - queries + i) sees no later key.
    pub causal: bool,
    /// `batch × keys`, row-major: false for a padding key, which no query sees.
    pub keep: Option<&'a [bool]>,
}

/// Why a problem cannot be computed as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttentionError {
    #[error("{heads} query heads do not share {kv_heads} key/value heads evenly")]
    Heads { heads: usize, kv_heads: usize },
    #[error("{queries} causal queries are more than the {keys} keys")]
    Causal { queries: usize, keys: usize },
    #[error("the {name} operand is too short for its shape and strides")]
    Short { name: &'static str },
    #[error("the padding mask has {got} entries, not batch × keys = {want}")]
    Keep { got: usize, want: usize },
    #[error("the log-sum-exp buffer has {got} entries, not batch × heads × queries = {want}")]
    Saved { got: usize, want: usize },
    #[error("the output or its gradient has {got} elements, not batch × queries × heads × head_dim = {want}")]
    Output { got: usize, want: usize },
}

/// Query rows per task, and keys per block: a 128 × 256 score tile is 128 KB, within L2
/// (measured with `cargo bench -p vlm --bench attention`: 64 × 128 was 5–15 % slower).
const ROWS: usize = 128;
const KEYS: usize = 256;

/// Softmax(q kᵀ × scale, masked) v for every head.
///
/// # Shapes
/// - q: `[batch, heads, queries, head_dim]`; k, v: `[batch, kv_heads, keys, head_dim]` (as
///   strided views)
/// - returns: `[batch, queries, heads × head_dim]` row-major (what the output projection takes);
///   a query that sees no key gets zeros
pub fn attend(
    q: Operand,
    k: Operand,
    v: Operand,
    dims: Dims,
    scale: f32,
    visible: Visibility,
) -> Result<Vec<f32>, AttentionError> {
    attend_saving(q, k, v, dims, scale, visible, None)
}

/// [`attend`], also writing each query row's log-sum-exp of its scaled visible scores into
/// `lse` (`[batch, heads, queries]`; `-∞` for a row that sees no key): all the backward pass
/// needs to recompute the softmax (`attention_backward`).
pub(crate) fn attend_saving(
    q: Operand,
    k: Operand,
    v: Operand,
    dims: Dims,
    scale: f32,
    visible: Visibility,
    lse: Option<&mut [f32]>,
) -> Result<Vec<f32>, AttentionError> {
    check(&q, &k, &v, dims, visible)?;
    let Dims {
        batch,
        heads,
        queries,
        head_dim,
        ..
    } = dims;
    let width = heads * head_dim;
    let mut out = vec![0.0f32; batch * queries * width];
    let lse = match lse {
        Some(l) if l.len() == batch * heads * queries => Some(SharedOut(l.as_mut_ptr())),
        Some(l) => {
            return Err(AttentionError::Saved {
                got: l.len(),
                want: batch * heads * queries,
            })
        }
        None => None,
    };
    let tasks = tiles(dims);
    let out_ptr = SharedOut(out.as_mut_ptr());
    tasks.par_iter().for_each(|tile| {
        let mut work = Work::new(tile.rows, head_dim);
        let rows = work.run(tile, &q, &k, &v, dims, scale, visible);
        for (r, row) in rows.enumerate() {
            let at = tile.out + r * tile.out_stride;
            // SAFETY: tiles cover disjoint output rows (distinct batch, head and query), each
            // `head_dim` long and inside `out`, which outlives the parallel loop.
            let dst = unsafe { std::slice::from_raw_parts_mut(out_ptr.get().add(at), head_dim) };
            dst.copy_from_slice(row);
        }
        if let Some(lse) = lse {
            for r in 0..tile.rows {
                let (head, query) = if tile.rows_are_heads {
                    (tile.head + r, tile.query)
                } else {
                    (tile.head, tile.query + r)
                };
                let (max, sum) = (work.max[r], work.sum[r]);
                let value = if sum > 0.0 {
                    max + sum.ln()
                } else {
                    f32::NEG_INFINITY
                };
                // SAFETY: each (batch, head, query) belongs to one tile; the index is inside
                // `lse`, whose length was checked and which outlives the loop.
                unsafe { *lse.get().add((tile.batch * heads + head) * queries + query) = value };
            }
        }
    });
    Ok(out)
}

/// An output's base pointer, shared by the tasks that write disjoint rows of it (here and in
/// `attention_backward`).
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(pub(crate) *mut f32);
// SAFETY: tasks write disjoint rows (see `attend_saving` and `attend_backward`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

pub(crate) fn check(
    q: &Operand,
    k: &Operand,
    v: &Operand,
    d: Dims,
    visible: Visibility,
) -> Result<(), AttentionError> {
    if d.kv_heads == 0 || !d.heads.is_multiple_of(d.kv_heads) {
        return Err(AttentionError::Heads {
            heads: d.heads,
            kv_heads: d.kv_heads,
        });
    }
    if visible.causal && d.queries > d.keys {
        return Err(AttentionError::Causal {
            queries: d.queries,
            keys: d.keys,
        });
    }
    if let Some(keep) = visible.keep {
        if keep.len() != d.batch * d.keys {
            return Err(AttentionError::Keep {
                got: keep.len(),
                want: d.batch * d.keys,
            });
        }
    }
    let empty = d.batch == 0 || d.queries == 0 || d.head_dim == 0;
    for (name, op, heads, rows) in [
        ("query", q, d.heads, d.queries),
        ("key", k, d.kv_heads, d.keys),
        ("value", v, d.kv_heads, d.keys),
    ] {
        if empty || rows == 0 {
            continue;
        }
        let last = op.at(d.batch - 1, heads - 1, rows - 1) + d.head_dim;
        if last > op.data.len() {
            return Err(AttentionError::Short { name });
        }
    }
    Ok(())
}

/// A task: rows of one batch entry that read one key/value head, at equal query-storage
/// strides: either consecutive queries of one head, or (one query) the heads of a group.
#[derive(Clone, Copy, Debug)]
struct Tile {
    batch: usize,
    kv_head: usize,
    /// The first row's query head and query index.
    head: usize,
    query: usize,
    /// Rows are the heads of a group for one query (decoding), else consecutive queries.
    rows_are_heads: bool,
    rows: usize,
    /// Position of the first row among the keys (causal limit), and its step per row.
    position: usize,
    position_step: usize,
    /// Output element of the first row, and between rows.
    out: usize,
    out_stride: usize,
}

/// The tasks of a problem.
fn tiles(d: Dims) -> Vec<Tile> {
    let rep = d.heads / d.kv_heads;
    let width = d.heads * d.head_dim;
    let past = d.keys.saturating_sub(d.queries);
    let mut out = Vec::new();
    for b in 0..d.batch {
        if d.queries == 1 {
            // Decoding: the heads of a group are the rows, so their keys are read once.
            for g in 0..d.kv_heads {
                out.push(Tile {
                    batch: b,
                    kv_head: g,
                    head: g * rep,
                    query: 0,
                    rows_are_heads: true,
                    rows: rep,
                    position: past,
                    position_step: 0,
                    out: b * width + g * rep * d.head_dim,
                    out_stride: d.head_dim,
                });
            }
            continue;
        }
        for h in 0..d.heads {
            for start in (0..d.queries).step_by(ROWS) {
                out.push(Tile {
                    batch: b,
                    kv_head: h / rep,
                    head: h,
                    query: start,
                    rows_are_heads: false,
                    rows: ROWS.min(d.queries - start),
                    position: past + start,
                    position_step: 1,
                    out: (b * d.queries + start) * width + h * d.head_dim,
                    out_stride: width,
                });
            }
        }
    }
    // Longest (latest causal) tiles first: they then do not finish last alone.
    out.reverse();
    out
}

/// A task's buffers: the score tile, the output accumulator, running maxima and sums.
struct Work {
    scores: Vec<f32>,
    acc: Vec<f32>,
    max: Vec<f32>,
    sum: Vec<f32>,
    head_dim: usize,
}

impl Work {
    fn new(rows: usize, head_dim: usize) -> Self {
        Work {
            scores: vec![0.0; rows * KEYS],
            acc: vec![0.0; rows * head_dim],
            max: vec![f32::NEG_INFINITY; rows],
            sum: vec![0.0; rows],
            head_dim,
        }
    }

    /// Computes the tile; yields each row's output.
    #[allow(clippy::too_many_arguments)]
    fn run<'w>(
        &'w mut self,
        t: &Tile,
        q: &Operand,
        k: &Operand,
        v: &Operand,
        d: Dims,
        scale: f32,
        visible: Visibility,
    ) -> impl Iterator<Item = &'w [f32]> {
        let hd = d.head_dim;
        let q0 = q.at(t.batch, t.head, t.query);
        let q_row = if t.rows_are_heads {
            q.strides.head
        } else {
            q.strides.row
        };
        let last_position = t.position + t.position_step * (t.rows - 1);
        let end = if visible.causal {
            last_position + 1
        } else {
            d.keys
        };
        let keep = visible
            .keep
            .map(|k| &k[t.batch * d.keys..(t.batch + 1) * d.keys]);
        for start in (0..end).step_by(KEYS) {
            let n = KEYS.min(end - start);
            let scores = &mut self.scores[..t.rows * KEYS];
            let k0 = k.at(t.batch, t.kv_head, start);
            // SAFETY: `check` proved every row of q, k and v in bounds; the score tile holds
            // rows × KEYS elements and we write rows × n of them at row stride KEYS.
            unsafe {
                gemm::gemm(
                    t.rows,
                    n,
                    hd,
                    scores.as_mut_ptr(),
                    1,
                    KEYS as isize,
                    false,
                    q.data.as_ptr().add(q0),
                    1,
                    q_row as isize,
                    k.data.as_ptr().add(k0),
                    k.strides.row as isize,
                    1,
                    0.0,
                    scale,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            let block_keep = keep
                .map(|k| &k[start..start + n])
                .filter(|k| k.iter().any(|&x| !x));
            let masked_causal = visible.causal && start + n > t.position + 1;
            for r in 0..t.rows {
                let row = &mut scores[r * KEYS..r * KEYS + n];
                if masked_causal {
                    let position = t.position + t.position_step * r;
                    let seen = (position + 1).saturating_sub(start).min(n);
                    row[seen..].fill(f32::NEG_INFINITY);
                }
                if let Some(bk) = block_keep {
                    for (x, &kept) in row.iter_mut().zip(bk) {
                        if !kept {
                            *x = f32::NEG_INFINITY;
                        }
                    }
                }
                let block_max = fastmath::max(row);
                if block_max == f32::NEG_INFINITY {
                    row.fill(0.0); // sees nothing here: adds nothing to the values
                    continue;
                }
                let old = self.max[r];
                let new = old.max(block_max);
                let sum = fastmath::exp_shifted_sum(row, new);
                if new > old {
                    let factor = fastmath::exp(old - new);
                    self.sum[r] *= factor;
                    fastmath::scale(&mut self.acc[r * hd..(r + 1) * hd], factor);
                    self.max[r] = new;
                }
                self.sum[r] += sum;
            }
            let v0 = v.at(t.batch, t.kv_head, start);
            // SAFETY: as above; the accumulator holds rows × head_dim at row stride head_dim.
            unsafe {
                gemm::gemm(
                    t.rows,
                    hd,
                    n,
                    self.acc.as_mut_ptr(),
                    1,
                    hd as isize,
                    true,
                    scores.as_ptr(),
                    1,
                    KEYS as isize,
                    v.data.as_ptr().add(v0),
                    1,
                    v.strides.row as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        for r in 0..t.rows {
            let s = self.sum[r];
            let row = &mut self.acc[r * hd..(r + 1) * hd];
            if s > 0.0 {
                fastmath::scale(row, 1.0 / s);
            } else {
                row.fill(0.0);
            }
        }
        let hd = self.head_dim;
        self.acc.chunks_exact(hd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Softmax attention in f64, the textbook way, on row-major `[b, h, rows, hd]` operands.
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        d: Dims,
        scale: f32,
        visible: Visibility,
    ) -> Vec<f32> {
        let hd = d.head_dim;
        let rep = d.heads / d.kv_heads;
        let past = d.keys - d.queries;
        let mut out = vec![0.0f32; d.batch * d.queries * d.heads * hd];
        for b in 0..d.batch {
            for h in 0..d.heads {
                let g = h / rep;
                for i in 0..d.queries {
                    let qi = &q[((b * d.heads + h) * d.queries + i) * hd..][..hd];
                    let seen: Vec<usize> = (0..d.keys)
                        .filter(|&j| !visible.causal || j <= past + i)
                        .filter(|&j| visible.keep.is_none_or(|k| k[b * d.keys + j]))
                        .collect();
                    if seen.is_empty() {
                        continue;
                    }
                    let s: Vec<f64> = seen
                        .iter()
                        .map(|&j| {
                            let kj = &k[((b * d.kv_heads + g) * d.keys + j) * hd..][..hd];
                            qi.iter()
                                .zip(kj)
                                .map(|(&a, &c)| a as f64 * c as f64)
                                .sum::<f64>()
                                * scale as f64
                        })
                        .collect();
                    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for c in 0..hd {
                        let val: f64 = seen
                            .iter()
                            .zip(&e)
                            .map(|(&j, w)| {
                                w * v[((b * d.kv_heads + g) * d.keys + j) * hd + c] as f64
                            })
                            .sum();
                        out[((b * d.queries + i) * d.heads + h) * hd + c] = (val / z) as f32;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2001) as f32 / 500.0 - 2.0
            })
            .collect()
    }

    fn check_case(d: Dims, causal: bool, keep: Option<Vec<bool>>) {
        let hd = d.head_dim;
        let q = values(d.batch * d.heads * d.queries * hd, 1);
        let k = values(d.batch * d.kv_heads * d.keys * hd, 2);
        let v = values(d.batch * d.kv_heads * d.keys * hd, 3);
        let visible = Visibility {
            causal,
            keep: keep.as_deref(),
        };
        let scale = (hd as f32).powf(-0.5);
        let op = |data, heads, rows| Operand {
            data,
            offset: 0,
            strides: Strides::heads_first(rows, heads, hd),
        };
        let got = attend(
            op(&q, d.heads, d.queries),
            op(&k, d.kv_heads, d.keys),
            op(&v, d.kv_heads, d.keys),
            d,
            scale,
            visible,
        )
        .unwrap();
        let want = reference(&q, &k, &v, d, scale, visible);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 2e-5, "{d:?} causal {causal}: differs by {worst}");
    }

    #[test]
    fn equals_the_textbook_softmax() {
        let d = |batch, heads, kv_heads, queries, keys, head_dim| Dims {
            batch,
            heads,
            kv_heads,
            queries,
            keys,
            head_dim,
        };
        // Prefill across several row tiles and key blocks, grouped heads, causal.
        check_case(d(1, 6, 2, 150, 150, 16), true, None);
        // Prefill after a cached past (queries are the last 70 of 300 keys).
        check_case(d(2, 4, 4, 70, 300, 8), true, None);
        // Decoding one token with grouped heads.
        check_case(d(2, 9, 3, 1, 257, 64), true, None);
        // A vision tower: no mask, an odd head size.
        check_case(d(2, 3, 3, 131, 131, 12), false, None);
        // Padding: left padding in row 1 (its first queries see nothing), causal.
        let mut keep = vec![true; 2 * 140];
        keep[140..140 + 9].fill(false);
        keep[140 + 100] = false;
        check_case(d(2, 2, 1, 140, 140, 16), true, Some(keep));
        // BERT-like padding, not causal, a whole key block hidden.
        let mut keep = vec![true; 2 * 300];
        keep[300 + 128..600].fill(false);
        check_case(d(2, 2, 2, 300, 300, 8), false, Some(keep));
    }

    #[test]
    fn reads_tokens_first_queries_in_place() {
        // q as the projection gives it, [b, s, h, hd]; the result equals the row-major case.
        let (b, h, s, hd) = (1, 3, 5, 4);
        let dims = Dims {
            batch: b,
            heads: h,
            kv_heads: h,
            queries: s,
            keys: s,
            head_dim: hd,
        };
        let q = values(b * h * s * hd, 7);
        let kv = values(b * h * s * hd, 8);
        let mut tokens_first = vec![0.0; q.len()];
        for hh in 0..h {
            for i in 0..s {
                for c in 0..hd {
                    tokens_first[(i * h + hh) * hd + c] = q[(hh * s + i) * hd + c];
                }
            }
        }
        let kv_op = Operand {
            data: &kv,
            offset: 0,
            strides: Strides::heads_first(s, h, hd),
        };
        let visible = Visibility {
            causal: true,
            keep: None,
        };
        let a = attend(
            Operand {
                data: &q,
                offset: 0,
                strides: Strides::heads_first(s, h, hd),
            },
            kv_op,
            kv_op,
            dims,
            0.5,
            visible,
        )
        .unwrap();
        let c = attend(
            Operand {
                data: &tokens_first,
                offset: 0,
                strides: Strides::tokens_first(s, h, hd),
            },
            kv_op,
            kv_op,
            dims,
            0.5,
            visible,
        )
        .unwrap();
        assert_eq!(a, c);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = vec![0.0f32; 8];
        let op = Operand {
            data: &x,
            offset: 0,
            strides: Strides::heads_first(2, 1, 4),
        };
        let dims = Dims {
            batch: 1,
            heads: 3,
            kv_heads: 2,
            queries: 2,
            keys: 2,
            head_dim: 4,
        };
        let visible = Visibility {
            causal: false,
            keep: None,
        };
        assert!(matches!(
            attend(op, op, op, dims, 1.0, visible),
            Err(AttentionError::Heads { .. })
        ));
        let dims = Dims {
            heads: 2,
            kv_heads: 1,
            ..dims
        };
        assert_eq!(
            attend(op, op, op, dims, 1.0, visible),
            Err(AttentionError::Short { name: "query" })
        );
    }
}

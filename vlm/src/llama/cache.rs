//! The key/value cache for incremental decoding: one (keys, values) pair per layer.
//!
//! On GPU backends (and under autodiff) each step concatenates its keys and values to Burn
//! tensors. On the CPU, where the fused attention reads plain memory, they are written in place
//! into buffers with room to spare: concatenating copied the whole history every token (25 MB
//! a token at 550 cached tokens of SmolLM2).

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::attention::{self, Operand, Strides, Visibility};

/// Past keys and values, `[batch, kv_heads, len, head_dim]` per layer.
#[derive(Clone, Debug)]
pub struct KvCache<B: Backend> {
    layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    /// The CPU's in-place buffers, per layer.
    host: Vec<Option<HostKv>>,
    len: usize,
}

/// One layer's keys and values on the CPU, `[batch, kv_heads, capacity, head_dim]`, the first
/// `len` rows of each head in use.
#[derive(Clone, Debug)]
struct HostKv {
    keys: Vec<f32>,
    values: Vec<f32>,
    batch: usize,
    heads: usize,
    head_dim: usize,
    capacity: usize,
    len: usize,
}

impl HostKv {
    fn strides(&self) -> Strides {
        Strides::heads_first(self.capacity, self.heads, self.head_dim)
    }

    /// The keys and values as the fused attention reads them.
    fn operands(&self) -> (Operand<'_>, Operand<'_>) {
        let strides = self.strides();
        let operand = |data| Operand {
            data,
            offset: 0,
            strides,
        };
        (operand(&self.keys), operand(&self.values))
    }

    /// Room for `rows` in all: capacity doubles (at least 256), the rows kept.
    fn reserve(&mut self, rows: usize) {
        if rows <= self.capacity {
            return;
        }
        let capacity = rows.next_power_of_two().max(256);
        let (b, h, hd) = (self.batch, self.heads, self.head_dim);
        let mut grown = [
            vec![0.0f32; b * h * capacity * hd],
            vec![0.0f32; b * h * capacity * hd],
        ];
        for (new, old) in grown.iter_mut().zip([&self.keys, &self.values]) {
            for bh in 0..b * h {
                let used = self.len * hd;
                new[bh * capacity * hd..][..used]
                    .copy_from_slice(&old[bh * self.capacity * hd..][..used]);
            }
        }
        let [keys, values] = grown;
        (self.keys, self.values, self.capacity) = (keys, values, capacity);
    }

    /// Copies `n` new rows of keys and values (strided views `[batch, heads, n, head_dim]`).
    fn append(&mut self, k: &Operand, v: &Operand, n: usize) {
        self.reserve(self.len + n);
        let (hd, st) = (self.head_dim, self.strides());
        for (dst, src) in [(&mut self.keys, k), (&mut self.values, v)] {
            for b in 0..self.batch {
                for h in 0..self.heads {
                    for r in 0..n {
                        let from = src.offset
                            + b * src.strides.batch
                            + h * src.strides.head
                            + r * src.strides.row;
                        let to = b * st.batch + h * st.head + (self.len + r) * st.row;
                        dst[to..to + hd].copy_from_slice(&src.data[from..from + hd]);
                    }
                }
            }
        }
        self.len += n;
    }
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for `layers` decoder layers.
    pub fn new(layers: usize) -> Self {
        KvCache {
            layers: vec![None; layers],
            host: vec![None; layers],
            len: 0,
        }
    }

    /// Tokens already cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first forward pass.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.layers.iter_mut().for_each(|l| *l = None);
        self.host.iter_mut().for_each(|l| *l = None);
        self.len = 0;
    }

    /// Appends this step's keys and values for `layer` and returns the whole history.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let (k, v) = match self.layers[layer].take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        (k, v)
    }

    /// On the CPU: appends this step's keys and values for `layer` in place and attends over
    /// the whole history with the fused attention. `None` (nothing appended) when the fused
    /// attention does not run for `B` or these tensors.
    ///
    /// # Shapes
    /// - q: `[batch, heads, seq, head_dim]`; k, v: `[batch, kv_heads, seq, head_dim]` (views)
    /// - returns: `[batch, seq, heads × head_dim]`
    pub(crate) fn attend_in_place(
        &mut self,
        layer: usize,
        q: &Tensor<B, 4>,
        k: &Tensor<B, 4>,
        v: &Tensor<B, 4>,
        scale: f32,
        visible: Visibility,
    ) -> Option<Tensor<B, 3>> {
        if self.layers[layer].is_some() {
            return None; // this cache already holds Burn tensors for the layer
        }
        let (kf, vf) = (crate::host::cpu_tensor(k)?, crate::host::cpu_tensor(v)?);
        let (ko, vo) = (attention::operand(&kf)?, attention::operand(&vf)?);
        let [batch, kv_heads, seq, head_dim] = k.dims();
        let host = self.host[layer].get_or_insert_with(|| HostKv {
            keys: Vec::new(),
            values: Vec::new(),
            batch,
            heads: kv_heads,
            head_dim,
            capacity: 0,
            len: 0,
        });
        if (host.batch, host.heads, host.head_dim) != (batch, kv_heads, head_dim) {
            return None;
        }
        host.append(&ko, &vo, seq);
        let (keys, values) = host.operands();
        let out = attention::attend_query(q, keys, values, kv_heads, host.len, scale, visible);
        if out.is_none() {
            host.len -= seq; // as before this call: Burn's ops take over
        }
        out
    }

    /// Records that a step of `n` tokens went through every layer.
    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}

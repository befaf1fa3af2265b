//! Quantised weight matrices for CPU decoding: GGUF's Q8_0, Q4_0 and Q4_1 blocks kept as
//! they are and multiplied directly, instead of being dequantised to f32 at load. Decoding
//! one token reads every weight once, so its speed is the bytes read per token: a Q4_1
//! matrix is under a sixth of its f32 copy.
//!
//! The activations stay f32 (llama.cpp rounds them to 8 bits per block of 32): each weight is
//! rebuilt in registers as `q · d + m` (Q4_0 is Q4_1 with `m = −8 d`; Q8_0 has `m = 0`), so
//! the product is the f32 product with the dequantised matrix up to f32 rounding, and greedy
//! text stays transformers'. Measured on SmolLM2's first chat prompt, 8-bit activations
//! already change the first token: the final hidden state has an outlier of 33, which makes
//! its block's step 0.26, and the two best logits are 0.08 apart. The SIMD kernels of
//! [`kernels`] are chosen once from the CPU's features.

mod kernels;

use rayon::prelude::*;

pub use kernels::{kernel, Acts, Kernel};

/// Values per block, in every format here.
pub const BLOCK: usize = 32;

/// The block formats kept quantised (GGUF's type names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantFormat {
    /// 32 signed bytes and an f16 scale (34 bytes per block).
    Q8_0,
    /// 32 nibbles `q` meaning `(q − 8) · d` (18 bytes per block).
    Q4_0,
    /// 32 nibbles `q` meaning `q · d + m` (20 bytes per block).
    Q4_1,
}

impl QuantFormat {
    /// Bytes of one block in a GGUF file.
    pub fn gguf_block_bytes(self) -> usize {
        match self {
            QuantFormat::Q8_0 => 34,
            QuantFormat::Q4_0 => 18,
            QuantFormat::Q4_1 => 20,
        }
    }

    fn nibbles(self) -> bool {
        !matches!(self, QuantFormat::Q8_0)
    }
}

/// Why a quantised matrix could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuantError {
    #[error("a quantised row must be a whole number of {BLOCK}-value blocks, got {0} columns")]
    Columns(usize),
    #[error("{format:?} data for {rows}×{cols} needs {expected} bytes, got {got}")]
    Length {
        format: QuantFormat,
        rows: usize,
        cols: usize,
        expected: usize,
        got: usize,
    },
}

/// A `[rows, cols]` weight matrix (rows = output features, as GGUF and transformers store
/// them) in blocks of 32 along each row, unpacked from GGUF's interleaved blocks into
/// separate arrays so the kernels read aligned integers and f32 scales.
#[derive(Clone, Debug)]
pub struct QuantMatrix {
    format: QuantFormat,
    rows: usize,
    cols: usize,
    /// Q8_0: 32 bytes per block (i8); Q4: 16 bytes per block, element j in the low nibble of
    /// byte j and element j + 16 in its high nibble (GGUF's order).
    qs: Vec<u8>,
    /// One scale per block.
    d: Vec<f32>,
    /// One offset per block (Q4_0: −8 d; Q4_1: m; Q8_0: empty).
    m: Vec<f32>,
}

impl QuantMatrix {
    /// A matrix from GGUF's block bytes, row after row.
    pub fn from_gguf(
        format: QuantFormat,
        rows: usize,
        cols: usize,
        raw: &[u8],
    ) -> Result<Self, QuantError> {
        if cols == 0 || !cols.is_multiple_of(BLOCK) {
            return Err(QuantError::Columns(cols));
        }
        let blocks = rows * cols / BLOCK;
        let per = format.gguf_block_bytes();
        if raw.len() != blocks * per {
            return Err(QuantError::Length {
                format,
                rows,
                cols,
                expected: blocks * per,
                got: raw.len(),
            });
        }
        let half = |b: &[u8]| half::f16::from_le_bytes([b[0], b[1]]).to_f32();
        let q_bytes = if format.nibbles() { 16 } else { 32 };
        let mut qs = Vec::with_capacity(blocks * q_bytes);
        let mut d = Vec::with_capacity(blocks);
        let mut m = Vec::with_capacity(if format.nibbles() { blocks } else { 0 });
        for b in raw.chunks_exact(per) {
            let scale = half(&b[0..2]);
            d.push(scale);
            match format {
                QuantFormat::Q8_0 => qs.extend_from_slice(&b[2..34]),
                QuantFormat::Q4_0 => {
                    m.push(-8.0 * scale);
                    qs.extend_from_slice(&b[2..18]);
                }
                QuantFormat::Q4_1 => {
                    m.push(half(&b[2..4]));
                    qs.extend_from_slice(&b[4..20]);
                }
            }
        }
        Ok(QuantMatrix {
            format,
            rows,
            cols,
            qs,
            d,
            m,
        })
    }

    /// `(rows, cols)`: output and input features.
    pub fn dims(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    pub fn format(&self) -> QuantFormat {
        self.format
    }

    fn blocks_per_row(&self) -> usize {
        self.cols / BLOCK
    }

    fn q_bytes(&self) -> usize {
        if self.format.nibbles() {
            16
        } else {
            32
        }
    }

    /// Bytes the kernels read for one product with a vector (the figure decode speed is
    /// bound by).
    pub fn bytes(&self) -> usize {
        self.qs.len() + 4 * (self.d.len() + self.m.len())
    }

    /// The matrix in f32, `[rows, cols]` row-major (what GGUF's dequantisation gives).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        let qb = self.q_bytes();
        for (b, qs) in self.qs.chunks_exact(qb).enumerate() {
            let d = self.d[b];
            match self.format {
                QuantFormat::Q8_0 => out.extend(qs.iter().map(|&q| q as i8 as f32 * d)),
                _ => {
                    let m = self.m[b];
                    out.extend(qs.iter().map(|&q| (q & 0x0F) as f32 * d + m));
                    out.extend(qs.iter().map(|&q| (q >> 4) as f32 * d + m));
                }
            }
        }
        out
    }

    /// Reorders whole rows: row `i` of the result is row `from[i]` of `self` (llama.cpp's
    /// Q/K head permutation is undone this way; blocks never cross rows).
    pub fn permute_rows(&mut self, from: &[usize]) {
        let (qb, bpr) = (self.q_bytes(), self.blocks_per_row());
        let (qs, d, m) = (self.qs.clone(), self.d.clone(), self.m.clone());
        for (i, &src) in from.iter().enumerate() {
            let (a, b) = (i * bpr, src * bpr);
            self.qs[a * qb..(a + bpr) * qb].copy_from_slice(&qs[b * qb..(b + bpr) * qb]);
            self.d[a..a + bpr].copy_from_slice(&d[b..b + bpr]);
            if !m.is_empty() {
                self.m[a..a + bpr].copy_from_slice(&m[b..b + bpr]);
            }
        }
    }

    /// `y = x · Wᵀ` for `n` activation rows: `x` is `[n, cols]`, the result `[n, rows]`.
    /// Rows of the matrix are split across rayon's threads.
    pub fn matmul(&self, x: &[f32], n: usize) -> Vec<f32> {
        self.matmul_with(kernel(), x, n)
    }

    /// [`QuantMatrix::matmul`] with the kernel `k` (one of [`Kernel::available`]; benchmarks
    /// compare them).
    pub fn matmul_with(&self, k: Kernel, x: &[f32], n: usize) -> Vec<f32> {
        let mut out = matmul_shared(&[self], k, x, n);
        out.pop().unwrap_or_default()
    }

    /// Row `r`'s product with one prepared activation row.
    fn row(&self, k: Kernel, r: usize, a: &Acts) -> f32 {
        let (qb, bpr) = (self.q_bytes(), self.blocks_per_row());
        let blocks = r * bpr..(r + 1) * bpr;
        let qs = &self.qs[blocks.start * qb..blocks.end * qb];
        let d = &self.d[blocks.clone()];
        match self.format {
            QuantFormat::Q8_0 => k.dot_q8(qs, d, a),
            _ => k.dot_q4(qs, d, &self.m[blocks], a),
        }
    }
}

/// `x · Wᵀ` for each matrix of `mats` (all with the same columns) and the same `n` activation
/// rows, in one parallel pass: a decoder layer's q/k/v (or gate/up) products share their input,
/// and each pass costs a wake-up of the threads and a rounding of the activations. Returns one
/// `[n, rows]` result per matrix.
pub fn matmul_shared(mats: &[&QuantMatrix], k: Kernel, x: &[f32], n: usize) -> Vec<Vec<f32>> {
    let Some(first) = mats.first() else {
        return Vec::new();
    };
    let cols = first.cols;
    assert!(
        mats.iter().all(|m| m.cols == cols),
        "matrices sharing activations must have the same columns"
    );
    assert_eq!(x.len(), n * cols, "activations must be [n, cols]");
    let acts: Vec<Acts> = x.chunks_exact(cols).map(Acts::new).collect();
    // The matrices' rows stacked; `starts[i]` is matrix i's first row.
    let starts: Vec<usize> = mats
        .iter()
        .scan(0, |s, m| {
            let at = *s;
            *s += m.rows;
            Some(at)
        })
        .collect();
    let rows: usize = mats.iter().map(|m| m.rows).sum();
    // Rows out of the matrices, each with every activation row: each matrix is read once.
    let mut out_t = vec![0f32; rows * n];
    let chunk = (rows / (4 * rayon::current_num_threads().max(1))).max(16);
    let fill = |(c, ys): (usize, &mut [f32])| {
        let first = c * chunk;
        let mut which = starts.partition_point(|&s| s <= first) - 1;
        for (i, y) in ys.chunks_exact_mut(n).enumerate() {
            let r = first + i;
            while which + 1 < starts.len() && starts[which + 1] <= r {
                which += 1;
            }
            for (j, a) in acts.iter().enumerate() {
                y[j] = mats[which].row(k, r - starts[which], a);
            }
        }
    };
    // Small products finish before threads would start.
    if rows * (cols / BLOCK) * n < 4096 {
        out_t.chunks_mut(chunk * n).enumerate().for_each(fill);
    } else {
        out_t.par_chunks_mut(chunk * n).enumerate().for_each(fill);
    }
    mats.iter()
        .zip(&starts)
        .map(|(m, &start)| {
            let mut out = vec![0f32; n * m.rows];
            for r in 0..m.rows {
                for j in 0..n {
                    out[j * m.rows + r] = out_t[(start + r) * n + j];
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests;

//! Dot products of one quantised weight row with one activation row, per CPU: portable scalar
//! code, AVX2 and AVX-512. The activations come as [`Acts`]: each block of 32 rounded to
//! 16-bit integers with its own step. A block's weights (bytes 0–15 for Q4, −128–127 for
//! Q8_0) are widened to 16 bits and multiplied with them in integer pairs (`pmaddwd`): the
//! block's sum is exact, converted to f32 once and scaled by the block's `d` and step. Q4's
//! offset `m` multiplies the block's exact f32 activation sum. No weight is ever written to
//! memory as f32, and a block costs a handful of instructions instead of two conversions and
//! two FMAs per 16 weights (the f32 kernels this replaced ran at 10 GB/s a core, not enough
//! to keep up with memory).

use std::sync::OnceLock;

use super::BLOCK;

/// The largest magnitude of a rounded activation.
const STEPS: f32 = 32767.0;

/// Adding and taking away 1.5 · 2^23 rounds an f32 below 2^22 to the nearest integer (ties
/// to even), in two vectorised adds where `f32::round` is a libm call per element.
const ROUND: f32 = 12_582_912.0;

/// An activation row prepared for the kernels, once per product: rounded to `i16` per block
/// of 32 (`x ≈ q · step`), with each block's exact f32 sum.
pub struct Acts {
    pub(super) q: Vec<i16>,
    pub(super) step: Vec<f32>,
    pub(super) sum: Vec<f32>,
}

impl Acts {
    /// `x`'s length must be a multiple of 32.
    pub fn new(x: &[f32]) -> Self {
        let blocks = x.len() / BLOCK;
        let mut q = Vec::with_capacity(x.len());
        let mut step = Vec::with_capacity(blocks);
        let mut sum = Vec::with_capacity(blocks);
        for b in x.chunks_exact(BLOCK) {
            let max = b.iter().fold(0f32, |a, v| a.max(v.abs()));
            let s = max / STEPS;
            let inv = if s > 0.0 { 1.0 / s } else { 0.0 };
            q.extend(
                b.iter()
                    .map(|v| ((v * inv + ROUND) - ROUND).clamp(-STEPS, STEPS) as i16),
            );
            step.push(s);
            sum.push(b.iter().sum());
        }
        Acts { q, step, sum }
    }

    /// The block steps: the rounding error of element `i` is at most `step[i / 32] / 2`.
    pub fn steps(&self) -> &[f32] {
        &self.step
    }

    fn blocks(&self) -> usize {
        self.step.len()
    }
}

/// A family of kernels this CPU can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Scalar,
    Avx2,
    Avx512,
}

/// The fastest kernel this CPU runs, detected once. `VLM_INSPECT_QUANT_KERNEL=scalar|avx2|
/// avx512` picks another (benchmarks, and checking one against another); a kernel the CPU
/// lacks is never chosen.
pub fn kernel() -> Kernel {
    static CHOSEN: OnceLock<Kernel> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let available = Kernel::available();
        let wanted = std::env::var("VLM_INSPECT_QUANT_KERNEL").ok();
        wanted
            .and_then(|w| available.iter().copied().find(|k| k.name() == w))
            .unwrap_or_else(|| *available.last().unwrap_or(&Kernel::Scalar))
    })
}

impl Kernel {
    /// Every kernel this CPU runs, slowest first.
    pub fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut out = vec![Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                out.push(Kernel::Avx2);
                if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") {
                    out.push(Kernel::Avx512);
                }
            }
        }
        out
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }

    /// `Σ (nibble · d + m) · x` over a Q4 row (16 bytes per block).
    pub(super) fn dot_q4(self, qs: &[u8], d: &[f32], m: &[f32], x: &Acts) -> f32 {
        let blocks = d.len();
        assert!(qs.len() == blocks * 16 && m.len() == blocks && x.blocks() == blocks);
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `available` listed this kernel only where the CPU has its features; the
            // lengths were checked above.
            Kernel::Avx2 => unsafe { x86::dot_q4_avx2(qs, d, x) + x86::offsets(m, &x.sum) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Kernel::Avx512 => unsafe { x86::dot_q4_avx512(qs, d, x) + x86::offsets(m, &x.sum) },
            _ => scalar_q4(qs, d, x) + dot(m, &x.sum),
        }
    }

    /// `Σ q · d · x` over a Q8_0 row (32 bytes per block).
    pub(super) fn dot_q8(self, qs: &[u8], d: &[f32], x: &Acts) -> f32 {
        let blocks = d.len();
        assert!(qs.len() == blocks * BLOCK && x.blocks() == blocks);
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `dot_q4`.
            Kernel::Avx2 => unsafe { x86::dot_q8_avx2(qs, d, x) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `dot_q4`.
            Kernel::Avx512 => unsafe { x86::dot_q8_avx512(qs, d, x) },
            _ => scalar_q8(qs, d, x),
        }
    }
}

/// `Σ a · b` in f32, four sums at a time (the Q4 offsets against the block sums).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut s = [0f32; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            s[k] += x[k] * y[k];
        }
    }
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

fn scalar_q4(qs: &[u8], d: &[f32], x: &Acts) -> f32 {
    let mut acc = 0f32;
    for (b, (q, xq)) in qs.chunks_exact(16).zip(x.q.chunks_exact(BLOCK)).enumerate() {
        let mut sum = 0i32;
        for j in 0..16 {
            sum += (q[j] & 0x0F) as i32 * xq[j] as i32 + (q[j] >> 4) as i32 * xq[j + 16] as i32;
        }
        acc += sum as f32 * (d[b] * x.step[b]);
    }
    acc
}

fn scalar_q8(qs: &[u8], d: &[f32], x: &Acts) -> f32 {
    let mut acc = 0f32;
    for (b, (q, xq)) in qs
        .chunks_exact(BLOCK)
        .zip(x.q.chunks_exact(BLOCK))
        .enumerate()
    {
        let sum: i32 = q
            .iter()
            .zip(xq)
            .map(|(&w, &v)| w as i8 as i32 * v as i32)
            .sum();
        acc += sum as f32 * (d[b] * x.step[b]);
    }
    acc
}

/// The kernels' pointer reads stay inside the slices `Kernel::dot_q4`/`dot_q8` checked: block
/// `b < d.len()` reads `qs[16b..16b + 16]` (Q4) or `qs[32b..32b + 32]` (Q8) and
/// `x.q[32b..32b + 32]`.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::super::BLOCK;
    use super::Acts;

    /// A Q4 block's nibbles as bytes: elements 0–15 (low nibbles) and 16–31 (high).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn nibbles(p: *const u8) -> [__m128i; 2] {
        let q = _mm_loadu_si128(p.cast());
        let mask = _mm_set1_epi8(0x0F);
        [
            _mm_and_si128(q, mask),
            _mm_and_si128(_mm_srli_epi16(q, 4), mask),
        ]
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn hsum256(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// `Σ m · sum` over a row's blocks (Q4's offsets against the block sums), eight at a time.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn offsets(m: &[f32], sum: &[f32]) -> f32 {
        let n = m.len().min(sum.len());
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        while i + 8 <= n {
            let (a, b) = (m.as_ptr().add(i), sum.as_ptr().add(i));
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b), acc);
            i += 8;
        }
        hsum256(acc) + super::dot(&m[i..n], &sum[i..n])
    }

    /// Adds block `b`'s exact integer sum (`w` holds its 32 weights as 16-bit values, in two
    /// halves) times `d · step` into the f32 sums `acc`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block_avx2(w: [__m256i; 2], d: f32, x: &Acts, b: usize, acc: &mut __m256) {
        let xq = x.q.as_ptr().add(b * BLOCK);
        let pairs = _mm256_add_epi32(
            _mm256_madd_epi16(w[0], _mm256_loadu_si256(xq.cast())),
            _mm256_madd_epi16(w[1], _mm256_loadu_si256(xq.add(16).cast())),
        );
        let scale = _mm256_set1_ps(d * *x.step.get_unchecked(b));
        *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pairs), scale, *acc);
    }

    /// Runs `block(b, sum)` over `blocks` blocks, even blocks into one sum and odd into
    /// another, held in registers (indexing an array of sums by `b % 2` puts them on the stack,
    /// and each FMA then waits on the last one's store).
    #[inline(always)]
    fn two_sums<V: Copy>(blocks: usize, zero: V, mut block: impl FnMut(usize, &mut V)) -> [V; 2] {
        let (mut even, mut odd) = (zero, zero);
        for p in 0..blocks / 2 {
            block(2 * p, &mut even);
            block(2 * p + 1, &mut odd);
        }
        if blocks % 2 == 1 {
            block(blocks - 1, &mut even);
        }
        [even, odd]
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q4_avx2(qs: &[u8], d: &[f32], x: &Acts) -> f32 {
        let [a, b] = two_sums(d.len(), _mm256_setzero_ps(), |b, acc| {
            let [low, high] = nibbles(qs.as_ptr().add(b * 16));
            let w = [_mm256_cvtepu8_epi16(low), _mm256_cvtepu8_epi16(high)];
            block_avx2(w, *d.get_unchecked(b), x, b, acc);
        });
        hsum256(_mm256_add_ps(a, b))
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q8_avx2(qs: &[u8], d: &[f32], x: &Acts) -> f32 {
        let [a, b] = two_sums(d.len(), _mm256_setzero_ps(), |b, acc| {
            let p = qs.as_ptr().add(b * BLOCK);
            let w = [
                _mm256_cvtepi8_epi16(_mm_loadu_si128(p.cast())),
                _mm256_cvtepi8_epi16(_mm_loadu_si128(p.add(16).cast())),
            ];
            block_avx2(w, *d.get_unchecked(b), x, b, acc);
        });
        hsum256(_mm256_add_ps(a, b))
    }

    /// [`block_avx2`] with the block's 32 weights in one register.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
    unsafe fn block_avx512(w: __m512i, d: f32, x: &Acts, b: usize, acc: &mut __m512) {
        let xq = _mm512_loadu_si512(x.q.as_ptr().add(b * BLOCK).cast());
        let scale = _mm512_set1_ps(d * *x.step.get_unchecked(b));
        let pairs = _mm512_madd_epi16(w, xq);
        *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pairs), scale, *acc);
    }

    #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
    pub(super) unsafe fn dot_q4_avx512(qs: &[u8], d: &[f32], x: &Acts) -> f32 {
        let [a, b] = two_sums(d.len(), _mm512_setzero_ps(), |b, acc| {
            let [low, high] = nibbles(qs.as_ptr().add(b * 16));
            let w = _mm512_cvtepu8_epi16(_mm256_set_m128i(high, low));
            block_avx512(w, *d.get_unchecked(b), x, b, acc);
        });
        _mm512_reduce_add_ps(_mm512_add_ps(a, b))
    }

    #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
    pub(super) unsafe fn dot_q8_avx512(qs: &[u8], d: &[f32], x: &Acts) -> f32 {
        let [a, b] = two_sums(d.len(), _mm512_setzero_ps(), |b, acc| {
            let w = _mm512_cvtepi8_epi16(_mm256_loadu_si256(qs.as_ptr().add(b * BLOCK).cast()));
            block_avx512(w, *d.get_unchecked(b), x, b, acc);
        });
        _mm512_reduce_add_ps(_mm512_add_ps(a, b))
    }
}

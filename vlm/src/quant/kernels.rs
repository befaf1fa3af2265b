//! Dot products of one quantised weight row with one f32 activation row, per CPU: portable
//! scalar code, AVX2 (8 lanes) and AVX-512 (16 lanes). Each widens a block's bytes to f32 in
//! registers, multiplies with the activations, and scales the block's sum once; no kernel
//! writes a dequantised weight to memory.

use std::sync::OnceLock;

use super::{Activations, BLOCK};

/// A family of kernels this CPU can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Scalar,
    Avx2,
    Avx512,
}

/// The fastest kernel this CPU runs, detected once. `VLM_INSPECT_QUANT_KERNEL=scalar|avx2|
/// avx512` picks a slower one (benchmarks, and checking one against another); a kernel the
/// CPU lacks is never chosen.
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
                if is_x86_feature_detected!("avx512f") {
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

    /// `Σ_blocks d Σ nibble · x + m Σ x` for a Q4 row (16 bytes per block).
    pub(super) fn dot_q4(self, qs: &[u8], d: &[f32], m: &[f32], a: &Activations) -> f32 {
        let blocks = d.len();
        assert!(qs.len() == blocks * 16 && m.len() == blocks && a.x.len() == blocks * BLOCK);
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `available` listed this kernel only where the CPU has its features;
            // the lengths were checked above.
            Kernel::Avx2 => unsafe { x86::dot_q4_avx2(qs, d, m, a) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Kernel::Avx512 => unsafe { x86::dot_q4_avx512(qs, d, m, a) },
            _ => scalar_q4(qs, d, m, a),
        }
    }

    /// `Σ_blocks d Σ q · x` for a Q8_0 row (32 bytes per block).
    pub(super) fn dot_q8(self, qs: &[u8], d: &[f32], a: &Activations) -> f32 {
        let blocks = d.len();
        assert!(qs.len() == blocks * BLOCK && a.x.len() == blocks * BLOCK);
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `dot_q4`.
            Kernel::Avx2 => unsafe { x86::dot_q8_avx2(qs, d, a) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `dot_q4`.
            Kernel::Avx512 => unsafe { x86::dot_q8_avx512(qs, d, a) },
            _ => scalar_q8(qs, d, a),
        }
    }
}

fn scalar_q4(qs: &[u8], d: &[f32], m: &[f32], a: &Activations) -> f32 {
    let mut acc = 0f32;
    for (b, (q, x)) in qs.chunks_exact(16).zip(a.x.chunks_exact(BLOCK)).enumerate() {
        let mut sum = 0f32;
        for j in 0..16 {
            sum += (q[j] & 0x0F) as f32 * x[j] + (q[j] >> 4) as f32 * x[j + 16];
        }
        acc += d[b] * sum + m[b] * a.sums[b];
    }
    acc
}

fn scalar_q8(qs: &[u8], d: &[f32], a: &Activations) -> f32 {
    let mut acc = 0f32;
    for (b, (q, x)) in qs
        .chunks_exact(BLOCK)
        .zip(a.x.chunks_exact(BLOCK))
        .enumerate()
    {
        let sum: f32 = q.iter().zip(x).map(|(&w, &v)| w as i8 as f32 * v).sum();
        acc += d[b] * sum;
    }
    acc
}

/// The kernels' pointer reads stay inside the slices `Kernel::dot_q4`/`dot_q8` checked: block
/// `b < d.len()` reads `qs[16b..16b + 16]` (Q4) or `qs[32b..32b + 32]` (Q8) and
/// `x[32b..32b + 32]`.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::super::{Activations, BLOCK};

    /// A Q4 block's nibbles as bytes: elements 0–15 (low nibbles) and 16–31 (high).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn nibbles(p: *const u8) -> (__m128i, __m128i) {
        let q = _mm_loadu_si128(p as *const __m128i);
        let mask = _mm_set1_epi8(0x0F);
        (
            _mm_and_si128(q, mask),
            _mm_and_si128(_mm_srli_epi16(q, 4), mask),
        )
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum256(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// `acc` + 16 byte-weights (signed or not) times the 16 activations at `x`, 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sum16_avx2(w: __m128i, x: *const f32, signed: bool, acc: __m256) -> __m256 {
        let (w0, w1) = if signed {
            (
                _mm256_cvtepi8_epi32(w),
                _mm256_cvtepi8_epi32(_mm_srli_si128(w, 8)),
            )
        } else {
            (
                _mm256_cvtepu8_epi32(w),
                _mm256_cvtepu8_epi32(_mm_srli_si128(w, 8)),
            )
        };
        let (w0, w1) = (_mm256_cvtepi32_ps(w0), _mm256_cvtepi32_ps(w1));
        let acc = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x), acc);
        _mm256_fmadd_ps(w1, _mm256_loadu_ps(x.add(8)), acc)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q4_avx2(qs: &[u8], d: &[f32], m: &[f32], a: &Activations) -> f32 {
        let (q, x) = (qs.as_ptr(), a.x.as_ptr());
        let mut acc = _mm256_setzero_ps();
        let mut offsets = 0f32;
        for b in 0..d.len() {
            let (lo, hi) = nibbles(q.add(b * 16));
            let xb = x.add(b * BLOCK);
            let p = sum16_avx2(lo, xb, false, _mm256_setzero_ps());
            let p = sum16_avx2(hi, xb.add(16), false, p);
            acc = _mm256_fmadd_ps(p, _mm256_set1_ps(d[b]), acc);
            offsets += m[b] * a.sums[b];
        }
        hsum256(acc) + offsets
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q8_avx2(qs: &[u8], d: &[f32], a: &Activations) -> f32 {
        let (q, x) = (qs.as_ptr(), a.x.as_ptr());
        let mut acc = _mm256_setzero_ps();
        for (b, &scale) in d.iter().enumerate() {
            let lo = _mm_loadu_si128(q.add(b * BLOCK) as *const __m128i);
            let hi = _mm_loadu_si128(q.add(b * BLOCK + 16) as *const __m128i);
            let xb = x.add(b * BLOCK);
            let p = sum16_avx2(lo, xb, true, _mm256_setzero_ps());
            let p = sum16_avx2(hi, xb.add(16), true, p);
            acc = _mm256_fmadd_ps(p, _mm256_set1_ps(scale), acc);
        }
        hsum256(acc)
    }

    #[target_feature(enable = "avx512f,avx2")]
    pub(super) unsafe fn dot_q4_avx512(qs: &[u8], d: &[f32], m: &[f32], a: &Activations) -> f32 {
        let (q, x) = (qs.as_ptr(), a.x.as_ptr());
        let mut acc = _mm512_setzero_ps();
        let mut offsets = 0f32;
        for b in 0..d.len() {
            let (lo, hi) = nibbles(q.add(b * 16));
            let xb = x.add(b * BLOCK);
            let w0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo));
            let w1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi));
            let p = _mm512_mul_ps(w0, _mm512_loadu_ps(xb));
            let p = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xb.add(16)), p);
            acc = _mm512_fmadd_ps(p, _mm512_set1_ps(d[b]), acc);
            offsets += m[b] * a.sums[b];
        }
        _mm512_reduce_add_ps(acc) + offsets
    }

    #[target_feature(enable = "avx512f,avx2")]
    pub(super) unsafe fn dot_q8_avx512(qs: &[u8], d: &[f32], a: &Activations) -> f32 {
        let (q, x) = (qs.as_ptr(), a.x.as_ptr());
        let mut acc = _mm512_setzero_ps();
        for (b, &scale) in d.iter().enumerate() {
            let lo = _mm_loadu_si128(q.add(b * BLOCK) as *const __m128i);
            let hi = _mm_loadu_si128(q.add(b * BLOCK + 16) as *const __m128i);
            let xb = x.add(b * BLOCK);
            let w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo));
            let w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi));
            let p = _mm512_mul_ps(w0, _mm512_loadu_ps(xb));
            let p = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xb.add(16)), p);
            acc = _mm512_fmadd_ps(p, _mm512_set1_ps(scale), acc);
        }
        _mm512_reduce_add_ps(acc)
    }
}

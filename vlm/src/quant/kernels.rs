//! Dot products of one quantised weight row with one f32 activation row, per CPU: portable
//! scalar code, AVX2 (8 lanes) and AVX-512 (16 lanes). Each widens a block's bytes to f32 in
//! registers (`q · d + m` in one FMA), multiplies with the activations into several
//! independent sums (one FMA chain would wait on its own latency), and never writes a
//! dequantised weight to memory.

use std::sync::OnceLock;

use super::BLOCK;

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

    /// `Σ (nibble · d + m) · x` over a Q4 row (16 bytes per block).
    pub(super) fn dot_q4(self, qs: &[u8], d: &[f32], m: &[f32], x: &[f32]) -> f32 {
        let blocks = d.len();
        assert!(qs.len() == blocks * 16 && m.len() == blocks && x.len() == blocks * BLOCK);
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `available` listed this kernel only where the CPU has its features;
            // the lengths were checked above.
            Kernel::Avx2 => unsafe { x86::dot_q4_avx2(qs, d, m, x) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Kernel::Avx512 => unsafe { x86::dot_q4_avx512(qs, d, m, x) },
            _ => scalar_q4(qs, d, m, x),
        }
    }

    /// `Σ q · d · x` over a Q8_0 row (32 bytes per block).
    pub(super) fn dot_q8(self, qs: &[u8], d: &[f32], x: &[f32]) -> f32 {
        let blocks = d.len();
        assert!(qs.len() == blocks * BLOCK && x.len() == blocks * BLOCK);
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

fn scalar_q4(qs: &[u8], d: &[f32], m: &[f32], x: &[f32]) -> f32 {
    let mut acc = 0f32;
    for (b, (q, x)) in qs.chunks_exact(16).zip(x.chunks_exact(BLOCK)).enumerate() {
        let w = |n: u8| n as f32 * d[b] + m[b];
        for j in 0..16 {
            acc += w(q[j] & 0x0F) * x[j] + w(q[j] >> 4) * x[j + 16];
        }
    }
    acc
}

fn scalar_q8(qs: &[u8], d: &[f32], x: &[f32]) -> f32 {
    let mut acc = 0f32;
    for (b, (q, x)) in qs
        .chunks_exact(BLOCK)
        .zip(x.chunks_exact(BLOCK))
        .enumerate()
    {
        acc += q
            .iter()
            .zip(x)
            .map(|(&w, &v)| w as i8 as f32 * d[b] * v)
            .sum::<f32>();
    }
    acc
}

/// The kernels' pointer reads stay inside the slices `Kernel::dot_q4`/`dot_q8` checked: block
/// `b < d.len()` reads `qs[16b..16b + 16]` (Q4) or `qs[32b..32b + 32]` (Q8) and
/// `x[32b..32b + 32]`.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::super::BLOCK;

    /// A Q4 block's nibbles as bytes: elements 0–15 (low nibbles) and 16–31 (high).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn nibbles(p: *const u8) -> [__m128i; 2] {
        let q = _mm_loadu_si128(p as *const __m128i);
        let mask = _mm_set1_epi8(0x0F);
        [
            _mm_and_si128(q, mask),
            _mm_and_si128(_mm_srli_epi16(q, 4), mask),
        ]
    }

    /// A Q8_0 block's 32 signed bytes, as two halves.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn bytes32(p: *const u8) -> [__m128i; 2] {
        [
            _mm_loadu_si128(p as *const __m128i),
            _mm_loadu_si128(p.add(16) as *const __m128i),
        ]
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum256(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// Adds one block (its 32 weights as two 16-byte halves, `signed` or not, each `q · d +
    /// m`) times the 32 activations at `x` into four 8-lane sums.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block_avx2(
        halves: [__m128i; 2],
        signed: bool,
        d: f32,
        m: f32,
        x: *const f32,
        acc: &mut [__m256; 4],
    ) {
        let (dv, mv) = (_mm256_set1_ps(d), _mm256_set1_ps(m));
        for (h, half) in halves.into_iter().enumerate() {
            let rest = _mm_srli_si128(half, 8);
            let ints = if signed {
                [_mm256_cvtepi8_epi32(half), _mm256_cvtepi8_epi32(rest)]
            } else {
                [_mm256_cvtepu8_epi32(half), _mm256_cvtepu8_epi32(rest)]
            };
            for (k, i) in ints.into_iter().enumerate() {
                let w = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), dv, mv);
                let lane = 2 * h + k;
                acc[lane] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x.add(8 * lane)), acc[lane]);
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q4_avx2(qs: &[u8], d: &[f32], m: &[f32], x: &[f32]) -> f32 {
        let mut acc = [_mm256_setzero_ps(); 4];
        for b in 0..d.len() {
            let halves = nibbles(qs.as_ptr().add(b * 16));
            block_avx2(
                halves,
                false,
                d[b],
                m[b],
                x.as_ptr().add(b * BLOCK),
                &mut acc,
            );
        }
        hsum256(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ))
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q8_avx2(qs: &[u8], d: &[f32], x: &[f32]) -> f32 {
        let mut acc = [_mm256_setzero_ps(); 4];
        for (b, &scale) in d.iter().enumerate() {
            let halves = bytes32(qs.as_ptr().add(b * BLOCK));
            block_avx2(
                halves,
                true,
                scale,
                0.0,
                x.as_ptr().add(b * BLOCK),
                &mut acc,
            );
        }
        hsum256(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ))
    }

    /// [`block_avx2`] in 16 lanes, into the sums `acc[2 · slot]`, `acc[2 · slot + 1]`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2")]
    unsafe fn block_avx512(
        halves: [__m128i; 2],
        signed: bool,
        d: f32,
        m: f32,
        x: *const f32,
        acc: &mut [__m512; 4],
        slot: usize,
    ) {
        let (dv, mv) = (_mm512_set1_ps(d), _mm512_set1_ps(m));
        for (h, half) in halves.into_iter().enumerate() {
            let ints = if signed {
                _mm512_cvtepi8_epi32(half)
            } else {
                _mm512_cvtepu8_epi32(half)
            };
            let w = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ints), dv, mv);
            let lane = 2 * slot + h;
            acc[lane] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x.add(16 * h)), acc[lane]);
        }
    }

    #[target_feature(enable = "avx512f,avx2")]
    pub(super) unsafe fn dot_q4_avx512(qs: &[u8], d: &[f32], m: &[f32], x: &[f32]) -> f32 {
        let mut acc = [_mm512_setzero_ps(); 4];
        for b in 0..d.len() {
            let halves = nibbles(qs.as_ptr().add(b * 16));
            let x = x.as_ptr().add(b * BLOCK);
            block_avx512(halves, false, d[b], m[b], x, &mut acc, b % 2);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(
            _mm512_add_ps(acc[0], acc[1]),
            _mm512_add_ps(acc[2], acc[3]),
        ))
    }

    #[target_feature(enable = "avx512f,avx2")]
    pub(super) unsafe fn dot_q8_avx512(qs: &[u8], d: &[f32], x: &[f32]) -> f32 {
        let mut acc = [_mm512_setzero_ps(); 4];
        for (b, &scale) in d.iter().enumerate() {
            let halves = bytes32(qs.as_ptr().add(b * BLOCK));
            let x = x.as_ptr().add(b * BLOCK);
            block_avx512(halves, true, scale, 0.0, x, &mut acc, b % 2);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(
            _mm512_add_ps(acc[0], acc[1]),
            _mm512_add_ps(acc[2], acc[3]),
        ))
    }
}

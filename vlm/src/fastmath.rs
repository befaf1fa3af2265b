//! Vectorised `exp` over slices, for the CPU's softmax and activations.
//!
//! libm's `expf` is scalar and leaves the overflow path (`xflowf`) for every very negative
//! argument, which a masked attention score is: measured at 12 % of a Chain-of-Image forward.
//! Here the loops are plain Rust that the compiler vectorises, compiled once per instruction set
//! and chosen at run time by the CPU's features.

use std::sync::OnceLock;

/// The widest vector instructions this CPU has that the loops here are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    Avx512,
    Avx2,
    Plain,
}

/// Detected once per process.
pub fn simd() -> Simd {
    static LEVEL: OnceLock<Simd> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
                return Simd::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Simd::Avx2;
            }
        }
        Simd::Plain
    })
}

/// Runs `$body` (an expression over the function's arguments) compiled for the detected
/// instruction set: the same plain loops, vectorised as wide as the CPU allows.
macro_rules! dispatch {
    ($(#[$doc:meta])* $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty $body:block) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn plain($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) -> $ret { plain($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) -> $ret { plain($($arg),*) }
                match simd() {
                    // SAFETY: the CPU has the features these copies are compiled for.
                    Simd::Avx512 => return unsafe { avx512($($arg),*) },
                    Simd::Avx2 => return unsafe { avx2($($arg),*) },
                    Simd::Plain => {}
                }
            }
            plain($($arg),*)
        }
    };
}

/// Lanes of the partial sums and maxima: as wide as one AVX-512 register.
const LANES: usize = 16;

/// `e^x` to within 2 ulp for x in [-87, 88]; 0 below -87 (so -∞ gives 0), and no branch, so
/// that a loop of it vectorises.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two (Cody and Waite): n × LN2_HI is exact for the n that occur.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 × 2^23 rounds an f32 of magnitude below 2^22 to an integer.
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(-87.0, 88.0);
    let shifted = xc * LOG2E + ROUND;
    let n = shifted - ROUND;
    // In [2^23, 2^24) one unit is one ulp, so the bits count n: no float-to-int conversion
    // (Rust's saturating `as` would not vectorise).
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // e^r for |r| ≤ ln2 / 2: Taylor to the 7th power (truncation below 2e-8 relative).
    // Horner with fused multiply-adds (one instruction each where the CPU has FMA, which the
    // dispatched copies enable).
    let mut p: f32 = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p.mul_add(r, c);
    }
    let scale = f32::from_bits((n_int.wrapping_add(127) as u32) << 23);
    if x < -87.0 {
        0.0
    } else {
        p * scale
    }
}

dispatch! {
    /// Replaces each x by e^(x - shift) and returns their sum.
    exp_shifted_sum(xs: &mut [f32], shift: f32) -> f32 {
        let mut acc = [0.0f32; LANES];
        let mut chunks = xs.chunks_exact_mut(LANES);
        for c in &mut chunks {
            for (a, x) in acc.iter_mut().zip(c.iter_mut()) {
                *x = exp(*x - shift);
                *a += *x;
            }
        }
        let mut sum = 0.0;
        for x in chunks.into_remainder() {
            *x = exp(*x - shift);
            sum += *x;
        }
        sum + acc.iter().sum::<f32>()
    }
}

dispatch! {
    /// The largest element (-∞ for an empty slice).
    max(xs: &[f32]) -> f32 {
        let mut acc = [f32::NEG_INFINITY; LANES];
        let mut chunks = xs.chunks_exact(LANES);
        for c in &mut chunks {
            for (a, &x) in acc.iter_mut().zip(c) {
                *a = if x > *a { x } else { *a };
            }
        }
        let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x));
        acc.iter().fold(tail, |a, &x| a.max(x))
    }
}

dispatch! {
    /// Multiplies every element by `factor`.
    scale(xs: &mut [f32], factor: f32) -> () {
        for x in xs.iter_mut() {
            *x *= factor;
        }
    }
}

dispatch! {
    /// SwiGLU's product in place: gate ← silu(gate) · up.
    silu_mul(gate: &mut [f32], up: &[f32]) -> () {
        for (g, &u) in gate.iter_mut().zip(up) {
            *g = *g / (1.0 + exp(-*g)) * u;
        }
    }
}

dispatch! {
    /// CLIP's quick GELU in place: x · σ(1.702 x).
    quick_gelu(xs: &mut [f32]) -> () {
        for x in xs.iter_mut() {
            *x /= 1.0 + exp(-1.702 * *x);
        }
    }
}

dispatch! {
    /// The exact GELU in place: x · (1 + erf(x / √2)) / 2.
    gelu(xs: &mut [f32]) -> () {
        for x in xs.iter_mut() {
            *x *= 0.5 * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

dispatch! {
    /// Rotary embedding in place, rows of `d` (first half x1, second half x2):
    /// x ← x · cos + (-x2, x1) · sin, with `cos` and `sin` laid out like `xs`.
    rotate_halves(xs: &mut [f32], cos: &[f32], sin: &[f32], d: usize) -> () {
        let half = d / 2;
        for ((x, c), s) in xs.chunks_exact_mut(d).zip(cos.chunks_exact(d)).zip(sin.chunks_exact(d)) {
            let (x1, x2) = x.split_at_mut(half);
            let (c1, c2) = c.split_at(half);
            let (s1, s2) = s.split_at(half);
            for i in 0..half {
                let (a, b) = (x1[i], x2[i]);
                x1[i] = a * c1[i] - b * s1[i];
                x2[i] = b * c2[i] + a * s2[i];
            }
        }
    }
}

dispatch! {
    /// The backward pass of [`rotate_halves`] in place (its transpose): dx1 = dy1 · cos1 +
    /// dy2 · sin2, dx2 = dy2 · cos2 − dy1 · sin1.
    rotate_halves_back(xs: &mut [f32], cos: &[f32], sin: &[f32], d: usize) -> () {
        let half = d / 2;
        for ((x, c), s) in xs.chunks_exact_mut(d).zip(cos.chunks_exact(d)).zip(sin.chunks_exact(d)) {
            let (x1, x2) = x.split_at_mut(half);
            let (c1, c2) = c.split_at(half);
            let (s1, s2) = s.split_at(half);
            for i in 0..half {
                let (a, b) = (x1[i], x2[i]);
                x1[i] = a * c1[i] + b * s2[i];
                x2[i] = b * c2[i] - a * s1[i];
            }
        }
    }
}

dispatch! {
    /// RMS norm in place, rows of `gamma.len()`: x ← x / √(mean(x²) + eps) · gamma.
    rms_norm(xs: &mut [f32], gamma: &[f32], eps: f32) -> () {
        let d = gamma.len();
        for row in xs.chunks_exact_mut(d) {
            let mut acc = [0.0f32; LANES];
            let mut chunks = row.chunks_exact(LANES);
            for c in &mut chunks {
                for (a, &x) in acc.iter_mut().zip(c) {
                    *a += x * x;
                }
            }
            let tail: f32 = chunks.remainder().iter().map(|x| x * x).sum();
            let rms = ((acc.iter().sum::<f32>() + tail) / d as f32 + eps).sqrt();
            for (x, &g) in row.iter_mut().zip(gamma) {
                *x = *x / rms * g;
            }
        }
    }
}

dispatch! {
    /// Σ aᵢ bᵢ.
    dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0.0f32; LANES];
        let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        for (x, y) in (&mut ca).zip(&mut cb) {
            for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
                *s += x * y;
            }
        }
        let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
        acc.iter().sum::<f32>() + tail
    }
}

dispatch! {
    /// Softmax's backward pass on one row in place: given the probabilities `p`, the gradient
    /// of the probabilities `dp` and `d` = Σ dp·p, dp ← p · (dp − d), the scores' gradient.
    softmax_backward(p: &[f32], dp: &mut [f32], d: f32) -> () {
        for (g, &p) in dp.iter_mut().zip(p) {
            *g = p * (*g - d);
        }
    }
}

dispatch! {
    /// SwiGLU's backward pass: for y = silu(g) · u and its gradient dy, writes
    /// dg = dy · u · σ(g) · (1 + g · (1 − σ(g))) and du = dy · silu(g).
    silu_mul_backward(g: &[f32], u: &[f32], dy: &[f32], dg: &mut [f32], du: &mut [f32]) -> () {
        for ((((&g, &u), &dy), dg), du) in g.iter().zip(u).zip(dy).zip(dg.iter_mut()).zip(du.iter_mut()) {
            let s = 1.0 / (1.0 + exp(-g));
            *du = dy * g * s;
            *dg = dy * u * s * (1.0 + g * (1.0 - s));
        }
    }
}

dispatch! {
    /// RMS norm's backward pass for the input, rows of `gamma.len()`: with r = 1/√(mean(x²) +
    /// eps), dx = r · gamma · dy − x · r³ · Σ(gamma · dy · x) / d.
    rms_norm_backward(xs: &[f32], gamma: &[f32], dy: &[f32], dx: &mut [f32], eps: f32) -> () {
        let d = gamma.len();
        for ((x, dy), dx) in xs.chunks_exact(d).zip(dy.chunks_exact(d)).zip(dx.chunks_exact_mut(d)) {
            let (mut squares, mut weighted) = ([0.0f32; LANES], [0.0f32; LANES]);
            let (mut cx, mut cy, mut cg) = (x.chunks_exact(LANES), dy.chunks_exact(LANES), gamma.chunks_exact(LANES));
            for ((x, dy), g) in (&mut cx).zip(&mut cy).zip(&mut cg) {
                for i in 0..LANES {
                    squares[i] += x[i] * x[i];
                    weighted[i] += g[i] * dy[i] * x[i];
                }
            }
            let mut sq = squares.iter().sum::<f32>();
            let mut w = weighted.iter().sum::<f32>();
            for ((&x, &dy), &g) in cx.remainder().iter().zip(cy.remainder()).zip(cg.remainder()) {
                sq += x * x;
                w += g * dy * x;
            }
            let r = 1.0 / (sq / d as f32 + eps).sqrt();
            let c = r * r * r * w / d as f32;
            for (((dx, &x), &dy), &g) in dx.iter_mut().zip(x).zip(dy).zip(gamma) {
                *dx = r * g * dy - x * c;
            }
        }
    }
}

/// erf(x) to within 5e-7 (Abramowitz and Stegun 7.1.26: 1.5e-7, plus f32 rounding), without
/// a branch.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    (1.0 - poly * exp(-a * a)).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Taylor series in f64 (|x| ≤ 4; 1 beyond), for checking ours.
    fn erf_f64(x: f64) -> f64 {
        if x.abs() > 4.0 {
            return x.signum();
        }
        let (mut term, mut sum) = (x, x);
        for n in 1..120 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_within_its_bound() {
        let mut x = -5.0f32;
        while x < 5.0 {
            let e = (erf(x) as f64 - erf_f64(x as f64)).abs();
            assert!(e < 5e-7, "erf({x}) off by {e}");
            x += 0.0071;
        }
    }

    #[test]
    fn exp_matches_std_within_two_ulp() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 2.4e-7, "relative error {worst}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn slice_helpers_equal_their_scalar_meaning() {
        // 37 elements: two full chunks of 16 and a tail, with -∞ among them.
        let xs: Vec<f32> = (0..37)
            .map(|i| {
                if i == 5 {
                    f32::NEG_INFINITY
                } else {
                    (i as f32 * 0.37).sin() * 4.0
                }
            })
            .collect();
        let m = max(&xs);
        assert_eq!(m, xs.iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x)));
        let mut e = xs.clone();
        let sum = exp_shifted_sum(&mut e, m);
        let want: Vec<f64> = xs.iter().map(|&x| (x as f64 - m as f64).exp()).collect();
        for (g, w) in e.iter().zip(&want) {
            assert!((*g as f64 - w).abs() <= 3e-7 * w.max(1e-30), "{g} vs {w}");
        }
        assert_eq!(e[5], 0.0);
        assert!((sum as f64 - want.iter().sum::<f64>()).abs() < 1e-5);
        // silu(x) · x against the formula in f64.
        let mut g = xs.clone();
        silu_mul(&mut g, &xs);
        for (g, &x) in g.iter().zip(&xs).filter(|(_, x)| x.is_finite()) {
            let w = x as f64 / (1.0 + (-x as f64).exp()) * x as f64;
            assert!(
                (*g as f64 - w).abs() <= 1e-6 * w.abs().max(1.0),
                "silu({x}) · {x} = {g}, want {w}"
            );
        }
        let mut qg = xs.clone();
        quick_gelu(&mut qg);
        for (g, &x) in qg.iter().zip(&xs).filter(|(_, x)| x.is_finite()) {
            let w = x as f64 / (1.0 + (-1.702 * x as f64).exp());
            assert!(
                (*g as f64 - w).abs() < 1e-6,
                "quick_gelu({x}) = {g}, want {w}"
            );
        }
        let mut ge = xs.clone();
        gelu(&mut ge);
        for (g, &x) in ge.iter().zip(&xs).filter(|(_, x)| x.is_finite()) {
            let w = x as f64 * 0.5 * (1.0 + erf_f64(x as f64 / 2f64.sqrt()));
            assert!((*g as f64 - w).abs() < 1e-6, "gelu({x}) = {g}, want {w}");
        }
        let mut t = xs.clone();
        scale(&mut t, 0.5);
        assert_eq!(t[3], xs[3] * 0.5);
        assert_eq!(max(&[]), f32::NEG_INFINITY);
    }
}

use super::*;
use crate::rng::Rng;

fn f16(v: f32) -> [u8; 2] {
    half::f16::from_f32(v).to_le_bytes()
}

/// Random GGUF blocks of `format` for a `[rows, cols]` matrix, with the extremes every
/// format allows (Q8_0's −128, nibbles 0 and 15) in the mix.
fn random_gguf(format: QuantFormat, rows: usize, cols: usize, rng: &mut Rng) -> Vec<u8> {
    let mut raw = Vec::new();
    for b in 0..rows * cols / BLOCK {
        raw.extend(f16(rng.range(0.001, 0.05)));
        if format == QuantFormat::Q4_1 {
            raw.extend(f16(rng.range(-0.2, 0.2)));
        }
        let n = if format == QuantFormat::Q8_0 { 32 } else { 16 };
        for j in 0..n {
            let v = match (b + j) % 7 {
                0 => 0x80, // −128 for Q8_0; nibbles 0 and 8
                1 => 0xFF, // −1; nibbles 15 and 15
                _ => rng.below(256) as u8,
            };
            raw.push(v);
        }
    }
    raw
}

fn random_acts(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|i| match i % 97 {
            0 => 0.0,
            1 => 40.0, // an outlier, as activations have
            _ => rng.range(-2.0, 2.0),
        })
        .collect()
}

/// `x · Wᵀ` in f64 from f32 values.
fn reference(w: &[f32], rows: usize, cols: usize, x: &[f32]) -> Vec<f64> {
    let n = x.len() / cols;
    let mut out = vec![0f64; n * rows];
    for i in 0..n {
        for r in 0..rows {
            out[i * rows + r] = (0..cols)
                .map(|c| w[r * cols + c] as f64 * x[i * cols + c] as f64)
                .sum();
        }
    }
    out
}

#[test]
fn blocks_dequantise_by_hand() {
    // Q8_0: d = 0.5, values −2 and 3 → −1, 1.5.
    let mut q8 = f16(0.5).to_vec();
    q8.extend([0xFE, 3]);
    q8.extend([0u8; 30]);
    let m = QuantMatrix::from_gguf(QuantFormat::Q8_0, 1, 32, &q8).unwrap();
    assert_eq!(&m.dequantize()[..3], &[-1.0, 1.5, 0.0]);
    // Q4_0: d = 2; byte 0x09: low nibble 9 → element 0 = (9 − 8) · 2 = 2, high nibble 0 →
    // element 16 = −16.
    let mut q4 = f16(2.0).to_vec();
    q4.extend([0x09]);
    q4.extend([0x88; 15]);
    let v = QuantMatrix::from_gguf(QuantFormat::Q4_0, 1, 32, &q4)
        .unwrap()
        .dequantize();
    assert_eq!((v[0], v[1], v[16], v[17]), (2.0, 0.0, -16.0, 0.0));
    // Q4_1: d = 1, m = −3; byte 0x15: element 0 = 5 − 3 = 2, element 16 = 1 − 3 = −2.
    let mut q41 = f16(1.0).to_vec();
    q41.extend(f16(-3.0));
    q41.extend([0x15]);
    q41.extend([0u8; 15]);
    let v = QuantMatrix::from_gguf(QuantFormat::Q4_1, 1, 32, &q41)
        .unwrap()
        .dequantize();
    assert_eq!((v[0], v[16], v[1]), (2.0, -2.0, -3.0));
}

/// `Σ |w x|` per output: the scale f32 rounding of a dot product is relative to.
fn magnitude(w: &[f32], rows: usize, cols: usize, x: &[f32]) -> Vec<f64> {
    let abs = |v: &[f32]| v.iter().map(|a| a.abs()).collect::<Vec<_>>();
    reference(&abs(w), rows, cols, &abs(x))
}

/// What rounding the activations to 16 bits may cost per output: each element moves by at
/// most half its block's step, times the weight's scaled part `|w − m| = |q · d|` (the offset
/// multiplies the exact block sum).
fn rounding_bound(m: &QuantMatrix, w: &[f32], x: &[f32]) -> Vec<f64> {
    let (rows, cols) = m.dims();
    let steps = Acts::new(x).steps().to_vec();
    (0..rows)
        .map(|r| {
            (0..cols)
                .map(|c| {
                    let b = (r * cols + c) / BLOCK;
                    let offset = m.m.get(b).copied().unwrap_or(0.0);
                    (w[r * cols + c] - offset).abs() as f64 * steps[c / BLOCK] as f64 / 2.0
                })
                .sum()
        })
        .collect()
}

/// The kernels' own arithmetic in f64: integer sums of the rounded activations, scaled per
/// block, plus the offsets times the exact block sums.
fn rounded_reference(m: &QuantMatrix, x: &Acts) -> Vec<f64> {
    let (rows, cols) = m.dims();
    let w = m.dequantize();
    (0..rows)
        .map(|r| {
            (0..cols / BLOCK)
                .map(|b| {
                    let blk = r * cols / BLOCK + b;
                    let offset = m.m.get(blk).copied().unwrap_or(0.0) as f64;
                    let q: f64 = (0..BLOCK)
                        .map(|j| {
                            let c = b * BLOCK + j;
                            let level =
                                ((w[r * cols + c] as f64 - offset) / m.d[blk] as f64).round();
                            level * x.q[c] as f64
                        })
                        .sum();
                    m.d[blk] as f64 * x.step[b] as f64 * q + offset * x.sum[b] as f64
                })
                .sum()
        })
        .collect()
}

#[test]
fn every_kernel_is_its_integer_arithmetic_and_the_product_within_the_rounding() {
    let mut rng = Rng::new(7);
    let (rows, cols) = (37, 160);
    for format in [QuantFormat::Q8_0, QuantFormat::Q4_0, QuantFormat::Q4_1] {
        let m = QuantMatrix::from_gguf(
            format,
            rows,
            cols,
            &random_gguf(format, rows, cols, &mut rng),
        )
        .unwrap();
        let w = m.dequantize();
        let x = random_acts(cols, &mut rng);
        let acts = Acts::new(&x);
        let exact = reference(&w, rows, cols, &x);
        let scale = magnitude(&w, rows, cols, &x);
        let bound = rounding_bound(&m, &w, &x);
        let own = rounded_reference(&m, &acts);
        for k in Kernel::available() {
            let (bpr, qb) = (cols / BLOCK, m.q_bytes());
            for r in 0..rows {
                let qs = &m.qs[r * bpr * qb..(r + 1) * bpr * qb];
                let d = &m.d[r * bpr..(r + 1) * bpr];
                let got = match format {
                    QuantFormat::Q8_0 => k.dot_q8(qs, d, &acts),
                    _ => k.dot_q4(qs, d, &m.m[r * bpr..(r + 1) * bpr], &acts),
                } as f64;
                assert!(
                    (got - own[r]).abs() <= 1e-5 * scale[r],
                    "{format:?} {k:?} row {r}: {got} vs its own arithmetic {}",
                    own[r]
                );
                assert!(
                    (got - exact[r]).abs() <= bound[r] + 1e-5 * scale[r],
                    "{format:?} {k:?} row {r}: {got} vs {} beyond the rounding bound {}",
                    exact[r],
                    bound[r]
                );
            }
        }
    }
}

#[test]
fn activations_round_to_sixteen_bits_per_block() {
    let mut x = vec![0f32; 64];
    // The largest magnitude sets the step: 16383.5 / 32767 = 0.5.
    x[0] = 16383.5;
    x[1] = -0.75; // −1.5 steps: halves round to even
    x[2] = 1.1; // 2.2 steps
                // The second block is all zeros: step 0, nothing divided by it.
    let a = Acts::new(&x);
    assert_eq!(a.steps(), &[0.5, 0.0]);
    assert_eq!(&a.q[..4], &[32767, -2, 2, 0]);
    assert!(a.q[32..].iter().all(|&q| q == 0));
    assert_eq!(a.sum, vec![16383.5f32 - 0.75 + 1.1, 0.0]);
}

#[test]
fn matmul_of_several_rows_is_the_product_within_the_rounding() {
    let mut rng = Rng::new(11);
    let (rows, cols, n) = (300, 576, 3);
    let format = QuantFormat::Q4_1;
    let m = QuantMatrix::from_gguf(
        format,
        rows,
        cols,
        &random_gguf(format, rows, cols, &mut rng),
    )
    .unwrap();
    let w = m.dequantize();
    let x = random_acts(n * cols, &mut rng);
    let got = m.matmul(&x, n);
    let exact = reference(&w, rows, cols, &x);
    let scale = magnitude(&w, rows, cols, &x);
    for i in 0..n * rows {
        let (row, r) = (i / rows, i % rows);
        let bound = rounding_bound(&m, &w, &x[row * cols..(row + 1) * cols])[r];
        assert!(
            (got[i] as f64 - exact[i]).abs() <= bound + 1e-5 * scale[i],
            "{i}"
        );
    }
    // One row at a time gives the same numbers as the batch.
    let one = m.matmul(&x[cols..2 * cols], 1);
    assert_eq!(&one[..], &got[rows..2 * rows]);
}

#[test]
fn rows_permute_whole() {
    let mut rng = Rng::new(3);
    let (rows, cols) = (4, 64);
    let format = QuantFormat::Q4_1;
    let mut m = QuantMatrix::from_gguf(
        format,
        rows,
        cols,
        &random_gguf(format, rows, cols, &mut rng),
    )
    .unwrap();
    let before = m.dequantize();
    m.permute_rows(&[2, 0, 3, 1]);
    let after = m.dequantize();
    for (i, &src) in [2, 0, 3, 1].iter().enumerate() {
        assert_eq!(
            after[i * cols..(i + 1) * cols],
            before[src * cols..(src + 1) * cols]
        );
    }
}

#[test]
fn malformed_blocks_are_named_errors() {
    assert_eq!(
        QuantMatrix::from_gguf(QuantFormat::Q8_0, 2, 48, &[0; 102]).unwrap_err(),
        QuantError::Columns(48)
    );
    let err = QuantMatrix::from_gguf(QuantFormat::Q4_1, 2, 64, &[0; 79]).unwrap_err();
    assert_eq!(err.to_string(), "Q4_1 data for 2×64 needs 80 bytes, got 79");
}

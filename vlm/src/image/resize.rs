//! Pillow's resampling (`Image.resize` with `BICUBIC`) reproduced exactly for 8-bit images:
//! a separable convolution whose kernel widens with the downscale factor (antialiasing),
//! coefficients normalised then fixed-point with 22 fractional bits, each pass rounded and
//! clipped to 8 bits. The horizontal pass goes first unless the height shrinks by more than
//! twice what the width does (Pillow 13's order, chosen for speed; the order changes the
//! rounding between the passes by up to 2 levels).

use std::ops::Range;

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output index in `range` (of `out_size`): the first input index and the fixed-point
/// weights.
fn coefficients(in_size: usize, out_size: usize, range: Range<usize>) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    range
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C's (int) truncates toward zero; then clamp to the image.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut w: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                w.iter_mut().for_each(|v| *v /= total);
            }
            let one = (1i64 << PRECISION_BITS) as f64;
            let fixed = w
                .iter()
                .map(|&v| {
                    if v < 0.0 {
                        (-0.5 + v * one) as i32
                    } else {
                        (0.5 + v * one) as i32
                    }
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One pass along rows (`horizontal`) or columns of an interleaved `channels`-byte image, to
/// `out_len` pixels of which only those in `keep` are computed (and returned).
fn pass(
    src: &[u8],
    (w, h): (usize, usize),
    channels: usize,
    (out_len, keep): (usize, Range<usize>),
    horizontal: bool,
) -> Vec<u8> {
    if horizontal {
        pass_along_rows(src, (w, h), channels, coefficients(w, out_len, keep))
    } else {
        pass_along_columns(src, (w, h), channels, coefficients(h, out_len, keep))
    }
}

/// Each output pixel of a row is a weighted sum of a run of that row's input pixels: the run is
/// one slice, read in order.
fn pass_along_rows(
    src: &[u8],
    (w, h): (usize, usize),
    channels: usize,
    coeffs: Vec<(usize, Vec<i32>)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(coeffs.len() * h * channels);
    let mut acc = vec![0i64; channels];
    for row in src.chunks_exact(w * channels).take(h) {
        for (start, k) in &coeffs {
            acc.fill(1 << (PRECISION_BITS - 1));
            let run = &row[start * channels..(start + k.len()) * channels];
            for (pixel, &kv) in run.chunks_exact(channels).zip(k) {
                for (a, &v) in acc.iter_mut().zip(pixel) {
                    *a += v as i64 * kv as i64;
                }
            }
            out.extend(acc.iter().map(|&a| clip8(a)));
        }
    }
    out
}

/// Each output row is a weighted sum of a run of input rows: whole rows are added in memory
/// order, which the compiler vectorises, instead of walking down each column.
fn pass_along_columns(
    src: &[u8],
    (w, _h): (usize, usize),
    channels: usize,
    coeffs: Vec<(usize, Vec<i32>)>,
) -> Vec<u8> {
    let stride = w * channels;
    let mut out = Vec::with_capacity(coeffs.len() * stride);
    let mut acc = vec![0i64; stride];
    for (start, k) in &coeffs {
        acc.fill(1 << (PRECISION_BITS - 1));
        let rows = src[start * stride..(start + k.len()) * stride].chunks_exact(stride);
        for (row, &kv) in rows.zip(k) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as i64 * kv as i64;
            }
        }
        out.extend(acc.iter().map(|&a| clip8(a)));
    }
    out
}

/// Resizes an interleaved 8-bit image (`channels` bytes per pixel) as Pillow's
/// `resize((new_w, new_h), BICUBIC)` does.
pub fn bicubic_resize(
    src: &[u8],
    (w, h): (usize, usize),
    channels: usize,
    (new_w, new_h): (usize, usize),
) -> Vec<u8> {
    bicubic_resize_window(src, (w, h), channels, (new_w, new_h), (0..new_w, 0..new_h))
}

/// The `columns` × `rows` window of [`bicubic_resize`]'s result, computing only those pixels:
/// a centre crop of a very wide or tall image costs the crop, not the whole resized image.
pub fn bicubic_resize_window(
    src: &[u8],
    (w, h): (usize, usize),
    channels: usize,
    (new_w, new_h): (usize, usize),
    (columns, rows): (Range<usize>, Range<usize>),
) -> Vec<u8> {
    // Each pass, or the window's part of the image as it is when that side keeps its size.
    let along_rows = |src: &[u8], (w, h): (usize, usize)| {
        if new_w != w {
            pass(src, (w, h), channels, (new_w, columns.clone()), true)
        } else {
            window_columns(src, (w, h), channels, columns.clone())
        }
    };
    let along_columns = |src: &[u8], (w, h): (usize, usize)| {
        if new_h != h {
            pass(src, (w, h), channels, (new_h, rows.clone()), false)
        } else {
            src[rows.start * w * channels..rows.end * w * channels].to_vec()
        }
    };
    // Pillow's `horizontal_first` test, in signed arithmetic (either side may grow).
    let shrink_h = h as i64 - new_h as i64;
    if shrink_h > 0 && shrink_h > 2 * (w as i64 - new_w as i64) {
        along_rows(&along_columns(src, (w, h)), (w, rows.len()))
    } else {
        along_columns(&along_rows(src, (w, h)), (columns.len(), h))
    }
}

/// The `columns` of every row of a `w × h` image, as they are (no horizontal pass).
fn window_columns(
    src: &[u8],
    (w, h): (usize, usize),
    channels: usize,
    columns: Range<usize>,
) -> Vec<u8> {
    let width = columns.len();
    let row = |y: usize| &src[(y * w + columns.start) * channels..][..width * channels];
    (0..h).flat_map(row).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pillow 13 (`Image.fromarray(a, "L").resize((6, 5), BICUBIC)` of a 7×20 ramp
    /// `a = arange(140) * 37 % 256`): the height shrinks by 15, more than twice the width's 1,
    /// so Pillow runs the vertical pass first; horizontal first differs in 4 pixels.
    #[test]
    fn the_height_pass_goes_first_when_it_shrinks_much_more() {
        let src: Vec<u8> = (0..140).map(|i| (i * 37 % 256) as u8).collect();
        let want: [u8; 30] = [
            8, 51, 94, 138, 181, 224, 19, 62, 105, 149, 192, 237, 32, 75, 118, 162, 206, 230, 44,
            87, 130, 174, 224, 53, 55, 98, 141, 185, 235, 44,
        ];
        assert_eq!(bicubic_resize(&src, (7, 20), 1, (6, 5)), want);
        // Any window of it is the same pixels.
        let window = bicubic_resize_window(&src, (7, 20), 1, (6, 5), (1..4, 2..5));
        let cut: Vec<u8> = (2..5)
            .flat_map(|y| want[y * 6 + 1..y * 6 + 4].to_vec())
            .collect();
        assert_eq!(window, cut);
    }

    #[test]
    fn identity_and_flat_images_stay_put() {
        let img: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(bicubic_resize(&img, (4, 3), 3, (4, 3)), img);
        let flat = vec![77u8; 10 * 6];
        assert!(bicubic_resize(&flat, (10, 6), 1, (3, 4))
            .iter()
            .all(|&v| v == 77));
    }

    #[test]
    fn a_window_is_that_part_of_the_whole_resize() {
        let img: Vec<u8> = (0..7 * 5 * 3).map(|i| (i * 37 % 256) as u8).collect();
        for new in [(7, 5), (7, 11), (16, 5), (3, 9), (12, 2)] {
            let whole = bicubic_resize(&img, (7, 5), 3, new);
            let (cols, rows) = (new.0 / 3..new.0 - new.0 / 4, new.1 / 4..new.1 - new.1 / 3);
            let window = bicubic_resize_window(&img, (7, 5), 3, new, (cols.clone(), rows.clone()));
            let want: Vec<u8> = rows
                .flat_map(|y| {
                    whole[(y * new.0 + cols.start) * 3..(y * new.0 + cols.end) * 3].to_vec()
                })
                .collect();
            assert_eq!(window, want, "{new:?}");
        }
    }

    /// The pass as first written, one bounds-checked index per tap: the rewritten passes must
    /// give the same bytes (integer sums, so any order of addition is exact).
    fn reference_pass(
        src: &[u8],
        (w, h): (usize, usize),
        channels: usize,
        (out_len, keep): (usize, Range<usize>),
        horizontal: bool,
    ) -> Vec<u8> {
        let kept = keep.len();
        let coeffs = coefficients(if horizontal { w } else { h }, out_len, keep);
        let (ow, oh) = if horizontal { (kept, h) } else { (w, kept) };
        let mut out = vec![0u8; ow * oh * channels];
        for y in 0..oh {
            for x in 0..ow {
                let (start, k) = &coeffs[if horizontal { x } else { y }];
                for c in 0..channels {
                    let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                    for (i, &kv) in k.iter().enumerate() {
                        let (sx, sy) = if horizontal {
                            (start + i, y)
                        } else {
                            (x, start + i)
                        };
                        acc += src[(sy * w + sx) * channels + c] as i64 * kv as i64;
                    }
                    out[(y * ow + x) * channels + c] = clip8(acc);
                }
            }
        }
        out
    }

    #[test]
    fn both_passes_match_the_per_tap_reference() {
        let mut state = 0x2545_f491_u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for _ in 0..60 {
            let (w, h) = (1 + next() as usize % 40, 1 + next() as usize % 40);
            let channels = 1 + next() as usize % 4;
            let img: Vec<u8> = (0..w * h * channels).map(|_| next() as u8).collect();
            for horizontal in [true, false] {
                let out_len = 1 + next() as usize % 60;
                let a = next() as usize % out_len;
                let keep = a..a + 1 + next() as usize % (out_len - a);
                assert_eq!(
                    pass(&img, (w, h), channels, (out_len, keep.clone()), horizontal),
                    reference_pass(&img, (w, h), channels, (out_len, keep.clone()), horizontal),
                    "{w}x{h}x{channels} -> {out_len} {keep:?} horizontal={horizontal}"
                );
            }
        }
    }

    #[test]
    fn weights_sum_to_one_and_widen_when_shrinking() {
        let one = 1i64 << PRECISION_BITS;
        for (i, o) in [(100, 33), (33, 100), (336, 336)] {
            for (_, k) in coefficients(i, o, 0..o) {
                let s: i64 = k.iter().map(|&v| v as i64).sum();
                assert!((s - one).abs() <= k.len() as i64, "{i}->{o}: {s}");
            }
        }
        assert!(
            coefficients(100, 25, 0..25)[10].1.len() > coefficients(100, 100, 0..100)[10].1.len()
        );
    }
}

//! Position embeddings for another patch grid than the tower was trained on, as transformers'
//! `InternVLVisionEmbeddings.interpolate_pos_encoding` makes them: PyTorch's bicubic
//! `interpolate` (align_corners=False, a = -0.75, edge indices clamped) over the grid of patch
//! positions, the CLS position kept.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// PyTorch's cubic convolution weights for the four neighbours of a point `t` ∈ [0, 1] past
/// the second of them.
fn cubic_weights(t: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// The `[out, in]` matrix that resamples a line of `input` values to `out` values.
fn resample_matrix(input: usize, out: usize) -> Vec<f32> {
    let scale = input as f64 / out as f64;
    let mut m = vec![0.0f64; out * input];
    for o in 0..out {
        // align_corners=False; the cubic path does not clamp the source position at 0.
        let real = scale * (o as f64 + 0.5) - 0.5;
        let index = (real.floor() as i64).min(input as i64 - 1);
        let t = (real - index as f64).clamp(0.0, 1.0);
        for (k, w) in cubic_weights(t).into_iter().enumerate() {
            let i = (index - 1 + k as i64).clamp(0, input as i64 - 1) as usize;
            m[o * input + i] += w;
        }
    }
    m.into_iter().map(|v| v as f32).collect()
}

/// Patch position embeddings `[rows · cols, dim]` of a `rows × cols` grid resampled to
/// `new_rows × new_cols` (row-major, as the patches are ordered).
pub fn resize_grid<B: Backend>(
    pos: Tensor<B, 2>,
    [rows, cols]: [usize; 2],
    [new_rows, new_cols]: [usize; 2],
) -> Tensor<B, 2> {
    let device = pos.device();
    let dim = pos.dims()[1];
    let matrix = |input, out| {
        Tensor::<B, 2>::from_data(
            TensorData::new(resample_matrix(input, out), [out, input]),
            &device,
        )
    };
    // Rows first: [new_rows, rows] · [rows, cols · dim].
    let h = matrix(rows, new_rows).matmul(pos.reshape([rows, cols * dim]));
    // Then columns: for each row, [new_cols, cols] · [cols, dim].
    let h = h.reshape([new_rows, cols, dim]);
    let w = matrix(cols, new_cols)
        .unsqueeze_dim::<3>(0)
        .expand([new_rows, new_cols, cols]);
    w.matmul(h).reshape([new_rows * new_cols, dim])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_identity_when_sizes_match() {
        for t in [0.0, 0.25, 0.5, 0.9] {
            let s: f64 = cubic_weights(t).iter().sum();
            assert!((s - 1.0).abs() < 1e-12, "{t}: {s}");
        }
        let m = resample_matrix(4, 4);
        for o in 0..4 {
            for i in 0..4 {
                let want = if o == i { 1.0 } else { 0.0 };
                assert!(
                    (m[o * 4 + i] - want).abs() < 1e-6,
                    "{o},{i}: {}",
                    m[o * 4 + i]
                );
            }
        }
        // torch.nn.functional.interpolate(torch.tensor([[[0., 1., 4., 9.]]]).unsqueeze(0),
        // size=(1, 2), mode="bicubic", align_corners=False) is [0.21875, 6.78125].
        let m = resample_matrix(4, 2);
        let x = [0.0f32, 1.0, 4.0, 9.0];
        let y: Vec<f32> = (0..2)
            .map(|o| (0..4).map(|i| m[o * 4 + i] * x[i]).sum())
            .collect();
        assert!(
            (y[0] - 0.21875).abs() < 1e-6 && (y[1] - 6.78125).abs() < 1e-6,
            "{y:?}"
        );
    }
}

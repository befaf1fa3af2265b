//! Cross-entropy on answer tokens only, as transformers' causal-LM loss: the logits at position
//! t predict labels[t + 1], ignored labels drop out, and the mean runs over every remaining
//! token of the batch. Only the rows that carry loss go through the output head (for a 49k
//! vocabulary the head is most of a small model's work).

use burn::nn::Linear;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::batch::IGNORE;
use crate::fused_grad;

/// Flattened `[batch × seq]` rows whose next label counts, and those labels.
pub fn answer_rows(labels: &[i64], [b, s]: [usize; 2]) -> (Vec<i64>, Vec<i64>) {
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for i in 0..b {
        for t in 0..s.saturating_sub(1) {
            let next = labels[i * s + t + 1];
            if next != IGNORE {
                rows.push((i * s + t) as i64);
                targets.push(next);
            }
        }
    }
    (rows, targets)
}

/// The mean answer-token loss, or None when the batch has no answer token.
///
/// # Shapes
/// - hidden: `[batch, seq, hidden]` (final normalised states); returns `[1]`
pub fn answer_loss<B: Backend>(
    hidden: Tensor<B, 3>,
    head: &Linear<B>,
    labels: &[i64],
) -> Option<Tensor<B, 1>> {
    let [b, s, h] = hidden.dims();
    let (rows, targets) = answer_rows(labels, [b, s]);
    if rows.is_empty() {
        return None;
    }
    let n = rows.len();
    let device = hidden.device();
    let rows = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [n]), &device);
    let picked = hidden.reshape([b * s, h]).select(0, rows);
    if head.bias.is_none() {
        let ids: Option<Vec<usize>> = targets.iter().map(|&t| usize::try_from(t).ok()).collect();
        let fused =
            ids.and_then(|ids| fused_grad::head_cross_entropy(&picked, &head.weight.val(), &ids));
        if fused.is_some() {
            return fused;
        }
    }
    let targets = Tensor::<B, 2, Int>::from_data(TensorData::new(targets, [n, 1]), &device);
    let logp = log_softmax(head.forward(picked), 1);
    Some(logp.gather(1, targets).mean().neg())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{cpu_device, Cpu};
    use burn::module::Param;

    #[test]
    fn loss_by_hand() {
        // Identity head over 2 "vocabulary" entries: logits = hidden.
        let device = cpu_device();
        let head = Linear::<Cpu> {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [2, 2]),
                &device,
            )),
            bias: None,
        };
        // One sequence of 3: position 0 predicts label[1] = 1, position 1 predicts label[2] = 0.
        let hidden = Tensor::<Cpu, 3>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 2.0, 0.0, 5.0, 5.0], [1, 3, 2]),
            &device,
        );
        let loss = answer_loss(hidden.clone(), &head, &[IGNORE, 1, 0]).unwrap();
        let l0 = (2.0f64).ln(); // uniform over 2
        let l1 = -(2.0f64.exp() / (2.0f64.exp() + 1.0)).ln();
        let got = loss.into_scalar() as f64;
        assert!((got - (l0 + l1) / 2.0).abs() < 1e-6, "{got}");
        assert!(answer_loss(hidden, &head, &[IGNORE, IGNORE, IGNORE]).is_none());
        // Row b·s + t predicts labels[b·s + t + 1]; the last position of a row predicts nothing.
        assert_eq!(
            answer_rows(&[IGNORE, 4, IGNORE, IGNORE, 5, 6], [2, 3]),
            (vec![0, 3, 4], vec![4, 5, 6])
        );
    }
}

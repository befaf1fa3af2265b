//! Training examples and the batches they are padded into.

/// Labels of positions that carry no loss (the prompt, image tokens, padding), as in
/// transformers.
pub const IGNORE: i64 = -100;

/// One tokenised example: the prompt and answer ids with a label per position.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// Token ids, image tokens already expanded to one per image feature.
    pub ids: Vec<i64>,
    /// The token to predict at each position's *input*, or [`IGNORE`] (transformers' `labels`:
    /// the loss compares position t's logits with labels[t + 1]).
    pub labels: Vec<i64>,
    /// Preprocessed pixels of each image, `[channels, size, size]` flattened, in prompt order.
    pub images: Vec<Vec<f32>>,
}

impl Example {
    /// An example from a prompt and its answer: loss on the answer ids only.
    pub fn new(prompt: Vec<i64>, answer: Vec<i64>, images: Vec<Vec<f32>>) -> Self {
        let labels = std::iter::repeat_n(IGNORE, prompt.len())
            .chain(answer.iter().copied())
            .collect();
        let mut ids = prompt;
        ids.extend(answer);
        Example {
            ids,
            labels,
            images,
        }
    }

    /// Answer tokens that carry loss.
    pub fn answer_tokens(&self) -> usize {
        self.labels.iter().skip(1).filter(|&&l| l != IGNORE).count()
    }
}

/// Examples padded on the right to the longest.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub shape: [usize; 2],
    pub ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub attention: Vec<i64>,
    pub labels: Vec<i64>,
    /// Every image of the batch, in order, concatenated.
    pub pixels: Vec<f32>,
    pub images: usize,
}

impl Batch {
    /// Pads `examples` with `pad_id` (any id: padding is masked out and carries no loss).
    pub fn collate(examples: &[&Example], pad_id: i64) -> Self {
        let seq = examples.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        let b = examples.len();
        let mut batch = Batch {
            shape: [b, seq],
            ids: Vec::with_capacity(b * seq),
            attention: Vec::with_capacity(b * seq),
            labels: Vec::with_capacity(b * seq),
            pixels: Vec::new(),
            images: 0,
        };
        for e in examples {
            let pad = seq - e.ids.len();
            batch.ids.extend(
                e.ids
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(pad_id, pad)),
            );
            batch
                .attention
                .extend(std::iter::repeat_n(1, e.ids.len()).chain(std::iter::repeat_n(0, pad)));
            batch.labels.extend(
                e.labels
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(IGNORE, pad)),
            );
            for img in &e.images {
                batch.pixels.extend_from_slice(img);
                batch.images += 1;
            }
        }
        batch
    }

    /// Tokens that are not padding.
    pub fn real_tokens(&self) -> usize {
        self.attention.iter().filter(|&&a| a != 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collate_pads_right_and_masks_labels() {
        let a = Example::new(vec![1, 5, 6], vec![7, 2], vec![]);
        let b = Example::new(vec![1, 9], vec![2], vec![]);
        assert_eq!(a.labels, [IGNORE, IGNORE, IGNORE, 7, 2]);
        assert_eq!(a.answer_tokens(), 2);
        let batch = Batch::collate(&[&a, &b], 0);
        assert_eq!(batch.shape, [2, 5]);
        assert_eq!(batch.ids, [1, 5, 6, 7, 2, 1, 9, 2, 0, 0]);
        assert_eq!(batch.attention, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
        assert_eq!(batch.labels[5..], [IGNORE, IGNORE, 2, IGNORE, IGNORE]);
        assert_eq!(batch.real_tokens(), 8);
    }
}

//! Greedy decoding with the KV cache: one batched prefill pass, then one token per step.

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};

use super::{KvCache, Llama, Mask};

/// The most likely next tokens after `prompt`, at most `max_new`, stopping after a token in
/// `stop` (which is included). Before `min_new` tokens the stop tokens are never chosen (as
/// transformers' `min_new_tokens` does). `on_token` sees each token as it is chosen.
pub fn greedy<B: Backend>(
    model: &Llama<B>,
    prompt: &[u32],
    max_new: usize,
    min_new: usize,
    stop: &[u32],
    mut on_token: impl FnMut(u32),
    device: &B::Device,
) -> Vec<u32> {
    let mut cache = KvCache::new(model.num_layers());
    let mut out = Vec::with_capacity(max_new);
    let mut input: Vec<i64> = prompt.iter().map(|&t| t as i64).collect();
    while out.len() < max_new && !input.is_empty() {
        let n = input.len();
        let ids: Tensor<B, 2, Int> = Tensor::from_data(TensorData::new(input, [1, n]), device);
        let mask = Mask::all(1, cache.len() + n);
        let logits = model.forward(ids, &mask, Some(&mut cache));
        let [_, s, v] = logits.dims();
        let mut last: Tensor<B, 1> = logits.slice([0..1, s - 1..s, 0..v]).reshape([v]);
        if out.len() < min_new && !stop.is_empty() {
            let mut suppress = vec![0.0f32; v];
            for &t in stop.iter().filter(|&&t| (t as usize) < v) {
                suppress[t as usize] = f32::NEG_INFINITY;
            }
            last = last + Tensor::from_data(TensorData::new(suppress, [v]), device);
        }
        let next = last.argmax(0).into_scalar().elem::<i64>() as u32;
        out.push(next);
        on_token(next);
        if stop.contains(&next) {
            break;
        }
        input = vec![next as i64];
    }
    out
}

//! Text generation with the KV cache: one batched prefill pass, then one token per step,
//! greedy or sampled (temperature, top-k, top-p, repetition penalty; seeded).

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::{KvCache, Llama, Mask};
use crate::rng::Rng;
use crate::workers::on_cpu_workers;

/// How to pick each next token. `temperature == 0` is greedy (argmax).
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    pub temperature: f32,
    /// Keep the smallest set of tokens whose probability reaches `top_p` (1.0 = all).
    pub top_p: f32,
    /// Keep the `top_k` most likely tokens (0 = all).
    pub top_k: usize,
    /// transformers' repetition penalty: > 1 discourages tokens already present.
    pub repetition_penalty: f32,
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

/// When to stop.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    pub max_new: usize,
    /// Stop tokens are never chosen before this many new tokens (transformers' min_new_tokens).
    pub min_new: usize,
    /// Generation ends after one of these (it is included in the output).
    pub stop_tokens: Vec<u32>,
}

/// Generates after `prompt`. `on_token` sees each new token and returns false to stop early
/// (e.g. when a stop string appears in the decoded text).
pub fn generate<B: Backend>(
    model: &Llama<B>,
    prompt: &[u32],
    limits: &Limits,
    sampling: &Sampling,
    on_token: impl FnMut(u32) -> bool,
    device: &B::Device,
) -> Vec<u32> {
    let ids: Vec<i64> = prompt.iter().map(|&t| t as i64).collect();
    let ids: Tensor<B, 2, Int> = Tensor::from_data(TensorData::new(ids, [1, prompt.len()]), device);
    generate_from_embeds(
        model,
        model.embed(ids),
        prompt,
        limits,
        sampling,
        on_token,
        device,
    )
}

/// Generates after a prompt given as embeddings `[1, seq, hidden]` (a vision-language model's
/// text with image features merged in); `prompt` is its token ids, for the repetition penalty.
pub fn generate_from_embeds<B: Backend>(
    model: &Llama<B>,
    prompt_embeds: Tensor<B, 3>,
    prompt: &[u32],
    limits: &Limits,
    sampling: &Sampling,
    mut on_token: impl FnMut(u32) -> bool,
    device: &B::Device,
) -> Vec<u32> {
    let mut cache = KvCache::new(model.num_layers());
    let mut rng = Rng::new(sampling.seed);
    let mut out: Vec<u32> = Vec::with_capacity(limits.max_new);
    let mut embeds = Some(prompt_embeds);
    while out.len() < limits.max_new {
        let Some(step) = embeds.take() else { break };
        let n = step.dims()[1];
        let mask = Mask::all(1, cache.len() + n);
        let logits = on_cpu_workers::<B, _>(|| model.forward_last(step, &mask, Some(&mut cache)));
        // Half-precision backends hand back f16 logits: widen before reading.
        let mut last = logits
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap_or_default();
        if out.len() < limits.min_new {
            let v = last.len();
            for &t in limits.stop_tokens.iter().filter(|&&t| (t as usize) < v) {
                last[t as usize] = f32::NEG_INFINITY;
            }
        }
        let history = prompt.iter().chain(out.iter()).copied();
        let next = pick(&mut last, history, sampling, &mut rng);
        out.push(next);
        if !on_token(next) || limits.stop_tokens.contains(&next) {
            break;
        }
        let id: Tensor<B, 2, Int> =
            Tensor::from_data(TensorData::new(vec![next as i64], [1, 1]), device);
        embeds = Some(model.embed(id));
    }
    out
}

/// Chooses the next token from one step's logits (modified in place).
pub fn pick(
    logits: &mut [f32],
    history: impl Iterator<Item = u32>,
    s: &Sampling,
    rng: &mut Rng,
) -> u32 {
    if s.repetition_penalty != 1.0 {
        let v = logits.len();
        let mut seen = vec![false; v];
        for t in history.filter(|&t| (t as usize) < v) {
            if !seen[t as usize] {
                seen[t as usize] = true;
                let l = &mut logits[t as usize];
                *l = if *l < 0.0 {
                    *l * s.repetition_penalty
                } else {
                    *l / s.repetition_penalty
                };
            }
        }
    }
    let argmax = |l: &[f32]| {
        l.iter()
            .enumerate()
            .fold((0usize, f32::NEG_INFINITY), |best, (i, &v)| {
                if v > best.1 {
                    (i, v)
                } else {
                    best
                }
            })
            .0
    };
    if s.temperature <= 0.0 {
        return argmax(logits) as u32;
    }
    let mut order: Vec<usize> = (0..logits.len())
        .filter(|&i| logits[i].is_finite())
        .collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if s.top_k > 0 {
        order.truncate(s.top_k);
    }
    let max = order.first().map(|&i| logits[i]).unwrap_or(0.0);
    let mut probs: Vec<f32> = order
        .iter()
        .map(|&i| ((logits[i] - max) / s.temperature).exp())
        .collect();
    let total: f32 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if s.top_p < 1.0 {
        let mut acc = 0.0;
        let keep = probs.iter().position(|p| {
            acc += p;
            acc >= s.top_p
        });
        let keep = keep.map(|k| k + 1).unwrap_or(probs.len());
        order.truncate(keep);
        probs.truncate(keep);
        let total: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
    }
    let r = rng.unit();
    let mut acc = 0.0;
    for (i, p) in order.iter().zip(&probs) {
        acc += p;
        if r < acc {
            return *i as u32;
        }
    }
    order
        .last()
        .map(|&i| i as u32)
        .unwrap_or_else(|| argmax(logits) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(logits: &[f32], s: &Sampling, seed: u64, n: usize) -> Vec<u32> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| pick(&mut logits.to_vec(), std::iter::empty(), s, &mut rng))
            .collect()
    }

    #[test]
    fn greedy_topk1_and_seeds() {
        let logits = [0.1, 2.0, 1.9, -1.0];
        assert_eq!(sample(&logits, &Sampling::default(), 0, 3), [1, 1, 1]);
        let k1 = Sampling {
            temperature: 1.0,
            top_k: 1,
            ..Default::default()
        };
        assert_eq!(sample(&logits, &k1, 5, 5), [1; 5]);
        let hot = Sampling {
            temperature: 1.0,
            ..Default::default()
        };
        assert_eq!(
            sample(&logits, &hot, 9, 50),
            sample(&logits, &hot, 9, 50),
            "same seed, same tokens"
        );
        let drawn = sample(&logits, &hot, 9, 200);
        assert!(
            drawn.contains(&1) && drawn.contains(&2),
            "both likely tokens appear"
        );
        let nucleus = Sampling {
            temperature: 1.0,
            top_p: 0.4,
            ..Default::default()
        };
        assert!(
            sample(&logits, &nucleus, 3, 100).iter().all(|&t| t == 1),
            "p(best) = 0.475 reaches top-p 0.4 alone"
        );
    }

    #[test]
    fn repetition_penalty_as_transformers() {
        let mut l = [2.0f32, -1.0, 1.9];
        let s = Sampling {
            repetition_penalty: 2.0,
            ..Default::default()
        };
        let t = pick(&mut l, [0u32, 1, 0].into_iter(), &s, &mut Rng::new(0));
        assert_eq!(l, [1.0, -2.0, 1.9]);
        assert_eq!(t, 2);
    }
}

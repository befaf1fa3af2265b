//! BERTScore (Zhang et al., 2020) as the `bert_score` package computes it, on our BERT encoder:
//! each sentence is encoded with special tokens, the hidden states of layer `num_layers` are
//! L2-normalised, and every candidate token is matched to its most similar reference token
//! (precision) and every reference token to its most similar candidate token (recall), weighted
//! by idf (computed from the references, [CLS]/[SEP] weight 0; all 1 without idf). An empty
//! candidate or reference scores 0. With several references the best of each of P, R and F1
//! is kept. Notes on the package's code: `vlm/tests/fixtures/BERTSCORE-NOTES.md`.

use std::collections::{HashMap, HashSet};

use burn::tensor::backend::Backend;
use serde::Serialize;
use vlm::bert::Encoder;
use vlm::workers::on_cpu_workers;

/// P, R and F1 per candidate.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Scores {
    #[serde(rename = "P")]
    pub p: Vec<f64>,
    #[serde(rename = "R")]
    pub r: Vec<f64>,
    #[serde(rename = "F1")]
    pub f1: Vec<f64>,
}

/// A baseline to rescale with: `(score − b) / (1 − b)` per measure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Baseline {
    pub p: f64,
    pub r: f64,
    pub f1: f64,
}

/// The version of `bert_score` whose arithmetic this follows, as the package reports it (PyPI
/// 0.3.13 says 0.3.12); it appears in the hash.
pub const BERT_SCORE_VERSION: &str = "0.3.12";

/// What names a score: model, layer, idf, rescaling (as `bert_score`'s hash names them).
pub fn hash(model: &str, layers: usize, idf: bool, baseline: Option<&Baseline>) -> String {
    let mut h = format!(
        "{model}_L{layers}{}_version={BERT_SCORE_VERSION}(vlm-inspect={})",
        if idf { "_idf" } else { "_no-idf" },
        env!("CARGO_PKG_VERSION")
    );
    if baseline.is_some() {
        h.push_str("-custom-rescaled");
    }
    h
}

/// One sentence's normalised token embeddings and ids.
struct Encoded {
    ids: Vec<u32>,
    /// `tokens × hidden`, each row of unit length.
    rows: Vec<f32>,
}

/// Sentences per forward pass are bounded by padded tokens rather than by `batch_size` (the
/// pair batches that affect scores): large batches of short sentences make large, fast matrix
/// products, and padding never changes an encoding.
const ENCODE_TOKENS: usize = 2_048;
/// Threads encoding batches at once (at most; fewer on smaller machines).
const ENCODE_THREADS: usize = 2;

/// Splits length-sorted (longest first) sentences into batches of at most `ENCODE_TOKENS`
/// padded tokens.
fn encoding_batches<T>(sorted: &[(T, Vec<u32>)]) -> Vec<&[(T, Vec<u32>)]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < sorted.len() {
        let longest = sorted[start].1.len().max(1);
        let rows = (ENCODE_TOKENS / longest).max(1);
        let end = (start + rows).min(sorted.len());
        out.push(&sorted[start..end]);
        start = end;
    }
    out
}

/// Why texts cannot be scored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BertScoreError {
    #[error("{cands} candidates but {refs} reference groups")]
    Mismatch { cands: usize, refs: usize },
    #[error("candidate {0} has no reference")]
    NoReference(usize),
    #[error("the encoder failed: {0}")]
    Encoder(String),
}

/// Scores candidates against references with an encoder.
pub struct BertScorer<'a, B: Backend> {
    pub encoder: &'a Encoder<B>,
    pub layers: usize,
    pub batch_size: usize,
    pub device: B::Device,
}

impl<B: Backend> BertScorer<'_, B> {
    /// Token ids with [CLS]/[SEP], truncated to the position table (as `sent_encode`).
    fn tokens(&self, text: &str) -> Result<Vec<u32>, BertScoreError> {
        let mut ids = self
            .encoder
            .tokenizer
            .encode_prompt(text.trim())
            .map_err(|e| BertScoreError::Encoder(e.to_string()))?;
        let max = self.encoder.model.max_positions();
        if ids.len() > max {
            let last = ids[ids.len() - 1];
            ids.truncate(max - 1);
            ids.push(last);
        }
        Ok(ids)
    }

    /// Encodes distinct sentences in length-sorted batches (padding does not change the
    /// result; sorting keeps it small).
    fn encode_all(&self, sentences: &[&str]) -> Result<HashMap<String, Encoded>, BertScoreError> {
        let mut unique: Vec<&str> = sentences.to_vec();
        unique.sort();
        unique.dedup();
        let mut tokenized: Vec<(&str, Vec<u32>)> = unique
            .into_iter()
            .map(|s| self.tokens(s).map(|t| (s, t)))
            .collect::<Result<_, _>>()?;
        tokenized.sort_by_key(|(_, t)| std::cmp::Reverse(t.len()));
        // Batches go to a few threads in turn: the encoder's element-wise passes run on one
        // core each, so two batches in flight keep both cores of a small machine busy.
        let batches = encoding_batches(&tokenized);
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, ENCODE_THREADS)
            .min(batches.len().max(1));
        let results: Vec<Result<Vec<(String, Encoded)>, BertScoreError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|w| {
                        let mine: Vec<_> = batches.iter().skip(w).step_by(workers).collect();
                        scope.spawn(move || {
                            let mut out = Vec::new();
                            for chunk in mine {
                                out.extend(self.encode_batch(chunk)?);
                            }
                            Ok(out)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(BertScoreError::Encoder("an encoder thread failed".into()))
                        })
                    })
                    .collect()
            });
        let mut out = HashMap::new();
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Encodes one batch of tokenised sentences: each sentence's unit-length token rows.
    fn encode_batch(
        &self,
        chunk: &[(&str, Vec<u32>)],
    ) -> Result<Vec<(String, Encoded)>, BertScoreError> {
        let hidden = self.encoder.config.hidden_size;
        let seq = chunk.iter().map(|(_, t)| t.len()).max().unwrap_or(0);
        let b = chunk.len();
        let mut ids = Vec::with_capacity(b * seq);
        let mut mask = Vec::with_capacity(b * seq);
        for (_, t) in chunk {
            ids.extend(t.iter().map(|&i| i as i64));
            ids.extend(std::iter::repeat_n(0, seq - t.len()));
            mask.extend(std::iter::repeat_n(1, t.len()));
            mask.extend(std::iter::repeat_n(0, seq - t.len()));
        }
        let states = on_cpu_workers::<B, _>(|| {
            self.encoder
                .model
                .hidden_states(&ids, &mask, [b, seq], self.layers, &self.device)
        });
        let last = states.into_iter().nth(self.layers).ok_or_else(|| {
            BertScoreError::Encoder(format!("the model has fewer than {} layers", self.layers))
        })?;
        let values = last
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| BertScoreError::Encoder(format!("{e:?}")))?;
        let mut out = Vec::with_capacity(b);
        for (k, (s, t)) in chunk.iter().enumerate() {
            let mut rows = values[k * seq * hidden..(k * seq + t.len()) * hidden].to_vec();
            for row in rows.chunks_mut(hidden) {
                let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                row.iter_mut().for_each(|v| *v /= norm);
            }
            out.push((
                s.to_string(),
                Encoded {
                    ids: t.clone(),
                    rows,
                },
            ));
        }
        Ok(out)
    }

    /// Scores `cands[i]` against each of `refs[i]` (the best of each measure when several),
    /// with idf weights from all references when `idf`.
    pub fn score(
        &self,
        cands: &[String],
        refs: &[Vec<String>],
        idf: bool,
        baseline: Option<&Baseline>,
    ) -> Result<Scores, BertScoreError> {
        if cands.len() != refs.len() {
            return Err(BertScoreError::Mismatch {
                cands: cands.len(),
                refs: refs.len(),
            });
        }
        if let Some(i) = refs.iter().position(|r| r.is_empty()) {
            return Err(BertScoreError::NoReference(i));
        }
        let all_refs: Vec<&str> = refs.iter().flatten().map(String::as_str).collect();
        let mut sentences: Vec<&str> = cands.iter().map(String::as_str).collect();
        sentences.extend(&all_refs);
        let enc = self.encode_all(&sentences)?;
        let specials = self.special_ids();
        let weights = if idf {
            Some(self.idf(&all_refs, &enc))
        } else {
            None
        };
        let weight = |id: u32| -> f64 {
            if specials.contains(&id) {
                0.0
            } else {
                match &weights {
                    Some(w) => w.weight(id),
                    None => 1.0,
                }
            }
        };
        let hidden = self.encoder.config.hidden_size;
        // bert_score flattens the reference groups into pairs and matches them `batch_size`
        // at a time; within a batch, shorter sentences are padded with similarity 0, which a
        // token's best match cannot fall below (its quirk, kept so scores agree).
        let enc = &enc;
        let pairs: Vec<(usize, &Encoded, &Encoded)> = cands
            .iter()
            .zip(refs)
            .enumerate()
            .flat_map(|(i, (c, group))| {
                let h = &enc[c.as_str()];
                group.iter().map(move |r| (i, h, &enc[r.as_str()]))
            })
            .collect();
        let mut best = vec![(f64::MIN, f64::MIN, f64::MIN); cands.len()];
        for batch in pairs.chunks(self.batch_size.max(1)) {
            let longest_h = batch.iter().map(|(_, h, _)| h.ids.len()).max().unwrap_or(0);
            let longest_r = batch.iter().map(|(_, _, r)| r.ids.len()).max().unwrap_or(0);
            for &(i, h, r) in batch {
                let floors = (r.ids.len() < longest_r, h.ids.len() < longest_h);
                let (p, rc, f) = greedy(h, r, hidden, &weight, floors);
                let b = &mut best[i];
                *b = (b.0.max(p), b.1.max(rc), b.2.max(f));
            }
        }
        let mut out = Scores::default();
        for (mut p, mut r, mut f) in best {
            if let Some(b) = baseline {
                p = (p - b.p) / (1.0 - b.p);
                r = (r - b.r) / (1.0 - b.r);
                f = (f - b.f1) / (1.0 - b.f1);
            }
            out.p.push(p);
            out.r.push(r);
            out.f1.push(f);
        }
        Ok(out)
    }

    fn special_ids(&self) -> HashSet<u32> {
        ["[CLS]", "[SEP]"]
            .iter()
            .filter_map(|t| self.encoder.tokenizer.token_id(t))
            .collect()
    }

    fn idf(&self, refs: &[&str], enc: &HashMap<String, Encoded>) -> Idf {
        let mut df: HashMap<u32, usize> = HashMap::new();
        for r in refs {
            let distinct: HashSet<u32> = enc[*r].ids.iter().copied().collect();
            for id in distinct {
                *df.entry(id).or_default() += 1;
            }
        }
        Idf {
            docs: refs.len(),
            df,
        }
    }
}

/// Inverse document frequencies over the references: `ln((M + 1) / (df + 1))`.
struct Idf {
    docs: usize,
    df: HashMap<u32, usize>,
}

impl Idf {
    fn weight(&self, id: u32) -> f64 {
        let df = self.df.get(&id).copied().unwrap_or(0);
        ((self.docs as f64 + 1.0) / (df as f64 + 1.0)).ln()
    }
}

/// Greedy matching of one candidate against one reference: (P, R, F1), 0 for an empty side.
/// `floors` says whether the reference (for precision) and the candidate (for recall) were
/// padded in bert_score's batch: then a best match is at least 0.
fn greedy(
    h: &Encoded,
    r: &Encoded,
    hidden: usize,
    weight: &dyn Fn(u32) -> f64,
    (ref_padded, hyp_padded): (bool, bool),
) -> (f64, f64, f64) {
    // Only [CLS] and [SEP]: bert_score sets the scores of an empty sentence to 0.
    if h.ids.len() <= 2 || r.ids.len() <= 2 {
        return (0.0, 0.0, 0.0);
    }
    let (nh, nr) = (h.ids.len(), r.ids.len());
    let mut sim = vec![0f32; nh * nr];
    for i in 0..nh {
        let a = &h.rows[i * hidden..(i + 1) * hidden];
        for j in 0..nr {
            let b = &r.rows[j * hidden..(j + 1) * hidden];
            sim[i * nr + j] = a.iter().zip(b).map(|(x, y)| x * y).sum();
        }
    }
    let weighted = |n: usize, ids: &[u32], best: &dyn Fn(usize) -> f32| -> f64 {
        let total: f64 = ids.iter().map(|&t| weight(t)).sum();
        (0..n).map(|i| best(i) as f64 * weight(ids[i])).sum::<f64>() / total
    };
    let floor = |padded: bool| if padded { 0.0 } else { f32::MIN };
    let p = weighted(nh, &h.ids, &|i| {
        sim[i * nr..(i + 1) * nr]
            .iter()
            .copied()
            .fold(floor(ref_padded), f32::max)
    });
    let rc = weighted(nr, &r.ids, &|j| {
        (0..nh)
            .map(|i| sim[i * nr + j])
            .fold(floor(hyp_padded), f32::max)
    });
    let f = if p + rc > 0.0 {
        2.0 * p * rc / (p + rc)
    } else {
        0.0
    };
    (p, rc, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(ids: Vec<u32>, rows: Vec<Vec<f32>>) -> Encoded {
        Encoded {
            ids,
            rows: rows.into_iter().flatten().collect(),
        }
    }

    #[test]
    fn greedy_matching_by_hand() {
        // Tokens: [CLS]=1, [SEP]=2 and words, unit vectors in 3-D; the specials stay in the
        // similarity matrix (weight 0), here orthogonal to the words.
        let special = vec![0.0, 0.0, 1.0];
        let h = enc(
            vec![1, 10, 2],
            vec![special.clone(), vec![0.6, 0.8, 0.0], special.clone()],
        );
        let r = enc(
            vec![1, 11, 12, 2],
            vec![
                special.clone(),
                vec![1.0, 0.0, 0.0],
                vec![0.0, 1.0, 0.0],
                special.clone(),
            ],
        );
        let w = |id: u32| if id <= 2 { 0.0 } else { 1.0 };
        let (p, rc, f) = greedy(&h, &r, 3, &w, (false, false));
        // P: token 10 best matches token 12 (0.8). R: token 11 → 0.6, token 12 → 0.8.
        assert!((p - 0.8).abs() < 1e-6, "{p}");
        assert!((rc - 0.7).abs() < 1e-6, "{rc}");
        assert!((f - 2.0 * 0.8 * 0.7 / 1.5).abs() < 1e-6);
        // An empty side (only [CLS] [SEP]) scores 0.
        let empty = enc(vec![1, 2], vec![special.clone(), special.clone()]);
        assert_eq!(greedy(&empty, &r, 3, &w, (false, false)), (0.0, 0.0, 0.0));
        // A token whose every similarity is negative counts 0 where bert_score padded the
        // other side.
        let x = vec![1.0, 0.0, 0.0];
        let plain = enc(vec![1, 11, 2], vec![x.clone(), x.clone(), x]);
        let opposite = enc(vec![1, 13, 2], vec![vec![-1.0, 0.0, 0.0]; 3]);
        let (p_raw, ..) = greedy(&opposite, &plain, 3, &w, (false, false));
        let (p_pad, ..) = greedy(&opposite, &plain, 3, &w, (true, false));
        assert!(
            (p_raw + 1.0).abs() < 1e-6 && p_pad == 0.0,
            "{p_raw} {p_pad}"
        );
        let idf = Idf {
            docs: 3,
            df: HashMap::from([(11, 2)]),
        };
        assert!((idf.weight(11) - (4.0f64 / 3.0).ln()).abs() < 1e-12);
        assert!((idf.weight(99) - 4.0f64.ln()).abs() < 1e-12);
        assert!(hash("m", 6, true, None).starts_with("m_L6_idf_version=0.3.12"));
    }
}

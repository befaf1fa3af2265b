//! LLaMA's SentencePiece BPE from GGUF metadata (`tokenizer.ggml.model = "llama"`): tokens and
//! scores, no merges. Built as Hugging Face's `LlamaTokenizerFast` is: a BPE whose merges are
//! every split of a vocabulary piece into two pieces, ranked by the merged piece's score, with
//! byte fallback, a `▁` prepended and spaces written as `▁`.

use std::collections::HashMap;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Prepend, Replace, Sequence};

use super::gguf_bpe::{finish, strings};
use super::{tok_err, Tokenizer};
use crate::weights::gguf::{Gguf, Value};
use crate::weights::WeightError;

const SPACE: &str = "\u{2581}";

/// Merges in rank order, as transformers' `SentencePieceExtractor` makes them: for each piece,
/// its splits into two known pieces (by the halves' ids), all ordered by the piece's score.
fn merges(tokens: &[String], scores: &[f32]) -> Vec<(String, String)> {
    let ids: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut all: Vec<(f32, usize, usize)> = Vec::new();
    for (piece, &score) in tokens.iter().zip(scores) {
        let mut local: Vec<(usize, usize)> = piece
            .char_indices()
            .skip(1)
            .filter_map(|(at, _)| Some((*ids.get(&piece[..at])?, *ids.get(&piece[at..])?)))
            .collect();
        local.sort_unstable();
        all.extend(local.into_iter().map(|(l, r)| (score, l, r)));
    }
    // Stable: equal scores keep the vocabulary order.
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    all.into_iter()
        .map(|(_, l, r)| (tokens[l].clone(), tokens[r].clone()))
        .collect()
}

pub fn build(g: &Gguf, source: &str) -> Result<Tokenizer, WeightError> {
    let err = |reason: String| WeightError::Config {
        path: source.to_string(),
        reason,
    };
    let tokens = strings(g, "tokenizer.ggml.tokens");
    if tokens.is_empty() {
        return Err(err("tokenizer.ggml.tokens is missing".into()));
    }
    let scores: Vec<f32> = g
        .get("tokenizer.ggml.scores")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_f64)
                .map(|v| v as f32)
                .collect()
        })
        .unwrap_or_default();
    if scores.len() != tokens.len() {
        return Err(err(format!(
            "tokenizer.ggml.scores has {} entries for {} tokens",
            scores.len(),
            tokens.len()
        )));
    }
    let unk = g
        .get("tokenizer.ggml.unknown_token_id")
        .and_then(Value::as_u64)
        .and_then(|i| tokens.get(i as usize))
        .cloned()
        .unwrap_or_else(|| "<unk>".into());
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges(&tokens, &scores))
        .byte_fallback(true)
        .fuse_unk(true)
        .unk_token(unk)
        .build()
        .map_err(|e| tok_err(source, e))?;
    let mut inner = tokenizers::Tokenizer::new(bpe);
    let replace = |from: &str, to: &str| Replace::new(from, to).map_err(|e| tok_err(source, e));
    let mut normalizers = vec![replace(" ", SPACE)?.into()];
    // SentencePiece's dummy prefix, unless the file turns it off.
    if g.get("tokenizer.ggml.add_space_prefix")
        .and_then(Value::as_bool)
        .unwrap_or(true)
    {
        normalizers.insert(0, Prepend::new(SPACE.into()).into());
    }
    inner.with_normalizer(Some(Sequence::new(normalizers)));
    inner.with_decoder(Some(DecoderSequence::new(vec![
        tokenizers::decoders::DecoderWrapper::Replace(replace(SPACE, " ")?),
        ByteFallback::default().into(),
        Fuse::default().into(),
        Strip::new(' ', 1, 0).into(),
    ])));
    finish(inner, g, &tokens)
}

#[cfg(test)]
mod tests {
    use super::merges;

    #[test]
    fn merges_follow_scores_then_ids() {
        let tokens: Vec<String> = ["a", "b", "c", "ab", "bc", "abc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let scores = [0.0, 0.0, 0.0, -1.0, -2.0, -0.5];
        let m = merges(&tokens, &scores);
        let pairs: Vec<(&str, &str)> = m.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(pairs, [("a", "bc"), ("ab", "c"), ("a", "b"), ("b", "c")]);
    }
}

//! Byte-level BPE from GGUF metadata: `tokenizer.ggml.tokens`, `.merges`, `.token_type` and the
//! pre-tokenizer name `tokenizer.ggml.pre`, mapped to what the original `tokenizer.json` uses.

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use super::{tok_err, Tokenizer};
use crate::weights::gguf::{Gguf, Value};
use crate::weights::WeightError;

/// Qwen2's split pattern (its tokenizer.json, and llama.cpp's "qwen2" pre-tokenizer).
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn pre_tokenizer(pre: &str) -> Option<PreTokenizerWrapper> {
    let byte_level = |regex| ByteLevel::new(false, true, regex);
    Some(match pre {
        "gpt-2" | "default" => byte_level(true).into(),
        "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level(true).into()]).into(),
        "qwen2" => Sequence::new(vec![
            Split::new(
                SplitPattern::Regex(QWEN2_PATTERN.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .ok()?
            .into(),
            byte_level(false).into(),
        ])
        .into(),
        _ => return None,
    })
}

pub(super) fn strings(g: &Gguf, key: &str) -> Vec<String> {
    g.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn build(g: &Gguf, source: &str) -> Result<Tokenizer, WeightError> {
    let err = |reason: String| WeightError::Config {
        path: source.to_string(),
        reason,
    };
    let model = g
        .get("tokenizer.ggml.model")
        .and_then(Value::as_str)
        .unwrap_or("");
    match model {
        "gpt2" => {}
        "llama" => return super::gguf_spm::build(g, source),
        other => {
            return Err(err(format!(
            "tokenizer model {other:?} is not supported (gpt2 byte-level BPE, llama SentencePiece)"
        )))
        }
    }
    let pre_name = g
        .get("tokenizer.ggml.pre")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let pre = pre_tokenizer(pre_name)
        .ok_or_else(|| err(format!("pre-tokenizer {pre_name:?} is not supported")))?;
    let tokens = strings(g, "tokenizer.ggml.tokens");
    if tokens.is_empty() {
        return Err(err("tokenizer.ggml.tokens is missing".into()));
    }
    let merges: Vec<(String, String)> = strings(g, "tokenizer.ggml.merges")
        .into_iter()
        .filter_map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| tok_err(source, e))?;
    let mut inner = tokenizers::Tokenizer::new(bpe);
    inner.with_pre_tokenizer(Some(pre));
    inner.with_decoder(Some(ByteLevelDecoder::default()));
    finish(inner, g, &tokens)
}

/// Registers control and user-defined tokens and reads the BOS/EOS ids: the same for every
/// GGUF tokenizer model.
pub(super) fn finish(
    mut inner: tokenizers::Tokenizer,
    g: &Gguf,
    tokens: &[String],
) -> Result<Tokenizer, WeightError> {
    let types: Vec<u64> = g
        .get("tokenizer.ggml.token_type")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(1)).collect())
        .unwrap_or_default();
    // Control (3) and user-defined (4) tokens are matched whole in text.
    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(&types)
        .filter(|(_, &t)| t == 3 || t == 4)
        .map(|(tok, &t)| AddedToken::from(tok.clone(), t == 3))
        .collect();
    inner.add_special_tokens(&added);
    let id = |key: &str| g.get(key).and_then(Value::as_u64).map(|v| v as u32);
    let bos = id("tokenizer.ggml.bos_token_id");
    let model = g.get("tokenizer.ggml.model").and_then(Value::as_str);
    // llama.cpp's default: SentencePiece vocabularies add BOS, byte-level BPE ones do not.
    let add_bos = g
        .get("tokenizer.ggml.add_bos_token")
        .and_then(Value::as_bool)
        .unwrap_or(model == Some("llama"));
    if let (true, Some(b)) = (add_bos, bos) {
        let name = tokens.get(b as usize).cloned().unwrap_or_default();
        let post = TemplateProcessing::builder()
            .try_single(format!("{name} $A"))
            .and_then(|t| t.try_pair(format!("{name} $A {name} $B")))
            .map_err(|e| tok_err("post-processor", e))?
            .special_tokens(vec![(name, b)])
            .build()
            .map_err(|e| tok_err("post-processor", e))?;
        inner.with_post_processor(Some(post));
    }
    Ok(Tokenizer {
        inner,
        eos: id("tokenizer.ggml.eos_token_id").into_iter().collect(),
        bos,
    })
}

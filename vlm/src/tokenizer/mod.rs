//! Tokenizers: Hugging Face `tokenizer.json` files through the `tokenizers` crate, and
//! tokenizers rebuilt from GGUF metadata (`tokenizer.ggml.*`: byte-level BPE as SmolLM2, GPT-2
//! and Qwen2 ship them, and LLaMA SentencePiece), plus the chat templates of the models we run.

pub mod chat;
mod gguf_bpe;
mod gguf_spm;

use std::path::Path;

use crate::weights::gguf::Gguf;
use crate::weights::WeightError;

pub use chat::{ChatTemplate, SpecialTokens, TemplateError};

/// Text ↔ token ids for one model.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Token ids that end a reply.
    pub eos: Vec<u32>,
    pub bos: Option<u32>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("eos", &self.eos)
            .field("bos", &self.bos)
            .finish()
    }
}

fn tok_err(path: &str, e: impl std::fmt::Display) -> WeightError {
    WeightError::Config {
        path: path.to_string(),
        reason: format!("tokenizer: {e}"),
    }
}

impl Tokenizer {
    /// Loads a Hugging Face `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self, WeightError> {
        let name = path.display().to_string();
        let mut inner = tokenizers::Tokenizer::from_file(path).map_err(|e| tok_err(&name, e))?;
        // A file may carry its trainer's padding and truncation (sentence-transformers pads to
        // 128); callers pad batches themselves and decide lengths, so both go.
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| tok_err(&name, e))?;
        Ok(Tokenizer {
            inner,
            eos: Vec::new(),
            bos: None,
        })
    }

    /// Rebuilds the tokenizer stored in a GGUF file's metadata.
    pub fn from_gguf(g: &Gguf, source: &str) -> Result<Self, WeightError> {
        gguf_bpe::build(g, source)
    }

    /// Token ids of `text`. Special tokens written in the text (e.g. `<|im_start|>`) are
    /// recognised as such; no BOS is added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, WeightError> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| tok_err("encode", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Token ids of a whole prompt: as [`Tokenizer::encode`], plus what the model's tokenizer
    /// adds around a sequence (LLaMA's BOS; nothing for SmolLM2), as processors do.
    /// A prompt whose chat template already wrote that token (`{{ bos_token }}`) keeps one, as
    /// `apply_chat_template(tokenize=True)` gives.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, WeightError> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| tok_err("encode", e))?;
        let ids = enc.get_ids();
        if ids.len() >= 2 && ids[0] == ids[1] && self.encode(text)?.first() == Some(&ids[0]) {
            return Ok(ids[1..].to_vec());
        }
        Ok(ids.to_vec())
    }

    /// The texts of the BOS and first EOS token, for chat templates.
    pub fn special_tokens(&self) -> SpecialTokens {
        SpecialTokens {
            bos: self.bos.and_then(|id| self.id_to_token(id)),
            eos: self.eos.first().and_then(|&id| self.id_to_token(id)),
        }
    }

    /// Adds special tokens at the end of the vocabulary (ids in order), as llava-hf adds
    /// `<image>` and `<pad>` to LLaMA's; tokens already known keep their ids.
    pub fn add_special_tokens(&mut self, tokens: &[&str]) {
        let added: Vec<tokenizers::AddedToken> = tokens
            .iter()
            .map(|t| tokenizers::AddedToken::from(t.to_string(), true))
            .collect();
        self.inner.add_special_tokens(&added);
    }

    /// The tokenizer as Hugging Face's `tokenizer.json` text (what `from_file` reads back).
    pub fn to_json(&self) -> Result<String, WeightError> {
        self.inner
            .to_string(false)
            .map_err(|e| tok_err("tokenizer.json", e))
    }

    /// The text of `ids`, optionally without special tokens.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, WeightError> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| tok_err("decode", e))
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token string of an id, if the vocabulary has it.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

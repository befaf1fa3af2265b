//! Opening a chat model from disk: a GGUF file, or a Hugging Face folder (`config.json`,
//! safetensors, `tokenizer.json`, and the chat template from `tokenizer_config.json`,
//! `chat_template.jinja` or `chat_template.json`), with everything generation needs.

use std::path::Path;

use burn::tensor::backend::Backend;

use super::config::{ids, LlamaConfig};
use super::load::{from_source, KeyLayout};
use super::quantised::{self, GgufWeights};
use super::Llama;
use crate::tokenizer::{ChatTemplate, SpecialTokens, Tokenizer};
use crate::weights::gguf::{GgufLlama, Value};
use crate::weights::{ShardedSafeTensors, WeightError};

/// A decoder with its tokenizer, chat template and end-of-reply tokens.
#[derive(Debug)]
pub struct ChatLlama<B: Backend> {
    pub config: LlamaConfig,
    pub model: Llama<B>,
    pub tokenizer: Tokenizer,
    /// None when the checkpoint has no chat template (prompts go in raw).
    pub template: Option<ChatTemplate>,
    /// Tokens that end a reply: the config's, the generation config's and the tokenizer's.
    pub stop_tokens: Vec<u32>,
}

/// Opens `path`: a `.gguf` file or a Hugging Face folder (a GGUF's matrices in f32).
pub fn open<B: Backend>(path: &Path, device: &B::Device) -> Result<ChatLlama<B>, WeightError> {
    open_with(path, device, GgufWeights::F32)
}

/// Opens `path` as [`open`] does, a GGUF's quantised matrices used as `weights` says.
pub fn open_with<B: Backend>(
    path: &Path,
    device: &B::Device,
    weights: GgufWeights,
) -> Result<ChatLlama<B>, WeightError> {
    if path.is_dir() {
        open_hf_dir(path, device)
    } else if path.is_file() {
        open_gguf(path, device, weights)
    } else {
        Err(WeightError::io(path, "no such file or folder"))
    }
}

fn open_gguf<B: Backend>(
    path: &Path,
    device: &B::Device,
    weights: GgufWeights,
) -> Result<ChatLlama<B>, WeightError> {
    let mut source = GgufLlama::open(path)?;
    let tokenizer = Tokenizer::from_gguf(&source.gguf, &path.display().to_string())?;
    let template = source
        .gguf
        .get("tokenizer.chat_template")
        .and_then(Value::as_str)
        .map(|jinja| compile_template(path, jinja, tokenizer.special_tokens()))
        .transpose()?;
    let config = source.config.clone();
    let mut model = from_source(&config, &KeyLayout::default(), &mut source, device)?;
    if weights == GgufWeights::Quantised {
        quantised::attach(&mut model, &mut source)?;
    }
    Ok(finish(config, model, tokenizer, template, &[]))
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>, WeightError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| WeightError::Config {
                path: path.display().to_string(),
                reason: format!("not valid JSON: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(WeightError::io(path, e)),
    }
}

/// A checkpoint's chat template, compiled; one that does not compile or render is an error
/// naming where it came from.
fn compile_template(
    from: &Path,
    jinja: &str,
    specials: SpecialTokens,
) -> Result<ChatTemplate, WeightError> {
    ChatTemplate::new(jinja, specials).map_err(|e| WeightError::Config {
        path: from.display().to_string(),
        reason: e.to_string(),
    })
}

/// The text of a `bos_token`/`eos_token` entry of tokenizer_config.json (a string, or an
/// added-token object with `content`).
fn token_text(config: &serde_json::Value, key: &str) -> Option<String> {
    match config.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        other => other.get("content")?.as_str().map(String::from),
    }
}

/// The chat template text of a Hugging Face folder, wherever this transformers version put it.
fn hf_template(dir: &Path) -> Result<Option<String>, WeightError> {
    if let Ok(text) = std::fs::read_to_string(dir.join("chat_template.jinja")) {
        return Ok(Some(text));
    }
    for file in ["chat_template.json", "tokenizer_config.json"] {
        if let Some(v) = read_json(&dir.join(file))? {
            if let Some(t) = v.get("chat_template").and_then(|t| t.as_str()) {
                return Ok(Some(t.to_string()));
            }
        }
    }
    Ok(None)
}

fn open_hf_dir<B: Backend>(dir: &Path, device: &B::Device) -> Result<ChatLlama<B>, WeightError> {
    let config = LlamaConfig::from_file(&dir.join("config.json"))?;
    let (tokenizer, template, extra) = hf_chat_parts(dir)?;
    let mut source = ShardedSafeTensors::open_dir(dir)?;
    let model = from_source(&config, &KeyLayout::default(), &mut source, device)?;
    Ok(finish(config, model, tokenizer, template, &extra))
}

/// A Hugging Face folder's tokenizer, chat template, and the end-of-reply tokens its
/// generation and tokenizer configs name.
pub(crate) fn hf_chat_parts(
    dir: &Path,
) -> Result<(Tokenizer, Option<ChatTemplate>, Vec<u32>), WeightError> {
    let tok_path = dir.join("tokenizer.json");
    if !tok_path.is_file() {
        return Err(WeightError::io(
            &tok_path,
            "missing: the folder needs tokenizer.json",
        ));
    }
    let tokenizer = Tokenizer::from_file(&tok_path)?;
    let mut extra = ids(read_json(&dir.join("generation_config.json"))?
        .as_ref()
        .and_then(|g| g.get("eos_token_id")));
    let mut specials = tokenizer.special_tokens();
    if let Some(tc) = read_json(&dir.join("tokenizer_config.json"))? {
        let eos = token_text(&tc, "eos_token");
        extra.extend(eos.as_deref().and_then(|e| tokenizer.token_id(e)));
        specials.eos = eos.or(specials.eos);
        specials.bos = token_text(&tc, "bos_token").or(specials.bos);
    }
    let template = hf_template(dir)?
        .map(|jinja| compile_template(dir, &jinja, specials))
        .transpose()?;
    Ok((tokenizer, template, extra))
}

/// The distinct stop tokens of all sources, in order.
pub(crate) fn merge_stops<'a>(lists: impl IntoIterator<Item = &'a [u32]>) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for &t in lists.into_iter().flatten() {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

fn finish<B: Backend>(
    config: LlamaConfig,
    model: Llama<B>,
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    extra_stops: &[u32],
) -> ChatLlama<B> {
    let stop_tokens = merge_stops([
        config.eos_token_ids.as_slice(),
        tokenizer.eos.as_slice(),
        extra_stops,
    ]);
    ChatLlama {
        config,
        model,
        tokenizer,
        template,
        stop_tokens,
    }
}

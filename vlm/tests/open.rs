//! Opening a Hugging Face folder as a chat model: tokenizer.json, the chat template from
//! tokenizer_config.json, end-of-reply tokens from every place transformers keeps them, and
//! clear errors for what is missing or broken.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::AddedToken;
use vlm::device::{cpu_device, Cpu};
use vlm::llama::generate::{generate, Limits, Sampling};
use vlm::llama::open;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llama")
}

/// The tiny model's folder plus a 128-word tokenizer and a ChatML template.
fn hf_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "generation_config.json", "model.safetensors"] {
        std::fs::copy(fixture().join(f), dir.path().join(f)).unwrap();
    }
    let specials = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"];
    let mut vocab: HashMap<String, u32> = HashMap::new();
    for (i, s) in specials.iter().enumerate() {
        vocab.insert(s.to_string(), i as u32);
    }
    for i in specials.len()..128 {
        vocab.insert(format!("w{i}"), i as u32);
    }
    for (i, w) in ["user", "assistant", "system", "hello", "tiny"]
        .iter()
        .enumerate()
    {
        vocab.insert(w.to_string(), 100 + i as u32);
        vocab.remove(&format!("w{}", 100 + i));
    }
    let model = WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("<unk>".into())
        .build()
        .unwrap();
    let mut tok = tokenizers::Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(Whitespace {}));
    let added: Vec<AddedToken> = specials
        .iter()
        .map(|s| AddedToken::from(s.to_string(), true))
        .collect();
    tok.add_special_tokens(&added);
    tok.save(dir.path().join("tokenizer.json"), false).unwrap();
    let template = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are tiny.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
    let config = serde_json::json!({ "chat_template": template, "eos_token": "<|im_end|>" });
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    dir
}

#[test]
fn hf_folder_opens_with_template_and_stop_tokens() {
    let dir = hf_folder();
    let m = open::<Cpu>(dir.path(), &cpu_device()).unwrap();
    // The folder's own template, rendered: its default system prompt comes first.
    let template = m.template.as_ref().expect("the folder has a chat template");
    assert_eq!(
        template.prompt(None, "hello").unwrap(),
        "<|im_start|>system\nYou are tiny.<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n"
    );
    // config.json's eos (2) and the tokenizer config's `<|im_end|>` (4).
    assert_eq!(m.stop_tokens, [2, 4]);
    let prompt = template.prompt(None, "hello").unwrap();
    let ids = m.tokenizer.encode_prompt(&prompt).unwrap();
    assert_eq!(ids[..2], [3, 102], "<|im_start|> system");
    assert_eq!(ids.iter().filter(|&&t| t == 4).count(), 2, "two <|im_end|>");
    let limits = Limits {
        max_new: 5,
        min_new: 5,
        stop_tokens: m.stop_tokens.clone(),
    };
    let out = generate(
        &m.model,
        &ids,
        &limits,
        &Sampling::default(),
        |_| true,
        &cpu_device(),
    );
    assert_eq!(out.len(), 5);
    assert!(out.iter().all(|t| !m.stop_tokens.contains(t)));
}

#[test]
fn broken_folders_are_named() {
    let dir = hf_folder();
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = open::<Cpu>(dir.path(), &cpu_device())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tokenizer.json") && err.contains("missing"),
        "{err}"
    );

    let dir = hf_folder();
    std::fs::write(dir.path().join("tokenizer_config.json"), "{not json").unwrap();
    let err = open::<Cpu>(dir.path(), &cpu_device())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tokenizer_config.json: not valid JSON"),
        "{err}"
    );

    let dir = hf_folder();
    std::fs::write(dir.path().join("model.safetensors"), b"\x08\x00\x00\x00").unwrap();
    let err = open::<Cpu>(dir.path(), &cpu_device())
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");

    let err = open::<Cpu>(Path::new("/nonexistent/model"), &cpu_device())
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/model"), "{err}");
}

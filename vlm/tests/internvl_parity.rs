//! Parity with transformers' InternVLForConditionalGeneration on tiny random checkpoints
//! (fixtures/make_internvl.py): a Qwen2 one stored in BF16 in transformers 5's key layout, and
//! a LLaMA one with a tied head in the Hub's layout; two images of 2 and 1 tiles in one prompt
//! (Chain-of-Image's shape), a left-padded batch, and greedy generation with and without the
//! KV cache.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use vlm::device::{cpu_device, Cpu};
use vlm::internvl::load::from_hf_dir;
use vlm::internvl::{InternVl, InternVlError};
use vlm::llama::generate::{generate_from_embeds, Limits, Sampling};
use vlm::llama::Mask;
use vlm::weights::safetensors::{read_i64, SafeTensors};
use vlm::weights::TensorSource;

const MODELS: [&str; 2] = ["tiny-internvl", "tiny-internvl-llama"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

struct Io(SafeTensors);

impl Io {
    fn open(name: &str) -> Self {
        Io(SafeTensors::open(&fixture(name).join("io.safetensors")).unwrap())
    }
    fn ids(&mut self, name: &str) -> (Vec<usize>, Vec<i64>) {
        read_i64(&mut self.0, name).unwrap().unwrap()
    }
    fn floats(&mut self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let t = self.0.read(name).unwrap().unwrap();
        (t.shape, t.data)
    }
    fn pixels<B: Backend>(&mut self, name: &str, device: &B::Device) -> Tensor<B, 4> {
        let (s, data) = self.floats(name);
        Tensor::from_data(TensorData::new(data, [s[0], s[1], s[2], s[3]]), device)
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn floats<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().unwrap()
}

fn load<B: Backend>(name: &str, device: &B::Device) -> InternVl<B> {
    from_hf_dir::<B>(&fixture(name), device).unwrap().1
}

/// Image features, the two-image prompt's logits and the left-padded batch.
fn check_logits<B: Backend>(name: &str, device: &B::Device, tol: f32) {
    let model = load::<B>(name, device);
    let mut io = Io::open(name);
    let (_, want) = io.floats("image_features");
    let got = floats(
        model
            .image_features(io.pixels("pixel_values", device))
            .unwrap(),
    );
    let d = max_abs_diff(&got, &want);
    eprintln!("{name}: image features within {d:.2e}");
    assert!(d < tol, "{name}: image features differ by {d}");

    let (shape, ids) = io.ids("input_ids");
    let (_, want) = io.floats("logits");
    let [b, s] = [shape[0], shape[1]];
    let got = model
        .forward(
            &ids,
            [b, s],
            &Mask::all(b, s),
            Some(io.pixels("pixel_values", device)),
            None,
        )
        .unwrap();
    let d = max_abs_diff(&floats(got), &want);
    eprintln!("{name}: two-image logits within {d:.2e}");
    assert!(d < tol, "{name}: logits differ by {d}");

    let (shape, ids) = io.ids("padded_ids");
    let (_, mask) = io.ids("padded_mask");
    let (_, want) = io.floats("padded_logits");
    let [b, s] = [shape[0], shape[1]];
    let got = floats(
        model
            .forward(
                &ids,
                [b, s],
                &Mask::from_ones(b, s, &mask),
                Some(io.pixels("padded_pixels", device)),
                None,
            )
            .unwrap(),
    );
    let v = got.len() / (b * s);
    let pad = mask[s..].iter().take_while(|&&m| m == 0).count();
    for (row, start) in [(0, 0), (1, pad)] {
        let part = |x: &[f32]| x[(row * s + start) * v..(row + 1) * s * v].to_vec();
        let d = max_abs_diff(&part(&got), &part(&want));
        eprintln!("{name}: padded row {row} within {d:.2e}");
        assert!(d < tol, "{name}: padded row {row} differs by {d}");
    }
}

#[test]
fn qwen2_bf16_in_transformers_5_layout_matches() {
    check_logits::<Cpu>(MODELS[0], &cpu_device(), 1e-4);
}

#[test]
fn llama_tied_in_hub_layout_matches() {
    check_logits::<Cpu>(MODELS[1], &cpu_device(), 1e-4);
}

/// Greedy tokens with the KV cache (generate_from_embeds), and recomputing the whole sequence
/// at every step, equal transformers' `generate`.
#[test]
fn greedy_tokens_match_with_and_without_the_cache() {
    let device = cpu_device();
    for name in MODELS {
        let model = load::<Cpu>(name, &device);
        let mut io = Io::open(name);
        let (_, prompt) = io.ids("greedy_prompt");
        let (_, want) = io.ids("greedy_tokens");
        let want: Vec<u32> = want.iter().map(|&t| t as u32).collect();
        let pixels = io.pixels::<Cpu>("greedy_pixels", &device);
        let embeds = model
            .embed(&prompt, [1, prompt.len()], Some(pixels.clone()), &device)
            .unwrap();
        let ids: Vec<u32> = prompt.iter().map(|&t| t as u32).collect();
        let limits = Limits {
            max_new: want.len(),
            min_new: want.len(),
            stop_tokens: vec![2],
        };
        let cached = generate_from_embeds(
            &model.lm,
            embeds,
            &ids,
            &limits,
            &Sampling::default(),
            |_| true,
            &device,
        );
        assert_eq!(cached, want, "{name}: greedy with the KV cache");

        let mut all = prompt.clone();
        for _ in 0..want.len() {
            let n = all.len();
            let logits = model
                .forward(&all, [1, n], &Mask::all(1, n), Some(pixels.clone()), None)
                .unwrap();
            let v = logits.dims()[2];
            let last = logits.slice([0..1, n - 1..n, 0..v]).reshape([v]);
            all.push(floats(last.argmax(0).float())[0] as i64);
        }
        let recomputed: Vec<u32> = all[prompt.len()..].iter().map(|&t| t as u32).collect();
        assert_eq!(recomputed, want, "{name}: greedy recomputing every step");
    }
}

#[test]
fn image_tokens_and_tiles_must_agree() {
    let device = cpu_device();
    let model = load::<Cpu>(MODELS[0], &device);
    let mut io = Io::open(MODELS[0]);
    let (_, ids) = io.ids("input_ids");
    let n = ids.len();
    // The prompt holds 3 tiles' tokens (12); two tiles give 8 features.
    let two: Tensor<Cpu, 4> = Tensor::zeros([2, 3, 28, 28], &device);
    let err = model.embed(&ids, [1, n], Some(two), &device).unwrap_err();
    assert_eq!(
        err,
        InternVlError::ImageTokens {
            tokens: 12,
            tiles: 2,
            features: 8,
            per_tile: 4
        }
    );
    assert!(matches!(
        model.embed(&ids, [1, n], None, &device).unwrap_err(),
        InternVlError::ImageTokens { tiles: 0, .. }
    ));
    let wrong: Tensor<Cpu, 4> = Tensor::zeros([3, 3, 20, 20], &device);
    let err = model.embed(&ids, [1, n], Some(wrong), &device).unwrap_err();
    assert!(err.to_string().contains("28×28"), "{err}");
}

/// The vision tower alone takes tiles of other sizes, interpolating its position embeddings
/// as transformers does (fixtures/make_internvit_interp.py): larger, smaller, oblong, same.
#[test]
fn the_tower_interpolates_position_embeddings_for_other_grids() {
    let device = cpu_device();
    let model = load::<Cpu>(MODELS[0], &device);
    let mut st = SafeTensors::open(&fixture("internvit-interp.safetensors")).unwrap();
    for case in ["up", "down", "wide", "same"] {
        let px = st.read(&format!("{case}.pixel_values")).unwrap().unwrap();
        let want = st
            .read(&format!("{case}.last_hidden_state"))
            .unwrap()
            .unwrap();
        let s = &px.shape;
        let pixels = Tensor::<Cpu, 4>::from_data(
            TensorData::new(px.data.clone(), [s[0], s[1], s[2], s[3]]),
            &device,
        );
        let got = model.vision.forward(pixels).unwrap();
        assert_eq!(got.dims().to_vec(), want.shape, "{case}");
        let d = max_abs_diff(&floats(got), &want.data);
        eprintln!("{case} {s:?}: max |Δ| {d:e}");
        assert!(d < 1e-4, "{case}: {d}");
    }
    // Sides must be whole patches.
    let bad: Tensor<Cpu, 4> = Tensor::zeros([1, 3, 30, 28], &device);
    let err = model.vision.forward(bad).unwrap_err().to_string();
    assert!(err.contains("whole 7 px patches"), "{err}");
}

#[test]
fn a_checkpoint_mixing_key_layouts_is_refused() {
    use vlm::internvl::load::key_names;
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let err = key_names(&names(&[
        "model.vision_tower.embeddings.cls_token",
        "language_model.model.norm.weight",
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("mixes layouts"), "{err}");
    let err = key_names(&names(&["encoder.layer.0.lambda_1"])).unwrap_err();
    assert!(
        err.to_string()
            .contains("missing tensors: an InternVL vision tower"),
        "{err}"
    );
}

/// InternVL3-8B's configuration as transformers' config classes write it (the fixture script's
/// `internvl3_8b_config`) parses to InternViT-300M and Qwen2.5-7B's shapes.
#[test]
fn an_internvl3_8b_config_parses_to_its_shapes() {
    use vlm::llama::DecoderFamily;
    let cfg =
        vlm::internvl::InternVlConfig::from_file(&fixture("internvl3-8b-config.json")).unwrap();
    let v = &cfg.vision;
    assert_eq!(
        (
            v.hidden_size,
            v.num_hidden_layers,
            v.num_attention_heads,
            v.image_size,
            v.patch_size
        ),
        (1024, 24, 16, 448, 14)
    );
    let t = &cfg.text;
    assert_eq!(t.family, DecoderFamily::Qwen2);
    assert_eq!(
        (
            t.hidden_size,
            t.num_hidden_layers,
            t.num_attention_heads,
            t.num_key_value_heads
        ),
        (3584, 28, 28, 4)
    );
    assert_eq!(
        (t.intermediate_size, t.head_dim, t.rope_theta),
        (18944, 128, 1e6)
    );
    assert!(!t.tie_word_embeddings);
    assert_eq!((cfg.tokens_per_tile(), cfg.shuffled_width()), (256, 4096));
    assert_eq!(cfg.image_token_id, 151667);
}

/// A chat turn with two images, as transformers makes it (fixtures' chat.json and
/// chat.safetensors): the template renders the same text, the tiles are the PIL processor's
/// bytes, each image marker expands to <img> + 4 tokens a tile + </img> as InternVLProcessor
/// does, and the last logits and 8 greedy tokens match.
#[test]
fn a_chat_turn_with_two_images_is_built_and_answered_as_transformers_does() {
    let device = cpu_device();
    for name in MODELS {
        let m = vlm::internvl::open::<Cpu>(&fixture(name), &device).unwrap();
        let chat: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture(name).join("chat.json")).unwrap(),
        )
        .unwrap();
        let text = m
            .template
            .prompt_with_images(Some("w7 w8"), 2, "w9 w10 w11")
            .unwrap();
        assert_eq!(
            text,
            chat["text"].as_str().unwrap(),
            "{name}: rendered prompt"
        );

        let mut io = Io(SafeTensors::open(&fixture(name).join("chat.safetensors")).unwrap());
        let (_, counts) = io.ids("num_patches");
        let (_, want_pixels) = io.floats("pixel_values");
        let mut pixels = Vec::new();
        let mut tiles = Vec::new();
        for (w, h) in [(120, 40), (20, 20)] {
            let t = m.processor.process(&common::pattern(w, h), name).unwrap();
            pixels.extend(t.pixels);
            tiles.push(t.count);
        }
        let counts: Vec<usize> = counts.iter().map(|&c| c as usize).collect();
        assert_eq!(tiles, counts, "{name}: tiles per image");
        let d = max_abs_diff(&pixels, &want_pixels);
        assert!(d < 1e-5, "{name}: tiles differ by {d}");

        let ids = m.prompt_ids(&text, &tiles).unwrap();
        let (_, want_ids) = io.ids("prompt_ids");
        let ids: Vec<i64> = ids.iter().map(|&t| t as i64).collect();
        assert_eq!(ids, want_ids, "{name}: prompt ids");

        let total = tiles.iter().sum::<usize>();
        let pixels =
            Tensor::<Cpu, 4>::from_data(TensorData::new(pixels, [total, 3, 28, 28]), &device);
        let n = ids.len();
        let embeds = m.model.embed(&ids, [1, n], Some(pixels), &device).unwrap();
        let last = floats(
            m.model
                .lm
                .forward_last(embeds.clone(), &Mask::all(1, n), None),
        );
        let (_, want_last) = io.floats("last_logits");
        let d = max_abs_diff(&last, &want_last);
        assert!(d < 1e-4, "{name}: last logits differ by {d}");
        let (_, want) = io.ids("greedy_tokens");
        let limits = Limits {
            max_new: want.len(),
            min_new: want.len(),
            stop_tokens: m.stop_tokens.clone(),
        };
        let prompt: Vec<u32> = ids.iter().map(|&t| t as u32).collect();
        let got = generate_from_embeds(
            &m.model.lm,
            embeds,
            &prompt,
            &limits,
            &Sampling::default(),
            |_| true,
            &device,
        );
        let want: Vec<u32> = want.iter().map(|&t| t as u32).collect();
        assert_eq!(got, want, "{name}: greedy tokens");
    }
}

#[test]
fn image_markers_and_images_must_pair_up() {
    let m = vlm::internvl::open::<Cpu>(&fixture(MODELS[0]), &cpu_device()).unwrap();
    let text = m.template.prompt_with_images(None, 2, "w9").unwrap();
    let err = m.prompt_ids(&text, &[1]).unwrap_err();
    assert!(
        err.to_string()
            .contains("2 image marker(s) (<IMG_CONTEXT>) but 1 image(s)"),
        "{err}"
    );
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
use common::on_gpu;

#[cfg(feature = "wgpu")]
#[test]
#[ignore = "needs a wgpu adapter (lavapipe: scripts/test.sh runs it)"]
fn wgpu_matches_transformers() {
    on_gpu("wgpu", || {
        let device = vlm::device::wgpu_device(0);
        for name in MODELS {
            check_logits::<burn::backend::Wgpu>(name, &device, 1e-4);
        }
    });
}

/// CUDA multiplies f32 on TF32 tensor cores (10-bit mantissa): logits within about 1e-3.
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA GPU: cargo test -p vlm --features cuda --test internvl_parity -- --ignored cuda"]
fn cuda_matches_transformers() {
    on_gpu("cuda", || {
        let device = vlm::device::cuda_device(0);
        for name in MODELS {
            check_logits::<burn::backend::Cuda>(name, &device, 5e-3);
        }
    });
}

/// `--half` on CUDA: the BF16 checkpoint's weights stay in half precision (f16) on the GPU and
/// the logits stay near transformers' (f16 arithmetic: within 5e-2). Its own process, as a
/// device's dtype is fixed at its first tensor.
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA GPU and its own process: cargo test -p vlm --features cuda --test internvl_parity -- --ignored cuda_half"]
fn cuda_half_keeps_weights_in_half_precision() {
    type H = burn::backend::Cuda<half::f16>;
    vlm::device::set_half("cuda".parse().unwrap()).unwrap();
    on_gpu("cuda", || {
        let device = vlm::device::cuda_device(0);
        let model = load::<H>(MODELS[0], &device);
        assert_eq!(
            model.lm.lm_head.weight.val().dtype(),
            burn::tensor::DType::F16,
            "weights stay in half precision on the GPU"
        );
        check_logits::<H>(MODELS[0], &device, 5e-2);
    });
}

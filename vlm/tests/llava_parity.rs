//! Parity with transformers' LlavaForConditionalGeneration on tiny random checkpoints in the
//! three key layouts (fixtures/make_llava.py): a batch of two left-padded prompts, the first with
//! two images (as a Chain-of-Image prompt), every vision hidden state, and greedy generation.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use vlm::device::{cpu_device, Cpu};
use vlm::llama::generate::{generate_from_embeds, Limits, Sampling};
use vlm::llama::Mask;
use vlm::llava::{from_hf_dir, LlavaError};
use vlm::weights::safetensors::{read_i64, SafeTensors};
use vlm::weights::TensorSource;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct Io(SafeTensors);

impl Io {
    fn open() -> Self {
        Io(SafeTensors::open(&fixtures().join("llava-io.safetensors")).unwrap())
    }
    fn ids(&mut self, name: &str) -> (Vec<usize>, Vec<i64>) {
        read_i64(&mut self.0, name).unwrap().unwrap()
    }
    fn floats(&mut self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let t = self.0.read(name).unwrap().unwrap();
        (t.shape, t.data)
    }
    fn pixels(&mut self, images: std::ops::Range<usize>) -> Tensor<Cpu, 4> {
        self.pixels_on::<Cpu>(images, &cpu_device())
    }
    fn pixels_on<B: Backend>(
        &mut self,
        images: std::ops::Range<usize>,
        device: &B::Device,
    ) -> Tensor<B, 4> {
        let (shape, data) = self.floats("pixel_values");
        let per = shape[1] * shape[2] * shape[3];
        let part = data[images.start * per..images.end * per].to_vec();
        Tensor::from_data(
            TensorData::new(part, [images.len(), shape[1], shape[2], shape[3]]),
            device,
        )
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Logits of the whole batch, compared where the attention mask is 1.
fn check(name: &str, reference: &str, tol: f32) {
    check_on::<Cpu>(name, reference, tol, &cpu_device());
}

fn check_on<B: Backend>(name: &str, reference: &str, tol: f32, device: &B::Device) {
    let (_, model) = from_hf_dir::<B>(&fixtures().join(name), device).unwrap();
    let mut io = Io::open();
    let (shape, ids) = io.ids("input_ids");
    let (_, mask) = io.ids("attention_mask");
    let (_, want) = io.floats(reference);
    let [b, s] = [shape[0], shape[1]];
    let got = model
        .forward(
            &ids,
            [b, s],
            &Mask::from_ones(b, s, &mask),
            Some(io.pixels_on::<B>(0..3, device)),
            None,
        )
        .unwrap()
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap();
    let v = got.len() / (b * s);
    let mut worst = 0.0f32;
    for (p, &m) in mask.iter().enumerate() {
        if m == 1 {
            worst = worst.max(max_abs_diff(
                &got[p * v..(p + 1) * v],
                &want[p * v..(p + 1) * v],
            ));
        }
    }
    eprintln!(
        "{name} on {}: logits within {worst}",
        std::any::type_name::<B>()
    );
    assert!(worst < tol, "{name}: logits differ by {worst}");
}

#[test]
fn transformers_5_layout_matches() {
    check("tiny-llava", "logits", 1e-4);
}

#[test]
fn transformers_4_layout_and_config_match() {
    check("tiny-llava-4x", "logits", 1e-4);
}

#[test]
fn llava_hf_layout_sharded_f16_matches() {
    check("tiny-llava-hf-f16", "logits_f16", 1e-4);
}

#[test]
fn vision_hidden_states_match() {
    let (cfg, model) = from_hf_dir::<Cpu>(&fixtures().join("tiny-llava"), &cpu_device()).unwrap();
    let mut io = Io::open();
    let out = model.vision.forward(io.pixels(0..3));
    assert_eq!(out.hidden_states.len(), cfg.vision.num_hidden_layers + 1);
    for (i, h) in out.hidden_states.iter().enumerate() {
        let (_, want) = io.floats(&format!("vision_hidden_{i}"));
        let d = max_abs_diff(&h.clone().into_data().to_vec::<f32>().unwrap(), &want);
        assert!(d < 1e-4, "vision hidden state {i} differs by {d}");
    }
    let (_, pooled) = io.floats("pooled");
    let d = max_abs_diff(&out.pooled.into_data().to_vec::<f32>().unwrap(), &pooled);
    assert!(d < 1e-4, "pooled output differs by {d}");
}

#[test]
fn greedy_tokens_with_two_images_match() {
    let (cfg, model) = from_hf_dir::<Cpu>(&fixtures().join("tiny-llava"), &cpu_device()).unwrap();
    let mut io = Io::open();
    let (_, prompt) = io.ids("greedy_prompt");
    let (_, want) = io.ids("greedy_tokens");
    let embeds = model
        .embed(
            &prompt,
            [1, prompt.len()],
            Some(io.pixels(0..2)),
            &cpu_device(),
        )
        .unwrap();
    let ids: Vec<u32> = prompt.iter().map(|&t| t as u32).collect();
    let limits = Limits {
        max_new: want.len(),
        min_new: want.len(),
        stop_tokens: cfg.text.eos_token_ids.clone(),
    };
    let got = generate_from_embeds(
        &model.lm,
        embeds,
        &ids,
        &limits,
        &Sampling::default(),
        |_| true,
        &cpu_device(),
    );
    let want: Vec<u32> = want.iter().map(|&t| t as u32).collect();
    assert_eq!(got, want);
}

#[test]
fn image_tokens_and_images_must_agree() {
    let (_, model) = from_hf_dir::<Cpu>(&fixtures().join("tiny-llava"), &cpu_device()).unwrap();
    let mut io = Io::open();
    let (_, prompt) = io.ids("greedy_prompt");
    let n = prompt.len();
    let err = model
        .embed(&prompt, [1, n], Some(io.pixels(0..1)), &cpu_device())
        .unwrap_err();
    assert_eq!(
        err,
        LlavaError::ImageTokens {
            tokens: 50,
            images: 1,
            features: 25,
            per_image: 25
        }
    );
    assert!(err.to_string().contains("50 image tokens but 1 image(s)"));
    let err = model
        .embed(&prompt, [1, n], None, &cpu_device())
        .unwrap_err();
    assert!(matches!(err, LlavaError::ImageTokens { images: 0, .. }));
    let small: Tensor<Cpu, 4> = Tensor::zeros([2, 3, 20, 20], &cpu_device());
    let err = model
        .embed(&prompt, [1, n], Some(small), &cpu_device())
        .unwrap_err();
    assert!(err.to_string().contains("30×30"), "{err}");
}

/// The F16 checkpoint on CUDA, in f32 (TF32 tensor cores) and, in another process (a device's
/// dtype is fixed at its first tensor), in half precision throughout. Both are ignored by a
/// plain `cargo test` and fail with the probe's error without a GPU; run each on its own.
#[cfg(feature = "cuda")]
fn on_cuda(check: impl FnOnce()) {
    if let Err(e) = vlm::device::probe("cuda".parse().unwrap()) {
        panic!("no cuda device: {e}");
    }
    check();
}

#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA GPU, apart from cuda_half: cargo test -p vlm --features cuda --test llava_parity -- --ignored cuda_f32"]
fn cuda_f32_matches_transformers() {
    on_cuda(|| {
        let device = vlm::device::cuda_device(0);
        check_on::<burn::backend::Cuda>("tiny-llava-hf-f16", "logits_f16", 5e-3, &device);
    });
}

#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA GPU and its own process: cargo test -p vlm --features cuda --test llava_parity -- --ignored cuda_half"]
fn cuda_half_matches_transformers() {
    type H = burn::backend::Cuda<half::f16>;
    vlm::device::set_half("cuda".parse().unwrap()).unwrap();
    on_cuda(|| {
        let device = vlm::device::cuda_device(0);
        let (_, model) = from_hf_dir::<H>(&fixtures().join("tiny-llava-hf-f16"), &device).unwrap();
        assert_eq!(
            model.lm.lm_head.weight.val().dtype(),
            burn::tensor::DType::F16,
            "weights stay in half precision on the GPU"
        );
        check_on::<H>("tiny-llava-hf-f16", "logits_f16", 5e-2, &device);
    });
}

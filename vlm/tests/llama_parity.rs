//! Parity with transformers' LlamaForCausalLM on the tiny fixtures (see tests/fixtures), on
//! the CPU and, in builds with those features, on wgpu and CUDA.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use vlm::device::{cpu_device, Cpu};
use vlm::llama::load::from_hf_dir;
use vlm::llama::{KvCache, Llama, Mask};
use vlm::weights::safetensors::{read_i64, SafeTensors};
use vlm::weights::TensorSource;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

struct Io(SafeTensors);

impl Io {
    fn open(dir: &Path) -> Self {
        Io(SafeTensors::open(&dir.join("io.safetensors")).unwrap())
    }
    fn ids(&mut self, name: &str) -> (Vec<usize>, Vec<i64>) {
        read_i64(&mut self.0, name).unwrap().unwrap()
    }
    fn floats(&mut self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let t = self.0.read(name).unwrap().unwrap();
        (t.shape, t.data)
    }
}

fn ids_tensor<B: Backend>(shape: &[usize], ids: &[i64], device: &B::Device) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), [shape[0], shape[1]]), device)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn logits<B: Backend>(model: &Llama<B>, shape: &[usize], ids: &[i64], mask: &Mask) -> Vec<f32> {
    let device = model.lm_head.weight.device();
    model
        .forward(ids_tensor(shape, ids, &device), mask, None)
        .into_data()
        .to_vec::<f32>()
        .unwrap()
}

/// Greedy decoding, with the KV cache (one token per step) or recomputing everything.
fn greedy<B: Backend>(model: &Llama<B>, prompt: &[i64], n: usize, use_cache: bool) -> Vec<i64> {
    let device = model.lm_head.weight.device();
    let mut all = prompt.to_vec();
    let mut cache = KvCache::new(model.num_layers());
    let mut out = Vec::new();
    for step in 0..n {
        let input: Vec<i64> = if use_cache && step > 0 {
            vec![*all.last().unwrap()]
        } else {
            all.clone()
        };
        let cache_ref = if use_cache { Some(&mut cache) } else { None };
        let mask = Mask::all(1, all.len());
        let logits = model.forward(
            ids_tensor(&[1, input.len()], &input, &device),
            &mask,
            cache_ref,
        );
        let [_, s, v] = logits.dims();
        let last = logits
            .slice([0..1, s - 1..s, 0..v])
            .reshape([v])
            .argmax(0)
            .into_data()
            .convert::<i64>()
            .to_vec::<i64>()
            .unwrap()[0];
        all.push(last);
        out.push(last);
    }
    out
}

/// `tol`: largest allowed logit difference (1e-4 in f32; CUDA multiplies f32 on TF32 tensor
/// cores, whose 10-bit mantissa gives about 1e-3).
fn check_model<B: Backend>(name: &str, device: &B::Device, tol: f32) {
    let dir = fixture(name);
    let (cfg, model) = from_hf_dir::<B>(&dir, device).unwrap();
    let mut io = Io::open(&dir);

    let (shape, ids) = io.ids("input_ids");
    let (_, expected) = io.floats("logits");
    let got = logits(&model, &shape, &ids, &Mask::all(shape[0], shape[1]));
    let diff = max_abs_diff(&got, &expected);
    assert!(diff < tol, "{name}: logits differ by {diff}");

    // Left padding: real positions match transformers; each row matches the row alone.
    let (pshape, pids) = io.ids("padded_ids");
    let (_, pmask) = io.ids("padded_mask");
    let (_, pexpected) = io.floats("padded_logits");
    let mask = Mask::from_ones(pshape[0], pshape[1], &pmask);
    let got = logits(&model, &pshape, &pids, &mask);
    let v = cfg.vocab_size;
    // Row 1 is left-padded: count its leading zeros.
    let s = pshape[1];
    let pad = pmask[s..].iter().take_while(|&&m| m == 0).count();
    for (b, start) in [(0, 0), (1, pad)] {
        let row = |x: &[f32]| x[(b * s + start) * v..(b + 1) * s * v].to_vec();
        let d = max_abs_diff(&row(&got), &row(&pexpected));
        assert!(d < tol, "{name}: padded row {b} differs by {d}");
    }
    let alone_ids = &pids[s + pad..2 * s];
    let alone = logits(
        &model,
        &[1, alone_ids.len()],
        alone_ids,
        &Mask::all(1, alone_ids.len()),
    );
    let d = max_abs_diff(&alone, &got[(s + pad) * v..2 * s * v]);
    assert!(
        d < tol,
        "{name}: batched left-padded row differs from the row alone by {d}"
    );

    let (_, prompt) = io.ids("greedy_prompt");
    let (_, tokens) = io.ids("greedy_tokens");
    assert_eq!(
        greedy(&model, &prompt, tokens.len(), false),
        tokens,
        "{name}: greedy without cache"
    );
    assert_eq!(
        greedy(&model, &prompt, tokens.len(), true),
        tokens,
        "{name}: greedy with the KV cache"
    );
}

/// The KV cache past its first buffer (the CPU writes keys and values in place into buffers
/// that double from 256 rows): a 250-token prefill, then 40 single tokens, each step's logits
/// equal to one forward pass over the whole sequence.
#[test]
fn cached_steps_past_the_first_buffer_equal_full_passes() {
    let device = cpu_device();
    let (_, model) = from_hf_dir::<Cpu>(&fixture("tiny-llama"), &device).unwrap();
    let ids: Vec<i64> = (0..290).map(|i| (i * 37 % 120 + 3) as i64).collect();
    let mut cache = KvCache::new(model.num_layers());
    let prefill = 250;
    for end in prefill..=ids.len() {
        let start = if end == prefill { 0 } else { end - 1 };
        let step = &ids[start..end];
        let cached = model.forward(
            ids_tensor(&[1, step.len()], step, &device),
            &Mask::all(1, end),
            Some(&mut cache),
        );
        let full = model.forward(
            ids_tensor(&[1, end], &ids[..end], &device),
            &Mask::all(1, end),
            None,
        );
        let last = |t: Tensor<Cpu, 3>| {
            let [_, s, v] = t.dims();
            t.slice([0..1, s - 1..s, 0..v])
                .into_data()
                .to_vec::<f32>()
                .unwrap()
        };
        let d = max_abs_diff(&last(cached), &last(full));
        assert!(
            d < 1e-4,
            "step ending at {end}: cached logits differ by {d}"
        );
    }
}

#[test]
fn untied_gqa_f32_matches_transformers() {
    check_model::<Cpu>("tiny-llama", &cpu_device(), 1e-4);
}

#[test]
fn tied_embeddings_match_transformers() {
    check_model::<Cpu>("tiny-llama-tied", &cpu_device(), 1e-4);
}

#[test]
fn bf16_stored_weights_match_transformers() {
    check_model::<Cpu>("tiny-llama-bf16", &cpu_device(), 1e-4);
}

#[test]
fn qwen2_with_qkv_biases_matches_transformers() {
    check_model::<Cpu>("tiny-qwen2", &cpu_device(), 1e-4);
}

#[test]
fn missing_and_unexpected_tensors_are_named() {
    use vlm::llama::load::{from_source, KeyLayout};
    use vlm::weights::{HostTensor, WeightError};
    let dir = fixture("tiny-llama");
    let cfg = vlm::llama::LlamaConfig::from_file(&dir.join("config.json")).unwrap();

    struct Edited {
        inner: SafeTensors,
        drop: &'static str,
        extra: &'static str,
    }
    impl TensorSource for Edited {
        fn names(&self) -> Vec<String> {
            let mut n: Vec<String> = self
                .inner
                .names()
                .into_iter()
                .filter(|n| n != self.drop)
                .collect();
            if !self.extra.is_empty() {
                n.push(self.extra.to_string());
            }
            n
        }
        fn read(&mut self, name: &str) -> Result<Option<HostTensor>, WeightError> {
            if name == self.drop {
                return Ok(None);
            }
            if name == self.extra {
                return Ok(Some(HostTensor {
                    shape: vec![1],
                    data: vec![0.0],
                }));
            }
            self.inner.read(name)
        }
    }
    let open = || SafeTensors::open(&dir.join("model.safetensors")).unwrap();
    let mut missing = Edited {
        inner: open(),
        drop: "model.layers.1.mlp.up_proj.weight",
        extra: "",
    };
    let err =
        from_source::<Cpu>(&cfg, &KeyLayout::default(), &mut missing, &cpu_device()).unwrap_err();
    assert!(
        err.to_string()
            .contains("missing tensors: model.layers.1.mlp.up_proj.weight"),
        "{err}"
    );
    let mut extra = Edited {
        inner: open(),
        drop: "",
        extra: "model.layers.9.bogus",
    };
    let err =
        from_source::<Cpu>(&cfg, &KeyLayout::default(), &mut extra, &cpu_device()).unwrap_err();
    assert!(
        err.to_string()
            .contains("unexpected tensors (not used by the model): model.layers.9.bogus"),
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
        for name in ["tiny-llama", "tiny-llama-tied", "tiny-qwen2"] {
            check_model::<burn::backend::Wgpu>(name, &device, 1e-4);
        }
    });
}

#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA GPU: cargo test -p vlm --features cuda --test llama_parity -- --ignored cuda"]
fn cuda_matches_transformers() {
    on_gpu("cuda", || {
        let device = vlm::device::cuda_device(0);
        for name in ["tiny-llama", "tiny-llama-tied", "tiny-qwen2"] {
            check_model::<burn::backend::Cuda>(name, &device, 5e-3);
        }
    });
}

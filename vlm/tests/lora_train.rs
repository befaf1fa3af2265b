//! LoRA fine-tuning against PyTorch + PEFT (fixtures/make_lora_train.py): the loss, every LoRA
//! and projector gradient, and the weights after one and two AdamW steps with clipping, for a
//! plain adapter and an rsLoRA adapter with a trainable projector; PEFT adapters load and ours
//! export; a tiny model overfits; an interrupted run resumes exactly. The same for InternVL
//! (fixtures/make_internvl_lora.py: cases `ivl` and `ivl-rs`, a projector with its LayerNorm).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::backend::Autodiff;
use burn::tensor::backend::{AutodiffBackend, Backend};
use std::sync::Mutex;

use burn::tensor::Tensor;
use vlm::device::{cpu_device, Cpu};
use vlm::llava::from_hf_dir;
use vlm::lora::{read_adapter, AdapterFiles, LoraConfig};
use vlm::train::adamw::AdamW;
use vlm::train::loss::answer_loss;
use vlm::train::run::one_step;
use vlm::train::trainee::ParamMut;
use vlm::train::{train, Batch, Control, Example, Progress, Quiet, Start, TrainOptions, Trainee};
use vlm::weights::safetensors::{read_i64, SafeTensors};
use vlm::weights::{HostTensor, TensorSource};

mod common;

type Ad = Autodiff<Cpu>;

/// Adapter initialisation and dropout draw from the backend's one global generator: tests that
/// train take turns, or their draws interleave (the server runs one job at a time).
static RNG: Mutex<()> = Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct Reference {
    st: SafeTensors,
    case: &'static str,
}

impl Reference {
    fn open(case: &'static str) -> Self {
        let file = match case {
            "vision" => "vision-train.safetensors",
            "ivl" | "ivl-rs" => "internvl-lora-train.safetensors",
            _ => "lora-train.safetensors",
        };
        Reference {
            st: SafeTensors::open(&fixtures().join(file)).unwrap(),
            case,
        }
    }
    fn ids(&mut self, name: &str) -> Vec<i64> {
        read_i64(&mut self.st, &format!("{}.{name}", self.case))
            .unwrap()
            .unwrap()
            .1
    }
    fn floats(&mut self, name: &str) -> HostTensor {
        self.st
            .read(&format!("{}.{name}", self.case))
            .unwrap()
            .unwrap_or_else(|| panic!("fixture has no {}.{name}", self.case))
    }
    fn scalar(&mut self, name: &str) -> f64 {
        self.floats(name).data[0] as f64
    }
    /// The PEFT tensors under `<case>.<stage>.`.
    fn stage(&mut self, stage: &str) -> BTreeMap<String, HostTensor> {
        let prefix = format!("{}.{stage}.", self.case);
        let names: Vec<String> = self
            .st
            .names()
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        names
            .into_iter()
            .map(|n| {
                let t = self.st.read(&n).unwrap().unwrap();
                (n[prefix.len()..].to_string(), t)
            })
            .collect()
    }
    /// The batch as examples (padding stripped; collate pads again).
    fn examples(&mut self) -> Vec<Example> {
        let ids = self.ids("input_ids");
        let labels = self.ids("labels");
        let mask = self.ids("attention_mask");
        let pixels = self.floats("pixel_values");
        // Tiles per sample (InternVL's fixture says; LLaVA's samples have one image each).
        let tiles: Vec<usize> = match read_i64(&mut self.st, &format!("{}.tiles", self.case)) {
            Ok(Some((_, t))) => t.into_iter().map(|n| n as usize).collect(),
            _ => vec![1, 1],
        };
        let per_tile = pixels.data.len() / tiles.iter().sum::<usize>();
        let mut tile_rows = pixels.data.chunks(per_tile).map(<[f32]>::to_vec);
        let seq = ids.len() / 2;
        (0..2)
            .map(|b| {
                let n = mask[b * seq..(b + 1) * seq]
                    .iter()
                    .filter(|&&m| m == 1)
                    .count();
                Example {
                    ids: ids[b * seq..b * seq + n].to_vec(),
                    labels: labels[b * seq..b * seq + n].to_vec(),
                    images: tile_rows.by_ref().take(tiles[b]).collect(),
                }
            })
            .collect()
    }
}

fn options(case: &str) -> TrainOptions {
    let lora = if case == "plain" || case == "ivl" {
        LoraConfig {
            rank: 4,
            alpha: 8.0,
            ..Default::default()
        }
    } else {
        LoraConfig {
            rank: 2,
            alpha: 4.0,
            use_rslora: true,
            ..Default::default()
        }
    };
    TrainOptions {
        learning_rate: 1e-2,
        warmup_ratio: 0.0,
        weight_decay: 0.1,
        max_grad_norm: 0.5,
        batch_size: 2,
        train_projector: case.ends_with("rs"),
        lora,
        ..Default::default()
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().unwrap()
}

/// The base model with the fixture's initial adapter, on backend `B` with autodiff.
fn trainee<B: Backend>(
    case: &'static str,
    r: &mut Reference,
    device: &B::Device,
) -> (Trainee<Autodiff<B>>, TrainOptions) {
    let base = if case.starts_with("ivl") {
        let (_, m) = vlm::internvl::load::from_hf_dir::<Autodiff<B>>(
            &fixtures().join("tiny-internvl"),
            device,
        )
        .unwrap();
        Trainee::InternVl(m)
    } else {
        let (_, m) = from_hf_dir::<Autodiff<B>>(&fixtures().join("tiny-llava"), device).unwrap();
        Trainee::Llava(m)
    };
    let opts = options(case);
    let mut model = base.prepare(&opts, device).unwrap();
    let files = AdapterFiles {
        config: opts.lora.clone(),
        modules_to_save: vec![],
        tensors: r.stage("init"),
        language_model_only: true,
        base_model: None,
    };
    let n = model.load_adapter(files, device).unwrap();
    assert_eq!(n, 14, "2 layers × 7 projections");
    (model, opts)
}

fn check_against<B: AutodiffBackend>(
    model: &Trainee<B>,
    opts: &TrainOptions,
    expected: BTreeMap<String, HostTensor>,
    what: &str,
    tol: f32,
) {
    let ours = model.adapter_files(&opts.lora).unwrap().tensors;
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}: same tensors"
    );
    let mut worst = 0.0f32;
    for (k, t) in &expected {
        assert_eq!(ours[k].shape, t.shape, "{what}: {k}");
        worst = worst.max(max_diff(&ours[k].data, &t.data));
    }
    eprintln!("{what}: max |Δ| = {worst:e}");
    assert!(worst < tol, "{what}: max |Δ| = {worst}");
}

/// Loss, gradients and two optimizer steps against PEFT, within `tol`.
fn parity<B: Backend>(case: &'static str, device: &B::Device, tol: f32) {
    let _rng = rng_lock();
    let device = device.clone();
    let mut r = Reference::open(case);
    let (mut model, opts) = trainee::<B>(case, &mut r, &device);
    let examples = r.examples();

    // Loss and gradients before any step.
    let batch = Batch::collate(&[&examples[0], &examples[1]], 0);
    assert_eq!(
        batch.ids,
        r.ids("input_ids"),
        "collate pads like the fixture"
    );
    let hidden = model.hidden(&batch, &device).unwrap();
    let loss = answer_loss(hidden.clone(), &model.lm().lm_head, &batch.labels).unwrap();
    let got = values(loss.clone())[0] as f64;
    let want = r.scalar("loss");
    eprintln!("{case}: loss {got} vs {want}");
    assert!((got - want).abs() < tol as f64, "loss {got} vs {want}");
    let logits = values(model.lm().lm_head.forward(hidden));
    let expected = r.floats("logits").data;
    let mask = r.ids("attention_mask");
    let vocab = expected.len() / mask.len();
    let worst = mask
        .iter()
        .enumerate()
        .filter(|(_, &m)| m == 1)
        .map(|(i, _)| {
            max_diff(
                &logits[i * vocab..(i + 1) * vocab],
                &expected[i * vocab..(i + 1) * vocab],
            )
        })
        .fold(0.0, f32::max);
    assert!(worst < tol, "logits differ by {worst}");
    let grads = loss.backward();
    let want_grads = r.stage("grad");
    let mut worst = 0.0f32;
    let mut seen = 0;
    for (name, p) in model.trainables() {
        let g = match p {
            ParamMut::Two(p) => values(p.val().grad(&grads).expect(&name).transpose()),
            ParamMut::One(p) => values(p.val().grad(&grads).expect(&name)),
        };
        worst = worst.max(max_diff(&g, &want_grads[&name].data));
        seen += 1;
    }
    assert_eq!(
        seen,
        want_grads.len(),
        "every trainable tensor has a gradient"
    );
    eprintln!("{case}: gradients max |Δ| = {worst:e}");
    assert!(worst < tol, "gradients differ by {worst}");

    // Two optimizer steps with clipping (the second uses the first's moments).
    let mut opt = AdamW::new(opts.beta1, opts.beta2, opts.eps, opts.weight_decay);
    let group: Vec<&[usize]> = vec![&[0, 1]];
    let (l1, n1, _) = one_step(
        &mut model,
        &mut opt,
        &examples,
        &group,
        &opts,
        0,
        opts.learning_rate,
        &device,
    )
    .unwrap();
    assert!((l1 - want).abs() < tol as f64);
    assert!(
        (n1 - r.scalar("grad_norm")).abs() < tol as f64,
        "grad norm {n1}"
    );
    check_against(
        &model,
        &opts,
        r.stage("after"),
        &format!("{case}: after one step"),
        tol,
    );
    let (l2, n2, _) = one_step(
        &mut model,
        &mut opt,
        &examples,
        &group,
        &opts,
        1,
        opts.learning_rate,
        &device,
    )
    .unwrap();
    assert!(
        (l2 - r.scalar("loss2")).abs() < tol as f64,
        "second loss {l2}"
    );
    assert!(
        (n2 - r.scalar("grad_norm2")).abs() < tol as f64,
        "second grad norm {n2}"
    );
    check_against(
        &model,
        &opts,
        r.stage("after2"),
        &format!("{case}: after two steps"),
        tol,
    );
}

/// Stage 1 of the embedded default: no LoRA, the vision tower and projector trained in full,
/// against transformers (fixtures/make_vision_train.py): gradients, two steps.
fn vision_parity<B: Backend>(device: &B::Device, tol: f32) {
    let _rng = rng_lock();
    let mut r = Reference::open("vision");
    let (_, llava) = from_hf_dir::<Autodiff<B>>(&fixtures().join("tiny-llava"), device).unwrap();
    let opts = TrainOptions {
        learning_rate: 1e-2,
        warmup_ratio: 0.0,
        weight_decay: 0.1,
        max_grad_norm: 0.5,
        batch_size: 2,
        use_lora: false,
        train_projector: true,
        train_vision: true,
        ..Default::default()
    };
    let mut model = Trainee::Llava(llava).prepare(&opts, device).unwrap();
    let compare =
        |model: &Trainee<Autodiff<B>>, stage: BTreeMap<String, HostTensor>, what: &str| {
            let ours = model.adapter_files(&opts.lora).unwrap();
            assert!(ours.modules_to_save.contains(&"vision_tower".to_string()));
            let mut worst = 0.0f32;
            for (k, t) in &stage {
                let mine = ours
                    .tensors
                    .get(k)
                    .unwrap_or_else(|| panic!("{what}: no {k}"));
                assert_eq!(mine.shape, t.shape, "{what}: {k}");
                // The key projection's bias has no gradient in exact arithmetic (softmax
                // ignores a shift shared by all keys): AdamW normalises its rounding noise into
                // steps, different between any two implementations. Its gradient is compared.
                if what != "vision: initial values" && k.ends_with("k_proj.bias") {
                    continue;
                }
                worst = worst.max(max_diff(&mine.data, &t.data));
            }
            eprintln!("{what}: max |Δ| = {worst:e}");
            assert!(worst < tol, "{what}: max |Δ| = {worst}");
        };
    compare(&model, r.stage("init"), "vision: initial values");
    let examples = r.examples();
    let batch = Batch::collate(&[&examples[0], &examples[1]], 0);
    let hidden = model.hidden(&batch, device).unwrap();
    let loss = answer_loss(hidden, &model.lm().lm_head, &batch.labels).unwrap();
    let want = r.scalar("loss");
    assert!((values(loss.clone())[0] as f64 - want).abs() < tol as f64);
    let grads = loss.backward();
    let want_grads = r.stage("grad");
    let mut worst = 0.0f32;
    let names: Vec<String> = model.trainables().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names.iter().collect::<std::collections::BTreeSet<_>>(),
        want_grads.keys().collect(),
        "the same tensors train"
    );
    for (name, p) in model.trainables() {
        let g = match p {
            ParamMut::Two(p) if name.ends_with("position_embedding.weight") => {
                values(p.val().grad(&grads).expect(&name))
            }
            ParamMut::Two(p) => values(p.val().grad(&grads).expect(&name).transpose()),
            ParamMut::One(p) => values(p.val().grad(&grads).expect(&name)),
        };
        worst = worst.max(max_diff(&g, &want_grads[&name].data));
    }
    eprintln!("vision: gradients max |Δ| = {worst:e}");
    assert!(worst < tol, "gradients differ by {worst}");
    let mut opt = AdamW::new(opts.beta1, opts.beta2, opts.eps, opts.weight_decay);
    let group: Vec<&[usize]> = vec![&[0, 1]];
    for (step, stage, loss_name, norm_name) in [
        (0, "after", "loss", "grad_norm"),
        (1, "after2", "loss2", "grad_norm2"),
    ] {
        let (l, n, _) = one_step(
            &mut model,
            &mut opt,
            &examples,
            &group,
            &opts,
            step,
            opts.learning_rate,
            device,
        )
        .unwrap();
        assert!(
            (l - r.scalar(loss_name)).abs() < tol as f64,
            "{loss_name} {l}"
        );
        assert!(
            (n - r.scalar(norm_name)).abs() < tol as f64,
            "{norm_name} {n}"
        );
        compare(&model, r.stage(stage), &format!("vision: {stage}"));
    }
    // The trained tower goes out and back in through the adapter files.
    let files = model.adapter_files(&opts.lora).unwrap();
    let (_, fresh) = from_hf_dir::<Autodiff<B>>(&fixtures().join("tiny-llava"), device).unwrap();
    let mut fresh = Trainee::Llava(fresh).prepare(&opts, device).unwrap();
    fresh.load_adapter(files.clone(), device).unwrap();
    let back = fresh.adapter_files(&opts.lora).unwrap();
    for (k, t) in files
        .tensors
        .iter()
        .filter(|(k, _)| k.contains("vision_tower"))
    {
        assert_eq!(back.tensors.get(k).map(|b| &b.data), Some(&t.data), "{k}");
    }
}

#[test]
fn stage_one_vision_training_matches_transformers() {
    vision_parity::<Cpu>(&cpu_device(), 1e-4);
}

#[test]
fn matches_peft_lora() {
    parity::<Cpu>("plain", &cpu_device(), 1e-4);
}

#[test]
fn internvl_matches_peft_lora() {
    parity::<Cpu>("ivl", &cpu_device(), 1e-4);
}

#[test]
fn internvl_matches_peft_rslora_with_trainable_projector() {
    parity::<Cpu>("ivl-rs", &cpu_device(), 1e-4);
}

#[test]
fn matches_peft_rslora_with_trainable_projector() {
    parity::<Cpu>("rs", &cpu_device(), 1e-4);
}

#[cfg(any(feature = "cuda", feature = "wgpu"))]
use common::on_gpu;

/// Training on CUDA: the same losses, gradients and steps (TF32 matmuls: 5e-3).
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA GPU: cargo test -p vlm --features cuda --test lora_train -- --ignored cuda"]
fn cuda_training_matches_peft() {
    on_gpu("cuda", || {
        let device = vlm::device::cuda_device(0);
        parity::<burn::backend::Cuda>("plain", &device, 5e-3);
        parity::<burn::backend::Cuda>("rs", &device, 5e-3);
        parity::<burn::backend::Cuda>("ivl-rs", &device, 5e-3);
    });
}

/// Training through the wgpu backend (scripts/test.sh, hence CI, runs it on Mesa's lavapipe).
#[cfg(feature = "wgpu")]
#[test]
#[ignore = "needs a wgpu adapter (lavapipe: scripts/test.sh runs it)"]
fn wgpu_training_matches_peft() {
    on_gpu("wgpu", || {
        let device = vlm::device::wgpu_device(0);
        parity::<burn::backend::Wgpu>("rs", &device, 1e-3);
        parity::<burn::backend::Wgpu>("ivl-rs", &device, 1e-3);
    });
}

/// Logits at real positions of the fixture batch for a model on the plain CPU backend.
fn batch_logits(model: &Trainee<Cpu>, r: &mut Reference) -> Vec<f32> {
    let ex = r.examples();
    let batch = Batch::collate(&[&ex[0], &ex[1]], 0);
    values(
        model
            .lm()
            .lm_head
            .forward(model.hidden(&batch, &cpu_device()).unwrap()),
    )
}

fn real_rows(logits: &[f32], mask: &[i64]) -> Vec<f32> {
    let vocab = logits.len() / mask.len();
    mask.iter()
        .enumerate()
        .filter(|(_, &m)| m == 1)
        .flat_map(|(i, _)| logits[i * vocab..(i + 1) * vocab].to_vec())
        .collect()
}

#[test]
fn peft_adapters_load_merge_and_export() {
    let device = cpu_device();
    let mut r = Reference::open("plain");
    let mask = r.ids("attention_mask");
    let expected = real_rows(&r.floats("logits").data, &mask);
    for dir in ["peft-adapter", "peft-adapter-rs"] {
        let files = read_adapter(&fixtures().join(dir)).unwrap();
        assert_eq!(files.config.rank, if dir == "peft-adapter" { 4 } else { 2 });
        let (_, llava) = from_hf_dir::<Cpu>(&fixtures().join("tiny-llava"), &device).unwrap();
        let mut model = Trainee::Llava(llava);
        assert_eq!(model.load_adapter(files, &device).unwrap(), 14);
        if dir != "peft-adapter" {
            continue;
        }
        let got = real_rows(&batch_logits(&model, &mut r), &mask);
        let d = max_diff(&got, &expected);
        assert!(d < 1e-4, "PEFT adapter logits differ by {d}");
        // Export, read back: same outputs; merged: same outputs.
        let out = tempfile::tempdir().unwrap();
        let files = model
            .adapter_files(&LoraConfig {
                rank: 4,
                alpha: 8.0,
                ..Default::default()
            })
            .unwrap();
        vlm::lora::write_adapter(out.path(), &files, "tiny-llava").unwrap();
        // For make_lora_train.py's check that PEFT loads our export.
        keep_for_peft("rust-adapter", "tiny-llava", &files, &model, &mut r);
        let (_, llava) = from_hf_dir::<Cpu>(&fixtures().join("tiny-llava"), &device).unwrap();
        let mut again = Trainee::Llava(llava);
        again
            .load_adapter(read_adapter(out.path()).unwrap(), &device)
            .unwrap();
        let d = max_diff(&real_rows(&batch_logits(&again, &mut r), &mask), &expected);
        assert!(d < 1e-4, "exported adapter differs by {d}");
        again.lm_mut().merge_lora();
        let d = max_diff(&real_rows(&batch_logits(&again, &mut r), &mask), &expected);
        assert!(d < 1e-4, "merged model differs by {d}");
    }
    // An adapter with a tensor this model has no place for is refused.
    let mut files = read_adapter(&fixtures().join("peft-adapter")).unwrap();
    files.tensors.insert(
        "base_model.model.model.vision_tower.encoder.layers.0.self_attn.q_proj.lora_A.weight"
            .into(),
        HostTensor {
            shape: vec![4, 32],
            data: vec![0.0; 128],
        },
    );
    let (_, llava) = from_hf_dir::<Cpu>(&fixtures().join("tiny-llava"), &device).unwrap();
    let err = Trainee::Llava(llava)
        .load_adapter(files, &device)
        .unwrap_err();
    assert!(err.to_string().contains("vision_tower"), "{err}");
}

/// With VLM_WRITE_FIXTURES set, writes our adapter and the fixture batch's logits under
/// `fixtures/<name>/` for the fixture script's check that PEFT loads it.
fn keep_for_peft(
    name: &str,
    base: &str,
    files: &AdapterFiles,
    model: &Trainee<Cpu>,
    r: &mut Reference,
) {
    if std::env::var_os("VLM_WRITE_FIXTURES").is_none() {
        return;
    }
    let keep = fixtures().join(name);
    vlm::lora::write_adapter(&keep, files, base).unwrap();
    let ex = r.examples();
    let batch = Batch::collate(&[&ex[0], &ex[1]], 0);
    let logits = batch_logits(model, r);
    let px = r.floats("pixel_values");
    vlm::weights::safetensors::write(
        &keep.join("expected.safetensors"),
        &[
            (
                "logits",
                &[2, batch.shape[1], logits.len() / batch.ids.len()],
                &logits,
            ),
            ("pixel_values", &px.shape, &px.data),
        ],
        &[
            ("input_ids", &batch.shape, &batch.ids),
            ("attention_mask", &batch.shape, &batch.attention),
        ],
    )
    .unwrap();
}

fn tiny_internvl(device: &burn::backend::flex::FlexDevice) -> Trainee<Cpu> {
    let dir = fixtures().join("tiny-internvl");
    Trainee::InternVl(
        vlm::internvl::load::from_hf_dir::<Cpu>(&dir, device)
            .unwrap()
            .1,
    )
}

/// PEFT's InternVL adapter (LoRA + the whole projector) gives PEFT's logits here; ours,
/// exported and read back, and merged, give the same (and, with VLM_WRITE_FIXTURES set, is
/// written for make_internvl_lora.py's check that PEFT loads it).
#[test]
fn internvl_peft_adapter_loads_merges_and_exports() {
    let device = cpu_device();
    let mut r = Reference::open("ivl-rs");
    let mask = r.ids("attention_mask");
    let expected = real_rows(&r.floats("logits").data, &mask);
    let files = read_adapter(&fixtures().join("peft-adapter-internvl")).unwrap();
    assert_eq!(files.modules_to_save, ["multi_modal_projector"]);
    let mut model = tiny_internvl(&device);
    assert_eq!(model.load_adapter(files.clone(), &device).unwrap(), 14);
    let d = max_diff(&real_rows(&batch_logits(&model, &mut r), &mask), &expected);
    assert!(d < 1e-4, "PEFT adapter logits differ by {d}");

    // Ours, from a model being trained (projector trainable) holding PEFT's values.
    let (mut trained, opts) = trainee::<Cpu>("ivl-rs", &mut r, &device);
    trained.load_adapter(files.clone(), &device).unwrap();
    let ours = trained.adapter_files(&opts.lora).unwrap();
    assert_eq!(
        ours.tensors.keys().collect::<Vec<_>>(),
        files.tensors.keys().collect::<Vec<_>>(),
        "the same tensors under the same keys as PEFT"
    );
    assert_eq!(ours.modules_to_save, files.modules_to_save);
    let out = tempfile::tempdir().unwrap();
    vlm::lora::write_adapter(out.path(), &ours, "tiny-internvl").unwrap();
    let mut again = tiny_internvl(&device);
    again
        .load_adapter(read_adapter(out.path()).unwrap(), &device)
        .unwrap();
    let d = max_diff(&real_rows(&batch_logits(&again, &mut r), &mask), &expected);
    assert!(d < 1e-4, "exported adapter differs by {d}");
    keep_for_peft(
        "rust-adapter-internvl",
        "tiny-internvl",
        &ours,
        &again,
        &mut r,
    );
    again.lm_mut().merge_lora();
    let d = max_diff(&real_rows(&batch_logits(&again, &mut r), &mask), &expected);
    assert!(d < 1e-4, "merged model differs by {d}");
    // The vision tower stays frozen for InternVL: asking to train it is refused by name.
    let err = tiny_internvl(&device)
        .prepare(
            &TrainOptions {
                train_vision: true,
                ..TrainOptions::default()
            },
            &device,
        )
        .unwrap_err();
    assert_eq!(err.field, "train_vision");
}

/// Four QA pairs about two images for the overfit and resume tests: the same two questions
/// have different answers for each image, so the model must read the image.
fn toy_examples(r: &mut Reference) -> Vec<Example> {
    let base = r.examples();
    let img = |i: usize| base[i].images.clone();
    let prompt = |q: i64| {
        let mut p = vec![1, 30];
        p.extend(std::iter::repeat_n(127, 25));
        p.extend([13, q]);
        p
    };
    vec![
        Example::new(prompt(40), vec![50, 51, 2], img(0)),
        Example::new(prompt(41), vec![52, 2], img(0)),
        Example::new(prompt(40), vec![60, 61, 62, 2], img(1)),
        Example::new(prompt(41), vec![63, 2], img(1)),
    ]
}

#[test]
fn overfits_a_handful_of_examples() {
    let _rng = rng_lock();
    let device = cpu_device();
    let mut r = Reference::open("plain");
    let examples = toy_examples(&mut r);
    let (_, mut llava) = from_hf_dir::<Ad>(&fixtures().join("tiny-llava"), &device).unwrap();
    // The fixture's output head has weights of 0.1: behind a frozen RMS norm its logits cannot
    // separate 128 tokens by the margin a near-zero loss needs. A real model's head can; scale
    // this one like it.
    let head = Tensor::from_inner(llava.lm.lm_head.weight.val().inner().mul_scalar(10.0));
    llava.lm.lm_head.weight = burn::module::Param::from_tensor(head);
    let opts = TrainOptions {
        epochs: 40,
        learning_rate: 1e-2,
        batch_size: 2,
        train_projector: true,
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut log = StopAfter(usize::MAX, Vec::new());
    let (_, summary) = train(
        Trainee::Llava(llava),
        &examples,
        &opts,
        "tiny-llava",
        dir.path(),
        Start::Fresh,
        &mut log,
        &device,
    )
    .unwrap();
    let curve: Vec<String> = log
        .1
        .iter()
        .step_by(10)
        .map(|p| format!("{:.3}", p.loss))
        .collect();
    eprintln!("loss every 10 steps: {}", curve.join(" "));
    assert_eq!(summary.steps, 80);
    let loss = summary.final_loss.unwrap();
    assert!(loss < 0.05, "final loss {loss}");
    assert!(dir
        .path()
        .join("adapter/adapter_model.safetensors")
        .is_file());
    assert!(dir
        .path()
        .join("checkpoint-80/trainer_state.json")
        .is_file());
}

struct StopAfter(usize, Vec<Progress>);
impl Control for StopAfter {
    fn cancelled(&self) -> bool {
        self.1.len() >= self.0
    }
    fn progress(&mut self, p: &Progress) {
        self.1.push(p.clone());
    }
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let _rng = rng_lock();
    let device = cpu_device();
    let mut r = Reference::open("plain");
    let examples = toy_examples(&mut r);
    let opts = TrainOptions {
        epochs: 3,
        learning_rate: 1e-2,
        batch_size: 1,
        grad_accum: 2,
        warmup_ratio: 0.2,
        weight_decay: 0.01,
        lora: LoraConfig {
            dropout: 0.1,
            ..Default::default()
        },
        ..Default::default()
    };
    let load = || {
        Trainee::Llava(
            from_hf_dir::<Ad>(&fixtures().join("tiny-llava"), &device)
                .unwrap()
                .1,
        )
    };
    let straight = tempfile::tempdir().unwrap();
    let (a, sa) = train(
        load(),
        &examples,
        &opts,
        "tiny-llava",
        straight.path(),
        Start::Fresh,
        &mut Quiet,
        &device,
    )
    .unwrap();
    assert_eq!(sa.steps, 6);

    let split = tempfile::tempdir().unwrap();
    let mut stop = StopAfter(3, Vec::new());
    let (_, s1) = train(
        load(),
        &examples,
        &opts,
        "tiny-llava",
        split.path(),
        Start::Fresh,
        &mut stop,
        &device,
    )
    .unwrap();
    assert!(s1.cancelled && s1.steps == 3 && s1.adapter.is_none());
    assert!(
        split.path().join("checkpoint-3").is_dir(),
        "cancel writes a checkpoint"
    );
    let mut rest = StopAfter(usize::MAX, Vec::new());
    let (b, s2) = train(
        load(),
        &examples,
        &opts,
        "tiny-llava",
        split.path(),
        Start::Resume(split.path()),
        &mut rest,
        &device,
    )
    .unwrap();
    assert_eq!((s2.steps, rest.1.len()), (6, 3));
    assert_eq!(rest.1[0].step, 4);
    let (fa, fb) = (
        a.adapter_files(&opts.lora).unwrap(),
        b.adapter_files(&opts.lora).unwrap(),
    );
    let worst = fa
        .tensors
        .iter()
        .map(|(k, t)| max_diff(&t.data, &fb.tensors[k].data))
        .fold(0.0, f32::max);
    assert!(worst <= 1e-6, "resumed weights differ by {worst}");
    assert!((sa.final_loss.unwrap() - s2.final_loss.unwrap()).abs() < 1e-6);
}

#[test]
fn bad_options_are_refused_naming_the_field() {
    let device = cpu_device();
    let mut r = Reference::open("plain");
    let examples = toy_examples(&mut r);
    let cases: Vec<(TrainOptions, &str)> = vec![
        (
            TrainOptions {
                lora: LoraConfig {
                    rank: 0,
                    ..Default::default()
                },
                ..Default::default()
            },
            "lora.rank",
        ),
        (
            TrainOptions {
                learning_rate: -1e-4,
                ..Default::default()
            },
            "learning_rate",
        ),
        (
            TrainOptions {
                lora: LoraConfig {
                    targets: vec!["q_proj".into(), "qproj".into()],
                    ..Default::default()
                },
                ..Default::default()
            },
            "lora.targets",
        ),
        (
            TrainOptions {
                epochs: 0,
                ..Default::default()
            },
            "epochs",
        ),
        (
            TrainOptions {
                use_lora: false,
                ..Default::default()
            },
            "use_lora",
        ),
    ];
    for (opts, field) in cases {
        let (_, llava) = from_hf_dir::<Ad>(&fixtures().join("tiny-llava"), &device).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = train(
            Trainee::Llava(llava),
            &examples,
            &opts,
            "t",
            dir.path(),
            Start::Fresh,
            &mut Quiet,
            &device,
        )
        .unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    let (_, llava) = from_hf_dir::<Ad>(&fixtures().join("tiny-llava"), &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = train(
        Trainee::Llava(llava),
        &[],
        &TrainOptions::default(),
        "t",
        dir.path(),
        Start::Fresh,
        &mut Quiet,
        &device,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no training examples"), "{err}");
}

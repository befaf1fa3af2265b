//! The embedded default's recipe, scaled down (CI smoke): on the tiny LLaVA fixture and a small
//! generated set, the tower is pretrained alone on the masks (`model pretrain-tower`), stage 1
//! trains the projector and LoRA on captions with the tower frozen, stage 2 trains LoRA and the
//! projector on QA on top of stage 1, and both stages are evaluated as the model card does
//! (stage 1 with a Chain-of-Image prompt, stage 2 fine-tuned). The same commands and config
//! fields as models/default/*.toml; seconds instead of an hour.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vlm-inspect"))
        .env_remove("VLM_INSPECT_DATA_DIR")
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The loss of each optimizer step of a finished run (from its last checkpoint).
fn losses(run_dir: &Path) -> Vec<f64> {
    let last = std::fs::read_dir(run_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("checkpoint-"))
        })
        .max_by_key(|p| {
            p.to_string_lossy()
                .rsplit('-')
                .next()
                .and_then(|n| n.parse::<usize>().ok())
        })
        .expect("a checkpoint");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(last.join("trainer_state.json")).unwrap())
            .unwrap();
    state["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["loss"].as_f64().unwrap())
        .collect()
}

/// The tensor names in a safetensors file's header.
fn tensor_names(file: &Path) -> Vec<String> {
    let bytes = std::fs::read(file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn scaled_down_recipe_trains_both_stages_and_evaluates_them() {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = common::tiny_llava_folder(dir.path());
    let (src, data) = (dir.path().join("synth"), dir.path().join("data"));
    let d = data.to_str().unwrap();
    ok(&[
        "dataset",
        "synth",
        "--out",
        src.to_str().unwrap(),
        "--per-category",
        "train=4,validation=0,good=2,logical=2,structural=2",
        "--size",
        "64",
        "--categories",
        "pushpins,screw_bag",
    ]);
    ok(&[
        "dataset",
        "import",
        "--loco",
        src.to_str().unwrap(),
        "--name",
        "default-lm-set",
        "--data-dir",
        d,
    ]);
    let split = ok(&[
        "dataset",
        "split",
        "default-lm-set",
        "--seed",
        "0",
        "--fraction",
        "0.25",
        "--data-dir",
        d,
    ]);
    let split = split.split(':').next().unwrap();
    ok(&[
        "model",
        "add",
        "vlm-default-base",
        model.to_str().unwrap(),
        "--data-dir",
        d,
    ]);

    // The tower, pretrained on the masks as models/default/tower-pretrain.toml says, shorter.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    let mut tower_cfg: toml::Value =
        toml::from_str(&std::fs::read_to_string(shipped.join("tower-pretrain.toml")).unwrap())
            .unwrap();
    let t = tower_cfg.as_table_mut().unwrap();
    t.insert("epochs".into(), toml::Value::Integer(30));
    t.insert("batch_size".into(), toml::Value::Integer(8));
    // The shipped tower trains on the generator's stream: a few new images per epoch here.
    if t.contains_key("fresh_images") {
        t.insert("fresh_images".into(), toml::Value::Integer(48));
    }
    let tower_toml = dir.path().join("tower.toml");
    std::fs::write(&tower_toml, toml::to_string(&tower_cfg).unwrap()).unwrap();
    let tower_out = dir.path().join("tower");
    let printed = ok(&[
        "model",
        "pretrain-tower",
        "--base",
        "vlm-default-base",
        "--dataset",
        "default-lm-set",
        "--split",
        split,
        "--config",
        tower_toml.to_str().unwrap(),
        "--out",
        tower_out.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert!(printed.contains("held out"), "{printed}");
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tower_out.join("tower-pretrain.json")).unwrap(),
    )
    .unwrap();
    let epochs: Vec<f64> = record["summary"]["epoch_losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    eprintln!(
        "tower: epoch loss {} → {}",
        epochs[0],
        epochs[epochs.len() - 1]
    );
    assert!(
        epochs[epochs.len() - 1] < epochs[0] * 0.8,
        "the tower's loss falls: {epochs:?}"
    );
    assert_eq!(record["vocabulary"]["kinds"][0], "normal");
    let names = tensor_names(&tower_out.join("tower.safetensors"));
    assert!(
        names
            .iter()
            .any(|n| n == "model.vision_tower.vision_model.embeddings.patch_embedding.weight"),
        "{names:?}"
    );

    // Stage 1 and stage 2 as models/default/*.toml say, smaller and faster.
    let recipe = |stage: &str| {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models/default")
            .join(format!("{stage}.toml"));
        let text = std::fs::read_to_string(shipped).unwrap();
        let mut cfg: toml::Value = toml::from_str(&text.replace("@SPLIT@", split)).unwrap();
        let t = cfg["training"].as_table_mut().unwrap();
        t.insert(
            "epochs".into(),
            toml::Value::Integer(if stage == "stage1" { 8 } else { 6 }),
        );
        t.insert("learning_rate".into(), toml::Value::Float(3e-3));
        t.insert("batch_size".into(), toml::Value::Integer(4));
        let path = dir.path().join(format!("{stage}.toml"));
        std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
        path
    };
    for stage in ["stage1", "stage2"] {
        let config = recipe(stage);
        let out = dir.path().join(stage);
        ok(&[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--data-dir",
            d,
        ]);
        let l = losses(&out);
        let (first, last) = (mean(&l[..2]), mean(&l[l.len() - 2..]));
        eprintln!("{stage}: {} steps, loss {first:.3} → {last:.3}", l.len());
        assert!(last < first, "{stage}: the loss falls ({first} → {last})");
    }
    // Both stages carry LoRA and the projector; the tower stays frozen (it is the base's).
    let stage1 = dir.path().join("stage1/adapter");
    let task: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stage1.join("vlm_inspect.json")).unwrap())
            .unwrap();
    assert_eq!(task["task"], "caption");
    for stage in ["stage1", "stage2"] {
        let names = tensor_names(
            &dir.path()
                .join(stage)
                .join("adapter/adapter_model.safetensors"),
        );
        assert!(
            names.iter().any(|n| n.contains("lora_A")),
            "{stage}: {names:?}"
        );
        assert!(
            names.iter().any(|n| n.contains("multi_modal_projector")),
            "{stage}: {names:?}"
        );
        assert!(
            !names.iter().any(|n| n.contains("vision_tower")),
            "{stage}: the tower is frozen: {names:?}"
        );
    }
    let listing = ok(&["model", "list", "--data-dir", d]);
    assert!(
        listing.contains("vlm-default-stage1\tllava-lora")
            && listing.contains("vlm-default\tllava-lora"),
        "{listing}"
    );

    // (b) stage 1 prompted training-free with a Chain-of-Image prompt, (c) stage 2 fine-tuned.
    let s1 = ok(&[
        "eval",
        "--model",
        "vlm-default-stage1",
        "--dataset",
        "default-lm-set",
        "--split",
        split,
        "--prompts",
        "P1",
        "--max-new-tokens",
        "4",
        "--data-dir",
        d,
    ]);
    assert!(s1.contains("vlm-default-stage1 + CoI (P1)"), "{s1}");
    let s2 = ok(&[
        "eval",
        "--model",
        "vlm-default",
        "--dataset",
        "default-lm-set",
        "--split",
        split,
        "--prompts",
        "plain",
        "--max-new-tokens",
        "4",
        "--data-dir",
        d,
    ]);
    assert!(s2.contains("| vlm-default |"), "{s2}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("runs/eval-1/evaluation-1.json")).unwrap(),
    )
    .unwrap();
    let preds = json["predictions"].as_array().unwrap();
    assert!(!preds.is_empty());
    assert!(
        preds.iter().all(|p| p["template_id"].is_i64()),
        "stage 1 is prompted with templates"
    );
    eprintln!(
        "recipe smoke test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

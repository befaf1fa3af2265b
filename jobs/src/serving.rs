//! Serving registered Burn models to other tools over the OpenAI API (`/v1`): one request is
//! one user message (text with images where `<image>` marks them) and an optional system
//! message; it waits for the interactive lane's turn (a bounded queue) and runs on the server's
//! device with the model the lane keeps open.

use std::path::{Path, PathBuf};

use anomaly::coi::Request;
use anomaly::explain::Decoding;
use store::Store;

use crate::models::ResolvedModel;
use crate::runner::{Busy, Interactive};

/// What a client asked.
#[derive(Clone, Debug)]
pub struct ServeRequest {
    pub model: String,
    pub system: Option<String>,
    /// The user's text, with one `<image>` mark per image in order.
    pub text: String,
    /// Each image's file bytes (PNG or JPEG).
    pub images: Vec<Vec<u8>>,
    pub decoding: Decoding,
}

/// The whole reply.
#[derive(Clone, Debug, PartialEq)]
pub struct ServeReply {
    pub text: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// `stop`, or `length` when `max_tokens` cut it.
    pub finish_reason: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The model name is unknown, or not a model this server runs.
    #[error("{0}")]
    NoSuchModel(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error("{0}")]
    Failed(String),
}

/// The names `/v1/models` lists: registered vision-language models on this machine (LLaVA
/// folders and adapters), and the default models.
pub async fn model_names(store: &Store) -> Result<Vec<String>, store::StoreError> {
    let mut names: Vec<String> = store
        .models()
        .await?
        .into_iter()
        .filter(|m| m.remote.is_none() && vlm::chat::is_vlm_dir(Path::new(&m.path)))
        .map(|m| m.name)
        .collect();
    let default = crate::default_model::DEFAULT_NAME.to_string();
    if !names.contains(&default) {
        names.push(default);
    }
    names.sort();
    Ok(names)
}

/// Answers `req` with a local model on `device`; `on_text` hears each piece and returns false
/// to stop (a client that went away).
pub async fn complete(
    store: &Store,
    data_dir: &Path,
    interactive: &Interactive,
    device: vlm::DeviceSpec,
    req: ServeRequest,
    on_text: impl FnMut(&str) -> bool + Send + 'static,
) -> Result<ServeReply, ServeError> {
    let dir = match crate::models::resolve_model(store, &req.model, data_dir).await {
        Ok(ResolvedModel::Local(dir)) if vlm::chat::is_vlm_dir(&dir) => dir,
        Ok(ResolvedModel::Local(_)) => {
            return Err(ServeError::NoSuchModel(format!(
                "{} is a language model without a vision tower; /v1 serves vision-language models",
                req.model
            )))
        }
        Ok(ResolvedModel::Remote(_)) => {
            return Err(ServeError::NoSuchModel(format!(
                "{} is a remote model; ask its own server",
                req.model
            )))
        }
        Err(_) => {
            return Err(ServeError::NoSuchModel(format!(
                "the model `{}` does not exist here (GET /v1/models lists them)",
                req.model
            )))
        }
    };
    let marks = req.text.matches("<image>").count();
    if marks != req.images.len() {
        return Err(ServeError::BadRequest(format!(
            "the message has {marks} <image> marks for {} images",
            req.images.len()
        )));
    }
    let turn = interactive.take_or_refuse().await?;
    let files = TempImages::write(data_dir, &req.images)?;
    let request = Request {
        system: req.system.clone(),
        message: req.text.clone(),
        images: files.0.clone(),
        template: None,
    };
    let cache = interactive.cache.clone();
    let decoding = req.decoding.clone();
    let mut on_text = on_text;
    let reply = tokio::task::spawn_blocking(move || -> anyhow::Result<anomaly::explain::Reply> {
        let _turn = turn;
        crate::on_backend!(
            device,
            false,
            explain(&cache, &dir, &request, &decoding, &mut on_text)
        )
    })
    .await
    .map_err(|e| ServeError::Failed(format!("the model stopped: {e}")))?
    .map_err(|e| ServeError::Failed(format!("{e:#}")))?;
    drop(files);
    let finish_reason = if reply.new_tokens >= req.decoding.max_new_tokens {
        "length"
    } else {
        "stop"
    };
    Ok(ServeReply {
        text: reply.raw,
        prompt_tokens: reply.prompt_tokens,
        completion_tokens: reply.new_tokens,
        finish_reason,
    })
}

fn explain<B: burn::tensor::backend::Backend>(
    cache: &crate::runner::ModelCache,
    dir: &Path,
    request: &Request,
    decoding: &Decoding,
    on_text: &mut dyn FnMut(&str) -> bool,
    device: &B::Device,
) -> anyhow::Result<anomaly::explain::Reply> {
    crate::runner::inspect::with_explainer::<B, _>(cache, dir, device, |e| {
        Ok(e.explain(request, decoding, on_text)?)
    })
}

/// A request's images as files for the image preprocessor, removed when dropped.
struct TempImages(Vec<PathBuf>);

impl TempImages {
    fn write(data_dir: &Path, images: &[Vec<u8>]) -> Result<Self, ServeError> {
        let dir = data_dir.join("tmp");
        std::fs::create_dir_all(&dir)
            .map_err(|e| ServeError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        let mut out = TempImages(Vec::new());
        for (i, bytes) in images.iter().enumerate() {
            let ext = match image::guess_format(bytes) {
                Ok(image::ImageFormat::Png) => "png",
                Ok(image::ImageFormat::Jpeg) => "jpg",
                _ => {
                    return Err(ServeError::BadRequest(format!(
                        "image {i}: only PNG and JPEG images are accepted"
                    )))
                }
            };
            let path = dir.join(format!("v1-{:016x}-{i}.{ext}", rand::random::<u64>()));
            std::fs::write(&path, bytes)
                .map_err(|e| ServeError::Failed(format!("cannot write {}: {e}", path.display())))?;
            out.0.push(path);
        }
        Ok(out)
    }
}

impl Drop for TempImages {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

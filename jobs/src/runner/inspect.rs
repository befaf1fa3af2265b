//! Inspect-page requests as jobs: one image (a dataset image or an upload) in front of a model
//! with a prompt and, for Chain-of-Image prompts, a template; the reply streams to the page as
//! `text` events and ends in the job's result (verdict, explanation, timings, template used).
//! The interactive lane keeps its last model open for the next request.

use std::any::Any;
use std::path::{Path, PathBuf};

use anomaly::coi::{assemble, pick_template, Mode};
use anomaly::evaluation::{ImageRef, InspectConfig};
use anomaly::explain::{Explainer, Reply};
use anyhow::{anyhow, bail};
use burn::tensor::backend::Backend;
use store::{InspectResult, JobConfig, JobEvent, Store};

use remote::{Piece, RemoteError};
use tokio_util::sync::CancellationToken;

use super::{JobContext, ModelCache, Outcome, CANCEL_POLL};
use crate::models::ResolvedModel;
use crate::remote_models::{chat_request, reply_of, RemoteModel};

pub async fn run(ctx: &JobContext, config: &str) -> anyhow::Result<Outcome> {
    let cfg = JobConfig::<InspectConfig>::decode(config)?;
    let resolved = resolve(ctx.store(), ctx.data_dir(), &cfg).await?;
    let result = match &resolved.model {
        ResolvedModel::Local(dir) => inspect(ctx, &cfg, dir.clone(), &resolved).await?,
        ResolvedModel::Remote(model) => match inspect_remote(ctx, &cfg, model, &resolved).await? {
            Some(result) => result,
            None => return Ok(Outcome::Cancelled),
        },
    };
    Ok(Outcome::Succeeded(serde_json::to_string(&result)?))
}

/// The resolved request: files and the template's dataset image id.
struct Resolved {
    model: ResolvedModel,
    prompt: anomaly::coi::Prompt,
    test: PathBuf,
    template: Option<(i64, PathBuf)>,
}

async fn resolve(store: &Store, data_dir: &Path, cfg: &InspectConfig) -> anyhow::Result<Resolved> {
    let model = crate::models::resolve_model(store, &cfg.model, data_dir)
        .await
        .map_err(|e| anyhow!("model: {e}"))?;
    let prompt = crate::evaluate::resolve_prompt(store, &cfg.prompt).await?;
    // The test image, and where an automatic template comes from.
    let (test, pool_of, seed_key) = match cfg.image {
        ImageRef::Dataset(image) => {
            let (img, dataset_id) = store
                .eval_image(image)
                .await
                .map_err(|e| anyhow!("image: {e}"))?;
            (
                data_dir.join(&img.file),
                Some((dataset_id, img.category)),
                image,
            )
        }
        ImageRef::Upload(upload) => {
            let u = store
                .upload(upload)
                .await
                .map_err(|e| anyhow!("image: {e}"))?;
            let pool = match (&cfg.dataset, &cfg.category) {
                (Some(d), Some(c)) if !d.is_empty() && !c.is_empty() => {
                    let d = store
                        .dataset(d)
                        .await
                        .map_err(|e| anyhow!("dataset: {e}"))?;
                    Some((d.id, c.clone()))
                }
                _ => None,
            };
            (data_dir.join(&u.file), pool, -upload)
        }
    };
    let template = if !prompt.chain_of_image {
        None
    } else if let Some(t) = cfg.template {
        let (img, _) = store
            .eval_image(t)
            .await
            .map_err(|e| anyhow!("template: {e}"))?;
        Some((t, data_dir.join(&img.file)))
    } else if let Some((dataset_id, category)) = pool_of {
        let pool = store.template_pool(dataset_id, &category).await?;
        pick_template(cfg.seed, seed_key, &pool).map(|t| (t.image_id, data_dir.join(&t.file)))
    } else {
        None
    };
    Ok(Resolved {
        model,
        prompt,
        test,
        template,
    })
}

async fn inspect(
    ctx: &JobContext,
    cfg: &InspectConfig,
    model: PathBuf,
    resolved: &Resolved,
) -> anyhow::Result<InspectResult> {
    let spec = ctx.open_device(&cfg.device).await?;
    // One model answers at a time: `/v1` requests take turns with inspections.
    let _turn = ctx.env.interactive.take().await;
    let decoding = cfg.decoding.clone();
    let template_id = resolved.template.as_ref().map(|t| t.0);
    let cancel = ctx.cancel_flag();
    let job = ctx.clone();
    let cache = ctx.env.cache.clone();
    let request = Prepared {
        model,
        prompt: resolved.prompt.clone(),
        test: resolved.test.clone(),
        template: resolved.template.clone(),
    };
    let (reply, used_template) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<(Reply, bool)> {
            let mut on_text = |piece: &str| {
                job.emit_blocking(JobEvent::Text {
                    text: piece.to_string(),
                });
                !cancel.requested()
            };
            crate::on_backend!(
                spec,
                false,
                explain_once(&cache, &request, &decoding, &mut on_text)
            )
        })
        .await??;
    Ok(result_of(
        reply,
        template_id.filter(|_| used_template),
        spec.to_string(),
        None,
    ))
}

/// An inspection by a remote model: the same request, its text streamed to the page as it
/// comes. None when it was cancelled.
async fn inspect_remote(
    ctx: &JobContext,
    cfg: &InspectConfig,
    model: &RemoteModel,
    resolved: &Resolved,
) -> anyhow::Result<Option<InspectResult>> {
    let client = model.client(ctx.data_dir())?;
    let template = base_template(resolved)?;
    let used_template = template.is_some();
    let request = assemble(
        &resolved.prompt,
        Mode::Base,
        template,
        resolved.test.clone(),
    )?;
    let chat = chat_request(&request, &cfg.decoding);
    // The request is aborted as soon as a cancel is asked for.
    let cancel = CancellationToken::new();
    let watcher = {
        let (store, id, cancel) = (ctx.store().clone(), ctx.id, cancel.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CANCEL_POLL).await;
                if store.cancel_requested(id).await.unwrap_or(false) {
                    cancel.cancel();
                    return;
                }
            }
        })
    };
    // Pieces arrive in the client's callback; one task stores and broadcasts them in order.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<JobEvent>();
    let forwarder = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                ctx.emit(event).await;
            }
        })
    };
    let outcome = client
        .complete(&chat, &cancel, &mut |piece| {
            let event = match piece {
                Piece::Text(text) => JobEvent::Text {
                    text: text.to_string(),
                },
                Piece::Restart => JobEvent::Log {
                    message: "the connection dropped; asking again".into(),
                },
            };
            let _ = tx.send(event);
            true
        })
        .await;
    drop(tx);
    let _ = forwarder.await;
    watcher.abort();
    let completion = match outcome {
        Ok(c) => c,
        Err(RemoteError::Cancelled) => return Ok(None),
        Err(e) => bail!("model {}: {e}", model.info.name),
    };
    let (reply, served) = reply_of(&completion);
    let template_id = resolved.template.as_ref().map(|t| t.0);
    Ok(Some(result_of(
        reply,
        template_id.filter(|_| used_template),
        format!("remote: {}", model.spec.base_url),
        Some(served),
    )))
}

fn result_of(
    reply: Reply,
    template_id: Option<i64>,
    device: String,
    served: Option<store::ServedBy>,
) -> InspectResult {
    InspectResult {
        verdict: reply.verdict.as_str().to_string(),
        explanation: reply.explanation,
        raw: reply.raw,
        prompt_tokens: reply.prompt_tokens,
        new_tokens: reply.new_tokens,
        latency_ms: reply.latency_ms,
        template_id,
        device,
        served,
    }
}

/// The template file of a base model's request, or why a Chain-of-Image prompt has none.
fn base_template(r: &Resolved) -> anyhow::Result<Option<PathBuf>> {
    match (&r.template, r.prompt.chain_of_image) {
        (Some((_, path)), _) => Ok(Some(path.clone())),
        (None, true) => bail!(
            "template: prompt {:?} compares with a template: pick a template image, or the dataset and category to pick one from",
            r.prompt.name
        ),
        (None, false) => Ok(None),
    }
}

/// A local model's request, ready for the blocking thread.
struct Prepared {
    model: PathBuf,
    prompt: anomaly::coi::Prompt,
    test: PathBuf,
    template: Option<(i64, PathBuf)>,
}

fn explain_once<B: Backend>(
    cache: &ModelCache,
    r: &Prepared,
    decoding: &anomaly::explain::Decoding,
    on_text: &mut dyn FnMut(&str) -> bool,
    device: &B::Device,
) -> anyhow::Result<(Reply, bool)> {
    with_explainer::<B, _>(cache, &r.model, device, |explainer| {
        explain_with(explainer, r, decoding, on_text)
    })
}

/// Runs `f` with the model in `model`, opened on `device` or taken from the lane's cache, and
/// keeps it there for the next request.
pub(crate) fn with_explainer<B: Backend, T>(
    cache: &ModelCache,
    model: &Path,
    device: &B::Device,
    f: impl FnOnce(&Explainer<B>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let key = warm_key::<B>(model, device);
    let cached = cache
        .lock()
        .take()
        .filter(|w| w.key == key)
        .and_then(|w| w.explainer.downcast::<Explainer<B>>().ok());
    let explainer = match cached {
        Some(e) => *e,
        None => Explainer::<B>::open(model, device).map_err(|e| anyhow!("model: {e}"))?,
    };
    let result = f(&explainer);
    *cache.lock() = Some(Warm {
        key,
        explainer: Box::new(explainer),
    });
    result
}

/// The model the last inspection used, kept by the interactive lane ([`ModelCache`]).
pub struct Warm {
    key: String,
    explainer: Box<dyn Any + Send>,
}

/// What makes a kept model reusable: the folder, the backend and device, and the newest
/// modification time of the folder's files (a model retrained in place is opened afresh).
fn warm_key<B: Backend>(model: &Path, device: &B::Device) -> String {
    let newest = std::fs::read_dir(model)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
        .max();
    format!(
        "{}|{}|{device:?}|{newest:?}",
        model.display(),
        std::any::type_name::<B>()
    )
}

fn explain_with<B: Backend>(
    explainer: &Explainer<B>,
    r: &Prepared,
    decoding: &anomaly::explain::Decoding,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> anyhow::Result<(Reply, bool)> {
    let template = match (&r.template, explainer.mode, r.prompt.chain_of_image) {
        (Some((_, path)), Mode::Base, _) => Some(path.clone()),
        (None, Mode::Base, true) => bail!(
            "template: prompt {:?} compares with a template: pick a template image, or the dataset and category to pick one from",
            r.prompt.name
        ),
        _ => None,
    };
    let used = template.is_some();
    let request = assemble(&r.prompt, explainer.mode, template, r.test.clone())?;
    let reply = explainer.explain(&request, decoding, on_text)?;
    Ok((reply, used))
}

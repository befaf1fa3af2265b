//! Drafting QA annotations (docs/review.md): each chosen image goes before a model, local or
//! remote, with what the dataset knows of it (its product, label, defect name and, from the
//! mask, where the defect is: `anomaly::qa_draft`), and the answer is stored as a draft for
//! people to accept, edit or reject. Shared by the batch lane and `vlm-inspect dataset
//! draft-qa`; a cancelled or interrupted job resumes with the images it has not drafted.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anomaly::coi::Request;
use anomaly::dataset::qa::{mask_region, Region};
use anomaly::explain::Explainer;
use anomaly::qa_draft::{draft_answer, draft_prompt, DraftConfig, DraftFacts};
use anomaly::Label;
use anyhow::{anyhow, Context};
use burn::tensor::backend::Backend;
use store::qa_drafts::{DraftTarget, NewDraft};
use store::Store;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::models::ResolvedModel;
use crate::remote_models::{chat_request, RemoteModel};
use crate::PlanError;

/// A checked drafting job: its model and the images it takes.
pub struct DraftPlan {
    pub config: DraftConfig,
    pub model: ResolvedModel,
    pub targets: Vec<DraftTarget>,
    pub data_dir: PathBuf,
}

/// Checks a drafting configuration against the store; each problem names its field.
pub async fn plan(
    store: &Store,
    data_dir: &Path,
    config: DraftConfig,
) -> Result<DraftPlan, PlanError> {
    if config.limit == Some(0) {
        return Err(PlanError::invalid("limit", "must be at least 1"));
    }
    let _: vlm::DeviceSpec = config
        .device
        .parse()
        .map_err(|e| PlanError::invalid("device", e))?;
    let model = crate::models::resolve_image_model(store, &config.model, data_dir).await?;
    let targets = store
        .draft_targets(&config)
        .await
        .map_err(|e| PlanError::invalid("dataset", e))?;
    if targets.is_empty() {
        return Err(PlanError::invalid(
            "dataset",
            format!(
                "{:?} has no image to draft{}",
                config.dataset,
                if config.include_annotated {
                    " with that category and label"
                } else {
                    " without an annotation (include annotated images to draft them too)"
                }
            ),
        ));
    }
    Ok(DraftPlan {
        config,
        model,
        targets,
        data_dir: data_dir.to_path_buf(),
    })
}

/// What a drafting run reports while it works.
pub trait DraftHooks {
    /// Checked between images: true stops the run (it resumes later).
    fn cancelled(&self) -> bool {
        false
    }
    /// Draft `done` of `total` was stored, for image `rel_path`.
    fn drafted(&mut self, _done: usize, _total: usize, _rel_path: &str) {}
}

/// How a drafting run ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DraftSummary {
    /// Drafts the job holds, and how many this run wrote.
    pub drafts: usize,
    pub made: usize,
    pub cancelled: bool,
}

/// Runs a planned drafting job as job `job` (blocking; call it off the async runtime).
pub fn run(
    plan: &DraftPlan,
    store: &Store,
    job: i64,
    runtime: &Handle,
    hooks: &mut dyn DraftHooks,
) -> anyhow::Result<DraftSummary> {
    let spec: vlm::DeviceSpec = plan.config.device.parse()?;
    vlm::device::probe(spec)?;
    crate::on_backend!(spec, false, run_on(plan, store, job, runtime, hooks))
}

fn run_on<B: Backend>(
    plan: &DraftPlan,
    store: &Store,
    job: i64,
    runtime: &Handle,
    hooks: &mut dyn DraftHooks,
    device: &B::Device,
) -> anyhow::Result<DraftSummary> {
    let done: HashSet<i64> = runtime
        .block_on(store.drafted_images(job))?
        .into_iter()
        .collect();
    let total = plan.targets.len();
    let mut summary = DraftSummary {
        drafts: plan
            .targets
            .iter()
            .filter(|t| done.contains(&t.image_id))
            .count(),
        ..DraftSummary::default()
    };
    let todo: Vec<&DraftTarget> = plan
        .targets
        .iter()
        .filter(|t| !done.contains(&t.image_id))
        .collect();
    if todo.is_empty() {
        return Ok(summary);
    }
    let mut model = match &plan.model {
        ResolvedModel::Local(dir) => Drafter::Local(Box::new(
            Explainer::<B>::open(dir, device).map_err(|e| anyhow!("model: {e}"))?,
        )),
        ResolvedModel::Remote(r) => Drafter::Remote(r, Box::new(r.client(&plan.data_dir)?)),
    };
    for t in todo {
        if hooks.cancelled() {
            summary.cancelled = true;
            return Ok(summary);
        }
        let (prompt, facts_region) = prompt_for(plan, t)?;
        let request = Request {
            system: None,
            message: format!("<image>\n{prompt}"),
            images: vec![plan.data_dir.join(&t.file)],
            template: None,
        };
        let raw = model
            .answer(&request, plan, runtime, &*hooks)
            .with_context(|| t.rel_path.clone())?;
        // A reply cut short by a cancel request is no draft: the image is drafted again.
        if hooks.cancelled() {
            summary.cancelled = true;
            return Ok(summary);
        }
        let answer = draft_answer(&raw);
        runtime.block_on(store.save_draft(
            job,
            &NewDraft {
                image_id: t.image_id,
                question: &t.question,
                draft: &answer,
                raw: &raw,
                prompt: &prompt,
                anomaly: t.defect.as_deref(),
                region: facts_region,
            },
        ))?;
        summary.drafts += 1;
        summary.made += 1;
        hooks.drafted(summary.drafts, total, &t.rel_path);
    }
    Ok(summary)
}

/// The model a run drafts with.
enum Drafter<'a, B: Backend> {
    // Boxed, both: a model is kilobytes of handles, a client a few hundred bytes.
    Local(Box<Explainer<B>>),
    Remote(&'a RemoteModel, Box<remote::Client>),
}

impl<B: Backend> Drafter<'_, B> {
    /// The model's raw reply to `request`.
    fn answer(
        &mut self,
        request: &Request,
        plan: &DraftPlan,
        runtime: &Handle,
        hooks: &dyn DraftHooks,
    ) -> anyhow::Result<String> {
        match self {
            Drafter::Local(explainer) => {
                let reply = explainer
                    .explain(request, &plan.config.decoding, |_| !hooks.cancelled())
                    .map_err(|e| anyhow!("{e}"))?;
                Ok(reply.raw)
            }
            Drafter::Remote(model, client) => {
                let chat = chat_request(request, &plan.config.decoding);
                let never = CancellationToken::new();
                let completion = runtime
                    .block_on(client.complete(&chat, &never, &mut |_| true))
                    .map_err(|e| anyhow!("model {}: {e}", model.info.name))?;
                Ok(completion.text)
            }
        }
    }
}

/// The prompt for one image, and the region it names (from the image's mask).
fn prompt_for(plan: &DraftPlan, t: &DraftTarget) -> anyhow::Result<(String, Option<Region>)> {
    let label: Label = t
        .label
        .parse()
        .map_err(|e| anyhow!("{}: {e}", t.rel_path))?;
    let region = match (&t.mask, label.is_anomalous()) {
        (Some(mask), true) => {
            let path = plan.data_dir.join(mask);
            let img = image::open(&path).with_context(|| {
                format!("{}: cannot read its mask {}", t.rel_path, path.display())
            })?;
            mask_region(&img.to_luma8())
        }
        _ => None,
    };
    let facts = DraftFacts {
        category: &t.category,
        label,
        defect: t.defect.as_deref(),
        region,
    };
    Ok((draft_prompt(&t.question, &facts), region))
}

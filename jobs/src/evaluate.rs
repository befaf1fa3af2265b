//! Running an evaluation (shared by `vlm-inspect eval` and the server's job worker): every test
//! image of the split under every prompt, one stored prediction each (a re-run skips what is
//! stored, so a cancelled or interrupted run resumes), then BERTScore of the explanations of
//! correctly detected anomalies against the images' reference answers.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anomaly::bertscore::{hash, BertScorer};
use anomaly::coi::Request;
use anomaly::coi::{assemble, pick_template, Mode, Prompt};
use anomaly::evaluation::EvalConfig;
use anomaly::explain::{Explainer, Reply};
use anyhow::{anyhow, bail};
use burn::tensor::backend::Backend;
use serde_json::json;
use store::evaluations::NewPrediction;
use store::{EvalImage, JobConfig, JobEvent, JobKind, PredictionEvent, Store};

use crate::models::ResolvedModel;
use crate::PlanError;
use tokio::runtime::Handle;

/// What a run reports while it works, and how it learns it should stop.
pub trait EvalHooks: Send {
    fn cancelled(&self) -> bool {
        false
    }
    /// A stored prediction or the BERTScore pass.
    fn event(&mut self, _event: JobEvent) {}
}

/// How a run ended.
#[derive(Debug)]
pub struct EvalSummary {
    /// Predictions stored for the run in total.
    pub predictions: usize,
    /// Of those, made by this call (the rest were stored by an earlier, interrupted one).
    pub made: usize,
    pub cancelled: bool,
    /// BERTScore's hash, or why it was not computed.
    pub bertscore: Result<String, BertScoreSkipped>,
    /// Tokens of all the run's stored predictions.
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// What they cost at the model's prices (remote models with prices only).
    pub cost_usd: Option<f64>,
}

/// Why a run's explanations have no BERTScore (the run itself still succeeds).
#[derive(Debug, thiserror::Error)]
pub enum BertScoreSkipped {
    /// The run stopped (cancelled) before scoring.
    #[error("not computed")]
    NotReached,
    #[error("not computed: the BERTScore encoder ({name}) is not at {} (scripts/setup.sh fetches it)", dir.display())]
    NoEncoder { name: &'static str, dir: PathBuf },
    #[error("bert_layer {layer}: {name} has layers 1..={layers}")]
    Layer {
        layer: usize,
        name: &'static str,
        layers: usize,
    },
    #[error("not computed: the encoder does not load: {0}")]
    Encoder(#[from] vlm::weights::WeightError),
    #[error("not computed: {0}")]
    Scoring(#[from] anomaly::bertscore::BertScoreError),
    #[error("not computed: the database failed: {0}")]
    Store(#[from] store::StoreError),
}

/// Where the BERTScore encoder is: VLM_INSPECT_MINILM_DIR (set by scripts/setup.sh), else its
/// default place in the cache.
pub fn minilm_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("VLM_INSPECT_MINILM_DIR") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/vlm-inspect/minilm-0.1.0")
}

/// A built-in prompt, or a user prompt from the database.
pub async fn resolve_prompt(store: &Store, name: &str) -> Result<Prompt, PlanError> {
    if let Some(p) = anomaly::prompts::builtin(name) {
        return Ok(p.into());
    }
    match store.prompt_named(name).await? {
        Some(p) => Ok(Prompt {
            name: p.name,
            text: p.text,
            chain_of_image: p.chain_of_image,
        }),
        None => {
            let mut names: Vec<String> = anomaly::BUILTIN_PROMPTS
                .iter()
                .map(|p| p.name.to_string())
                .collect();
            names.extend(store.prompts().await?.into_iter().map(|p| p.name));
            Err(PlanError::Invalid(format!(
                "prompts: no prompt named {name:?} (known: {})",
                names.join(", ")
            )))
        }
    }
}

/// Everything a run needs, resolved and checked before any weights load.
pub struct Plan {
    pub config: EvalConfig,
    pub model: ResolvedModel,
    pub prompts: Vec<Prompt>,
    pub images: Vec<EvalImage>,
    /// Template candidates per category (normal training images).
    pub pools: BTreeMap<String, Vec<EvalImage>>,
    /// A fixed template for every image, when the config names one.
    pub fixed_template: Option<EvalImage>,
    pub data_dir: PathBuf,
}

/// Checks a configuration against the store; each problem is an error naming its field. The
/// web form, the CLI and the evaluation lane all plan through this.
pub async fn plan(store: &Store, data_dir: &Path, config: EvalConfig) -> Result<Plan, PlanError> {
    config.validate()?;
    let model = crate::models::resolve_image_model(store, &config.model, data_dir).await?;
    let dataset = store
        .dataset(&config.dataset)
        .await
        .map_err(|e| PlanError::invalid("dataset", e))?;
    let images = store
        .eval_images(&config.dataset, &config.split, config.limit)
        .await
        .map_err(|e| PlanError::invalid("split", e))?;
    if images.is_empty() {
        return Err(PlanError::invalid(
            "split",
            format!("{:?} has no test images to judge", config.split),
        ));
    }
    let mut prompts = Vec::new();
    for name in &config.prompts {
        prompts.push(resolve_prompt(store, name).await?);
    }
    let mut pools = BTreeMap::new();
    for img in &images {
        if !pools.contains_key(&img.category) {
            let pool = store.template_pool(dataset.id, &img.category).await?;
            pools.insert(img.category.clone(), pool);
        }
    }
    let fixed_template = match config.template {
        Some(id) => Some(
            store
                .eval_image(id)
                .await
                .map_err(|e| PlanError::invalid("template", e))?
                .0,
        ),
        None => None,
    };
    let plan = Plan {
        config,
        model,
        prompts,
        images,
        pools,
        fixed_template,
        data_dir: data_dir.to_path_buf(),
    };
    if let ResolvedModel::Local(dir) = &plan.model {
        check_fits(&plan, dir)?;
    }
    Ok(plan)
}

/// Refuses a run whose longest prompt (its largest images, in tiles for InternVL) plus the new
/// tokens would not fit the model's context, before any weights load.
fn check_fits(plan: &Plan, dir: &Path) -> Result<(), PlanError> {
    let sizer = vlm::chat::PromptSizer::open(dir)
        .map_err(|e| PlanError::invalid("model", e.to_string()))?;
    let max_patches = plan.config.decoding.max_patches;
    let most_tiles = |files: &mut dyn Iterator<Item = &Path>| {
        files
            .filter_map(|f| sizer.image_tiles(&plan.data_dir.join(f), max_patches))
            .max()
            .unwrap_or(1)
    };
    let test = most_tiles(&mut plan.images.iter().map(|i| i.file.as_path()));
    let template = match &plan.fixed_template {
        Some(t) => most_tiles(&mut std::iter::once(t.file.as_path())),
        None => most_tiles(&mut plan.pools.values().flatten().map(|t| t.file.as_path())),
    };
    let mode = anomaly::explain::mode_of(dir);
    let new = plan.config.decoding.max_new_tokens;
    for prompt in &plan.prompts {
        let request = assemble(prompt, mode, Some("template".into()), "test".into())
            .map_err(|e| PlanError::invalid("prompts", e))?;
        let tiles: Vec<usize> = match request.images.len() {
            2 => vec![template, test],
            n => vec![test; n],
        };
        let tokens = sizer
            .tokens(request.system.as_deref(), &request.message, &tiles)
            .map_err(|e| PlanError::invalid("model", e.to_string()))?;
        if tokens + new > sizer.context {
            let (field, fix) = if sizer.tiles_images() {
                (
                    "max_patches",
                    "fewer tiles per image (max_patches) or fewer new tokens",
                )
            } else {
                ("max_new_tokens", "fewer new tokens")
            };
            return Err(PlanError::invalid(
                field,
                format!(
                    "prompt {:?} takes up to {tokens} tokens with its images ({} tiles) plus {new} new tokens, past the model's context of {}: ask for {fix}",
                    prompt.name,
                    tiles.iter().map(usize::to_string).collect::<Vec<_>>().join(" + "),
                    sizer.context
                ),
            ));
        }
    }
    Ok(())
}

/// Runs a planned evaluation as job `job` (blocking; call it off the async runtime).
pub fn run(
    plan: &Plan,
    store: &Store,
    job: i64,
    runtime: &Handle,
    hooks: &mut dyn EvalHooks,
) -> anyhow::Result<EvalSummary> {
    let spec: vlm::DeviceSpec = plan.config.device.parse()?;
    vlm::device::probe(spec)?;
    crate::on_backend!(spec, false, run_on(plan, store, job, runtime, hooks))
}

fn run_on<B: Backend>(
    plan: &Plan,
    store: &Store,
    job: i64,
    runtime: &Handle,
    hooks: &mut dyn EvalHooks,
    device: &B::Device,
) -> anyhow::Result<EvalSummary> {
    let stored = runtime.block_on(store.predictions(job))?;
    let done: HashSet<(i64, String)> = stored
        .iter()
        .map(|p| (p.image_id, p.prompt.clone()))
        .collect();
    let total = plan.images.len() * plan.prompts.len();
    let mut summary = EvalSummary {
        predictions: done.len(),
        made: 0,
        cancelled: false,
        bertscore: Err(BertScoreSkipped::NotReached),
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_usd: None,
    };
    if done.len() < total {
        let run = Recorder {
            plan,
            store,
            job,
            runtime,
            total,
        };
        match &plan.model {
            ResolvedModel::Local(dir) => {
                let explainer =
                    Explainer::<B>::open(dir, device).map_err(|e| anyhow!("model: {e}"))?;
                for w in &work_list(plan, &done, explainer.mode)? {
                    if hooks.cancelled() {
                        summary.cancelled = true;
                        return Ok(summary);
                    }
                    let reply = explainer
                        .explain(&w.request, &plan.config.decoding, |_| !hooks.cancelled())
                        .map_err(|e| anyhow!("{}: {e}", w.image.rel_path))?;
                    // A reply cut short by a cancel request is not a prediction: the image is
                    // judged again when the run resumes.
                    if hooks.cancelled() {
                        summary.cancelled = true;
                        return Ok(summary);
                    }
                    run.record(w, &reply, None, &mut summary, hooks)?;
                }
            }
            ResolvedModel::Remote(model) => {
                let work = work_list(plan, &done, Mode::Base)?;
                crate::remote_eval::predict(&run, model, &work, &mut summary, hooks)?;
                if summary.cancelled {
                    return Ok(summary);
                }
            }
        }
    }
    let all = runtime.block_on(store.predictions(job))?;
    summary.prompt_tokens = all.iter().map(|p| p.prompt_tokens.max(0) as u64).sum();
    summary.completion_tokens = all.iter().map(|p| p.new_tokens.max(0) as u64).sum();
    if let ResolvedModel::Remote(r) = &plan.model {
        summary.cost_usd =
            crate::remote_models::cost(&r.spec, summary.prompt_tokens, summary.completion_tokens);
    }
    summary.bertscore = bertscore::<B>(plan, store, job, &all, runtime, hooks, device);
    Ok(summary)
}

/// One image to judge with one prompt, its request ready.
pub(crate) struct Work<'a> {
    pub prompt: &'a Prompt,
    pub image: &'a EvalImage,
    pub template: Option<&'a EvalImage>,
    pub request: Request,
}

/// What a run still has to judge, in table order: each (prompt, image) without a stored
/// prediction, with its template (Chain-of-Image prompts on a base model).
fn work_list<'a>(
    plan: &'a Plan,
    done: &HashSet<(i64, String)>,
    mode: Mode,
) -> anyhow::Result<Vec<Work<'a>>> {
    let mut out = Vec::new();
    for prompt in &plan.prompts {
        for img in &plan.images {
            if done.contains(&(img.image_id, prompt.name.clone())) {
                continue;
            }
            let template = plan.fixed_template.as_ref().or_else(|| {
                plan.pools
                    .get(&img.category)
                    .and_then(|pool| pick_template(plan.config.seed, img.image_id, pool))
            });
            let needs_template = prompt.chain_of_image && mode == Mode::Base;
            let template = template.filter(|_| needs_template);
            if needs_template && template.is_none() {
                bail!(
                    "template: category {:?} has no normal training image to use as the template of {}",
                    img.category,
                    img.rel_path
                );
            }
            let request = assemble(
                prompt,
                mode,
                template.map(|t| plan.data_dir.join(&t.file)),
                plan.data_dir.join(&img.file),
            )?;
            out.push(Work {
                prompt,
                image: img,
                template,
                request,
            });
        }
    }
    Ok(out)
}

/// Stores a run's predictions as they come and reports each.
pub(crate) struct Recorder<'a> {
    pub plan: &'a Plan,
    pub store: &'a Store,
    pub job: i64,
    pub runtime: &'a Handle,
    pub total: usize,
}

impl Recorder<'_> {
    pub fn record(
        &self,
        w: &Work,
        reply: &Reply,
        served: Option<&store::ServedBy>,
        summary: &mut EvalSummary,
        hooks: &mut dyn EvalHooks,
    ) -> anyhow::Result<()> {
        self.runtime.block_on(self.store.save_prediction(
            self.job,
            &NewPrediction {
                image_id: w.image.image_id,
                prompt: &w.prompt.name,
                template_id: w.template.map(|t| t.image_id),
                verdict: reply.verdict.as_str(),
                explanation: &reply.explanation,
                raw: &reply.raw,
                prompt_tokens: reply.prompt_tokens as i64,
                new_tokens: reply.new_tokens as i64,
                latency_ms: reply.latency_ms as i64,
                served,
            },
        ))?;
        summary.predictions += 1;
        summary.made += 1;
        hooks.event(JobEvent::Prediction(PredictionEvent {
            done: summary.predictions,
            total: self.total,
            prompt: w.prompt.name.clone(),
            image_id: w.image.image_id,
            image: w.image.rel_path.clone(),
            verdict: reply.verdict.as_str().to_string(),
            new_tokens: reply.new_tokens,
            latency_ms: reply.latency_ms,
        }));
        Ok(())
    }
}

/// Scores every detected anomaly's explanation that has no score yet. A missing encoder is not
/// an error: the run's BERTScore column says why it is empty.
fn bertscore<B: Backend>(
    plan: &Plan,
    store: &Store,
    job: i64,
    stored: &[store::PredictionRecord],
    runtime: &Handle,
    hooks: &mut dyn EvalHooks,
    device: &B::Device,
) -> Result<String, BertScoreSkipped> {
    let dir = minilm_dir();
    let layer = plan.config.bert_layer;
    let name = "all-MiniLM-L6-v2";
    let todo: Vec<&store::PredictionRecord> = stored
        .iter()
        .filter(|p| p.label != "good" && p.verdict == "anomalous" && p.bert_f1.is_none())
        .collect();
    if todo.is_empty() {
        return Ok(hash(name, layer, false, None));
    }
    if !dir.join("model.safetensors").is_file() {
        return Err(BertScoreSkipped::NoEncoder { name, dir });
    }
    let encoder = vlm::bert::open::<B>(&dir, device)?;
    if layer > encoder.config.num_hidden_layers {
        return Err(BertScoreSkipped::Layer {
            layer,
            name,
            layers: encoder.config.num_hidden_layers,
        });
    }
    let scorer = BertScorer {
        encoder: &encoder,
        layers: layer,
        batch_size: 64,
        device: device.clone(),
    };
    let mut cands = Vec::new();
    let mut refs = Vec::new();
    let mut keys = Vec::new();
    for p in &todo {
        let answers = runtime.block_on(store.reference_answers(p.image_id))?;
        if answers.is_empty() {
            continue;
        }
        cands.push(p.explanation.clone());
        refs.push(answers);
        keys.push((p.image_id, p.prompt.clone()));
    }
    if !cands.is_empty() {
        let scores = scorer.score(&cands, &refs, false, None)?;
        for (i, (image, prompt)) in keys.iter().enumerate() {
            runtime.block_on(store.set_prediction_bertscore(
                job,
                *image,
                prompt,
                (scores.p[i], scores.r[i], scores.f1[i]),
            ))?;
        }
    }
    hooks.event(JobEvent::Bertscore {
        scored: cands.len(),
    });
    Ok(hash(name, layer, false, None))
}

/// A run's downloads: the JSON document (config, result, both tables, the report per prompt,
/// every prediction) and the CSV of its predictions.
pub async fn export(store: &Store, job: i64) -> anyhow::Result<(serde_json::Value, String)> {
    let info = store.job(job).await?;
    if info.kind != JobKind::Eval {
        bail!("job {job} is not an evaluation");
    }
    let (config, result) = store.job_config(job).await?;
    let cfg = JobConfig::<EvalConfig>::decode(&config)?;
    let (records, reports) = store.eval_report(job, &cfg.prompts).await?;
    let predictions = records
        .iter()
        .map(store::evaluations::as_prediction)
        .collect::<Result<Vec<_>, _>>()?;
    let templates: Vec<String> = records
        .iter()
        .map(|r| r.template_id.map(|t| t.to_string()).unwrap_or_default())
        .collect();
    let rows: Vec<anomaly::report::CsvRow> = records
        .iter()
        .zip(&predictions)
        .zip(&templates)
        .map(|((r, p), t)| anomaly::report::CsvRow {
            prediction: p,
            image: &r.rel_path,
            template: t,
            raw: &r.raw,
            new_tokens: r.new_tokens,
            latency_ms: r.latency_ms,
        })
        .collect();
    let csv = anomaly::report::csv(&rows);
    let result: serde_json::Value = result
        .and_then(|r| serde_json::from_str(&r).ok())
        .unwrap_or(serde_json::Value::Null);
    let doc = json!({
        "job": job,
        "state": info.state,
        "config": cfg,
        "result": result,
        "table1": anomaly::report::table1(&cfg.model, &reports),
        "table2": anomaly::report::table2(&cfg.model, &reports),
        "prompts": reports,
        "predictions": records,
    });
    Ok((doc, csv))
}

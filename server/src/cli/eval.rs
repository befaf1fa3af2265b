//! `vlm-inspect eval`: an evaluation run in the foreground. It is stored as an evaluation job
//! (so the web pages show it too), prints the paper's Table 1 and Table 2 layouts, and writes
//! the JSON and CSV downloads. `--resume JOB` continues an interrupted run; `--delete RUN`
//! deletes one.

use std::path::PathBuf;

use anomaly::evaluation::EvalConfig;
use anyhow::{bail, Context};
use clap::Args;

use store::{JobConfig, JobEvent, JobKind, JobOwner};

use super::progress_line::ProgressLine;
use jobs::evaluate::{self, EvalHooks};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A registered model or a folder: LLaVA, or a LoRA adapter of one (a fine-tuned model).
    #[arg(long, required_unless_present_any = ["resume", "delete"])]
    pub model: Option<String>,
    #[arg(long, required_unless_present_any = ["resume", "delete"])]
    pub dataset: Option<String>,
    /// The split key; its test side is judged.
    #[arg(long, required_unless_present_any = ["resume", "delete"])]
    pub split: Option<String>,
    /// Comma-separated prompt names: plain, P1, P2, P3 or prompts users saved.
    #[arg(long, default_value = "plain,P1,P2,P3")]
    pub prompts: String,
    /// Judge this many test images, spread over categories and labels.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Seeds the choice of template images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use this dataset image (id) as every image's template.
    #[arg(long)]
    pub template: Option<i64>,
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// InternVL: at most this many tiles per image, so a Chain-of-Image prompt's two images fit
    /// the context; default the model's processor setting.
    #[arg(long)]
    pub max_patches: Option<usize>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Continue evaluation job JOB (its stored predictions are kept).
    #[arg(long)]
    pub resume: Option<i64>,
    /// Delete evaluation run RUN and everything stored for it, instead of running one.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["model", "dataset", "split", "resume"])]
    pub delete: Option<i64>,
    /// With --delete: delete it also when reviewers judged it; their judgements are first kept
    /// as CSV and JSON in <data>/exports/.
    #[arg(long, requires = "delete")]
    pub with_reviews: bool,
    /// Where to write evaluation-JOB.json and .csv (default: <data>/runs/eval-JOB).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: crate::data_dir::DataDir,
}

impl EvalArgs {
    fn config(&self) -> EvalConfig {
        let prompts: Vec<&str> = self
            .prompts
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let mut c = EvalConfig::new(
            self.model.as_deref().unwrap_or_default(),
            self.dataset.as_deref().unwrap_or_default(),
            self.split.as_deref().unwrap_or_default(),
            &prompts,
        );
        c.limit = self.limit;
        c.seed = self.seed;
        c.template = self.template;
        c.device = self.device.clone();
        c.decoding.max_new_tokens = self.max_new_tokens;
        c.decoding.max_patches = self.max_patches;
        c
    }
}

/// Prints a progress line per prediction on stderr.
struct Bar {
    started: std::time::Instant,
    line: ProgressLine,
}

impl EvalHooks for Bar {
    fn event(&mut self, event: JobEvent) {
        match event {
            JobEvent::Prediction(p) => {
                let text = format!(
                    "{}/{} {} {} → {}   {:.0} s",
                    p.done,
                    p.total.max(1),
                    p.prompt,
                    p.image,
                    p.verdict,
                    self.started.elapsed().as_secs_f64()
                );
                self.line.show(&text);
            }
            JobEvent::Bertscore { scored } => self
                .line
                .line(&format!("BERTScore: {scored} explanations scored")),
            _ => {}
        }
    }
}

pub async fn run(args: EvalArgs) -> anyhow::Result<()> {
    crate::data_dir::prepare_data_dir(&args.data.data_dir)?;
    let store = args.data.open().await?;
    if let Some(job) = args.delete {
        let done =
            jobs::review::delete_run(&store, &args.data.data_dir, job, args.with_reviews).await;
        store.close().await;
        let done = done?;
        println!("evaluation run {job} was deleted");
        if !done.kept.is_empty() {
            let files: Vec<String> = done.kept.iter().map(|p| p.display().to_string()).collect();
            println!(
                "its {} judgement(s) are kept in {}",
                done.judgements,
                files.join(" and ")
            );
        }
        return Ok(());
    }
    let (job, config) = match args.resume {
        Some(job) => {
            let info = store.job(job).await?;
            if info.kind != JobKind::Eval {
                bail!(
                    "--resume {job}: job {job} is a {} job, not an evaluation",
                    info.kind
                );
            }
            if info.state.is_live() {
                bail!(
                    "--resume {job}: the job is {} (the server's worker has it)",
                    info.state
                );
            }
            let (text, _) = store.job_config(job).await?;
            let cfg = JobConfig::<EvalConfig>::decode(&text)
                .with_context(|| format!("--resume {job}"))?;
            (Some(job), cfg)
        }
        None => (None, args.config()),
    };
    let plan = evaluate::plan(&store, &args.data.data_dir, config).await?;
    let mut resumed_lock = None;
    let job = match job {
        Some(j) => {
            resumed_lock = Some(crate::data_dir::JobLock::acquire(&args.data.data_dir, j)?);
            store.restart_job(j).await?;
            j
        }
        None => {
            store
                .create_running_job(
                    JobKind::Eval,
                    &JobConfig::encode(&plan.config),
                    JobOwner::CommandLine,
                )
                .await?
        }
    };
    // Held until the run ends, so a server starting meanwhile leaves the job to us.
    let _lock = match resumed_lock {
        Some(lock) => lock,
        None => crate::data_dir::JobLock::acquire(&args.data.data_dir, job)?,
    };
    eprintln!(
        "evaluation job {job}: {} × {} test images of {}/{} with {}",
        plan.prompts.len(),
        plan.images.len(),
        plan.config.dataset,
        plan.config.split,
        plan.model.describe()
    );
    let plan_device = plan.config.device.clone();
    let runtime = tokio::runtime::Handle::current();
    let store2 = store.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut bar = Bar {
            started: std::time::Instant::now(),
            line: ProgressLine::default(),
        };
        let outcome = evaluate::run(&plan, &store2, job, &runtime, &mut bar);
        bar.line.line("");
        outcome
    })
    .await?;
    let summary = match outcome {
        Ok(s) => s,
        Err(e) => {
            store.finish_job(job, Some(&format!("{e:#}"))).await?;
            return Err(e.context(format!(
                "evaluation job {job} failed (its predictions so far are kept: --resume {job})"
            )));
        }
    };
    let result = jobs::runner::eval::result_of(&summary, &plan_device);
    store
        .set_job_result(job, &serde_json::to_string(&result)?)
        .await?;
    store.finish_job(job, None).await?;
    let (doc, csv) = evaluate::export(&store, job).await?;
    println!(
        "Table 1: accuracy (%)\n\n{}",
        doc["table1"].as_str().unwrap_or("")
    );
    println!(
        "Table 2: BERTScore (F1 × 100, correctly detected anomalies) and diversity\n\n{}",
        doc["table2"].as_str().unwrap_or("")
    );
    if let Err(why) = &summary.bertscore {
        println!("BERTScore {why}");
    }
    if summary.prompt_tokens + summary.completion_tokens > 0 {
        println!(
            "tokens: {} prompt + {} completion{}",
            summary.prompt_tokens,
            summary.completion_tokens,
            summary
                .cost_usd
                .map(|usd| format!(" · cost ${usd:.4}"))
                .unwrap_or_default()
        );
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.data.data_dir.join("runs").join(format!("eval-{job}")));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let json_path = out.join(format!("evaluation-{job}.json"));
    let csv_path = out.join(format!("evaluation-{job}.csv"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&doc)?)?;
    std::fs::write(&csv_path, csv)?;
    println!("wrote {} and {}", json_path.display(), csv_path.display());
    store.close().await;
    Ok(())
}

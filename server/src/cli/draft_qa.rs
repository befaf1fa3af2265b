//! `vlm-inspect dataset draft-qa`: a model drafts QA annotations for a dataset's images in the
//! foreground (stored as a drafting job, so the web pages show it and its drafts too), then
//! prints how many it wrote and where people decide on them.

use anomaly::qa_draft::DraftConfig;
use anomaly::Label;
use anyhow::bail;
use clap::Args;
use store::{JobConfig, JobKind, JobOwner};

use super::progress_line::ProgressLine;
use jobs::draft_qa::{self, DraftHooks};

#[derive(Debug, Args)]
pub struct DraftQaArgs {
    /// The dataset whose images get drafts.
    #[arg(long)]
    pub dataset: String,
    /// A registered model (local or remote) or a LLaVA folder.
    #[arg(long)]
    pub model: String,
    /// Only images of this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Only images with this label: good, logical or structural.
    #[arg(long)]
    pub label: Option<Label>,
    /// Draft images that have an annotation already, too.
    #[arg(long)]
    pub include_annotated: bool,
    /// At most this many images.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 96)]
    pub max_new_tokens: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    pub data: crate::data_dir::DataDir,
}

struct Bar {
    line: ProgressLine,
}

impl DraftHooks for Bar {
    fn drafted(&mut self, done: usize, total: usize, rel_path: &str) {
        self.line.show(&format!("{done}/{total} {rel_path}"));
    }
}

pub async fn run(args: DraftQaArgs) -> anyhow::Result<()> {
    crate::data_dir::prepare_data_dir(&args.data.data_dir)?;
    if args.max_new_tokens == 0 {
        bail!("--max-new-tokens must be at least 1");
    }
    let store = args.data.open().await?;
    let mut config = DraftConfig::new(&args.model, &args.dataset);
    config.category = args.category.clone();
    config.label = args.label;
    config.include_annotated = args.include_annotated;
    config.limit = args.limit;
    config.device = args.device.clone();
    config.decoding.max_new_tokens = args.max_new_tokens;
    let plan = draft_qa::plan(&store, &args.data.data_dir, config).await?;
    let job = store
        .create_running_job(
            JobKind::DraftQa,
            &JobConfig::encode(&plan.config),
            JobOwner::CommandLine,
        )
        .await?;
    let _lock = crate::data_dir::JobLock::acquire(&args.data.data_dir, job)?;
    eprintln!(
        "drafting job {job}: {} image(s) of {} with {}",
        plan.targets.len(),
        plan.config.dataset,
        plan.model.describe()
    );
    let runtime = tokio::runtime::Handle::current();
    let store2 = store.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut bar = Bar {
            line: ProgressLine::default(),
        };
        let outcome = draft_qa::run(&plan, &store2, job, &runtime, &mut bar);
        bar.line.line("");
        outcome
    })
    .await?;
    let summary = match outcome {
        Ok(s) => s,
        Err(e) => {
            store.finish_job(job, Some(&format!("{e:#}"))).await?;
            store.close().await;
            return Err(e.context(format!(
                "drafting job {job} failed (its drafts so far are kept)"
            )));
        }
    };
    let result = store::DraftResult {
        drafts: summary.drafts,
        device: args.device.clone(),
    };
    store
        .set_job_result(job, &serde_json::to_string(&result)?)
        .await?;
    store.finish_job(job, None).await?;
    store.close().await;
    println!(
        "drafting job {job}: {} draft(s) stored; decide on them at /drafts/{job}",
        summary.drafts
    );
    Ok(())
}

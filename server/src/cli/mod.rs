//! Command-line arguments and dispatch. `serve` is the default subcommand.

use clap::{Parser, Subcommand};

pub mod backup;
pub mod bench_remote;
pub mod bench_train;
pub mod bertscore;
pub mod check;
pub mod dataset;
pub mod draft_qa;
pub mod eval;
pub mod forward;
pub mod generate;
pub mod model;
pub mod models;
pub mod preprocess;
pub mod progress_line;
pub mod restore;
pub mod review;
pub mod tokens;
pub mod train;
pub mod users;
pub mod worker;

use crate::web::ServeArgs;
use users::UserCommand;

/// vlm-inspect: explain industrial defects with vision-language models.
#[derive(Debug, Parser)]
#[command(name = "vlm-inspect", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options for `serve`, the default subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the web application (the default).
    Serve(ServeArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Generate, import, inspect and split datasets.
    #[command(subcommand)]
    Dataset(dataset::DatasetCommand),
    /// List and register models.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// API tokens for the OpenAI-compatible /v1 API.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// One forward pass of a model on token ids; writes the logits (checks a checkpoint).
    Forward(forward::ForwardArgs),
    /// A model's image processor on one image; writes its pixel values (checks preprocessing).
    Preprocess(preprocess::PreprocessArgs),
    /// Chat with a language model: streams the reply to stdout, speed to stderr.
    Generate(generate::GenerateArgs),
    /// Part A: LoRA fine-tuning on a split's QA annotations, in the foreground.
    Train(train::TrainArgs),
    /// BERTScore of candidates against references (one text per line), as JSON.
    Bertscore(bertscore::BertScoreArgs),
    /// Part B and the paper's scoring: judge a split's test images with each prompt, print
    /// Table 1 and Table 2, write JSON and CSV.
    Eval(eval::EvalArgs),
    /// Back up the database and the data folder's files into one archive (safe beside a
    /// running server).
    Backup(backup::BackupArgs),
    /// Restore a backup archive into a new or empty data folder.
    Restore(restore::RestoreArgs),
    /// A run's review: export its judgements, summarize them, share its queue, set its plan;
    /// list and decide on drafted QA annotations.
    #[command(subcommand)]
    Review(review::ReviewCommand),
    /// Check the database and every file it refers to; fails when anything is wrong.
    Check(check::CheckArgs),
    /// A worker node: run the jobs of some lanes on one device, without serving pages, beside
    /// a web server that shares the database (`--database postgres://…`) and data folder.
    Worker(worker::WorkerArgs),
    /// Time LoRA training steps on a language model (for bench/train.sh).
    BenchTrain(bench_train::BenchTrainArgs),
    /// Time sequential requests through the remote-model client (for bench/remote_overhead.mjs).
    BenchRemote(bench_remote::BenchRemoteArgs),
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => crate::web::serve(cli.serve).await,
        Some(Command::Serve(args)) => crate::web::serve(args).await,
        Some(Command::User(cmd)) => users::run(cmd).await,
        Some(Command::Dataset(cmd)) => dataset::run(cmd).await,
        Some(Command::Model(cmd)) => model::run(cmd).await,
        Some(Command::Token(cmd)) => tokens::run(cmd).await,
        Some(Command::Forward(args)) => {
            tokio::task::spawn_blocking(move || forward::run(args)).await?
        }
        Some(Command::Preprocess(args)) => {
            tokio::task::spawn_blocking(move || preprocess::run(args)).await?
        }
        Some(Command::Train(args)) => train::cli(args).await,
        Some(Command::Eval(args)) => eval::run(args).await,
        Some(Command::Bertscore(args)) => {
            tokio::task::spawn_blocking(move || bertscore::run(args)).await?
        }
        Some(Command::Backup(args)) => backup::run(args).await,
        Some(Command::Restore(args)) => restore::run(args).await,
        Some(Command::Check(args)) => check::run(args).await,
        Some(Command::Worker(args)) => worker::run(args).await,
        Some(Command::Review(cmd)) => review::run(cmd).await,
        Some(Command::BenchRemote(args)) => bench_remote::run(args).await,
        Some(Command::BenchTrain(args)) => {
            let model = models::resolve(&args.model, &args.data).await?;
            tokio::task::spawn_blocking(move || bench_train::run(args, model)).await?
        }
        Some(Command::Generate(args)) => {
            // A bad device is reported before any model is installed or loaded.
            let _: vlm::DeviceSpec = args.device.parse()?;
            let model = models::resolve(&args.model, &args.data).await?;
            tokio::task::spawn_blocking(move || generate::run(args, model)).await?
        }
    }
}

/// Log to stderr, filtered by `RUST_LOG` (default: info, quiet sqlx).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

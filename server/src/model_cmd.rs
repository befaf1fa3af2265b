//! `vlm-inspect model list|add`: the data folder's model registry from the command line.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use vlm::llama::LlamaConfig;
use vlm::weights::gguf::GgufLlama;

use crate::cli::DataDir;
use crate::models::{ensure_embedded, KIND_LLAMA_GGUF};

/// Registry kind of a Hugging Face LLaMA folder.
pub const KIND_LLAMA_HF: &str = "llama-hf";

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// List registered models (installing the embedded one first if needed).
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Register a GGUF file or a Hugging Face folder under a name (the files stay where they
    /// are; their header and config are checked now).
    Add {
        name: String,
        path: PathBuf,
        #[command(flatten)]
        data: DataDir,
    },
}

/// What kind of checkpoint `path` is, read from its header or config.
fn kind_of(path: &std::path::Path) -> anyhow::Result<&'static str> {
    if path.is_dir() {
        LlamaConfig::from_file(&path.join("config.json"))?;
        if !path.join("tokenizer.json").is_file() {
            bail!("{} has no tokenizer.json", path.display());
        }
        Ok(KIND_LLAMA_HF)
    } else if path.is_file() {
        GgufLlama::open(path)?;
        Ok(KIND_LLAMA_GGUF)
    } else {
        bail!("{} does not exist", path.display())
    }
}

pub async fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::List { data } => {
            crate::cli::prepare_data_dir(&data.data_dir)?;
            let store = data.open().await?;
            ensure_embedded(&store, &data.data_dir).await?;
            for m in store.models().await? {
                println!("{}\t{}\t{}", m.name, m.kind, m.path);
            }
            store.close().await;
        }
        ModelCommand::Add { name, path, data } => {
            let path = std::fs::canonicalize(&path)
                .with_context(|| format!("{} does not exist", path.display()))?;
            let kind = kind_of(&path)?;
            let store = data.open().await?;
            let m = store
                .register_model(&name, kind, &path.display().to_string())
                .await?;
            println!("registered {} ({}) at {}", m.name, m.kind, m.path);
            store.close().await;
        }
    }
    Ok(())
}

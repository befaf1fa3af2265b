//! `vlm-inspect model list|add`: the data folder's model registry from the command line.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use vlm::llama::LlamaConfig;
use vlm::weights::gguf::GgufLlama;

use crate::data_dir::DataDir;
use jobs::models::{ensure_embedded, KIND_LLAMA_GGUF};

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
    /// Build a LLaVA folder from a LLaMA GGUF language model (default: the embedded
    /// SmolLM2-135M-Instruct) and a vision tower initialised from a seed, ready for stage-1
    /// training; registered under --name when given.
    Compose(ComposeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ComposeArgs {
    /// A LLaMA GGUF file, a registered GGUF model, or `smollm2`.
    #[arg(long, default_value = "smollm2")]
    pub lm: String,
    #[arg(long)]
    pub out: PathBuf,
    /// The tower's shape and seed from a JSON file (e.g. models/default/tower.json) instead of
    /// the flags below.
    #[arg(long, conflicts_with_all = ["image_size", "patch_size", "width", "layers", "heads", "mlp", "seed"])]
    pub tower: Option<PathBuf>,
    #[arg(long, default_value_t = 64)]
    pub image_size: usize,
    #[arg(long, default_value_t = 8)]
    pub patch_size: usize,
    /// The tower's hidden size.
    #[arg(long, default_value_t = 192)]
    pub width: usize,
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    #[arg(long, default_value_t = 3)]
    pub heads: usize,
    /// The tower's MLP size.
    #[arg(long, default_value_t = 768)]
    pub mlp: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Register the folder as a model under this name.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub data: DataDir,
}

/// Registry kind of a LLaVA folder.
pub const KIND_LLAVA: &str = "llava";

/// What kind of checkpoint `path` is, read from its header or config.
fn kind_of(path: &std::path::Path) -> anyhow::Result<&'static str> {
    if path.is_dir() && vlm::llava::is_adapter_dir(path) {
        Ok(jobs::training::KIND_LLAVA_LORA)
    } else if path.is_dir() && vlm::llava::is_llava_dir(path) {
        vlm::llava::LlavaConfig::from_file(&path.join("config.json"))?;
        if !path.join("tokenizer.json").is_file() {
            bail!("{} has no tokenizer.json", path.display());
        }
        Ok(KIND_LLAVA)
    } else if path.is_dir() {
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
            crate::data_dir::prepare_data_dir(&data.data_dir)?;
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
        ModelCommand::Compose(args) => compose(args).await?,
    }
    Ok(())
}

async fn compose(args: ComposeArgs) -> anyhow::Result<()> {
    crate::data_dir::prepare_data_dir(&args.data.data_dir)?;
    let store = args.data.open().await?;
    let lm = jobs::models::resolve_in(&store, &args.lm, &args.data.data_dir).await?;
    let (spec, seed) = match &args.tower {
        Some(file) => vlm::llava::compose::TowerSpec::from_file(file)?,
        None => {
            let spec = vlm::llava::compose::TowerSpec {
                image_size: args.image_size,
                patch_size: args.patch_size,
                hidden_size: args.width,
                layers: args.layers,
                heads: args.heads,
                intermediate_size: args.mlp,
            };
            spec.validate()?;
            (spec, args.seed)
        }
    };
    let out = args.out.clone();
    let made =
        tokio::task::spawn_blocking(move || vlm::llava::compose::compose(&lm, &spec, seed, &out))
            .await??;
    println!(
        "composed {}: vision tower {} parameters, projector {}, language model {} (<image> = {})",
        args.out.display(),
        made.vision_parameters,
        made.projector_parameters,
        made.language_parameters,
        made.image_token_id
    );
    if let Some(name) = &args.name {
        let path = std::fs::canonicalize(&args.out)?;
        store
            .register_model(name, KIND_LLAVA, &path.display().to_string())
            .await?;
        println!("registered {name} ({KIND_LLAVA})");
    }
    store.close().await;
    Ok(())
}

//! `vlm-inspect model list|add|test|remove`: the data folder's model registry from the
//! command line, local checkpoints and remote models on OpenAI-compatible servers alike.

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
    /// are; their header and config are checked now), or with --openai a model served by an
    /// OpenAI-compatible server.
    Add {
        name: String,
        /// The checkpoint (not with --openai).
        #[arg(required_unless_present = "openai", conflicts_with = "openai")]
        path: Option<PathBuf>,
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        data: DataDir,
    },
    /// Send one tiny request to a remote model and report the latency or the server's error.
    Test {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Remove a model from the registry (files stay where they are; a remote model's stored
    /// key is deleted).
    Remove {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Build a LLaVA folder from a LLaMA GGUF language model (default: the embedded
    /// SmolLM2-135M-Instruct) and a vision tower initialised from a seed, ready for stage-1
    /// training; registered under --name when given.
    Compose(ComposeArgs),
    /// Pretrain a LLaVA model's vision tower alone on a dataset's masks and defect names (per
    /// patch: normal or which defect; per image: which defect and which product), before any
    /// stage trains the language side. Writes OUT/tower.safetensors for `compose
    /// --tower-weights` and OUT/tower-pretrain.json (curve, scores on the split's test side).
    PretrainTower(PretrainTowerArgs),
}

#[derive(Debug, clap::Args)]
pub struct PretrainTowerArgs {
    /// The LLaVA model whose tower starts the run (a registered name or a folder).
    #[arg(long)]
    pub base: String,
    #[arg(long)]
    pub dataset: String,
    /// The split whose training side trains (its test side is scored, never trained on).
    #[arg(long)]
    pub split: String,
    #[arg(long)]
    pub out: PathBuf,
    /// Settings as TOML (vlm::train::tower::TowerOptions: epochs, learning_rate, batch_size,
    /// warmup_ratio, weight_decay, max_grad_norm, seed, defect_patch_weight; fresh_images = N
    /// and fresh_seed train on N new generator images per epoch instead of the split's
    /// training side).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    pub data: DataDir,
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
    /// A pretrained tower (`model pretrain-tower`'s tower.safetensors) instead of fresh
    /// weights; its shapes must match the tower's.
    #[arg(long)]
    pub tower_weights: Option<PathBuf>,
    /// Register the folder as a model under this name.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub data: DataDir,
}

/// A remote model's settings on the command line.
#[derive(Debug, clap::Args)]
pub struct RemoteArgs {
    /// The server's base URL up to the API version (`https://api.openai.com/v1`,
    /// `http://gpu-box:8000/v1`).
    #[arg(long, value_name = "BASE_URL")]
    pub openai: Option<String>,
    /// The server's name for the model (`gpt-4o`, `llava-hf/llava-1.5-7b-hf`).
    #[arg(long, value_name = "ID", requires = "openai")]
    pub remote_model: Option<String>,
    /// The environment variable of the server that holds the API key (the key itself is never
    /// stored in the database). Without it the server is sent no key.
    #[arg(
        long,
        value_name = "VAR",
        requires = "openai",
        conflicts_with = "api_key_stdin"
    )]
    pub api_key_env: Option<String>,
    /// Read the API key from standard input and keep it in a file under the data folder
    /// readable by this user only (data/keys/), instead of an environment variable.
    #[arg(long, requires = "openai")]
    pub api_key_stdin: bool,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4, requires = "openai")]
    pub max_concurrency: usize,
    /// Downscale images so their longer side is at most this many pixels.
    #[arg(long, value_name = "PX", requires = "openai")]
    pub max_image_side: Option<u32>,
    /// OpenAI's image detail level.
    #[arg(long, value_parser = ["auto", "low", "high"], requires = "openai")]
    pub detail: Option<String>,
    /// US dollars per million prompt tokens (for the cost of a run).
    #[arg(long, value_name = "USD_PER_1M", requires = "openai")]
    pub price_in: Option<f64>,
    /// US dollars per million completion tokens.
    #[arg(long, value_name = "USD_PER_1M", requires = "openai")]
    pub price_out: Option<f64>,
}

impl RemoteArgs {
    fn spec(&self, base_url: &str) -> anyhow::Result<store::RemoteSpec> {
        let Some(remote_model) = &self.remote_model else {
            bail!("--openai needs --remote-model ID: the server's name for the model");
        };
        Ok(store::RemoteSpec {
            base_url: base_url.trim().trim_end_matches('/').to_string(),
            remote_model: remote_model.clone(),
            api_key: match (&self.api_key_env, self.api_key_stdin) {
                (Some(var), _) => store::KeySource::Env { var: var.clone() },
                (None, true) => store::KeySource::File,
                (None, false) => store::KeySource::None,
            },
            max_concurrency: self.max_concurrency,
            max_image_side: self.max_image_side,
            detail: self
                .detail
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            price_in: self.price_in,
            price_out: self.price_out,
            first_token_timeout_s: None,
        })
    }
}

/// Registry kind of a LLaVA folder.
pub const KIND_LLAVA: &str = "llava";
/// Registry kind of an InternVL folder (for `generate`; not yet the web pages or evaluations).
pub const KIND_INTERNVL: &str = "internvl";

/// What kind of checkpoint `path` is, read from its header or config.
fn kind_of(path: &std::path::Path) -> anyhow::Result<&'static str> {
    // A Hugging Face folder whose config parses; it also needs its tokenizer.
    let folder = |kind: &'static str| -> anyhow::Result<&'static str> {
        if !path.join("tokenizer.json").is_file() {
            bail!("{} has no tokenizer.json", path.display());
        }
        Ok(kind)
    };
    let config = path.join("config.json");
    if path.is_dir() && vlm::chat::is_adapter_dir(path) {
        Ok(jobs::training::KIND_LLAVA_LORA)
    } else if path.is_dir() && vlm::internvl::is_internvl_dir(path) {
        vlm::internvl::InternVlConfig::from_file(&config)?;
        folder(KIND_INTERNVL)
    } else if path.is_dir() && vlm::llava::is_llava_dir(path) {
        vlm::llava::LlavaConfig::from_file(&config)?;
        folder(KIND_LLAVA)
    } else if path.is_dir() {
        LlamaConfig::from_file(&config)?;
        folder(KIND_LLAMA_HF)
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
                match &m.remote {
                    Some(r) => println!("{}\t{}\t{}\t{}", m.name, m.kind, m.path, r.remote_model),
                    None => println!("{}\t{}\t{}", m.name, m.kind, m.path),
                }
            }
            store.close().await;
        }
        ModelCommand::Add {
            name,
            path,
            remote,
            data,
        } => {
            crate::data_dir::prepare_data_dir(&data.data_dir)?;
            let store = data.open().await?;
            let m = match (&remote.openai, path) {
                (Some(base_url), _) => {
                    let spec = remote.spec(base_url)?;
                    let key = if remote.api_key_stdin {
                        let mut key = String::new();
                        std::io::stdin().read_line(&mut key)?;
                        if key.trim().is_empty() {
                            bail!("--api-key-stdin: no key on standard input");
                        }
                        Some(key)
                    } else {
                        None
                    };
                    jobs::remote_models::register(
                        &store,
                        &data.data_dir,
                        &name,
                        &spec,
                        key.as_deref(),
                    )
                    .await?
                }
                (None, Some(path)) => {
                    let path = std::fs::canonicalize(&path)
                        .with_context(|| format!("{} does not exist", path.display()))?;
                    let kind = kind_of(&path)?;
                    store
                        .register_model(&name, kind, &path.display().to_string())
                        .await?
                }
                (None, None) => bail!("model add needs a PATH or --openai BASE_URL"),
            };
            match &m.remote {
                Some(r) => println!(
                    "registered {} ({}): {} at {}",
                    m.name, m.kind, r.remote_model, r.base_url
                ),
                None => println!("registered {} ({}) at {}", m.name, m.kind, m.path),
            }
            store.close().await;
        }
        ModelCommand::Test { name, data } => {
            let store = data.open().await?;
            let report = jobs::remote_models::test_named(&store, &data.data_dir, &name).await;
            store.close().await;
            println!("{}", report?);
        }
        ModelCommand::Remove { name, data } => {
            let store = data.open().await?;
            let removed = jobs::remote_models::remove(&store, &data.data_dir, &name).await;
            store.close().await;
            if !removed? {
                bail!("no model named {name:?}");
            }
            println!("removed {name}");
        }
        ModelCommand::Compose(args) => compose(args).await?,
        ModelCommand::PretrainTower(args) => pretrain_tower(args).await?,
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
    let weights = args.tower_weights.clone();
    let made = tokio::task::spawn_blocking(move || {
        vlm::llava::compose::compose(&lm, &spec, seed, weights.as_deref(), &out)
    })
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

async fn pretrain_tower(args: PretrainTowerArgs) -> anyhow::Result<()> {
    use std::ops::ControlFlow;
    let options: vlm::train::tower::TowerOptions = match &args.config {
        Some(file) => toml::from_str(&std::fs::read_to_string(file)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
        None => Default::default(),
    };
    options.validate()?;
    let device: vlm::DeviceSpec = args.device.parse()?;
    let store = args.data.open().await?;
    let prepared = jobs::tower::prepare(
        &store,
        &args.data.data_dir,
        &args.base,
        &args.dataset,
        &args.split,
    )
    .await?;
    store.close().await;
    let source = if options.fresh_images > 0 {
        format!(
            "{} new generator images (stream seed {}) in each of {} epochs",
            options.fresh_images, options.fresh_seed, options.epochs
        )
    } else {
        format!(
            "{} images ({} kinds, {} products)",
            prepared.train.len(),
            prepared.vocabulary.kinds.len() - 1,
            prepared.vocabulary.groups.len()
        )
    };
    println!(
        "pretraining the tower of {} on {source}, scoring {} held-out images",
        prepared.base.display(),
        prepared.heldout.len()
    );
    let header = jobs::tower::PretrainHeader {
        dataset: args.dataset.clone(),
        split: args.split.clone(),
    };
    let data_dir = args.data.data_dir.clone();
    let out = args.out.clone();
    let record = tokio::task::spawn_blocking(move || {
        let mut line = super::progress_line::ProgressLine::default();
        let r = jobs::tower::run(
            &prepared,
            header,
            &options,
            device,
            &data_dir,
            &out,
            &mut |s| {
                if s.step % 10 == 0 || s.step == s.total_steps {
                    line.show(&format!(
                        "tower step {}/{} (epoch {}/{})  loss {:.4}  lr {:.2e}  {:.0} img/s  eta {:.0} s",
                        s.step, s.total_steps, s.epoch, s.epochs, s.loss, s.lr, s.images_per_s, s.eta_s
                    ));
                }
                ControlFlow::Continue(())
            },
        );
        line.line("");
        r
    })
    .await??;
    let (t, h) = (&record.train_scores, &record.heldout_scores);
    println!(
        "done in {:.0} s: epoch losses {:?}",
        record.summary.seconds,
        record
            .summary
            .epoch_losses
            .iter()
            .map(|l| (l * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
    for (side, s) in [("training side", t), ("held out", h)] {
        println!(
            "{side} ({} images): detection {:.1} %, kind {:.1} %, product {:.1} %, defect patches found {:.1} %, normal patches flagged {:.1} %",
            s.images,
            100.0 * s.detection,
            100.0 * s.kind,
            100.0 * s.group,
            100.0 * s.defect_patch_recall,
            100.0 * s.normal_patch_false_alarms
        );
    }
    println!("wrote {}", args.out.join("tower.safetensors").display());
    Ok(())
}

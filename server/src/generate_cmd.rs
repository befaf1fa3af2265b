//! `vlm-inspect generate`: chat with a language model from the command line, streaming the
//! reply to stdout and speed to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;
use burn::tensor::backend::Backend;
use clap::Args;
use vlm::llama::generate::{generate, Limits, Sampling};
use vlm::llama::stream::TextStream;
use vlm::DeviceSpec;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A GGUF file, a Hugging Face folder, a model registered in the data folder, or
    /// `smollm2` for the embedded SmolLM2-135M-Instruct.
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub data: crate::cli::DataDir,
    #[arg(long)]
    pub prompt: String,
    /// System prompt (default: the chat template's own).
    #[arg(long)]
    pub system: Option<String>,
    /// Send the prompt as is, without the chat template.
    #[arg(long)]
    pub raw: bool,
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// End-of-text tokens are not chosen before this many new tokens (for benchmarks).
    #[arg(long, default_value_t = 0)]
    pub min_new_tokens: usize,
    /// 0 decodes greedily.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    #[arg(long, default_value_t = 1.0)]
    pub repetition_penalty: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop when the reply contains this text (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs the command on the chosen backend with the model file or folder `--model` resolved to.
pub fn run(args: GenerateArgs, model: PathBuf) -> anyhow::Result<()> {
    let spec: DeviceSpec = args.device.parse()?;
    vlm::device::probe(spec)?;
    crate::backend::on_backend!(spec, run_on(&args, &model))
}

fn run_on<B: Backend>(args: &GenerateArgs, path: &Path, device: &B::Device) -> anyhow::Result<()> {
    let loaded = vlm::llama::open::<B>(path, device)?;
    let (cfg, tokenizer) = (&loaded.config, &loaded.tokenizer);
    let text = match (&loaded.template, args.raw) {
        (Some(t), false) => t.prompt(args.system.as_deref(), &args.prompt),
        (None, false) => {
            eprintln!(
                "note: the model has no chat template this tool knows; the prompt goes in as is"
            );
            args.prompt.clone()
        }
        (_, true) => args.prompt.clone(),
    };
    let prompt = tokenizer.encode_prompt(&text)?;
    if prompt.is_empty() {
        bail!("the prompt is empty");
    }
    if prompt.len() + args.max_new_tokens > cfg.max_position_embeddings {
        bail!(
            "the prompt ({} tokens) plus --max-new-tokens {} exceeds the model's context of {}",
            prompt.len(),
            args.max_new_tokens,
            cfg.max_position_embeddings
        );
    }
    let stop_tokens = loaded.stop_tokens.clone();
    let limits = Limits {
        max_new: args.max_new_tokens,
        min_new: args.min_new_tokens,
        stop_tokens: stop_tokens.clone(),
    };
    let sampling = Sampling {
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
    };

    let start = Instant::now();
    let mut first_token_at = None;
    let mut generated: Vec<u32> = Vec::new();
    let mut stream = TextStream::new(&args.stop);
    let mut stdout = std::io::stdout().lock();
    let mut show = |chunk: String| {
        if !chunk.is_empty() {
            let _ = stdout.write_all(chunk.as_bytes());
            let _ = stdout.flush();
        }
    };
    let out = generate(
        &loaded.model,
        &prompt,
        &limits,
        &sampling,
        |t| {
            first_token_at.get_or_insert_with(Instant::now);
            if stop_tokens.contains(&t) {
                return false;
            }
            generated.push(t);
            let text = tokenizer.decode(&generated, true).unwrap_or_default();
            show(stream.push(&text));
            !stream.stopped()
        },
        device,
    );
    show(stream.finish(&tokenizer.decode(&generated, true).unwrap_or_default()));
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout);
    let prefill = first_token_at.map(|t| t - start).unwrap_or_default();
    let decode = start.elapsed().saturating_sub(prefill);
    let n_decode = out.len().saturating_sub(1);
    eprintln!(
        "prompt: {} tokens, {:.1} tokens/s; generation: {} tokens, {:.1} tokens/s",
        prompt.len(),
        prompt.len() as f64 / prefill.as_secs_f64().max(1e-9),
        out.len(),
        n_decode as f64 / decode.as_secs_f64().max(1e-9)
    );
    Ok(())
}

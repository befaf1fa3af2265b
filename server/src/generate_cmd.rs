//! `vlm-inspect generate`: chat with a language model from the command line, streaming the
//! reply to stdout and speed to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use burn::tensor::backend::Backend;
use clap::Args;
use vlm::llama::generate::{generate, Limits, Sampling};
use vlm::llama::load::{from_source, KeyLayout};
use vlm::tokenizer::{ChatTemplate, Tokenizer};
use vlm::weights::gguf::{GgufLlama, Value};
use vlm::DeviceSpec;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A GGUF file, or `smollm2` for the embedded SmolLM2-135M-Instruct.
    #[arg(long)]
    pub model: String,
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

/// Where the embedded SmolLM2 GGUF is (set by scripts/setup.sh, else the default cache).
pub fn smollm2_path() -> PathBuf {
    if let Some(p) = std::env::var_os("VLM_INSPECT_SMOLLM2_GGUF") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/vlm-inspect/models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// Runs the command on the chosen backend.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let spec: DeviceSpec = args.device.parse()?;
    vlm::device::probe(spec)?;
    match spec {
        DeviceSpec::Cpu => run_on::<vlm::device::Cpu>(&args, &vlm::device::cpu_device()),
        #[allow(unreachable_patterns)]
        other => bail!("generate runs on the cpu backend in this build, not {other}"),
    }
}

fn template_of(g: &GgufLlama) -> Option<ChatTemplate> {
    let text = g
        .gguf
        .get("tokenizer.chat_template")
        .and_then(Value::as_str)?;
    if !text.contains("<|im_start|>") {
        return None;
    }
    // SmolLM2's template adds its own system prompt when the caller gives none.
    Some(if text.contains("SmolLM") {
        ChatTemplate::smollm2()
    } else {
        ChatTemplate::ChatMl {
            default_system: None,
        }
    })
}

fn run_on<B: Backend>(args: &GenerateArgs, device: &B::Device) -> anyhow::Result<()> {
    let path = if args.model == "smollm2" {
        smollm2_path()
    } else {
        PathBuf::from(&args.model)
    };
    if !path.is_file() {
        bail!(
            "model file {} not found (run scripts/setup.sh for the embedded SmolLM2)",
            path.display()
        );
    }
    let mut source = GgufLlama::open(&path)?;
    let tokenizer = Tokenizer::from_gguf(&source.gguf, &path.display().to_string())?;
    let cfg = source.config.clone();
    let template = template_of(&source);
    let model = from_source::<B>(&cfg, &KeyLayout::default(), &mut source, device)?;

    let text = match (&template, args.raw) {
        (Some(t), false) => t.prompt(args.system.as_deref(), &args.prompt),
        _ => args.prompt.clone(),
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
    let mut stop_tokens = tokenizer.eos.clone();
    stop_tokens.extend(cfg.eos_token_ids.iter().copied());
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
    let mut shown = String::new();
    let mut stdout = std::io::stdout().lock();
    let out = generate(
        &model,
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
            let end = args.stop.iter().filter_map(|s| text.find(s.as_str())).min();
            let visible = &text[..end.unwrap_or(text.len())];
            // Print only whole characters that were not printed yet.
            if visible.len() > shown.len() && visible.starts_with(shown.as_str()) {
                let _ = stdout.write_all(&visible.as_bytes()[shown.len()..]);
                let _ = stdout.flush();
                shown = visible.to_string();
            }
            end.is_none()
        },
        device,
    );
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

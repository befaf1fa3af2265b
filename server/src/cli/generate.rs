//! `vlm-inspect generate`: chat with a language model from the command line, streaming the
//! reply to stdout and speed to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use clap::Args;
use vlm::chat::ChatVlm;
use vlm::llama::generate::{generate_from_embeds, Limits, Sampling};
use vlm::llama::stream::TextStream;
use vlm::llama::{GgufWeights, Llama};
use vlm::tokenizer::{ChatTemplate, Tokenizer};
use vlm::DeviceSpec;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A GGUF file, a Hugging Face folder, a model registered in the data folder, or
    /// `smollm2` for the embedded SmolLM2-135M-Instruct.
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub data: crate::data_dir::DataDir,
    #[arg(long)]
    pub prompt: String,
    /// An image for a vision-language model (repeatable; in prompt order).
    #[arg(long = "image")]
    pub images: Vec<PathBuf>,
    /// InternVL: at most this many tiles per image (besides the thumbnail), so that several
    /// high-resolution images fit the context; default the processor's (12).
    #[arg(long)]
    pub max_patches: Option<usize>,
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
    /// On a GPU backend, keep weights and activations in f16 (half the memory of f32).
    #[arg(long)]
    pub half: bool,
    /// A GGUF's Q8_0/Q4_0/Q4_1 matrices are multiplied in f32 for every token, as
    /// transformers does (the reference). Without it, decoding on the CPU multiplies their
    /// quantised blocks with 8-bit activations, as llama.cpp does: faster, not bit-identical.
    #[arg(long)]
    pub dequantize: bool,
}

/// Runs the command on the chosen backend with the model file or folder `--model` resolved to.
pub fn run(args: GenerateArgs, model: PathBuf) -> anyhow::Result<()> {
    let spec: DeviceSpec = args.device.parse()?;
    if args.half {
        vlm::device::set_half(spec)?;
    }
    vlm::device::probe(spec)?;
    // Quantised blocks only on the CPU: on a GPU the f32 copies stay in use.
    let weights = match (spec, args.dequantize) {
        (DeviceSpec::Cpu, false) => GgufWeights::Quantised,
        _ => GgufWeights::F32,
    };
    jobs::on_backend!(spec, args.half, run_on(&args, &model, weights))
}

/// The prompt text: the chat template applied (with `images` image lines) unless `--raw`.
fn prompt_text(
    args: &GenerateArgs,
    template: Option<&ChatTemplate>,
    images: usize,
) -> anyhow::Result<String> {
    Ok(match (template, args.raw) {
        (Some(t), false) => t.prompt_with_images(args.system.as_deref(), images, &args.prompt)?,
        (None, false) => {
            eprintln!("note: the model has no chat template; the prompt goes in as is");
            args.prompt.clone()
        }
        (_, true) => args.prompt.clone(),
    })
}

fn run_on<B: Backend>(
    args: &GenerateArgs,
    path: &Path,
    weights: GgufWeights,
    device: &B::Device,
) -> anyhow::Result<()> {
    if vlm::chat::is_vlm_dir(path) {
        return run_vlm::<B>(args, path, device);
    }
    if args.max_patches.is_some() {
        bail!(
            "--max-patches is for InternVL models; {} is not one",
            path.display()
        );
    }
    if !args.images.is_empty() {
        bail!(
            "{} is a language model without a vision tower: --image needs a LLaVA or InternVL folder",
            path.display()
        );
    }
    let loaded = vlm::llama::open_with::<B>(path, device, weights)?;
    let (matrices, bytes) = vlm::llama::quantised::quantised_bytes(&loaded.model);
    if matrices > 0 {
        // bench/generate.sh reads this line.
        eprintln!(
            "quantised: {matrices} matrices, {:.1} MB read per token, kernel {}",
            bytes as f64 / 1e6,
            vlm::quant::kernel().name()
        );
    }
    let text = prompt_text(args, loaded.template.as_ref(), 0)?;
    let prompt = loaded.tokenizer.encode_prompt(&text)?;
    check_length(&prompt, args, loaded.config.max_position_embeddings)?;
    let ids: Vec<i64> = prompt.iter().map(|&t| t as i64).collect();
    let ids: Tensor<B, 2, Int> = Tensor::from_data(TensorData::new(ids, [1, prompt.len()]), device);
    let embeds = loaded.model.embed(ids);
    stream(
        args,
        &loaded.model,
        embeds,
        &prompt,
        &loaded.tokenizer,
        &loaded.stop_tokens,
        device,
    );
    Ok(())
}

/// A LLaVA or InternVL folder, or a fine-tuned model's adapter folder (base + adapter, merged).
fn run_vlm<B: Backend>(args: &GenerateArgs, path: &Path, device: &B::Device) -> anyhow::Result<()> {
    let m = vlm::chat::open_vlm::<B>(path, device)?;
    if let (Some(_), ChatVlm::Llava(_)) = (args.max_patches, &m) {
        bail!(
            "--max-patches is for InternVL models; {} is a LLaVA model",
            path.display()
        );
    }
    let pixels =
        m.load_images(&args.images, args.max_patches)
            .map_err(|e| match (e, args.max_patches) {
                (vlm::chat::ChatError::MaxPatches(reason), Some(n)) => {
                    anyhow::anyhow!("--max-patches {n}: {reason}")
                }
                (e, _) => e.into(),
            })?;
    let text = prompt_text(args, Some(m.template()), args.images.len())?;
    let prompt = m.prompt_ids(&text, &pixels.per_image)?;
    check_length(&prompt, args, m.context())?;
    let tiles = m.pixel_tensor(&pixels.tiles, device);
    let ids: Vec<i64> = prompt.iter().map(|&t| t as i64).collect();
    let embeds = m.embed(&ids, [1, ids.len()], tiles, device)?;
    stream(
        args,
        m.lm(),
        embeds,
        &prompt,
        m.tokenizer(),
        m.stop_tokens(),
        device,
    );
    Ok(())
}

fn check_length(prompt: &[u32], args: &GenerateArgs, context: usize) -> anyhow::Result<()> {
    if prompt.is_empty() {
        bail!("the prompt is empty");
    }
    if prompt.len() + args.max_new_tokens > context {
        bail!(
            "the prompt ({} tokens) plus --max-new-tokens {} exceeds the model's context of {}",
            prompt.len(),
            args.max_new_tokens,
            context
        );
    }
    Ok(())
}

/// Generates after the prompt embeddings, streaming the reply to stdout and the speed to stderr.
fn stream<B: Backend>(
    args: &GenerateArgs,
    lm: &Llama<B>,
    embeds: Tensor<B, 3>,
    prompt: &[u32],
    tokenizer: &Tokenizer,
    stop_tokens: &[u32],
    device: &B::Device,
) {
    let limits = Limits {
        max_new: args.max_new_tokens,
        min_new: args.min_new_tokens,
        stop_tokens: stop_tokens.to_vec(),
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
    let mut text_stream = TextStream::new(&args.stop);
    let mut stdout = std::io::stdout().lock();
    let mut show = |chunk: String| {
        if !chunk.is_empty() {
            let _ = stdout.write_all(chunk.as_bytes());
            let _ = stdout.flush();
        }
    };
    let out = generate_from_embeds(
        lm,
        embeds,
        prompt,
        &limits,
        &sampling,
        |t| {
            first_token_at.get_or_insert_with(Instant::now);
            if stop_tokens.contains(&t) {
                return false;
            }
            generated.push(t);
            let text = tokenizer.decode(&generated, true).unwrap_or_default();
            show(text_stream.push(&text));
            !text_stream.stopped()
        },
        device,
    );
    show(text_stream.finish(&tokenizer.decode(&generated, true).unwrap_or_default()));
    show("\n".to_string());
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
}

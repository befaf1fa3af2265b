//! `vlm-inspect forward`: one forward pass of a checkpoint on token ids from a safetensors
//! file, logits written to another — the tool for checking a converted checkpoint against a
//! reference implementation.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use clap::Args;
use vlm::llama::generate::{generate_from_embeds, Limits, Sampling};
use vlm::llama::load::from_hf_dir;
use vlm::llama::Mask;
use vlm::weights::safetensors::{read_i64, write, SafeTensors};
use vlm::weights::TensorSource;
use vlm::workers::on_cpu_workers;
use vlm::DeviceSpec;

#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// A Hugging Face model folder (config.json + model.safetensors or shards): LLaMA, Qwen2,
    /// LLaVA or InternVL.
    #[arg(long)]
    pub model: PathBuf,
    /// safetensors with `input_ids` (I64 [batch, seq]), optionally `attention_mask`, and for
    /// LLaVA `pixel_values` (F32 [n_images, 3, H, W], images in prompt order), for InternVL
    /// `pixel_values` [total_tiles, 3, 448, 448] of all images in prompt order (the tile
    /// counts follow from the image tokens in input_ids).
    #[arg(long)]
    pub inputs: PathBuf,
    /// Where to write `logits` (F32 [batch, seq, vocab]).
    #[arg(long)]
    pub out: PathBuf,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// On a GPU backend, keep weights and activations in f16 (half the memory of f32).
    #[arg(long)]
    pub half: bool,
    /// After the forward pass, also decode this many tokens greedily from the same prompt
    /// (batch 1, KV cache, no stop token) and report the time to the first token and the
    /// decoding speed (bench/gpu.sh reads that line).
    #[arg(long, default_value_t = 0)]
    pub decode: usize,
    /// Run the forward pass (and the decoding) this many times and report the fastest: the
    /// first run of a GPU backend compiles and tunes its kernels.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

/// Runs the command on the chosen backend.
pub fn run(args: ForwardArgs) -> anyhow::Result<()> {
    let spec: DeviceSpec = args.device.parse()?;
    if args.half {
        vlm::device::set_half(spec)?;
    }
    vlm::device::probe(spec)?;
    jobs::on_backend!(spec, args.half, forward(&args))
}

/// Token ids `[batch, seq]` and their optional attention mask.
struct Inputs {
    batch: usize,
    seq: usize,
    ids: Vec<i64>,
    mask: Option<Vec<i64>>,
    /// `[n_images, channels, height, width]` for vision-language models.
    pixels: Option<(Vec<usize>, Vec<f32>)>,
}

fn read_ids(path: &Path) -> anyhow::Result<Inputs> {
    let mut st = SafeTensors::open(path)?;
    let (shape, ids) = read_i64(&mut st, "input_ids")?
        .with_context(|| format!("{}: no tensor named input_ids", path.display()))?;
    let [b, s] = shape[..] else {
        bail!(
            "{}: input_ids must be [batch, seq], got {shape:?}",
            path.display()
        )
    };
    let mask = match read_i64(&mut st, "attention_mask")? {
        Some((mshape, m)) if mshape == shape => Some(m),
        Some((mshape, _)) => bail!(
            "{}: attention_mask is {mshape:?} but input_ids is {shape:?}",
            path.display()
        ),
        None => None,
    };
    let pixels = match st.read("pixel_values")? {
        Some(t) if t.shape.len() == 4 => Some((t.shape, t.data)),
        Some(t) => bail!(
            "{}: pixel_values must be [n_images, channels, height, width], got {:?}",
            path.display(),
            t.shape
        ),
        None => None,
    };
    Ok(Inputs {
        batch: b,
        seq: s,
        ids,
        mask,
        pixels,
    })
}

fn forward<B: Backend>(args: &ForwardArgs, device: &B::Device) -> anyhow::Result<()> {
    let mut inputs = read_ids(&args.inputs)?;
    let all_attended = !inputs.mask.as_ref().is_some_and(|m| m.contains(&0));
    if args.decode > 0 && (inputs.batch != 1 || !all_attended) {
        bail!("--decode takes one prompt (batch 1) with every token attended");
    }
    let start = Instant::now();
    let (b, s) = (inputs.batch, inputs.seq);
    let mask = match &inputs.mask {
        Some(m) => Mask::from_ones(b, s, m),
        None => Mask::all(b, s),
    };
    let pixels = |p: Option<(Vec<usize>, Vec<f32>)>| {
        p.map(|(shape, data)| {
            let shape: [usize; 4] = [shape[0], shape[1], shape[2], shape[3]];
            Tensor::<B, 4>::from_data(TensorData::new(data, shape), device)
        })
    };
    // LLaVA and InternVL take the same inputs through the same calls: one body for both.
    macro_rules! vision_language {
        ($load:expr) => {{
            let (cfg, model) = $load(&args.model, device)?;
            let loaded = Instant::now();
            let (text, image) = (&cfg.text, Some(cfg.image_token_id));
            let (vocab, context) = (text.vocab_size, text.max_position_embeddings);
            check_ids(args, &inputs, vocab, context, image)?;
            let pixels = pixels(inputs.pixels.take());
            let ids = &inputs.ids;
            let run = || Ok(model.forward(ids, [b, s], &mask, pixels.clone(), None)?);
            let embed = || Ok(model.embed(ids, [b, s], pixels.clone(), device)?);
            measure(args, &inputs, loaded, run, embed, &model.lm, device)?
        }};
    }
    let timed = if vlm::internvl::is_internvl_dir(&args.model) {
        vision_language!(vlm::internvl::load::from_hf_dir::<B>)
    } else if vlm::llava::is_llava_dir(&args.model) {
        vision_language!(vlm::llava::from_hf_dir::<B>)
    } else {
        if inputs.pixels.is_some() {
            bail!(
                "{} has pixel_values but {} is not a vision-language model",
                args.inputs.display(),
                args.model.display()
            );
        }
        let (cfg, model) = from_hf_dir::<B>(&args.model, device)?;
        let loaded = Instant::now();
        check_ids(
            args,
            &inputs,
            cfg.vocab_size,
            cfg.max_position_embeddings,
            None,
        )?;
        let input: Tensor<B, 2, Int> =
            Tensor::from_data(TensorData::new(inputs.ids.clone(), [b, s]), device);
        let run = || Ok(model.forward(input.clone(), &mask, None));
        let embed = || Ok(model.embed(input.clone()));
        measure(args, &inputs, loaded, run, embed, &model, device)?
    };
    let logits = &timed.logits;
    write(&args.out, &[("logits", &logits.dims, &logits.data)], &[])?;
    println!("wrote logits {:?} to {}", logits.dims, args.out.display());
    eprintln!(
        "load: {:.3} s; forward: {:.3} s",
        (timed.loaded - start).as_secs_f64(),
        timed.best.as_secs_f64()
    );
    Ok(())
}

/// The logits of the last pass, the load's end, and the fastest of the repeated passes.
struct Timed {
    logits: Logits,
    loaded: Instant,
    best: Duration,
}

/// Runs the forward pass `--repeat` times (each timed to its logits on the host), then, with
/// `--decode`, the timed decoding as often.
fn measure<B: Backend>(
    args: &ForwardArgs,
    inputs: &Inputs,
    loaded: Instant,
    run: impl Fn() -> anyhow::Result<Tensor<B, 3>> + Sync,
    embed: impl Fn() -> anyhow::Result<Tensor<B, 3>> + Sync,
    lm: &vlm::llama::Llama<B>,
    device: &B::Device,
) -> anyhow::Result<Timed> {
    let repeat = args.repeat.max(1);
    let mut best = Duration::MAX;
    let mut last = None;
    for pass in 1..=repeat {
        let t = Instant::now();
        let logits = Logits::read(on_cpu_workers::<B, _>(&run)?)?;
        best = best.min(logits.at - t);
        if repeat > 1 {
            eprintln!(
                "pass {pass}: forward {:.3} s",
                (logits.at - t).as_secs_f64()
            );
        }
        last = Some(logits);
    }
    let decodes = if args.decode > 0 { repeat } else { 0 };
    for _ in 0..decodes {
        let embed_on_pool = || on_cpu_workers::<B, _>(&embed);
        decode_speed(lm, embed_on_pool, inputs, args.decode, device)?;
    }
    Ok(Timed {
        logits: last.expect("at least one pass"),
        loaded,
        best,
    })
}

/// Logits read back to the host, and when they were ready (reading waits for a GPU).
struct Logits {
    dims: [usize; 3],
    data: Vec<f32>,
    at: Instant,
}

impl Logits {
    fn read<B: Backend>(logits: Tensor<B, 3>) -> anyhow::Result<Self> {
        let dims = logits.dims();
        // `into_vec` takes the buffer over (the CPU's 272 MB of a Chain-of-Image forward's
        // logits were copied once more by `to_vec`).
        let data = logits
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
        Ok(Logits {
            dims,
            data,
            at: Instant::now(),
        })
    }
}

/// Greedy decoding of `n` tokens after the prompt that `embed` makes (batch 1, every token
/// attended: checked before the model loads), timed: the first token (images, prefill) apart from the rest (decode).
fn decode_speed<B: Backend>(
    lm: &vlm::llama::Llama<B>,
    embed: impl FnOnce() -> anyhow::Result<Tensor<B, 3>>,
    inputs: &Inputs,
    n: usize,
    device: &B::Device,
) -> anyhow::Result<()> {
    let prompt: Vec<u32> = inputs.ids.iter().map(|&t| t as u32).collect();
    let limits = Limits {
        max_new: n,
        min_new: n,
        stop_tokens: Vec::new(),
    };
    let start = Instant::now();
    let embeds = embed()?;
    let mut first = None;
    let tokens = generate_from_embeds(
        lm,
        embeds,
        &prompt,
        &limits,
        &Sampling::default(),
        |_| {
            first.get_or_insert_with(Instant::now);
            true
        },
        device,
    );
    let end = Instant::now();
    let first = first.unwrap_or(end);
    let rest = (end - first).as_secs_f64();
    let speed = if tokens.len() > 1 && rest > 0.0 {
        (tokens.len() - 1) as f64 / rest
    } else {
        0.0
    };
    eprintln!(
        "first token: {:.3} s; decode: {} tokens, {speed:.2} tokens/s",
        (first - start).as_secs_f64(),
        tokens.len()
    );
    Ok(())
}

/// Token ids inside the vocabulary (or the image token) and a sequence within the context.
fn check_ids(
    args: &ForwardArgs,
    inputs: &Inputs,
    vocab: usize,
    context: usize,
    image_token: Option<u32>,
) -> anyhow::Result<()> {
    let outside =
        |i: i64| (i < 0 || i as usize >= vocab) && Some(i as u32) != image_token.filter(|_| i >= 0);
    if let Some(bad) = inputs.ids.iter().find(|&&i| outside(i)) {
        bail!(
            "{}: token id {bad} is outside the vocabulary (size {vocab})",
            args.inputs.display()
        );
    }
    if inputs.seq > context {
        bail!(
            "the input has {} tokens, longer than the model's context of {context}",
            inputs.seq
        );
    }
    Ok(())
}

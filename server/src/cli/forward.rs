//! `vlm-inspect forward`: one forward pass of a checkpoint on token ids from a safetensors
//! file, logits written to another — the tool for checking a converted checkpoint against a
//! reference implementation.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use clap::Args;
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
    let inputs = read_ids(&args.inputs)?;
    let start = std::time::Instant::now();
    let loaded_at;
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
    let logits = if vlm::internvl::is_internvl_dir(&args.model) {
        let (cfg, model) = vlm::internvl::load::from_hf_dir::<B>(&args.model, device)?;
        loaded_at = std::time::Instant::now();
        check_ids(
            args,
            &inputs,
            cfg.text.vocab_size,
            cfg.text.max_position_embeddings,
            Some(cfg.image_token_id),
        )?;
        let pixels = pixels(inputs.pixels);
        on_cpu_workers::<B, _>(|| model.forward(&inputs.ids, [b, s], &mask, pixels, None))?
    } else if vlm::llava::is_llava_dir(&args.model) {
        let (cfg, model) = vlm::llava::from_hf_dir::<B>(&args.model, device)?;
        loaded_at = std::time::Instant::now();
        check_ids(
            args,
            &inputs,
            cfg.text.vocab_size,
            cfg.text.max_position_embeddings,
            Some(cfg.image_token_id),
        )?;
        let pixels = pixels(inputs.pixels);
        on_cpu_workers::<B, _>(|| model.forward(&inputs.ids, [b, s], &mask, pixels, None))?
    } else {
        if inputs.pixels.is_some() {
            bail!(
                "{} has pixel_values but {} is not a vision-language model",
                args.inputs.display(),
                args.model.display()
            );
        }
        let (cfg, model) = from_hf_dir::<B>(&args.model, device)?;
        loaded_at = std::time::Instant::now();
        check_ids(
            args,
            &inputs,
            cfg.vocab_size,
            cfg.max_position_embeddings,
            None,
        )?;
        let input: Tensor<B, 2, Int> =
            Tensor::from_data(TensorData::new(inputs.ids, [b, s]), device);
        on_cpu_workers::<B, _>(|| model.forward(input, &mask, None))
    };
    let dims = logits.dims();
    let data = logits
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
    let computed_at = std::time::Instant::now();
    write(&args.out, &[("logits", &dims, &data)], &[])?;
    println!("wrote logits {:?} to {}", dims, args.out.display());
    eprintln!(
        "load: {:.3} s; forward: {:.3} s",
        (loaded_at - start).as_secs_f64(),
        (computed_at - loaded_at).as_secs_f64()
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

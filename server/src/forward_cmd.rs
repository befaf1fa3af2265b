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
use vlm::DeviceSpec;

#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// A Hugging Face model folder (config.json + model.safetensors or shards).
    #[arg(long)]
    pub model: PathBuf,
    /// safetensors with `input_ids` (I64 [batch, seq]) and optionally `attention_mask`.
    #[arg(long)]
    pub inputs: PathBuf,
    /// Where to write `logits` (F32 [batch, seq, vocab]).
    #[arg(long)]
    pub out: PathBuf,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs the command on the chosen backend.
pub fn run(args: ForwardArgs) -> anyhow::Result<()> {
    let spec: DeviceSpec = args.device.parse()?;
    vlm::device::probe(spec)?;
    crate::backend::on_backend!(spec, forward(&args))
}

/// Token ids `[batch, seq]` and their optional attention mask.
struct Inputs {
    batch: usize,
    seq: usize,
    ids: Vec<i64>,
    mask: Option<Vec<i64>>,
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
    Ok(Inputs {
        batch: b,
        seq: s,
        ids,
        mask,
    })
}

fn forward<B: Backend>(args: &ForwardArgs, device: &B::Device) -> anyhow::Result<()> {
    let Inputs {
        batch: b,
        seq: s,
        ids,
        mask,
    } = read_ids(&args.inputs)?;
    let (cfg, model) = from_hf_dir::<B>(&args.model, device)?;
    if let Some(bad) = ids.iter().find(|&&i| i < 0 || i as usize >= cfg.vocab_size) {
        bail!(
            "{}: token id {bad} is outside the vocabulary (size {})",
            args.inputs.display(),
            cfg.vocab_size
        );
    }
    if s > cfg.max_position_embeddings {
        bail!(
            "the input has {s} tokens, longer than the model's context of {}",
            cfg.max_position_embeddings
        );
    }
    let mask = match mask {
        Some(m) => Mask::from_ones(b, s, &m),
        None => Mask::all(b, s),
    };
    let input: Tensor<B, 2, Int> = Tensor::from_data(TensorData::new(ids, [b, s]), device);
    let logits = model.forward(input, &mask, None);
    let dims = logits.dims();
    let data = logits
        .into_data()
        .to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
    write(&args.out, &[("logits", &dims, &data)], &[])?;
    println!("wrote logits {:?} to {}", dims, args.out.display());
    Ok(())
}

//! `vlm-inspect bench-train`: times LoRA training steps of a language model on one synthetic
//! sequence (bench/train.sh runs it beside transformers + peft and prints the ratio).

use std::path::PathBuf;
use std::time::Instant;

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use clap::Args;
use vlm::rng::Rng;
use vlm::train::adamw::AdamW;
use vlm::train::run::one_step;
use vlm::train::{Example, TrainOptions, Trainee};

#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// A GGUF file, a Hugging Face folder (a language model, LLaVA or InternVL), a registered
    /// model or `smollm2`.
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub data: crate::data_dir::DataDir,
    #[arg(long, default_value_t = 256)]
    pub seq_len: usize,
    /// The last this many tokens are the answer (carry the loss).
    #[arg(long, default_value_t = 64)]
    pub answer_len: usize,
    /// Timed steps (after one warm-up step).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Also time the forward pass alone (to split a step into forward and backward).
    #[arg(long)]
    pub split: bool,
}

pub fn run(args: BenchTrainArgs, model: PathBuf) -> anyhow::Result<()> {
    let spec: vlm::DeviceSpec = args.device.parse()?;
    vlm::device::probe(spec)?;
    jobs::on_backend!(spec, false, run_on(&args, &model))
}

fn run_on<B: Backend>(
    args: &BenchTrainArgs,
    model: &std::path::Path,
    device: &B::Device,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.answer_len > 0 && args.answer_len < args.seq_len,
        "--answer-len must be in 1..seq-len"
    );
    // A vision-language folder trains its language model's adapters, as `train` does.
    let trainee = if vlm::chat::is_vlm_dir(model) {
        vlm::chat::open_vlm::<Autodiff<B>>(model, device)?.into_trainee()
    } else {
        Trainee::Llama(vlm::llama::open::<Autodiff<B>>(model, device)?.model)
    };
    let opts = TrainOptions {
        warmup_ratio: 0.0,
        lora: vlm::lora::LoraConfig {
            dropout: 0.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut trainee = trainee.prepare(&opts, device).map_err(anyhow::Error::msg)?;
    let trainable: usize = trainee
        .trainables()
        .iter()
        .map(|(_, p)| p.flat().dims()[0])
        .sum();
    // The same kind of ids as the peer: uniform in [100, 10000).
    let mut rng = Rng::new(0);
    let ids: Vec<i64> = (0..args.seq_len)
        .map(|_| 100 + (rng.next_u64() % 9900) as i64)
        .collect();
    let cut = args.seq_len - args.answer_len;
    let example = Example::new(ids[..cut].to_vec(), ids[cut..].to_vec(), vec![]);
    let examples = [example];
    let group: Vec<&[usize]> = vec![&[0]];
    let mut optimizer = AdamW::new(opts.beta1, opts.beta2, opts.eps, opts.weight_decay);
    let mut step = |trainee: &mut Trainee<Autodiff<B>>, k: usize| {
        one_step(
            trainee,
            &mut optimizer,
            &examples,
            &group,
            &opts,
            k,
            opts.learning_rate,
            device,
        )
        .map_err(anyhow::Error::msg)
    };
    step(&mut trainee, 0)?; // warm-up: allocator, page cache
    let t0 = Instant::now();
    let mut losses = Vec::new();
    for k in 1..=args.steps {
        losses.push(step(&mut trainee, k)?.0);
    }
    let ms = t0.elapsed().as_secs_f64() * 1000.0 / args.steps.max(1) as f64;
    let forward_ms = if args.split {
        let batch = vlm::train::Batch::collate(&[&examples[0]], 0);
        let t = Instant::now();
        for _ in 0..args.steps {
            let hidden = trainee.hidden(&batch, device).map_err(anyhow::Error::msg)?;
            let loss = vlm::train::loss::answer_loss(hidden, &trainee.lm().lm_head, &batch.labels);
            let _ = loss.map(|l| l.into_scalar());
        }
        Some(t.elapsed().as_secs_f64() * 1000.0 / args.steps.max(1) as f64)
    } else {
        None
    };
    println!(
        "{}",
        serde_json::json!({
            "seq_len": args.seq_len,
            "steps": args.steps,
            "ms_per_step": ms,
            "forward_ms": forward_ms,
            "loss_first": losses.first(),
            "loss_last": losses.last(),
            "peak_rss_mb": peak_rss_mb(),
            "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "trainable_params": trainable,
        })
    );
    Ok(())
}

/// The process's peak resident memory (VmHWM), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

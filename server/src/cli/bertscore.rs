//! `vlm-inspect bertscore`: BERTScore of candidate texts against references, one text per line,
//! printed as JSON `{"P":[...],"R":[...],"F1":[...],"hash":"..."}`.

use std::path::PathBuf;

use anomaly::bertscore::{hash, Baseline, BertScorer};
use anyhow::{bail, Context};
use burn::tensor::backend::Backend;
use clap::Args;

#[derive(Debug, Args)]
pub struct BertScoreArgs {
    /// A BERT folder (config.json, model.safetensors, tokenizer.json), e.g. all-MiniLM-L6-v2.
    #[arg(long)]
    pub model: PathBuf,
    /// Which layer's hidden states to compare (bert_score's num_layers).
    #[arg(long)]
    pub layers: usize,
    /// Weight tokens by inverse document frequency over the references.
    #[arg(long)]
    pub idf: bool,
    /// Candidates, one per line.
    #[arg(long)]
    pub cands: PathBuf,
    /// References, one per line, line i for candidate i; repeat for several references per
    /// candidate (the best score of each measure is kept).
    #[arg(long, required = true)]
    pub refs: Vec<PathBuf>,
    /// Rescale with a baseline `P,R,F1` (e.g. from bert_score's baseline files).
    #[arg(long)]
    pub baseline: Option<String>,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

fn lines(path: &PathBuf) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text.lines().map(String::from).collect())
}

pub fn run(args: BertScoreArgs) -> anyhow::Result<()> {
    let spec: vlm::DeviceSpec = args.device.parse()?;
    vlm::device::probe(spec)?;
    jobs::on_backend!(spec, false, run_on(&args))
}

fn run_on<B: Backend>(args: &BertScoreArgs, device: &B::Device) -> anyhow::Result<()> {
    let cands = lines(&args.cands)?;
    let sets: Vec<Vec<String>> = args.refs.iter().map(lines).collect::<Result<_, _>>()?;
    for (path, set) in args.refs.iter().zip(&sets) {
        if set.len() != cands.len() {
            bail!(
                "{} has {} lines but {} has {}: one reference per candidate",
                path.display(),
                set.len(),
                args.cands.display(),
                cands.len()
            );
        }
    }
    let refs: Vec<Vec<String>> = (0..cands.len())
        .map(|i| sets.iter().map(|s| s[i].clone()).collect())
        .collect();
    let baseline = match &args.baseline {
        None => None,
        Some(text) => {
            let v: Vec<f64> = text
                .split(',')
                .map(|x| x.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .with_context(|| format!("--baseline {text:?}: three numbers P,R,F1"))?;
            let [p, r, f1] = v[..] else {
                bail!("--baseline {text:?}: three numbers P,R,F1");
            };
            Some(Baseline { p, r, f1 })
        }
    };
    let t0 = std::time::Instant::now();
    let encoder = vlm::bert::open::<B>(&args.model, device)
        .with_context(|| format!("loading {}", args.model.display()))?;
    if args.layers == 0 || args.layers > encoder.config.num_hidden_layers {
        bail!(
            "--layers {}: the model has layers 1..={}",
            args.layers,
            encoder.config.num_hidden_layers
        );
    }
    let scorer = BertScorer {
        encoder: &encoder,
        layers: args.layers,
        batch_size: args.batch_size,
        device: device.clone(),
    };
    let loaded = t0.elapsed().as_secs_f64();
    let t1 = std::time::Instant::now();
    let scores = scorer.score(&cands, &refs, args.idf, baseline.as_ref())?;
    let scored = t1.elapsed().as_secs_f64();
    eprintln!(
        "loaded in {loaded:.2} s; scored {} pairs in {scored:.2} s ({:.1} pairs/s)",
        cands.len(),
        cands.len() as f64 / scored.max(1e-9)
    );
    let mut json = serde_json::to_value(&scores)?;
    json["hash"] = hash(
        &args.model.display().to_string(),
        args.layers,
        args.idf,
        baseline.as_ref(),
    )
    .into();
    println!("{json}");
    Ok(())
}

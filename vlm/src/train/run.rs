//! The training loop.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

use super::adamw::{clip_global_norm, AdamW};
use super::batch::{Batch, Example};
use super::checkpoint::{self, TrainerState};
use super::error::{StepError, TrainError};
use super::loss::answer_loss;
use super::options::TrainOptions;
use super::progress::{Control, Progress};
use super::schedule::{learning_rate, warmup_steps};
use super::trainee::Trainee;
use crate::lora::write_adapter;
use crate::rng::Rng;
use crate::weights::WeightError;
use crate::workers::on_cpu_workers;

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSummary {
    pub steps: usize,
    pub total_steps: usize,
    pub final_loss: Option<f64>,
    /// Cancelled before the last step.
    pub cancelled: bool,
    /// The last checkpoint written.
    pub checkpoint: Option<PathBuf>,
    /// The finished adapter (`<run>/adapter`), when the run completed.
    pub adapter: Option<PathBuf>,
}

/// Where a run starts: fresh, or from a checkpoint.
pub enum Start<'a> {
    Fresh,
    Resume(&'a Path),
}

/// Trains `model` (a freshly loaded base model on an autodiff backend) on `examples`, writing
/// checkpoints and the final adapter under `run_dir`. On resume the checkpoint's options are
/// used and must describe the same number of examples.
#[allow(clippy::too_many_arguments)]
pub fn train<B: AutodiffBackend>(
    model: Trainee<B>,
    examples: &[Example],
    opts: &TrainOptions,
    base_model: &str,
    run_dir: &Path,
    start: Start<'_>,
    control: &mut dyn Control,
    device: &B::Device,
) -> Result<(Trainee<B>, TrainSummary), TrainError> {
    let resumed = match start {
        Start::Fresh => None,
        Start::Resume(p) => Some(checkpoint::load(p)?),
    };
    let opts = resumed
        .as_ref()
        .map(|c| c.state.options.clone())
        .unwrap_or_else(|| opts.clone());
    opts.validate()?;
    if examples.is_empty() {
        return Err(TrainError::NoExamples);
    }
    if let Some(e) = examples.iter().position(|e| e.answer_tokens() == 0) {
        return Err(TrainError::EmptyAnswer(e));
    }
    let steps_per_epoch = opts.steps_per_epoch(examples.len());
    let total = steps_per_epoch * opts.epochs;
    let warmup = warmup_steps(opts.warmup_ratio, total);
    let mut model = model.prepare(&opts, device)?;
    let mut optimizer =
        AdamW::<B::InnerBackend>::new(opts.beta1, opts.beta2, opts.eps, opts.weight_decay);
    let mut state = TrainerState {
        step: 0,
        total_steps: total,
        steps_per_epoch,
        examples: examples.len(),
        base_model: base_model.to_string(),
        options: opts.clone(),
        history: Vec::new(),
    };
    if let Some(c) = resumed {
        if c.state.examples != examples.len() {
            return Err(TrainError::ResumeOtherData {
                trained: c.state.examples,
                now: examples.len(),
            });
        }
        model.load_adapter(c.adapter, device)?;
        optimizer.restore(c.state.step as u64, c.optimizer, device)?;
        state = c.state;
    }
    std::fs::create_dir_all(run_dir).map_err(|e| WeightError::io(run_dir, e))?;

    let session_start = Instant::now();
    let first_step = state.step;
    let mut last_checkpoint = None;
    let mut cancelled = false;
    'epochs: for epoch in 0..opts.epochs {
        let order = shuffled(examples.len(), opts.seed, epoch as u64);
        let micro: Vec<&[usize]> = order.chunks(opts.batch_size).collect();
        for (k, group) in micro.chunks(opts.grad_accum).enumerate() {
            let step = epoch * steps_per_epoch + k;
            if step < state.step {
                continue;
            }
            if control.cancelled() {
                cancelled = true;
                break 'epochs;
            }
            let t0 = Instant::now();
            let lr = learning_rate(opts.learning_rate, step, warmup, total);
            let (loss, grad_norm, tokens) = one_step(
                &mut model,
                &mut optimizer,
                examples,
                group,
                &opts,
                step,
                lr,
                device,
            )
            .map_err(|reason| TrainError::Step {
                step: step + 1,
                reason,
            })?;
            state.step = step + 1;
            let done = (state.step - first_step) as f64;
            let pace = session_start.elapsed().as_secs_f64() / done;
            let p = Progress {
                step: state.step,
                total_steps: total,
                epoch: epoch + 1,
                epochs: opts.epochs,
                loss,
                lr,
                grad_norm,
                tokens_per_s: tokens as f64 / t0.elapsed().as_secs_f64().max(1e-9),
                eta_s: pace * (total - state.step) as f64,
            };
            state.history.push(p.clone());
            control.progress(&p);
            let end_of_epoch = k + 1 == steps_per_epoch;
            let periodic =
                opts.save_every_steps > 0 && state.step.is_multiple_of(opts.save_every_steps);
            if end_of_epoch || periodic {
                let dir = save(&model, &optimizer, &state, run_dir)?;
                control.checkpoint(&dir);
                last_checkpoint = Some(dir);
            }
        }
    }
    // Stopped between checkpoints: write one at this step, so resuming loses nothing.
    if cancelled && state.step > 0 && !run_dir.join(checkpoint::name(state.step)).is_dir() {
        let dir = save(&model, &optimizer, &state, run_dir)?;
        control.checkpoint(&dir);
        last_checkpoint = Some(dir);
    }
    let adapter = if !cancelled {
        let dir = run_dir.join("adapter");
        write_adapter(&dir, &model.adapter_files(&opts.lora)?, base_model)?;
        Some(dir)
    } else {
        None
    };
    Ok((
        model,
        TrainSummary {
            steps: state.step,
            total_steps: total,
            final_loss: state.history.last().map(|p| p.loss),
            cancelled,
            checkpoint: last_checkpoint,
            adapter,
        },
    ))
}

fn save<B: AutodiffBackend>(
    model: &Trainee<B>,
    optimizer: &AdamW<B::InnerBackend>,
    state: &TrainerState,
    run_dir: &Path,
) -> Result<PathBuf, TrainError> {
    let adapter = model.adapter_files(&state.options.lora)?;
    Ok(checkpoint::save(
        run_dir,
        state,
        &adapter,
        &optimizer.state()?,
        2,
    )?)
}

/// One optimizer step over the micro-batches `group` (example indices); returns the mean loss,
/// the gradient norm before clipping and the real tokens processed.
#[allow(clippy::too_many_arguments)]
pub fn one_step<B: AutodiffBackend>(
    model: &mut Trainee<B>,
    optimizer: &mut AdamW<B::InnerBackend>,
    examples: &[Example],
    group: &[&[usize]],
    opts: &TrainOptions,
    step: usize,
    lr: f64,
    device: &B::Device,
) -> Result<(f64, f64, usize), StepError> {
    // The whole step goes to rayon's pool at once (see `crate::workers`).
    on_cpu_workers::<B, _>(|| {
        let names: Vec<String> = model.trainables().into_iter().map(|(n, _)| n).collect();
        let mut sums: Vec<Option<Tensor<B::InnerBackend, 1>>> = vec![None; names.len()];
        let mut loss_sum = 0.0;
        let mut tokens = 0;
        for (j, idx) in group.iter().enumerate() {
            // Dropout masks come from the backend's generator: seeded per micro-batch, so a resumed
            // run draws the same masks.
            B::seed(
                device,
                Rng::derive(opts.seed, &[step as u64, j as u64]).next_u64(),
            );
            let items: Vec<&Example> = idx.iter().map(|&i| &examples[i]).collect();
            let batch = Batch::collate(&items, 0);
            tokens += batch.real_tokens();
            let hidden = model.hidden(&batch, device)?;
            let Some(loss) = answer_loss(hidden, &model.lm().lm_head, &batch.labels) else {
                continue;
            };
            let loss = loss.div_scalar(group.len() as f64);
            let value = loss.clone().into_scalar().elem::<f64>();
            if !value.is_finite() {
                return Err(StepError::NonFiniteLoss(value));
            }
            loss_sum += value;
            let grads = loss.backward();
            for ((_, p), sum) in model.trainables().iter().zip(sums.iter_mut()) {
                if let Some(g) = p.grad(&grads) {
                    *sum = Some(match sum.take() {
                        Some(s) => s + g,
                        None => g,
                    });
                }
            }
        }
        let mut present: Vec<usize> = Vec::new();
        let mut grads: Vec<Tensor<B::InnerBackend, 1>> = Vec::new();
        for (i, s) in sums.into_iter().enumerate() {
            if let Some(g) = s {
                present.push(i);
                grads.push(g);
            }
        }
        let norm = clip_global_norm(&mut grads, opts.max_grad_norm);
        optimizer.begin_step();
        let mut params = model.trainables();
        for (i, g) in present.into_iter().zip(grads) {
            let (name, p) = &mut params[i];
            let value = p.flat().inner();
            let new = optimizer.update(name, value, g, lr);
            p.set_flat(new);
        }
        Ok((loss_sum, norm, tokens))
    })
}

/// The example order of `epoch`: a seeded Fisher–Yates shuffle.
pub fn shuffled(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::derive(seed, &[0x5348_5546, epoch]);
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

//! What a training run reports after each optimizer step, and how its caller steers it.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One optimizer step's report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Steps done, counting this one.
    pub step: usize,
    pub total_steps: usize,
    /// 1-based epoch this step belongs to.
    pub epoch: usize,
    pub epochs: usize,
    /// Mean answer-token loss of the step's batches.
    pub loss: f64,
    /// Learning rate the step used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Real (non-padding) tokens per second over this step.
    pub tokens_per_s: f64,
    /// Seconds to the end at the pace of this session so far.
    pub eta_s: f64,
}

/// How the caller follows and steers a run.
pub trait Control {
    /// Checked between optimizer steps: true stops the run after a checkpoint.
    fn cancelled(&self) -> bool {
        false
    }
    fn progress(&mut self, _p: &Progress) {}
    fn checkpoint(&mut self, _dir: &Path) {}
}

/// A run that reports nothing and never stops early.
pub struct Quiet;
impl Control for Quiet {}

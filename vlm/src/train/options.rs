//! The hyper-parameters of a run. Defaults are the paper's (30 epochs, learning rate 1e-4) and,
//! where it is silent, LLaVA-1.5's LoRA recipe (rank 8 here for CPU size, alpha 16, warm-up
//! 3 %, cosine decay, no weight decay).

use crate::FieldError;
use serde::{Deserialize, Serialize};

use crate::lora::LoraConfig;

/// Everything that shapes the training arithmetic. Every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainOptions {
    /// Passes over the training examples.
    pub epochs: usize,
    /// Peak learning rate (after warm-up).
    pub learning_rate: f64,
    /// Fraction of all optimizer steps spent warming up linearly from 0.
    pub warmup_ratio: f64,
    /// Decoupled weight decay (AdamW), on every trainable tensor.
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Examples per forward pass (padded to the longest).
    pub batch_size: usize,
    /// Forward passes whose gradients are summed into one optimizer step.
    pub grad_accum: usize,
    /// Clip the global gradient norm to this (0 turns clipping off).
    pub max_grad_norm: f64,
    /// Seeds the adapter initialisation, the shuffling and dropout.
    pub seed: u64,
    /// Also checkpoint every this many optimizer steps (0: only at the end of each epoch).
    pub save_every_steps: usize,
    /// Train the vision-to-language projector in full as well (LLaVA's fine-tuning does).
    pub train_projector: bool,
    /// Train the vision tower in full (a tower trained from scratch, as the embedded default's
    /// stage 1 does).
    pub train_vision: bool,
    /// Put LoRA adapters on the decoder (off when only the vision side learns).
    pub use_lora: bool,
    pub lora: LoraConfig,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 30,
            learning_rate: 1e-4,
            warmup_ratio: 0.03,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            batch_size: 4,
            grad_accum: 1,
            max_grad_norm: 1.0,
            seed: 0,
            save_every_steps: 0,
            train_projector: false,
            train_vision: false,
            use_lora: true,
            lora: LoraConfig::default(),
        }
    }
}

impl TrainOptions {
    /// Why these options cannot train, naming the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(FieldError::new(
                    name,
                    format!("must be a positive number, got {v}"),
                ))
            }
        };
        if self.epochs == 0 {
            return Err(FieldError::new("epochs", "must be at least 1"));
        }
        positive("learning_rate", self.learning_rate)?;
        positive("eps", self.eps)?;
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            return Err(FieldError::new(
                "warmup_ratio",
                format!("must be in [0, 1), got {}", self.warmup_ratio),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(FieldError::new(
                "weight_decay",
                format!("must be ≥ 0, got {}", self.weight_decay),
            ));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(FieldError::new(name, format!("must be in [0, 1), got {b}")));
            }
        }
        if self.batch_size == 0 {
            return Err(FieldError::new("batch_size", "must be at least 1"));
        }
        if self.grad_accum == 0 {
            return Err(FieldError::new("grad_accum", "must be at least 1"));
        }
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm >= 0.0) {
            return Err(FieldError::new(
                "max_grad_norm",
                format!("must be ≥ 0, got {}", self.max_grad_norm),
            ));
        }
        if !(self.use_lora || self.train_projector || self.train_vision) {
            return Err(FieldError::new(
                "use_lora",
                "nothing would train (no LoRA, no projector, no vision tower)",
            ));
        }
        self.lora.validate()
    }

    /// Optimizer steps in one epoch of `examples` examples (a last partial step counts).
    pub fn steps_per_epoch(&self, examples: usize) -> usize {
        examples.div_ceil(self.batch_size).div_ceil(self.grad_accum)
    }
}

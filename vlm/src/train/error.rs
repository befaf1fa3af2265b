//! Why a training run could not start or stopped: the caller's settings or data (to fix and
//! start again), a checkpoint that does not fit, or a step that went wrong.

use crate::internvl::InternVlError;
use crate::llava::LlavaError;
use crate::weights::WeightError;
use crate::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Setting(#[from] FieldError),
    #[error("dataset: the split has no training examples")]
    NoExamples,
    #[error("example {0} has an empty answer")]
    EmptyAnswer(usize),
    #[error("resume: the checkpoint was trained on {trained} examples, the data now has {now}")]
    ResumeOtherData { trained: usize, now: usize },
    #[error("optimizer state: {0}")]
    OptimizerState(#[from] StateError),
    #[error(transparent)]
    Weights(#[from] WeightError),
    #[error("step {step}: {reason}")]
    Step { step: usize, reason: StepError },
}

/// A checkpoint's optimizer moments that cannot be restored.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("exp_avg_sq.{0} is missing")]
    MissingSecondMoment(String),
    #[error("the moments of {0} differ in size")]
    SizeMismatch(String),
}

/// What can go wrong inside one optimizer step.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("the base model is a text-only decoder; examples carry images")]
    ImagesForTextModel,
    #[error(transparent)]
    Images(#[from] LlavaError),
    #[error(transparent)]
    Tiles(#[from] InternVlError),
    #[error("the loss is {0}")]
    NonFiniteLoss(f64),
}

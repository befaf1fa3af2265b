//! Fine-tuning on `Autodiff<B>`: LoRA on the decoder (and optionally the projector) with
//! AdamW, warm-up + cosine decay, gradient accumulation and clipping, loss on answer tokens
//! only, and checkpoints that resume exactly. Matches PyTorch + PEFT step for step (see
//! `tests/lora_train.rs`).

pub mod adamw;
pub mod batch;
pub mod checkpoint;
pub mod error;
pub mod loss;
pub mod options;
pub mod progress;
pub mod run;
pub mod schedule;
pub mod tower;
pub mod trainee;

pub use batch::{Batch, Example};
pub use error::{StateError, StepError, TrainError};
pub use options::TrainOptions;
pub use progress::{Control, Progress, Quiet};
pub use run::{train, Start, TrainSummary};
pub use trainee::Trainee;

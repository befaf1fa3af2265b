//! Fine-tuning on `Autodiff<B>`: LoRA on the decoder (and optionally the projector) with
//! AdamW, warm-up + cosine decay, gradient accumulation and clipping, loss on answer tokens
//! only, and checkpoints that resume exactly. Matches PyTorch + PEFT step for step (see
//! `tests/lora_train.rs`).

pub mod adamw;
pub mod batch;
pub mod checkpoint;
pub mod loss;
pub mod options;
pub mod run;
pub mod schedule;
pub mod trainee;

pub use batch::{Batch, Example};
pub use options::TrainOptions;
pub use run::{train, Control, Progress, Quiet, Start, TrainError, TrainSummary};
pub use trainee::Trainee;

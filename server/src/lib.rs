//! The vlm-inspect server: routing, the access guard, health checks, first-run set-up,
//! and the command-line interface. `main.rs` only parses arguments and reports errors.

pub mod bench_train;
pub mod bertscore_cmd;
pub mod bootstrap;
pub mod cli;
pub mod data_dir;
pub mod dataset_cmd;
pub mod eval_cmd;
pub mod eval_files;
pub mod files;
pub mod forward_cmd;
pub mod generate_cmd;
pub mod guard;
pub mod health;
pub mod job_events;
pub mod model_cmd;
pub mod models;
pub mod progress_line;
pub mod train_cmd;
pub mod upload;
pub mod users_cmd;
pub mod web;

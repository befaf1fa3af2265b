//! The vlm-inspect binary's library: the command line (`cli`, one file per subcommand), the
//! web server (`web`: router, guard, files, uploads, live events, downloads), the first-start
//! set-up (`setup`), and the data folder (`data_dir`). The services both share live in the
//! `jobs` crate. `main.rs` only parses arguments and reports errors.

pub mod cli;
pub mod data_dir;
pub mod setup;
pub mod web;

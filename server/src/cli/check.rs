//! `vlm-inspect check`: the database's integrity and foreign keys, every file it refers to
//! (with its stored SHA-256 where there is one), and optionally the files of a backup's
//! manifest. One line per problem; fails when there is any. Read-only, beside a running server.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use store::backup::Manifest;
use store::check::check;

use crate::data_dir::DataDir;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also compare the data folder's files with a backup's manifest (the archive itself, or
    /// a manifest.json taken out of it): missing or changed files are problems, new ones notes.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataDir,
}

pub async fn run(args: CheckArgs) -> anyhow::Result<()> {
    let manifest = args.manifest.as_deref().map(Manifest::read).transpose()?;
    args.data.require_sqlite("`vlm-inspect check`")?;
    let report = check(&args.data.data_dir, manifest.as_ref()).await?;
    for problem in &report.problems {
        println!("{problem}");
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    println!("{}", report.summary());
    if !report.is_ok() {
        bail!(
            "{} problem(s) in {}",
            report.problems.len(),
            args.data.data_dir.display()
        );
    }
    Ok(())
}

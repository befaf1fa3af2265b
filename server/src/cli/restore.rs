//! `vlm-inspect restore --from FILE --data-dir DIR`: a backup archive into a new or empty data
//! folder, every file checked against the archive's manifest before the folder appears.

use std::path::PathBuf;

use clap::Args;
use store::restore::restore;

use super::backup::size;
use crate::data_dir::DataDir;

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive `vlm-inspect backup` wrote.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The folder to restore into (--data-dir): it must be new or empty.
    #[command(flatten)]
    pub data: DataDir,
}

pub async fn run(args: RestoreArgs) -> anyhow::Result<()> {
    args.data.require_sqlite("`vlm-inspect restore`")?;
    let report = restore(&args.from, &args.data.data_dir).await?;
    let m = &report.manifest;
    for line in &report.rebased {
        println!("moved into the new folder: {line}");
    }
    let dir = report.data_dir.display();
    if m.with_files {
        let bytes: u64 = m.files.iter().map(|f| f.size).sum();
        println!(
            "restored the database and {} files ({}) of {} (backed up {} UTC) into {dir}",
            m.files.len(),
            size(bytes),
            m.source,
            app::format_time(m.created_at),
        );
    } else {
        println!(
            "restored the database of {} into {dir}; the archive lists its {} files without holding them: copy them into {dir}, then run `vlm-inspect check --data-dir {dir} --manifest {}`",
            m.source,
            m.files.len(),
            args.from.display(),
        );
    }
    println!("next: vlm-inspect check --data-dir {dir}, then start the server on it");
    Ok(())
}

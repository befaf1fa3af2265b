//! `vlm-inspect backup --out FILE`: the database and the data folder's files in one archive,
//! with a manifest of their SHA-256; safe beside a running server (it takes no lock).

use std::path::PathBuf;

use clap::Args;
use store::backup::{backup, BackupOptions};

use crate::data_dir::DataDir;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The archive to write (tar); refused when it exists, unless --force.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Only list the files (sizes and SHA-256) instead of copying them into the archive: it
    /// then restores the database alone, and the files must come from elsewhere.
    #[arg(long)]
    pub no_files: bool,
    /// Replace FILE when it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub data: DataDir,
}

pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    let options = BackupOptions {
        with_files: !args.no_files,
        force: args.force,
    };
    args.data.require_sqlite("`vlm-inspect backup`")?;
    let report = backup(&args.data.data_dir, &args.out, &options).await?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let m = &report.manifest;
    let files = if m.with_files {
        "copied"
    } else {
        "listed, not copied"
    };
    println!(
        "wrote {} ({}): the database ({}, migration {}) and {} files ({}, {files}) of {}",
        report.out.display(),
        size(report.archive_bytes),
        size(m.database.size),
        m.migration,
        m.files.len(),
        size(report.file_bytes()),
        m.source,
    );
    println!(
        "keep it private: it holds password hashes and API keys. Restore: vlm-inspect restore --from {} --data-dir NEW_FOLDER",
        report.out.display()
    );
    Ok(())
}

/// A byte count for people: 1.5 MB, 820 kB, 12 bytes (powers of 1000).
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} kB", b / 1e3)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_plainly() {
        assert_eq!(super::size(12), "12 bytes");
        assert_eq!(super::size(820_400), "820 kB");
        assert_eq!(super::size(1_500_000), "1.5 MB");
        assert_eq!(super::size(2_340_000_000), "2.3 GB");
    }
}

//! `vlm-inspect dataset synth|import|list|stats|split|export-qa|delete|draft-qa`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anomaly::dataset::qa::to_jsonl;
use anomaly::synth::{generate, Counts, SynthConfig};
use clap::Subcommand;
use store::import::{ImportProgress, ImportRequest, Layout};

use crate::data_dir::DataDir;

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Generate the synthetic LOCO-like demo set (loco-synth) into a folder.
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Images per category: `train=N,validation=N,good=N,logical=N,structural=N` (any subset),
        /// or one number for all. Defaults: the demo size (16,4,8,8,8).
        #[arg(long)]
        per_category: Option<String>,
        /// Start from MVTec LOCO's size (about 3,600 images) instead of the demo size.
        #[arg(long)]
        loco_sized: bool,
        /// Image side in pixels.
        #[arg(long, default_value_t = 256)]
        size: u32,
        /// Comma-separated categories (default: all five).
        #[arg(long, value_delimiter = ',')]
        categories: Option<Vec<String>>,
    },
    /// Import a dataset folder (MVTec LOCO layout, or the generic good/logical/structural one).
    Import {
        /// An MVTec LOCO AD folder.
        #[arg(long, conflicts_with = "folder", required_unless_present = "folder")]
        loco: Option<PathBuf>,
        /// A generic folder: <category>/{good,logical,structural}.
        #[arg(long)]
        folder: Option<PathBuf>,
        /// QA annotations (JSONL); default: qa.jsonl in the dataset folder, if present.
        #[arg(long)]
        qa: Option<PathBuf>,
        /// Dataset name (default: the folder's name).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_delimiter = ',')]
        categories: Option<Vec<String>>,
        #[command(flatten)]
        data: DataDir,
    },
    /// List imported datasets.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Counts per category × split × label, QA per source, and stored splits.
    Stats {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Make (or show) the split: all normal training images + a seeded fraction of the test anomalies.
    Split {
        name: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 0.1)]
        fraction: f64,
        #[command(flatten)]
        data: DataDir,
    },
    /// Write the dataset's QA annotations as JSONL (to stdout, or --out FILE).
    ExportQa {
        name: String,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        data: DataDir,
    },
    /// A model drafts QA annotations for the dataset's images (those without one, unless
    /// --include-annotated), told each image's label and, from its mask, where the defect is;
    /// people accept, edit or reject the drafts on the web (/drafts/JOB).
    DraftQa(super::draft_qa::DraftQaArgs),
    /// Delete a dataset and its stored files (refused while evaluation runs hold predictions
    /// on it, which would go with it).
    Delete {
        name: String,
        /// Delete the evaluation runs with predictions on it too.
        #[arg(long)]
        with_evaluations: bool,
        #[command(flatten)]
        data: DataDir,
    },
}

/// Runs one `dataset` subcommand.
pub async fn run(cmd: DatasetCommand) -> anyhow::Result<()> {
    match cmd {
        DatasetCommand::Synth {
            out,
            seed,
            per_category,
            loco_sized,
            size,
            categories,
        } => {
            let base = if loco_sized {
                Counts::LOCO_SIZED
            } else {
                Counts::DEMO
            };
            let counts = match per_category {
                Some(spec) => base.with_overrides(&spec)?,
                None => base,
            };
            let mut cfg = SynthConfig {
                seed,
                size,
                counts,
                ..SynthConfig::default()
            };
            if let Some(c) = categories {
                cfg.categories = c;
            }
            let out2 = out.clone();
            let report = tokio::task::spawn_blocking(move || generate(&out2, &cfg)).await??;
            println!(
                "generated {} images ({} anomalies, {} QA) in {} in {:.1} s ({:.0} images/s)",
                report.images,
                report.anomalies,
                report.qa,
                out.display(),
                report.seconds,
                report.images as f64 / report.seconds.max(1e-9)
            );
        }
        DatasetCommand::Import {
            loco,
            folder,
            qa,
            name,
            categories,
            data,
        } => {
            let (source, layout) = match (loco, folder) {
                (Some(p), _) => (p, Layout::Loco),
                (None, Some(p)) => (p, Layout::Folder),
                (None, None) => anyhow::bail!("give --loco DIR or --folder DIR"),
            };
            let name = name.unwrap_or_else(|| {
                source
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "dataset".into())
            });
            crate::data_dir::prepare_data_dir(&data.data_dir)?;
            let store = data.open().await?;
            let req = ImportRequest {
                source,
                layout,
                qa_file: qa,
                name,
                categories,
            };
            let report = store
                .import_dataset(&data.data_dir, req, Arc::new(print_progress))
                .await?;
            eprintln!();
            if let Some(q) = &report.qa_file {
                println!("QA annotations from {}", q.display());
            }
            println!(
                "imported {:?}: {} images, {} QA in {:.1} s ({:.0} images/s)",
                report.dataset.name,
                report.images,
                report.qa,
                report.seconds,
                report.images as f64 / report.seconds.max(1e-9)
            );
            store.close().await;
        }
        DatasetCommand::List { data } => {
            let store = data.open().await?;
            println!("{:<24} {:<8} {:>8}", "NAME", "LAYOUT", "IMAGES");
            for d in store.datasets().await? {
                println!("{:<24} {:<8} {:>8}", d.name, d.layout, d.image_count);
            }
            store.close().await;
        }
        DatasetCommand::Stats { name, data } => {
            let store = data.open().await?;
            let s = store.dataset_stats(&name).await?;
            println!(
                "{} ({} layout, {} images)",
                s.dataset.name, s.dataset.layout, s.dataset.image_count
            );
            println!(
                "{:<22} {:<11} {:<11} {:>7}",
                "CATEGORY", "SPLIT", "LABEL", "IMAGES"
            );
            for r in &s.counts {
                println!(
                    "{:<22} {:<11} {:<11} {:>7}",
                    r.category, r.split, r.label, r.images
                );
            }
            for (source, n) in &s.qa_by_source {
                println!("QA {source}: {n}");
            }
            println!(
                "QA: {} of {} images annotated; {} generated answers verified by a named person; {} drafts pending",
                s.qa.annotated_images, s.qa.images, s.qa.verified_by_person, s.qa.pending_drafts
            );
            for sp in &s.splits {
                println!(
                    "split {}: train {} ({} anomalies), test {}",
                    sp.key, sp.train_images, sp.train_anomalies, sp.test_images
                );
            }
            store.close().await;
        }
        DatasetCommand::Split {
            name,
            seed,
            fraction,
            data,
        } => {
            let store = data.open().await?;
            let sp = store.create_split(&name, seed, fraction).await?;
            println!(
                "{}: train {} images ({} anomalies), test {} images",
                sp.key, sp.train_images, sp.train_anomalies, sp.test_images
            );
            store.close().await;
        }
        DatasetCommand::ExportQa { name, out, data } => {
            let store = data.open().await?;
            let text = to_jsonl(&store.export_qa(&name).await?);
            store.close().await;
            match out {
                Some(path) => std::fs::write(&path, text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
        }
        DatasetCommand::DraftQa(args) => super::draft_qa::run(args).await?,
        DatasetCommand::Delete {
            name,
            with_evaluations,
            data,
        } => {
            let store = data.open().await?;
            let runs = store.runs_using_dataset(&name).await?;
            store
                .delete_dataset(&data.data_dir, &name, with_evaluations)
                .await?;
            if runs.is_empty() {
                println!("deleted {name:?}");
            } else {
                println!("deleted {name:?} and evaluation run(s) {runs:?}");
            }
            store.close().await;
        }
    }
    Ok(())
}

fn print_progress(p: ImportProgress) -> std::ops::ControlFlow<()> {
    eprint!("\r{}: {}/{}   ", p.phase, p.done, p.total);
    std::ops::ControlFlow::Continue(())
}

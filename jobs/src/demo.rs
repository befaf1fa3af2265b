//! First start: with no dataset yet, generate the demo set and import it.

use std::path::Path;
use std::sync::Arc;

use anomaly::synth::{generate, SynthConfig};
use store::import::{ImportRequest, Layout};
use store::Store;

/// Name of the demo dataset.
pub const DEMO_NAME: &str = "loco-synth";

/// Generates (once, under `<data>/sources/loco-synth`) and imports the demo set when the
/// database has no datasets. Returns true when it imported.
pub async fn ensure_demo_dataset(store: &Store, data_dir: &Path) -> anyhow::Result<bool> {
    if !store.datasets().await?.is_empty() {
        return Ok(false);
    }
    let source = data_dir.join("sources").join(DEMO_NAME);
    if !source.join("qa.jsonl").is_file() {
        // A half-written folder from an interrupted run is regenerated from scratch.
        let _ = std::fs::remove_dir_all(&source);
        let src = source.clone();
        let report =
            tokio::task::spawn_blocking(move || generate(&src, &SynthConfig::default())).await??;
        println!(
            "generated the demo set: {} images in {:.1} s",
            report.images, report.seconds
        );
    }
    let req = ImportRequest {
        source,
        layout: Layout::Loco,
        qa_file: None,
        name: DEMO_NAME.to_string(),
        categories: None,
    };
    let report = store
        .import_dataset(data_dir, req, Arc::new(store::import::go_on))
        .await?;
    store.create_split(DEMO_NAME, 0, 0.1).await?;
    println!(
        "imported the demo dataset {DEMO_NAME:?}: {} images, {} QA annotations, split seed 0 fraction 0.1",
        report.images, report.qa
    );
    Ok(true)
}

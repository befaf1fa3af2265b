//! A data folder with something of every kind `backup` and `check` look at, for their tests
//! and those of reviews and drafts.

use crate::sql;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anomaly::synth::{generate, Counts, SynthConfig};

use crate::import::{ImportRequest, Layout};
use crate::{Store, StoreOptions, DATABASE_FILE};

/// A temporary data folder: a small imported dataset, an upload, a base model and an adapter
/// naming it (absolutely, as training writes them), and a finished training job.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    /// The data folder, canonical.
    pub data: PathBuf,
    pub store: Store,
    /// Images of the dataset.
    pub images: usize,
}

impl Fixture {
    /// On the engine the tests run on ([`crate::test_db`]).
    pub async fn new() -> Fixture {
        Self::build(false).await
    }

    /// On an SQLite file in the data folder, whatever the tests run on: backup and check
    /// work on that file.
    pub async fn sqlite() -> Fixture {
        Self::build(true).await
    }

    async fn build(sqlite_file: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().canonicalize().unwrap().join("data");
        let file = data.join(DATABASE_FILE);
        let store = if sqlite_file {
            Store::open(&file, StoreOptions::default()).await
        } else {
            crate::test_db::open(&file, StoreOptions::default()).await
        }
        .unwrap();
        let source = dir.path().join("synth");
        let cfg = SynthConfig {
            seed: 3,
            size: 32,
            counts: Counts {
                train: 2,
                validation: 0,
                good: 1,
                logical: 1,
                structural: 1,
            },
            categories: vec!["pushpins".into()],
        };
        generate(&source, &cfg).unwrap();
        let report = store
            .import_dataset(
                &data,
                ImportRequest {
                    source,
                    layout: Layout::Loco,
                    qa_file: None,
                    name: "tiny".into(),
                    categories: None,
                },
                Arc::new(crate::import::go_on),
            )
            .await
            .unwrap();

        std::fs::create_dir_all(data.join("uploads")).unwrap();
        std::fs::write(data.join("uploads/abc.png"), b"not really a png").unwrap();
        store
            .add_upload("abc", "uploads/abc.png", "a.png", (1, 1), None)
            .await
            .unwrap();

        let base = data.join("models/base");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("config.json"), b"{}").unwrap();
        let adapter = data.join("runs/job-1/adapter");
        std::fs::create_dir_all(&adapter).unwrap();
        let config = serde_json::json!({ "base_model_name_or_path": base.display().to_string() });
        std::fs::write(adapter.join("adapter_config.json"), config.to_string()).unwrap();
        std::fs::write(adapter.join("adapter_model.safetensors"), b"weights").unwrap();
        store
            .register_model("tuned", "llava-lora", &adapter.display().to_string())
            .await
            .unwrap();
        let result = serde_json::json!({ "model": "tuned", "adapter": adapter.display().to_string(),
            "steps": 1, "final_loss": null, "device": "cpu" });
        sql::query(
            "INSERT INTO jobs (kind, config, state, created_at, result) VALUES ('train', '{}', 'succeeded', 1, $1)",
        )
        .bind(result.to_string())
        .execute(store.pool())
        .await
        .unwrap();
        Fixture {
            dir,
            data,
            store,
            images: report.images,
        }
    }

    /// The stored original of the dataset's first image, relative to the data folder.
    pub async fn first_image(&self) -> String {
        let (root, file): (String, String) = sql::query_as(
            "SELECT d.root, i.file FROM images i JOIN datasets d ON d.id = i.dataset_id ORDER BY i.id LIMIT 1",
        )
        .fetch_one(self.store.pool())
        .await
        .unwrap();
        format!("{root}/{file}")
    }

    /// A path beside the data folder.
    pub fn beside(&self, name: &str) -> PathBuf {
        self.dir.path().canonicalize().unwrap().join(name)
    }
}

/// The number `query` gives on the database at `path`.
pub async fn number(path: &Path, query: &'static str) -> i64 {
    let store = Store::open(path, StoreOptions::default()).await.unwrap();
    let (n,): (i64,) = sql::query_as(query).fetch_one(store.pool()).await.unwrap();
    store.close().await;
    n
}

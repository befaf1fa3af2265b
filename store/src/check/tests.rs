use super::*;
use crate::backup::{backup, BackupOptions};
use crate::sql;
use crate::testing::Fixture;

/// The problems about `subject`, as text.
fn about(report: &CheckReport, subject: &str) -> Vec<String> {
    report
        .problems
        .iter()
        .filter(|p| p.subject == subject)
        .map(|p| p.issue.clone())
        .collect()
}

#[tokio::test]
async fn a_whole_folder_passes_and_every_image_is_hashed() {
    let fx = Fixture::sqlite().await;
    let report = check(&fx.data, None).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.hashed, fx.images);
    // Per image its original and thumbnail (and masks), the upload, the adapter.
    assert!(
        report.referenced >= 2 * fx.images + 2,
        "{}",
        report.summary()
    );
    assert!(
        report.summary().ends_with(": 0 problem(s)"),
        "{}",
        report.summary()
    );
}

#[tokio::test]
async fn a_deleted_file_and_a_changed_one_are_named() {
    let fx = Fixture::sqlite().await;
    let image = fx.first_image().await;
    std::fs::remove_file(fx.data.join("uploads/abc.png")).unwrap();
    std::fs::write(fx.data.join(&image), b"other bytes").unwrap();
    let report = check(&fx.data, None).await.unwrap();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert_eq!(about(&report, "uploads/abc.png"), ["missing (upload 1)"]);
    let changed = about(&report, &image);
    assert_eq!(changed.len(), 1);
    assert!(
        changed[0].contains("SHA-256") && changed[0].contains("of dataset \"tiny\""),
        "{changed:?}"
    );
}

#[tokio::test]
async fn a_broken_foreign_key_is_found() {
    let fx = Fixture::sqlite().await;
    let (image,): (i64,) = sql::query_as("SELECT MAX(id) FROM images")
        .fetch_one(fx.store.pool())
        .await
        .unwrap();
    // What a tool writing without foreign keys on could leave.
    let mut conn = fx
        .store
        .pool()
        .sqlite()
        .expect("an SQLite fixture")
        .acquire()
        .await
        .unwrap();
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO qa (image_id, question, answer, source) VALUES ($1, 'q', 'a', 'manual')",
    )
    .bind(image + 100)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let report = check(&fx.data, None).await.unwrap();
    let db = about(&report, "database");
    assert_eq!(db.len(), 1, "{:?}", report.problems);
    assert!(
        db[0].starts_with("qa row ") && db[0].contains("images row"),
        "{db:?}"
    );
}

#[tokio::test]
async fn an_adapter_whose_base_is_gone_and_a_missing_model_are_named() {
    let fx = Fixture::sqlite().await;
    std::fs::remove_dir_all(fx.data.join("models/base")).unwrap();
    fx.store
        .register_model("gone", "llama-gguf", "/nonexistent/model.gguf")
        .await
        .unwrap();
    let report = check(&fx.data, None).await.unwrap();
    let adapter = about(&report, "runs/job-1/adapter");
    assert_eq!(adapter.len(), 1, "{:?}", report.problems);
    assert!(adapter[0].contains("base model") && adapter[0].contains("missing"));
    assert_eq!(
        about(&report, "/nonexistent/model.gguf"),
        ["missing (model gone)"]
    );
}

#[tokio::test]
async fn a_manifest_tells_missing_changed_and_new_files() {
    let fx = Fixture::sqlite().await;
    let out = fx.beside("b.tar");
    let options = BackupOptions {
        with_files: false,
        ..BackupOptions::default()
    };
    let manifest = backup(&fx.data, &out, &options).await.unwrap().manifest;
    let report = check(&fx.data, Some(&manifest)).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.manifest_files, Some(manifest.files.len()));

    std::fs::write(
        fx.data.join("runs/job-1/adapter/adapter_model.safetensors"),
        b"retrained",
    )
    .unwrap();
    std::fs::remove_file(fx.data.join("models/base/config.json")).unwrap();
    std::fs::write(fx.data.join("uploads/new.png"), b"new").unwrap();
    let report = check(&fx.data, Some(&manifest)).await.unwrap();
    assert_eq!(
        about(&report, "runs/job-1/adapter/adapter_model.safetensors").len(),
        1
    );
    assert_eq!(
        about(&report, "models/base/config.json"),
        ["missing (listed in the backup's manifest)"]
    );
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(report
        .notes
        .iter()
        .any(|n| n.starts_with("uploads/new.png: not in the manifest")));
}

#[tokio::test]
async fn a_folder_without_a_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = check(dir.path(), None).await.unwrap_err().to_string();
    assert!(err.contains("no database file"), "{err}");
}

use crate::sql;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;
use crate::check::check;
use crate::restore::restore;
use crate::testing::{number, Fixture};
use crate::Store;

/// Names of the archive's entries, in order.
fn entries(archive: &Path) -> Vec<String> {
    let mut tar = tar::Archive::new(File::open(archive).unwrap());
    tar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn the_live_database_locks_and_partial_files_stay_out() {
    for rel in [
        "vlm-inspect.db",
        "vlm-inspect.db-wal",
        "vlm-inspect.db-shm",
        "server.lock",
        "locks/job-3.lock",
        "datasets/.importing-4/images/0.png",
        "uploads/abc.png.part",
        "models/default/base.part/model.safetensors",
    ] {
        assert!(is_excluded(rel), "{rel}");
    }
    for rel in [
        "vlm-inspect.db.old",
        "datasets/4/images/0.png",
        "uploads/abc.png",
        "keys/model-1.key",
        "runs/job-1/adapter/adapter_config.json",
    ] {
        assert!(!is_excluded(rel), "{rel}");
    }
}

#[tokio::test]
async fn a_backup_taken_while_another_connection_writes_restores_with_its_rows() {
    let fx = Fixture::sqlite().await;
    let insert = |store: Store, i: i64| async move {
        sql::query("INSERT INTO prompts (name, text, created_at) VALUES ($1, 'p', 0)")
            .bind(format!("prompt-{i}"))
            .execute(store.pool())
            .await
            .unwrap();
    };
    for i in 0..20 {
        insert(fx.store.clone(), i).await;
    }
    // A writer that keeps going for the whole backup.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (fx.store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 20;
            while !stop.load(Ordering::Relaxed) {
                insert(store.clone(), i).await;
                i += 1;
                tokio::task::yield_now().await;
            }
            i
        })
    };
    let out = fx.beside("backup.tar");
    let report = backup(&fx.data, &out, &BackupOptions::default())
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written > 20, "the writer wrote during the backup");

    let names = entries(&out);
    assert_eq!(names.first().map(String::as_str), Some(DATABASE_ENTRY));
    assert_eq!(names.last().map(String::as_str), Some(MANIFEST_ENTRY));
    let m = &report.manifest;
    assert!(m.with_files);
    assert_eq!(m.source, fx.data.display().to_string());
    assert_eq!(m.migration, crate::db::latest_migration());
    assert!(
        !m.files.iter().any(|f| is_excluded(&f.path)),
        "{:?}",
        m.files
    );
    assert!(m.files.iter().any(|f| f.path == "uploads/abc.png"));
    assert_eq!(names.len(), m.files.len() + 2);
    assert_eq!(Manifest::read(&out).unwrap(), *m);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let restored = fx.beside("restored");
    restore(&out, &restored).await.unwrap();
    let db = restored.join(DATABASE_FILE);
    let copied = number(&db, "SELECT COUNT(*) FROM prompts").await;
    assert!(
        (20..=written).contains(&copied),
        "{copied} prompts, 20 before the backup and {written} after"
    );
    assert_eq!(
        number(&db, "SELECT COUNT(*) FROM images").await as usize,
        fx.images
    );
    let found = check(&restored, Some(m)).await.unwrap();
    assert!(found.is_ok(), "{:?}", found.problems);
}

#[tokio::test]
async fn an_existing_archive_is_kept_unless_forced_and_none_goes_inside_the_data_folder() {
    let fx = Fixture::sqlite().await;
    let out = fx.beside("b.tar");
    std::fs::write(&out, b"keep me").unwrap();
    let err = backup(&fx.data, &out, &BackupOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, BackupError::Exists(_)), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");

    let forced = BackupOptions {
        force: true,
        ..BackupOptions::default()
    };
    backup(&fx.data, &out, &forced).await.unwrap();
    assert!(Manifest::read(&out).is_ok());
    assert!(!fx.beside("b.tar.part").exists());
    assert!(!fx.beside("b.tar.db.part").exists());

    let inside = fx.data.join("uploads/b.tar");
    let err = backup(&fx.data, &inside, &forced).await.unwrap_err();
    assert!(matches!(err, BackupError::InsideDataDir { .. }), "{err}");

    let err = backup(&fx.beside("nothing"), &fx.beside("c.tar"), &forced)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nothing"), "{err}");
}

#[tokio::test]
async fn without_a_server_or_files_the_archive_lists_them_and_restores_the_database() {
    let fx = Fixture::sqlite().await;
    let image = fx.first_image().await;
    // No server: the database is closed, its -wal and -shm files gone.
    fx.store.close().await;
    assert!(!fx.data.join(format!("{DATABASE_FILE}-shm")).exists());
    let out = fx.beside("db-only.tar");
    let options = BackupOptions {
        with_files: false,
        ..BackupOptions::default()
    };
    let report = backup(&fx.data, &out, &options).await.unwrap();
    assert_eq!(entries(&out), [DATABASE_ENTRY, MANIFEST_ENTRY]);
    let listed = report
        .manifest
        .files
        .iter()
        .find(|f| f.path == image)
        .expect("the manifest lists the images");
    assert_eq!(
        (listed.size, listed.sha256.clone()),
        hash_file(&fx.data.join(&image)).unwrap()
    );

    // The manifest alone, as a file, reads the same.
    let json = fx.beside("manifest.json");
    std::fs::write(&json, serde_json::to_vec(&report.manifest).unwrap()).unwrap();
    assert_eq!(Manifest::read(&json).unwrap(), report.manifest);

    let restored = fx.beside("restored");
    restore(&out, &restored).await.unwrap();
    assert!(restored.join(DATABASE_FILE).is_file());
    assert!(!restored.join(&image).exists());
}

#[tokio::test]
async fn a_damaged_archive_restores_nothing_and_a_used_folder_is_refused() {
    let fx = Fixture::sqlite().await;
    let out = fx.beside("b.tar");
    let report = backup(&fx.data, &out, &BackupOptions::default())
        .await
        .unwrap();

    let used = fx.beside("used");
    std::fs::create_dir_all(&used).unwrap();
    std::fs::write(used.join("x"), b"x").unwrap();
    let err = restore(&out, &used).await.unwrap_err();
    assert!(matches!(err, BackupError::NotEmpty(_)), "{err}");

    // Flip one byte of the upload's contents inside the archive.
    let mut bytes = std::fs::read(&out).unwrap();
    let needle = b"not really a png";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[at] ^= 1;
    let damaged = fx.beside("damaged.tar");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = fx.beside("target");
    let err = restore(&damaged, &target).await.unwrap_err().to_string();
    assert!(
        err.contains("uploads/abc.png does not match its manifest"),
        "{err}"
    );
    assert!(!target.exists());
    let left: Vec<_> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains("restoring"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Cut short, or not an archive at all: also refused, in plain words.
    let truncated = fx.beside("short.tar");
    std::fs::write(&truncated, &std::fs::read(&out).unwrap()[..4096]).unwrap();
    let err = restore(&truncated, &target).await.unwrap_err().to_string();
    assert!(err.contains("it ends inside db.sqlite (3584 of "), "{err}");
    assert!(!target.exists());
    assert!(report.archive_bytes > 4096);
    let text = fx.beside("notes.txt");
    std::fs::write(
        &text,
        "a text file that is long enough to fill a tar header block ".repeat(20),
    )
    .unwrap();
    let err = restore(&text, &target).await.unwrap_err().to_string();
    assert!(
        err.ends_with("is not a usable vlm-inspect backup: it is not a tar archive"),
        "{err}"
    );
    let err = Manifest::read(&text).unwrap_err().to_string();
    assert!(err.ends_with("it is not a tar archive"), "{err}");
}

#[tokio::test]
async fn restored_elsewhere_models_runs_and_adapters_point_into_the_new_folder() {
    let fx = Fixture::sqlite().await;
    let out = fx.beside("b.tar");
    backup(&fx.data, &out, &BackupOptions::default())
        .await
        .unwrap();
    fx.store.close().await;
    std::fs::remove_dir_all(&fx.data).unwrap();

    let moved = fx.beside("moved");
    let report = restore(&out, &moved).await.unwrap();
    assert_eq!(report.rebased.len(), 3, "{:?}", report.rebased);
    let found = check(&moved, None).await.unwrap();
    assert!(found.is_ok(), "{:?}", found.problems);
    assert!(found.hashed >= fx.images, "{}", found.summary());

    let store = Store::open(&moved.join(DATABASE_FILE), crate::StoreOptions::default())
        .await
        .unwrap();
    let tuned = store.model_named("tuned").await.unwrap().unwrap();
    assert_eq!(
        tuned.path,
        moved.join("runs/job-1/adapter").display().to_string()
    );
    let config =
        std::fs::read_to_string(moved.join("runs/job-1/adapter/adapter_config.json")).unwrap();
    assert!(
        config.contains(&moved.join("models/base").display().to_string()),
        "{config}"
    );
}

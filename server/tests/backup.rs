//! `backup`, `restore` and `check` through the binary: a backup taken beside a running server
//! restores into a new folder that checks clean, and a damaged file fails `check` by name.

mod common;

use std::path::Path;

use common::bin::{ok, run, serve, text, tiny_split};

/// The first stored image of the first dataset, relative to the data folder.
fn first_image(data: &Path) -> String {
    let dir = data.join("datasets/1/images");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    format!("datasets/1/images/{}", names[0])
}

#[test]
fn a_backup_beside_a_server_restores_elsewhere_and_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (_split, data) = tiny_split(dir.path());
    let archive = dir.path().join("backup.tar");
    let archive_s = archive.to_str().unwrap();

    // A remote model whose key is kept in the data folder (keys/, 0600).
    let added = run(
        &[
            "model",
            "add",
            "filed",
            "--openai",
            "http://127.0.0.1:9/v1",
            "--remote-model",
            "tiny",
            "--api-key-stdin",
            "--data-dir",
            &data,
        ],
        Some("sk-backup-test-key\n"),
    );
    assert!(added.status.success(), "{}", text(&added.stderr));

    // Online: the server holds the folder's lock and the database while the backup runs.
    let (mut server, _url) = serve(&data);
    let out = ok(&["backup", "--out", archive_s, "--data-dir", &data]);
    assert!(out.starts_with(&format!("wrote {archive_s} (")), "{out}");
    assert!(out.contains("migration") && out.contains("files"), "{out}");
    let checked = ok(&["check", "--data-dir", &data]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(checked.contains(": 0 problem(s)"), "{checked}");

    let again = run(&["backup", "--out", archive_s, "--data-dir", &data], None);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        text(&again.stderr)
    );

    // The archive alone restores everything: the original folder is gone.
    std::fs::remove_dir_all(&data).unwrap();
    let restored = dir.path().join("restored");
    let restored_s = restored.to_str().unwrap();
    let out = ok(&["restore", "--from", archive_s, "--data-dir", restored_s]);
    assert!(out.contains("restored the database and"), "{out}");
    let checked = ok(&["check", "--data-dir", restored_s, "--manifest", archive_s]);
    assert!(
        checked.contains("against the manifest: 0 problem(s)"),
        "{checked}"
    );
    let list = ok(&["dataset", "list", "--data-dir", restored_s]);
    assert!(list.contains("tiny"), "{list}");
    let key = std::fs::read_dir(restored.join("keys"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read_to_string(&key).unwrap().trim(),
        "sk-backup-test-key"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let refused = run(
        &["restore", "--from", archive_s, "--data-dir", restored_s],
        None,
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("not empty"),
        "{}",
        text(&refused.stderr)
    );

    // A damaged image and a lost key: check names both and fails.
    let image = first_image(&restored);
    std::fs::write(restored.join(&image), b"damaged").unwrap();
    std::fs::remove_file(&key).unwrap();
    let bad = run(&["check", "--data-dir", restored_s], None);
    assert!(!bad.status.success());
    let stdout = text(&bad.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{image}: ")))
        .unwrap_or_else(|| panic!("no line about {image}:\n{stdout}"));
    assert!(line.contains("SHA-256"), "{line}");
    let key_name = key.file_name().unwrap().to_str().unwrap();
    assert!(
        stdout.contains(&format!(
            "keys/{key_name}: missing (the API key of model filed)"
        )),
        "{stdout}"
    );
    assert!(stdout.contains(": 2 problem(s)"), "{stdout}");
    assert!(
        text(&bad.stderr).contains("2 problem(s) in"),
        "{}",
        text(&bad.stderr)
    );
}

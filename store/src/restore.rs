//! `restore`: a backup archive into a new data folder. Everything is unpacked into a hidden
//! folder beside the target and checked against the manifest (the database copy and every
//! file, by size and SHA-256) before the folder is renamed into place, so a damaged archive
//! leaves nothing behind. Restored elsewhere than the folder it was taken from, the paths the
//! database and the adapters hold into the old folder are pointed at the new one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::backup::{
    absolute_new, data_files, io_err, is_excluded, parse_manifest, tar_failure, write_hashed,
    BackupError, FileEntry, Manifest, DATABASE_ENTRY, FILES_PREFIX, FORMAT, MANIFEST_ENTRY,
};
use crate::db::DATABASE_FILE;
use crate::JobKind;

/// What a restore wrote.
#[derive(Clone, Debug)]
pub struct RestoreReport {
    /// The new data folder.
    pub data_dir: PathBuf,
    pub manifest: Manifest,
    /// Paths pointed from the old data folder to the new one, one line each.
    pub rebased: Vec<String>,
}

/// Restores the archive `archive` into `data_dir`, which must be new or empty.
pub async fn restore(archive: &Path, data_dir: &Path) -> Result<RestoreReport, BackupError> {
    if data_dir.exists() {
        let empty = std::fs::read_dir(data_dir)
            .map_err(io_err(data_dir))?
            .next()
            .is_none();
        if !empty {
            return Err(BackupError::NotEmpty(data_dir.to_path_buf()));
        }
    }
    if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let target = absolute_new(data_dir)?;
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let staging = target.with_file_name(format!(".{name}.restoring-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging).map_err(io_err(&staging))?;

    let done = async {
        let (archive2, staging2) = (archive.to_path_buf(), staging.clone());
        let manifest = tokio::task::spawn_blocking(move || unpack(&archive2, &staging2))
            .await
            .map_err(|e| BackupError::Io {
                path: archive.to_path_buf(),
                reason: format!("the restore worker failed: {e}"),
            })??;
        let from = PathBuf::from(&manifest.source);
        let rebased = if from == target {
            Vec::new()
        } else {
            rebase_all(&staging, &from, &target).await?
        };
        Ok::<_, BackupError>((manifest, rebased))
    }
    .await;
    let (manifest, rebased) = match done {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if target.exists() {
        std::fs::remove_dir(&target).map_err(io_err(data_dir))?;
    }
    if let Err(e) = std::fs::rename(&staging, &target) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(io_err(data_dir)(e));
    }
    Ok(RestoreReport {
        data_dir: data_dir.to_path_buf(),
        manifest,
        rebased,
    })
}

/// Unpacks the archive into `dir` and checks it against its manifest.
fn unpack(archive: &Path, dir: &Path) -> Result<Manifest, BackupError> {
    let bad = |reason: String| BackupError::Archive {
        archive: archive.to_path_buf(),
        reason,
    };
    let file = File::open(archive).map_err(io_err(archive))?;
    let mut tar = tar::Archive::new(BufReader::new(file));
    let mut manifest = None;
    let mut database = None;
    let mut files = BTreeMap::new();
    let entries = tar.entries().map_err(|e| bad(tar_failure(0, &e)))?;
    for (read, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| bad(tar_failure(read, &e)))?;
        let name = entry
            .path()
            .ok()
            .and_then(|p| p.to_str().map(str::to_string))
            .ok_or_else(|| bad("an entry's name is not UTF-8".into()))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(bad(format!("{name} is not a regular file")));
        }
        // The tar reader ends an entry cut short without an error.
        let expected = entry.size();
        let short = |got: u64| bad(format!("it ends inside {name} ({got} of {expected} bytes)"));
        if name == MANIFEST_ENTRY {
            manifest = Some(parse_manifest(&mut entry).map_err(bad)?);
        } else if name == DATABASE_ENTRY {
            let dest = dir.join(DATABASE_FILE);
            let written = write_hashed(&mut entry, archive, &dest)?;
            if written.0 != expected {
                return Err(short(written.0));
            }
            database = Some(written);
        } else if let Some(rel) = name.strip_prefix(FILES_PREFIX) {
            if !is_safe(rel) {
                return Err(bad(format!("{name} is not a path inside a data folder")));
            }
            let dest = dir.join(rel);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            let mode = entry.header().mode().unwrap_or(0o600) & 0o777;
            let written = write_hashed(&mut entry, archive, &dest)?;
            if written.0 != expected {
                return Err(short(written.0));
            }
            set_mode(&dest, mode)?;
            files.insert(rel.to_string(), written);
        } else {
            return Err(bad(format!("unexpected entry {name}")));
        }
    }
    let manifest = manifest.ok_or_else(|| bad(format!("it holds no {MANIFEST_ENTRY}")))?;
    if manifest.format != FORMAT {
        return Err(bad(format!(
            "its manifest has format {}, this vlm-inspect reads format {FORMAT}",
            manifest.format
        )));
    }
    let matches = |e: &FileEntry, got: &(u64, String)| e.size == got.0 && e.sha256 == got.1;
    match &database {
        Some(got) if matches(&manifest.database, got) => {}
        Some(_) => return Err(bad(format!("{DATABASE_ENTRY} does not match its manifest"))),
        None => return Err(bad(format!("it holds no {DATABASE_ENTRY}"))),
    }
    if manifest.with_files {
        for e in &manifest.files {
            match files.remove(&e.path) {
                Some(got) if matches(e, &got) => {}
                Some(_) => return Err(bad(format!("{} does not match its manifest", e.path))),
                None => return Err(bad(format!("{} is in the manifest but not here", e.path))),
            }
        }
    }
    if let Some(extra) = files.keys().next() {
        return Err(bad(format!("{extra} is not in its manifest")));
    }
    Ok(manifest)
}

/// A relative path of plain names that a backup can hold.
fn is_safe(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        && !is_excluded(rel)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(io_err(path))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// `path` moved from under `from` to under `to`, when it is an absolute path under `from`.
pub fn rebase(path: &str, from: &Path, to: &Path) -> Option<String> {
    let rest = Path::new(path).strip_prefix(from).ok()?;
    Some(to.join(rest).display().to_string())
}

/// Points what the restored folder `dir` holds into `from` at `to`: registered models'
/// paths, training results' adapters, and adapters' base models (`adapter_config.json`).
async fn rebase_all(dir: &Path, from: &Path, to: &Path) -> Result<Vec<String>, BackupError> {
    let mut lines = Vec::new();
    let db = dir.join(DATABASE_FILE);
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))?
        .connect()
        .await?;
    let mut tx = conn.begin().await?;
    let models: Vec<(i64, String, String)> = sqlx::query_as("SELECT id, name, path FROM models")
        .fetch_all(&mut *tx)
        .await?;
    for (id, name, path) in models {
        if let Some(new) = rebase(&path, from, to) {
            sqlx::query("UPDATE models SET path = $1 WHERE id = $2")
                .bind(&new)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            lines.push(format!("model {name}: {path} -> {new}"));
        }
    }
    let results: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, result FROM jobs WHERE kind = $1 AND result IS NOT NULL")
            .bind(JobKind::Train.as_str())
            .fetch_all(&mut *tx)
            .await?;
    for (id, text) in results {
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let Some(old) = value
            .get("adapter")
            .and_then(|a| a.as_str())
            .map(str::to_string)
        else {
            continue;
        };
        if let Some(new) = rebase(&old, from, to) {
            value["adapter"] = serde_json::Value::String(new.clone());
            sqlx::query("UPDATE jobs SET result = $1 WHERE id = $2")
                .bind(value.to_string())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            lines.push(format!("training job {id}'s adapter: {old} -> {new}"));
        }
    }
    tx.commit().await?;
    conn.close().await?;

    let (dir2, from2, to2) = (dir.to_path_buf(), from.to_path_buf(), to.to_path_buf());
    let adapters = tokio::task::spawn_blocking(move || rebase_adapters(&dir2, &from2, &to2))
        .await
        .map_err(|e| BackupError::Io {
            path: dir.to_path_buf(),
            reason: format!("the restore worker failed: {e}"),
        })??;
    lines.extend(adapters);
    Ok(lines)
}

/// The key of an adapter's base model in PEFT's `adapter_config.json`.
const BASE_KEY: &str = "base_model_name_or_path";

/// An `adapter_config.json`'s text with its base model moved from under `from` to under `to`,
/// and the old and new base; None when it names no base there. Only that string's bytes
/// change, so the same call with the folders swapped gives back the original text: `check`
/// does that to compare a restored adapter with the backup's manifest.
pub(crate) fn rebase_adapter_config(
    text: &str,
    from: &Path,
    to: &Path,
) -> Option<(String, String, String)> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let old = value.get(BASE_KEY)?.as_str()?.to_string();
    let new = rebase(&old, from, to)?;
    let (old_json, new_json) = (
        serde_json::to_string(&old).ok()?,
        serde_json::to_string(&new).ok()?,
    );
    let text = if text.contains(&old_json) {
        text.replace(&old_json, &new_json)
    } else {
        // Written with other escapes than serde_json's: rewritten whole instead.
        let mut value = value;
        value[BASE_KEY] = serde_json::Value::String(new.clone());
        serde_json::to_string_pretty(&value).ok()?
    };
    Some((text, old, new))
}

/// Rewrites the base model of every adapter under `dir` that names one under `from`.
fn rebase_adapters(dir: &Path, from: &Path, to: &Path) -> Result<Vec<String>, BackupError> {
    let mut lines = Vec::new();
    let (files, _) = data_files(dir)?;
    for f in files.iter().filter(|f| is_adapter_config(&f.rel)) {
        let text = std::fs::read_to_string(&f.path).map_err(io_err(&f.path))?;
        if let Some((text, old, new)) = rebase_adapter_config(&text, from, to) {
            std::fs::write(&f.path, text).map_err(io_err(&f.path))?;
            lines.push(format!("{}: base model {old} -> {new}", f.rel));
        }
    }
    Ok(lines)
}

/// Whether the data folder's file `rel` is an adapter's configuration.
pub(crate) fn is_adapter_config(rel: &str) -> bool {
    rel.rsplit('/').next() == Some("adapter_config.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_moves_only_paths_inside_the_old_folder() {
        let (from, to) = (Path::new("/srv/old"), Path::new("/srv/new"));
        assert_eq!(
            rebase("/srv/old/models/a.gguf", from, to).as_deref(),
            Some("/srv/new/models/a.gguf")
        );
        assert_eq!(rebase("/srv/older/a.gguf", from, to), None);
        assert_eq!(rebase("models/a.gguf", from, to), None);
        assert_eq!(rebase("https://api.example/v1", from, to), None);
    }

    #[test]
    fn an_adapter_config_is_rebased_and_back_byte_for_byte() {
        let (from, to) = (Path::new("/srv/old"), Path::new("/srv/new \"x\""));
        let text = "{\n  \"r\": 8,\n  \"base_model_name_or_path\": \"/srv/old/models/base\"\n}";
        let (moved, old, new) = rebase_adapter_config(text, from, to).unwrap();
        assert_eq!(old, "/srv/old/models/base");
        assert_eq!(new, "/srv/new \"x\"/models/base");
        let value: serde_json::Value = serde_json::from_str(&moved).unwrap();
        assert_eq!(value[BASE_KEY], new.as_str());
        assert_eq!(value["r"], 8);
        let (back, _, _) = rebase_adapter_config(&moved, to, from).unwrap();
        assert_eq!(back, text);
        assert!(rebase_adapter_config(text, Path::new("/elsewhere"), to).is_none());
        assert!(rebase_adapter_config("not json", from, to).is_none());
    }

    #[test]
    fn only_plain_relative_paths_are_safe() {
        assert!(is_safe("datasets/1/images/0.png"));
        for bad in [
            "",
            "../x",
            "/etc/passwd",
            "a/../../x",
            "vlm-inspect.db",
            "locks/job-1.lock",
        ] {
            assert!(!is_safe(bad), "{bad}");
        }
    }
}

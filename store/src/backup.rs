//! `backup`: a consistent copy of a live database and of the data folder's files in one tar
//! archive, with a manifest of every file's size and SHA-256.
//!
//! The database is copied with `VACUUM INTO` on a read-only connection: SQLite copies one
//! snapshot, a running server goes on writing meanwhile, and no lock of the server's is taken.
//! The archive holds `db.sqlite`, then `files/<path in the data folder>` for every file (unless
//! the backup only lists them), then `manifest.json`, last because it holds the hashes computed
//! while the files were written. Restoring is [`crate::restore`].

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::db::{applied_migration, now, open_read_only, DATABASE_FILE};
use crate::StoreError;

mod archive;

use archive::Hashing;
pub use archive::{
    data_files, hash_file, is_excluded, DataFile, FileEntry, Manifest, DATABASE_ENTRY,
    FILES_PREFIX, FORMAT, MANIFEST_ENTRY,
};
pub(crate) use archive::{parse_manifest, tar_failure, write_hashed};

/// What went wrong in a backup or a restore, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} exists already: pass --force to replace it")]
    Exists(PathBuf),
    #[error("{out} lies inside the data folder {data}: write the backup somewhere else")]
    InsideDataDir { out: PathBuf, data: PathBuf },
    #[error("{0} is not empty: restore into a new or empty folder")]
    NotEmpty(PathBuf),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{0} changed while it was being copied: run the backup again")]
    Changed(PathBuf),
    #[error("{archive} is not a usable vlm-inspect backup: {reason}")]
    Archive { archive: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Turns an I/O error on `path` into a [`BackupError`] naming it.
pub(crate) fn io_err(path: &Path) -> impl Fn(io::Error) -> BackupError + '_ {
    move |e| BackupError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// How to back up.
#[derive(Clone, Debug)]
pub struct BackupOptions {
    /// Put the files in the archive (the default), not only their list.
    pub with_files: bool,
    /// Replace an existing archive.
    pub force: bool,
}

impl Default for BackupOptions {
    fn default() -> Self {
        Self {
            with_files: true,
            force: false,
        }
    }
}

/// What a backup wrote.
#[derive(Clone, Debug)]
pub struct BackupReport {
    pub out: PathBuf,
    pub manifest: Manifest,
    /// The archive's size.
    pub archive_bytes: u64,
    /// What stayed out and why: special files, registered models outside the data folder.
    pub warnings: Vec<String>,
}

impl BackupReport {
    /// The files' total size.
    pub fn file_bytes(&self) -> u64 {
        self.manifest.files.iter().map(|f| f.size).sum()
    }
}

/// Backs up the data folder `data_dir` into the archive `out` (written as `out.part`, renamed
/// when complete, readable by its owner only: it holds password hashes and API keys).
pub async fn backup(
    data_dir: &Path,
    out: &Path,
    options: &BackupOptions,
) -> Result<BackupReport, BackupError> {
    let data = data_dir.canonicalize().map_err(io_err(data_dir))?;
    if out.exists() && !options.force {
        return Err(BackupError::Exists(out.to_path_buf()));
    }
    let out_abs = absolute_new(out)?;
    if out_abs.starts_with(&data) {
        return Err(BackupError::InsideDataDir {
            out: out.to_path_buf(),
            data: data_dir.to_path_buf(),
        });
    }
    let part = with_suffix(&out_abs, ".part");
    let db_copy = with_suffix(&out_abs, ".db.part");
    let _ = std::fs::remove_file(&db_copy);

    let pool = open_read_only(&data.join(DATABASE_FILE)).await?;
    let copied = async {
        sqlx::query("VACUUM INTO $1")
            .bind(db_copy.display().to_string())
            .execute(&pool)
            .await?;
        let migration = applied_migration(&pool).await?;
        let outside = models_outside(&pool, &data).await;
        Ok::<_, BackupError>((migration, outside))
    }
    .await;
    pool.close().await;
    let (migration, mut warnings) = match copied {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&db_copy);
            return Err(e);
        }
    };

    let manifest = Manifest {
        format: FORMAT,
        created_at: now(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        source: data.display().to_string(),
        migration,
        database: FileEntry {
            path: DATABASE_ENTRY.into(),
            size: 0,
            sha256: String::new(),
        },
        with_files: options.with_files,
        files: Vec::new(),
    };
    let (data2, part2, db2) = (data.clone(), part.clone(), db_copy.clone());
    let written =
        tokio::task::spawn_blocking(move || write_archive(&part2, &db2, &data2, manifest))
            .await
            .map_err(|e| BackupError::Io {
                path: part.clone(),
                reason: format!("the backup worker failed: {e}"),
            })
            .and_then(|r| r);
    let _ = std::fs::remove_file(&db_copy);
    let (manifest, skipped) = match written {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    std::fs::rename(&part, &out_abs).map_err(io_err(out))?;
    if let Some(parent) = out_abs.parent() {
        // The rename lasts through a crash only once the folder is on disk too.
        let _ = File::open(parent).and_then(|d| d.sync_all());
    }
    warnings.extend(skipped);
    let archive_bytes = std::fs::metadata(&out_abs).map_err(io_err(out))?.len();
    Ok(BackupReport {
        out: out.to_path_buf(),
        manifest,
        archive_bytes,
        warnings,
    })
}

/// `path` with `suffix` added to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// The absolute form of a path that may not exist yet, whose folder must.
pub(crate) fn absolute_new(path: &Path) -> Result<PathBuf, BackupError> {
    let name = path.file_name().ok_or_else(|| BackupError::Io {
        path: path.to_path_buf(),
        reason: "not a file name".into(),
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = parent.canonicalize().map_err(|e| BackupError::Io {
        path: parent.to_path_buf(),
        reason: format!("the folder cannot be used: {e}"),
    })?;
    Ok(parent.join(name))
}

/// Registered local models whose files lie outside the data folder: a backup does not hold
/// them. Best effort: a database too old to have the column lists none.
async fn models_outside(pool: &sqlx::SqlitePool, data: &Path) -> Vec<String> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, path FROM models WHERE remote IS NULL ORDER BY name")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    rows.into_iter()
        .filter(|(_, path)| {
            let p = Path::new(path);
            let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            !p.starts_with(data)
        })
        .map(|(name, path)| {
            format!("model {name}: {path} is outside the data folder, not in the backup")
        })
        .collect()
}

/// Writes the archive: the database copy, the files (or only their hashes), the manifest.
fn write_archive(
    part: &Path,
    db_copy: &Path,
    data: &Path,
    mut manifest: Manifest,
) -> Result<(Manifest, Vec<String>), BackupError> {
    let mut options = File::options();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(part).map_err(io_err(part))?;
    let mut tar = tar::Builder::new(BufWriter::new(file));

    manifest.database = append_file(&mut tar, db_copy, DATABASE_ENTRY, DATABASE_ENTRY)?
        .ok_or_else(|| BackupError::Changed(db_copy.to_path_buf()))?;
    let (files, mut skipped) = data_files(data)?;
    for f in files {
        let entry = if manifest.with_files {
            append_file(
                &mut tar,
                &f.path,
                &format!("{FILES_PREFIX}{}", f.rel),
                &f.rel,
            )?
        } else {
            match hash_file(&f.path) {
                Ok((size, sha256)) => Some(FileEntry {
                    path: f.rel.clone(),
                    size,
                    sha256,
                }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_err(&f.path)(e)),
            }
        };
        match entry {
            Some(entry) => manifest.files.push(entry),
            None => skipped.push(format!("{}: removed during the backup", f.rel)),
        }
    }

    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Io {
        path: part.to_path_buf(),
        reason: format!("cannot write the manifest: {e}"),
    })?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(u64::try_from(manifest.created_at).unwrap_or(0));
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, MANIFEST_ENTRY, json.as_slice())
        .map_err(io_err(part))?;
    let file = tar
        .into_inner()
        .map_err(io_err(part))?
        .into_inner()
        .map_err(|e| io_err(part)(e.into_error()))?;
    file.sync_all().map_err(io_err(part))?;
    Ok((manifest, skipped))
}

/// Appends the file at `path` as `name`, hashing what it writes; None when the file is gone.
fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    name: &str,
    rel: &str,
) -> Result<Option<FileEntry>, BackupError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let meta = file.metadata().map_err(io_err(path))?;
    let size = meta.len();
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    header.set_size(size);
    header.set_entry_type(tar::EntryType::Regular);
    let mut reader = Hashing::exact(file, size);
    tar.append_data(&mut header, name, &mut reader)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => BackupError::Changed(path.to_path_buf()),
            _ => io_err(path)(e),
        })?;
    // A file that grew meanwhile is copied up to the size it had when opened; one replaced by
    // a rename (how this application writes files) is copied whole from the version opened.
    Ok(Some(FileEntry {
        path: rel.to_string(),
        size,
        sha256: reader.hex(),
    }))
}

#[cfg(test)]
mod tests;

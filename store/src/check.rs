//! `check`: is a data folder whole? The database's own checks (`PRAGMA integrity_check`,
//! `PRAGMA foreign_key_check`), then every file the database refers to: dataset images (against
//! their stored SHA-256), their masks and thumbnails, uploads, registered models and the base
//! model each adapter names, training runs' adapters, and the key files of remote models; and,
//! given a backup's manifest, the folder's files against it. Read-only, beside a running server.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sqlx::SqlitePool;

use crate::backup::{data_files, hash_file, FileEntry, Manifest};
use crate::datasets::{stored_file, ImageFile};
use crate::db::{applied_migration, latest_migration, open_read_only, DATABASE_FILE};
use crate::restore::{is_adapter_config, rebase_adapter_config};
use crate::{JobKind, KeySource, RemoteSpec, StoreError};

/// One thing wrong: what (a file, or `database`) and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub subject: String,
    pub issue: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.issue)
    }
}

/// What a check looked at and found.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    pub problems: Vec<Problem>,
    /// Worth knowing, not wrong (files newer than the manifest, a database to migrate).
    pub notes: Vec<String>,
    /// Files and folders the database refers to that were looked for.
    pub referenced: usize,
    /// Of those, the ones compared with a stored SHA-256.
    pub hashed: usize,
    /// Files compared with a manifest, when one was given.
    pub manifest_files: Option<usize>,
}

impl CheckReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// One line: what was checked and how many problems were found.
    pub fn summary(&self) -> String {
        let manifest = self
            .manifest_files
            .map(|n| format!(", {n} files against the manifest"))
            .unwrap_or_default();
        format!(
            "checked the database (integrity, foreign keys), {} referenced files ({} by SHA-256){manifest}: {} problem(s)",
            self.referenced,
            self.hashed,
            self.problems.len()
        )
    }

    fn problem(&mut self, subject: impl Into<String>, issue: impl Into<String>) {
        self.problems.push(Problem {
            subject: subject.into(),
            issue: issue.into(),
        });
    }
}

/// Checks the data folder `data_dir`; a manifest (from [`Manifest::read`]) adds the comparison
/// of its files. An error only when the database cannot be opened at all.
pub async fn check(
    data_dir: &Path,
    manifest: Option<&Manifest>,
) -> Result<CheckReport, StoreError> {
    let pool = open_read_only(&data_dir.join(DATABASE_FILE)).await?;
    let mut report = CheckReport::default();
    database_checks(&pool, &mut report).await;
    let refs = references(&pool, data_dir, &mut report).await;
    pool.close().await;

    let (dir, manifest) = (data_dir.to_path_buf(), manifest.cloned());
    let files = tokio::task::spawn_blocking(move || {
        let mut found = verify(&dir, &refs);
        if let Some(m) = &manifest {
            found.manifest_files = Some(m.files.len());
            compare_manifest(&dir, m, &mut found);
        }
        found
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("the check worker failed: {e}")))?;
    report.problems.extend(files.problems);
    report.notes.extend(files.notes);
    report.referenced = files.referenced;
    report.hashed = files.hashed;
    report.manifest_files = files.manifest_files;
    Ok(report)
}

/// SQLite's own checks, and whether the schema is this build's.
async fn database_checks(pool: &SqlitePool, report: &mut CheckReport) {
    match sqlx::query_as::<_, (String,)>("PRAGMA integrity_check")
        .fetch_all(pool)
        .await
    {
        Ok(rows) if rows.len() == 1 && rows[0].0 == "ok" => {}
        Ok(rows) => {
            for (line,) in rows {
                report.problem("database", format!("integrity check: {line}"));
            }
        }
        Err(e) => report.problem("database", format!("integrity check failed: {e}")),
    }
    match sqlx::query_as::<_, (String, Option<i64>, String, i64)>("PRAGMA foreign_key_check")
        .fetch_all(pool)
        .await
    {
        Ok(rows) => {
            for (table, rowid, parent, _) in rows {
                let row = rowid.map_or("a row".to_string(), |id| format!("row {id}"));
                report.problem(
                    "database",
                    format!("{table} {row} refers to a {parent} row that does not exist"),
                );
            }
        }
        Err(e) => report.problem("database", format!("foreign key check failed: {e}")),
    }
    match applied_migration(pool).await {
        Ok(v) if v < latest_migration() => report.notes.push(format!(
            "the database is at migration {v}, this vlm-inspect has {}: the server migrates it when it starts",
            latest_migration()
        )),
        Ok(v) if v > latest_migration() => report.notes.push(format!(
            "the database is at migration {v}, newer than this vlm-inspect's {}: check it with the version that wrote it",
            latest_migration()
        )),
        Ok(_) => {}
        Err(e) => report.problem("database", format!("cannot read its migrations: {e}")),
    }
}

/// What a referenced path must be.
#[derive(Clone, Debug)]
enum Expect {
    /// A file, with this SHA-256 when the database stores one.
    File(Option<String>),
    /// A model: a file or a folder; an adapter folder's base model must exist too.
    Model,
}

/// A path the database refers to, and who refers to it.
#[derive(Clone, Debug)]
struct Reference {
    path: PathBuf,
    by: String,
    expect: Expect,
}

/// id, dataset name, dataset root, file, sha256, has_mask.
type ImageRow = (i64, String, String, String, String, i64);
/// id, name, path, remote settings.
type ModelRow = (i64, String, String, Option<String>);

/// Every path the database refers to; a table that cannot be read is a problem.
async fn references(
    pool: &SqlitePool,
    data_dir: &Path,
    report: &mut CheckReport,
) -> Vec<Reference> {
    let mut refs = Vec::new();
    let images: Result<Vec<ImageRow>, _> = sqlx::query_as(
        "SELECT i.id, d.name, d.root, i.file, i.sha256, i.has_mask
         FROM images i JOIN datasets d ON d.id = i.dataset_id ORDER BY i.id",
    )
    .fetch_all(pool)
    .await;
    match images {
        Ok(rows) => {
            for (id, dataset, root, file, sha256, has_mask) in rows {
                let by = format!("image {id} of dataset {dataset:?}");
                for which in [ImageFile::Original, ImageFile::Mask, ImageFile::Thumbnail] {
                    if let Some(rel) = stored_file(&file, has_mask != 0, which) {
                        let hash = (which == ImageFile::Original).then(|| sha256.clone());
                        refs.push(Reference {
                            path: data_dir.join(&root).join(rel),
                            by: by.clone(),
                            expect: Expect::File(hash),
                        });
                    }
                }
            }
        }
        Err(e) => report.problem("database", format!("cannot read the images: {e}")),
    }

    // An upload's SHA-256 is of the bytes sent; the file is their re-encoded PNG.
    let uploads: Result<Vec<(i64, String)>, _> =
        sqlx::query_as("SELECT id, file FROM uploads ORDER BY id")
            .fetch_all(pool)
            .await;
    match uploads {
        Ok(rows) => refs.extend(rows.into_iter().map(|(id, file)| Reference {
            path: data_dir.join(file),
            by: format!("upload {id}"),
            expect: Expect::File(None),
        })),
        Err(e) => report.problem("database", format!("cannot read the uploads: {e}")),
    }

    // Relative model paths are taken from the current folder, as the server takes them.
    let mut models = HashSet::new();
    let rows: Result<Vec<ModelRow>, _> =
        sqlx::query_as("SELECT id, name, path, remote FROM models ORDER BY name")
            .fetch_all(pool)
            .await;
    match rows {
        Ok(rows) => {
            for (id, name, path, remote) in rows {
                match remote.map(|r| serde_json::from_str::<RemoteSpec>(&r)) {
                    None => {
                        models.insert(PathBuf::from(&path));
                        refs.push(Reference {
                            path: PathBuf::from(path),
                            by: format!("model {name}"),
                            expect: Expect::Model,
                        });
                    }
                    Some(Ok(spec)) if spec.api_key == KeySource::File => refs.push(Reference {
                        path: data_dir.join(crate::models::key_file(id)),
                        by: format!("the API key of model {name}"),
                        expect: Expect::File(None),
                    }),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => report.problem(
                        "database",
                        format!("model {name}: its remote settings are unreadable: {e}"),
                    ),
                }
            }
        }
        Err(e) => report.problem("database", format!("cannot read the models: {e}")),
    }

    let runs: Result<Vec<(i64, String)>, _> = sqlx::query_as(
        "SELECT id, result FROM jobs WHERE kind = $1 AND state = 'succeeded' AND result IS NOT NULL ORDER BY id",
    )
    .bind(JobKind::Train.as_str())
    .fetch_all(pool)
    .await;
    match runs {
        Ok(rows) => {
            for (id, result) in rows {
                let adapter = serde_json::from_str::<serde_json::Value>(&result)
                    .ok()
                    .and_then(|v| v.get("adapter")?.as_str().map(PathBuf::from));
                // A registered adapter is checked once, as a model.
                if let Some(path) = adapter.filter(|p| !models.contains(p)) {
                    refs.push(Reference {
                        path,
                        by: format!("the adapter of training job {id}"),
                        expect: Expect::Model,
                    });
                }
            }
        }
        Err(e) => report.problem("database", format!("cannot read the training jobs: {e}")),
    }
    refs
}

/// How a path is named in a problem: inside the data folder relative to it.
fn shown(data_dir: &Path, path: &Path) -> String {
    path.strip_prefix(data_dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Looks for every referenced path (hashing in parallel).
fn verify(data_dir: &Path, refs: &[Reference]) -> CheckReport {
    let found: Vec<(Vec<Problem>, bool)> = refs
        .par_iter()
        .map(|r| {
            let subject = shown(data_dir, &r.path);
            let problem = |issue: String| Problem {
                subject: subject.clone(),
                issue: format!("{issue} ({})", r.by),
            };
            match &r.expect {
                Expect::File(hash) => {
                    if !r.path.is_file() {
                        return (vec![problem("missing".into())], false);
                    }
                    let Some(want) = hash else {
                        return (Vec::new(), false);
                    };
                    match hash_file(&r.path) {
                        Ok((_, got)) if &got == want => (Vec::new(), true),
                        Ok((_, got)) => (
                            vec![problem(format!(
                                "SHA-256 is {got}, the database has {want}: the file changed"
                            ))],
                            true,
                        ),
                        Err(e) => (vec![problem(format!("cannot be read: {e}"))], false),
                    }
                }
                Expect::Model => (check_model(&r.path, problem), false),
            }
        })
        .collect();
    let mut report = CheckReport {
        referenced: refs.len(),
        ..CheckReport::default()
    };
    for (problems, hashed) in found {
        report.problems.extend(problems);
        report.hashed += usize::from(hashed);
    }
    report
}

/// A model's file or folder exists, and so does the base model an adapter folder names.
fn check_model(path: &Path, problem: impl Fn(String) -> Problem) -> Vec<Problem> {
    if !path.exists() {
        return vec![problem("missing".into())];
    }
    let config = path.join("adapter_config.json");
    if !config.is_file() {
        return Vec::new();
    }
    let base = std::fs::read_to_string(&config)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()))
        .map(|v| {
            v.get("base_model_name_or_path")
                .and_then(|b| b.as_str())
                .map(str::to_string)
        });
    match base {
        Err(e) => vec![problem(format!("adapter_config.json is unreadable: {e}"))],
        Ok(None) => vec![problem("adapter_config.json names no base model".into())],
        // Relative to the adapter folder when not absolute, as the loader reads it.
        Ok(Some(base)) if !path.join(&base).exists() => {
            vec![problem(format!("its base model {base} is missing"))]
        }
        Ok(Some(_)) => Vec::new(),
    }
}

/// The data folder's files against a backup's manifest: missing and changed files are
/// problems, files the manifest does not list are notes. An adapter configuration that a
/// restore into another folder rewrote is unchanged when only its base model's place differs.
fn compare_manifest(data_dir: &Path, manifest: &Manifest, report: &mut CheckReport) {
    let on_disk = match data_files(data_dir) {
        Ok((files, _)) => files,
        Err(e) => {
            report.problem("data folder", format!("cannot be listed: {e}"));
            return;
        }
    };
    let mut on_disk: BTreeMap<String, PathBuf> =
        on_disk.into_iter().map(|f| (f.rel, f.path)).collect();
    let listed: Vec<_> = manifest
        .files
        .iter()
        .map(|e| (e, on_disk.remove(&e.path)))
        .collect();
    let problems: Vec<Problem> = listed
        .par_iter()
        .filter_map(|(e, path)| {
            let issue = match path {
                None => "missing (listed in the backup's manifest)".to_string(),
                Some(p) => match hash_file(p) {
                    Ok((size, sha)) if size == e.size && sha == e.sha256 => return None,
                    Ok(_) if rebased_by_restore(data_dir, manifest, e, p) => return None,
                    Ok(_) => "changed since the backup (size or SHA-256 differs from the manifest)"
                        .to_string(),
                    Err(e) => format!("cannot be read: {e}"),
                },
            };
            Some(Problem {
                subject: e.path.clone(),
                issue,
            })
        })
        .collect();
    report.problems.extend(problems);
    report.notes.extend(
        on_disk
            .into_keys()
            .map(|rel| format!("{rel}: not in the manifest (new since the backup)")),
    );
}

/// Whether `path` is an adapter configuration that a restore into this folder rewrote and
/// that is, but for the base model's new place, the one in the manifest.
fn rebased_by_restore(
    data_dir: &Path,
    manifest: &Manifest,
    entry: &FileEntry,
    path: &Path,
) -> bool {
    if !is_adapter_config(&entry.path) {
        return false;
    }
    let Ok(here) = data_dir.canonicalize() else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Some((before, _, _)) = rebase_adapter_config(&text, &here, Path::new(&manifest.source))
    else {
        return false;
    };
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(before.as_bytes()));
    before.len() as u64 == entry.size && digest == entry.sha256
}

#[cfg(test)]
mod tests;

//! Importing a dataset folder: check everything first, then copy the files into a working
//! folder with no database lock held, then insert the rows in one short transaction that
//! renames the folder into place before it commits, so a failed import leaves nothing behind
//! and other writers never wait on the copy.

use crate::sql;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anomaly::dataset::qa::{parse_jsonl, QaRecord};
use anomaly::dataset::{check, layout, DatasetScan, ImageEntry};
use image::codecs::jpeg::JpegEncoder;
use rayon::prelude::*;

use crate::db::{now, Store, StoreError};
use crate::records::DatasetInfo;

/// The two folder layouts an import reads (one type with the import job's configuration).
pub use crate::records::ImportLayout as Layout;

/// What to import.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    pub source: PathBuf,
    pub layout: Layout,
    /// QA annotations (JSONL); `<source>/qa.jsonl` is used when absent and present.
    pub qa_file: Option<PathBuf>,
    pub name: String,
    /// Only these categories (default: all found).
    pub categories: Option<Vec<String>>,
}

/// Progress of an import, reported as it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportProgress {
    /// "checking" (decoding images), "storing" (copying files) or "done".
    pub phase: &'static str,
    pub done: usize,
    pub total: usize,
}

/// Receives progress, called from worker threads; `Break` stops the import, which then stores
/// nothing ([`StoreError::Cancelled`]).
pub type ProgressFn = Arc<dyn Fn(ImportProgress) -> ControlFlow<()> + Send + Sync>;

/// A [`ProgressFn`] that never stops the import.
pub fn go_on(_: ImportProgress) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// What an import stored.
#[derive(Clone, Debug)]
pub struct ImportReport {
    pub dataset: DatasetInfo,
    pub images: usize,
    pub qa: usize,
    pub qa_file: Option<PathBuf>,
    pub seconds: f64,
}

/// Counts finished items across worker threads and reports every 25th (and the last).
struct Counter<'a> {
    phase: &'static str,
    done: AtomicUsize,
    total: usize,
    progress: &'a ProgressFn,
}

impl<'a> Counter<'a> {
    fn start(
        phase: &'static str,
        total: usize,
        progress: &'a ProgressFn,
    ) -> Result<Self, StoreError> {
        go_on_or_cancel(progress(ImportProgress {
            phase,
            done: 0,
            total,
        }))?;
        Ok(Counter {
            phase,
            done: AtomicUsize::new(0),
            total,
            progress,
        })
    }

    /// Counts one image; every 25th reports progress and learns whether to go on.
    fn tick(&self) -> Result<(), StoreError> {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(25) || n == self.total {
            go_on_or_cancel((self.progress)(ImportProgress {
                phase: self.phase,
                done: n,
                total: self.total,
            }))?;
        }
        Ok(())
    }
}

fn go_on_or_cancel(flow: ControlFlow<()>) -> Result<(), StoreError> {
    match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(StoreError::Cancelled),
    }
}

/// Longest side of a thumbnail, in pixels.
pub const THUMB_SIDE: u32 = 192;

/// One image after its checks: what goes in the database and the small derived files.
struct Checked {
    sha256: String,
    width: u32,
    height: u32,
    mask_png: Option<Vec<u8>>,
    thumb_jpg: Vec<u8>,
}

fn encode_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn check_one(root: &Path, entry: &ImageEntry) -> Result<Checked, StoreError> {
    let path = root.join(&entry.rel_path);
    let loaded = check::load(&path)?;
    let (width, height) = (loaded.image.width(), loaded.image.height());
    let mask = check::combine_masks(root, &entry.rel_path, (width, height), &entry.masks)?;
    let mask_png = match mask {
        Some(m) => {
            let mut out = Vec::new();
            m.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
                .map_err(|e| encode_err(&path, e))?;
            Some(out)
        }
        None => None,
    };
    let thumb = loaded.image.thumbnail(THUMB_SIDE, THUMB_SIDE).to_rgb8();
    let mut thumb_jpg = Vec::new();
    JpegEncoder::new_with_quality(&mut thumb_jpg, 85)
        .encode_image(&thumb)
        .map_err(|e| encode_err(&path, e))?;
    Ok(Checked {
        sha256: loaded.sha256,
        width,
        height,
        mask_png,
        thumb_jpg,
    })
}

/// Stored file name of image `index` (keeps the source's extension).
fn stored_name(index: usize, entry: &ImageEntry) -> String {
    let ext = Path::new(&entry.rel_path)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("png")
        .to_ascii_lowercase();
    format!("images/{index}.{ext}")
}

/// Everything the first phase found, ready to store.
struct CheckedSet {
    scan: DatasetScan,
    checked: Vec<Checked>,
    qa: Vec<QaRecord>,
    qa_file: Option<PathBuf>,
}

/// The blocking first phase: scan, decode every image, combine masks, parse QA.
fn check_all(req: &ImportRequest, progress: &ProgressFn) -> Result<CheckedSet, StoreError> {
    let only = req.categories.as_deref();
    let scan = match req.layout {
        Layout::Loco => layout::scan_loco(&req.source, only)?,
        Layout::Folder => layout::scan_folder(&req.source, only)?,
    };
    if scan.images.is_empty() {
        return Err(StoreError::Invalid(format!(
            "{} holds no images",
            req.source.display()
        )));
    }
    let counter = Counter::start("checking", scan.images.len(), progress)?;
    let checked: Vec<Checked> = scan
        .images
        .par_iter()
        .map(|entry| {
            let c = check_one(&scan.root, entry);
            counter.tick()?;
            c
        })
        .collect::<Result<_, _>>()?;
    check::check_duplicates(
        scan.images
            .iter()
            .zip(&checked)
            .map(|(e, c)| (e.rel_path.as_str(), c.sha256.as_str())),
    )?;

    let qa_file = req
        .qa_file
        .clone()
        .or_else(|| Some(req.source.join("qa.jsonl")).filter(|p| p.is_file()));
    let qa = match &qa_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| encode_err(path, e))?;
            let known = scan.images.iter().map(|i| i.rel_path.clone()).collect();
            let name = path.display().to_string();
            parse_jsonl(&name, &text, Some(&known))
                .map_err(|errs| StoreError::QaFile(errs.iter().map(|e| e.to_string()).collect()))?
        }
        None => Vec::new(),
    };
    Ok(CheckedSet {
        scan,
        checked,
        qa,
        qa_file,
    })
}

/// Working folders of imports that crashed: any a day old (no import takes that long).
fn remove_stale_work(files_root: &Path) {
    let Ok(entries) = std::fs::read_dir(files_root.join("datasets")) else {
        return;
    };
    let day = std::time::Duration::from_secs(24 * 3600);
    for e in entries.flatten() {
        let stale = e.file_name().to_string_lossy().starts_with(".importing-")
            && e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > day);
        if stale {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The blocking last phase: copy images and write masks and thumbnails into `dir`.
fn write_files(
    dir: &Path,
    scan: &DatasetScan,
    checked: &[Checked],
    progress: &ProgressFn,
) -> Result<(), StoreError> {
    for sub in ["images", "masks", "thumbs"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(|e| encode_err(&p, e))?;
    }
    let counter = Counter::start("storing", scan.images.len(), progress)?;
    scan.images
        .par_iter()
        .zip(checked)
        .enumerate()
        .try_for_each(|(i, (entry, c))| {
            let src = scan.root.join(&entry.rel_path);
            let dst = dir.join(stored_name(i, entry));
            std::fs::copy(&src, &dst).map_err(|e| encode_err(&src, e))?;
            let thumb = dir.join(format!("thumbs/{i}.jpg"));
            std::fs::write(&thumb, &c.thumb_jpg).map_err(|e| encode_err(&thumb, e))?;
            if let Some(mask) = &c.mask_png {
                let p = dir.join(format!("masks/{i}.png"));
                std::fs::write(&p, mask).map_err(|e| encode_err(&p, e))?;
            }
            counter.tick()
        })
}

impl Store {
    /// Imports a dataset; `files_root` is the data folder (files go to `datasets/<id>/`).
    pub async fn import_dataset(
        &self,
        files_root: &Path,
        req: ImportRequest,
        progress: ProgressFn,
    ) -> Result<ImportReport, StoreError> {
        let start = Instant::now();
        let name = req.name.trim().to_string();
        if name.is_empty() || name.len() > 64 || name.contains(['/', '\\']) {
            return Err(StoreError::Invalid(format!(
                "invalid dataset name {name:?}: 1 to 64 characters, no slashes"
            )));
        }
        if self.dataset(&name).await.is_ok() {
            return Err(StoreError::DatasetExists(name));
        }
        let req2 = req.clone();
        let p = progress.clone();
        let CheckedSet {
            scan,
            checked,
            qa,
            qa_file,
        } = tokio::task::spawn_blocking(move || check_all(&req2, &p))
            .await
            .map_err(|e| StoreError::Invalid(format!("import worker failed: {e}")))??;

        remove_stale_work(files_root);
        // Files are written first, to a folder of their own, with no lock held: a LOCO-sized
        // copy must not keep sign-ins and job updates waiting on the database's write lock.
        let tmp_dir = files_root.join(format!(
            "datasets/.importing-{}-{}",
            std::process::id(),
            now_nanos()
        ));
        let (tmp2, scan2, p) = (tmp_dir.clone(), scan.clone(), progress.clone());
        let written = tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(&tmp2);
            write_files(&tmp2, &scan2, &checked, &p).map(|()| checked)
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("import worker failed: {e}")))?;
        let checked = match written {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp_dir);
                return Err(e);
            }
        };
        // Then the rows, in one short transaction, and the folder renamed into place before
        // the commit: all or nothing still.
        let stored = self
            .insert_dataset(&name, &scan, &checked, &qa, files_root, &tmp_dir)
            .await;
        if stored.is_err() {
            let _ = std::fs::remove_dir_all(&tmp_dir);
        }
        stored?;
        // Stored: too late to stop.
        let _ = progress(ImportProgress {
            phase: "done",
            done: scan.images.len(),
            total: scan.images.len(),
        });
        Ok(ImportReport {
            dataset: self.dataset(&name).await?,
            images: scan.images.len(),
            qa: qa.len(),
            qa_file,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Inserts the dataset's rows and renames the written folder `files` into place as
    /// `datasets/<id>`, committing only when both worked.
    async fn insert_dataset(
        &self,
        name: &str,
        scan: &DatasetScan,
        checked: &[Checked],
        qa: &[QaRecord],
        files_root: &Path,
        files: &Path,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let layout = scan.layout;
        let inserted: Result<(i64,), _> = sql::query_as("INSERT INTO datasets (name, layout, root, image_count, created_at) VALUES ($1, $2, '', $3, $4) RETURNING id")
            .bind(name)
            .bind(layout)
            .bind(scan.images.len() as i64)
            .bind(now())
            .fetch_one(&mut tx)
            .await;
        let dataset_id = match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::DatasetExists(name.to_string()))
            }
            other => other?.0,
        };
        let root = format!("datasets/{dataset_id}");
        sql::query("UPDATE datasets SET root = $1 WHERE id = $2")
            .bind(&root)
            .bind(dataset_id)
            .execute(&mut tx)
            .await?;
        let mut image_ids = std::collections::HashMap::new();
        for (i, (entry, c)) in scan.images.iter().zip(checked).enumerate() {
            let (id,): (i64,) = sql::query_as(
                "INSERT INTO images (dataset_id, category, split, label, rel_path, file, sha256, width, height, has_mask)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(dataset_id)
            .bind(&entry.category)
            .bind(entry.split.as_str())
            .bind(entry.label.as_str())
            .bind(&entry.rel_path)
            .bind(stored_name(i, entry))
            .bind(&c.sha256)
            .bind(c.width as i64)
            .bind(c.height as i64)
            .bind(c.mask_png.is_some())
            .fetch_one(&mut tx)
            .await?;
            image_ids.insert(entry.rel_path.as_str(), id);
        }
        for q in qa {
            let region = q
                .region
                .map(|r| serde_json::to_string(&r).unwrap_or_default());
            // An exported file's verifier is kept when an account of that name exists here.
            sql::query(
                "INSERT INTO qa (image_id, question, answer, source, anomaly, region, verified_by, verified_at)
                 VALUES ($1, $2, $3, $4, $5, $6, (SELECT id FROM users WHERE lower(username) = lower($7)), $8)",
            )
            .bind(image_ids[q.image.as_str()])
            .bind(&q.question)
            .bind(&q.answer)
            .bind(q.source.as_str())
            .bind(&q.anomaly)
            .bind(region)
            .bind(&q.verified_by)
            .bind(q.verified_at)
            .execute(&mut tx)
            .await?;
        }

        let final_dir = files_root.join(&root);
        // A folder with this id can only be a leftover of a crashed import: no row uses it.
        let _ = std::fs::remove_dir_all(&final_dir);
        std::fs::rename(files, &final_dir).map_err(|e| encode_err(&final_dir, e))?;
        if let Err(e) = tx.commit().await {
            let _ = std::fs::remove_dir_all(&final_dir);
            return Err(e.into());
        }
        Ok(())
    }
}

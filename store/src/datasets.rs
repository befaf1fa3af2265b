//! Reading, splitting, exporting and deleting imported datasets.

use crate::sql;
use std::path::{Path, PathBuf};

use anomaly::dataset::qa::{QaRecord, QaSource, Region};
use anomaly::dataset::split::{plan, Side, SplitItem};
use anomaly::dataset::SourceSplit;
use anomaly::Label;

use crate::db::{now, Store, StoreError};
use crate::records::{
    CountRow, DatasetInfo, DatasetStats, ImageDetail, ImageFilter, ImagePage, ImageSummary, QaInfo,
    SplitImage, SplitInfo, SplitQa,
};

/// id, dataset root, file, category, label, has_mask, defect name, sha256.
type SplitImageRow = (
    i64,
    String,
    String,
    String,
    String,
    bool,
    Option<String>,
    String,
);

/// The stored files of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFile {
    Original,
    Mask,
    Thumbnail,
}

/// Where `which` file of an image stored as `file` lies inside its dataset's folder; None for
/// the mask of an image without one.
pub fn stored_file(file: &str, has_mask: bool, which: ImageFile) -> Option<String> {
    let stem = Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match which {
        ImageFile::Original => Some(file.to_string()),
        ImageFile::Mask if !has_mask => None,
        ImageFile::Mask => Some(format!("masks/{stem}.png")),
        ImageFile::Thumbnail => Some(format!("thumbs/{stem}.jpg")),
    }
}

type SummaryRow = (i64, String, String, String, String);
/// id, category, split, label, rel_path, dataset, width, height, has_mask, sha256.
type DetailRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    bool,
    String,
);
/// rel_path, question, answer, source, anomaly, region (JSON), verifier's name, verified at.
type QaExportRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn summary((id, category, split, label, rel_path): SummaryRow) -> ImageSummary {
    ImageSummary {
        id,
        category,
        split,
        label,
        rel_path,
    }
}

impl Store {
    /// One dataset by name.
    pub async fn dataset(&self, name: &str) -> Result<DatasetInfo, StoreError> {
        let row: Option<(i64, String, String, i64)> =
            sql::query_as("SELECT id, name, layout, image_count FROM datasets WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        row.map(|(id, name, layout, image_count)| DatasetInfo {
            id,
            name,
            layout,
            image_count,
        })
        .ok_or_else(|| StoreError::NoSuchDataset(name.to_string()))
    }

    /// Counts per category × split × label, QA per source, and the stored splits.
    pub async fn dataset_stats(&self, name: &str) -> Result<DatasetStats, StoreError> {
        let dataset = self.dataset(name).await?;
        let counts: Vec<(String, String, String, i64)> = sql::query_as(
            "SELECT category, split, label, COUNT(*) FROM images WHERE dataset_id = $1
             GROUP BY category, split, label ORDER BY category, split, label",
        )
        .bind(dataset.id)
        .fetch_all(self.pool())
        .await?;
        let qa = self.qa_source_counts(name).await?;
        let qa_by_source: Vec<(String, i64)> = sql::query_as(
            "SELECT q.source, COUNT(*) FROM qa q JOIN images i ON i.id = q.image_id
             WHERE i.dataset_id = $1 GROUP BY q.source ORDER BY q.source",
        )
        .bind(dataset.id)
        .fetch_all(self.pool())
        .await?;
        let splits: Vec<(String, i64, f64, i64, i64, i64)> = sql::query_as(
            "SELECT s.key, s.seed, s.fraction,
                    COUNT(*) FILTER (WHERE m.side = 'train'), COUNT(*) FILTER (WHERE m.side = 'test'),
                    COUNT(*) FILTER (WHERE m.side = 'train' AND i.label != 'good')
             FROM splits s JOIN split_members m ON m.split_id = s.id JOIN images i ON i.id = m.image_id
             WHERE s.dataset_id = $1 GROUP BY s.id ORDER BY s.created_at, s.id",
        )
        .bind(dataset.id)
        .fetch_all(self.pool())
        .await?;
        Ok(DatasetStats {
            dataset,
            counts: counts
                .into_iter()
                .map(|(category, split, label, images)| CountRow {
                    category,
                    split,
                    label,
                    images,
                })
                .collect(),
            qa_by_source,
            qa,
            splits: splits
                .into_iter()
                .map(
                    |(key, seed, fraction, train_images, test_images, train_anomalies)| SplitInfo {
                        key,
                        seed,
                        fraction,
                        train_images,
                        test_images,
                        train_anomalies,
                    },
                )
                .collect(),
        })
    }

    /// A page of images matching `filter`, ordered by category, split, label and path.
    pub async fn images_page(
        &self,
        name: &str,
        filter: &ImageFilter,
        page: i64,
        per_page: i64,
    ) -> Result<ImagePage, StoreError> {
        let dataset = self.dataset(name).await?;
        let per_page = per_page.clamp(1, 200);
        let page = page.max(1);
        // A literal (via macro) so sqlx sees static SQL; the filters are bound parameters.
        macro_rules! filtered {
            () => {
                " FROM images i WHERE i.dataset_id = $1
                  AND ($2 = '' OR i.category = $2) AND ($3 = '' OR i.split = $3) AND ($4 = '' OR i.label = $4)
                  AND ($5 = '' OR EXISTS (SELECT 1 FROM qa q WHERE q.image_id = i.id AND q.source = $5))"
            };
        }
        let (total,): (i64,) = sql::query_as(concat!("SELECT COUNT(*)", filtered!()))
            .bind(dataset.id)
            .bind(&filter.category)
            .bind(&filter.split)
            .bind(&filter.label)
            .bind(&filter.qa_source)
            .fetch_one(self.pool())
            .await?;
        let rows: Vec<SummaryRow> = sql::query_as(concat!(
            "SELECT i.id, i.category, i.split, i.label, i.rel_path",
            filtered!(),
            " ORDER BY i.category, i.split, i.label, i.rel_path LIMIT $6 OFFSET $7"
        ))
        .bind(dataset.id)
        .bind(&filter.category)
        .bind(&filter.split)
        .bind(&filter.label)
        .bind(&filter.qa_source)
        .bind(per_page)
        .bind((page - 1).saturating_mul(per_page))
        .fetch_all(self.pool())
        .await?;
        Ok(ImagePage {
            images: rows.into_iter().map(summary).collect(),
            total,
            page,
            per_page,
        })
    }

    /// One image with its QA annotations.
    pub async fn image_detail(&self, id: i64) -> Result<ImageDetail, StoreError> {
        let row: Option<DetailRow> = sql::query_as(
            "SELECT i.id, i.category, i.split, i.label, i.rel_path, d.name, i.width, i.height, i.has_mask, i.sha256
             FROM images i JOIN datasets d ON d.id = i.dataset_id WHERE i.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let (id, category, split, label, rel_path, dataset, width, height, has_mask, sha256) =
            row.ok_or_else(|| StoreError::Invalid(format!("no image with id {id}")))?;
        let qa: Vec<(i64, String, String, String, Option<String>)> =
            sql::query_as("SELECT id, question, answer, source, anomaly FROM qa WHERE image_id = $1 ORDER BY source, id")
                .bind(id)
                .fetch_all(self.pool())
                .await?;
        Ok(ImageDetail {
            summary: ImageSummary {
                id,
                category,
                split,
                label,
                rel_path,
            },
            dataset,
            width,
            height,
            has_mask,
            sha256,
            qa: qa
                .into_iter()
                .map(|(id, question, answer, source, anomaly)| QaInfo {
                    id,
                    question,
                    answer,
                    source,
                    anomaly,
                })
                .collect(),
        })
    }

    /// Where a stored file of image `id` lives under the data folder `files_root`.
    pub async fn image_file(
        &self,
        files_root: &Path,
        id: i64,
        which: ImageFile,
    ) -> Result<Option<PathBuf>, StoreError> {
        let row: Option<(String, String, bool)> = sql::query_as(
            "SELECT d.root, i.file, i.has_mask FROM images i JOIN datasets d ON d.id = i.dataset_id WHERE i.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some((root, file, has_mask)) = row else {
            return Ok(None);
        };
        Ok(stored_file(&file, has_mask, which).map(|rel| files_root.join(root).join(rel)))
    }

    /// The id of split `split_key` of dataset `name`.
    pub async fn split_id(&self, name: &str, split_key: &str) -> Result<i64, StoreError> {
        let dataset = self.dataset(name).await?;
        let split: Option<(i64,)> =
            sql::query_as("SELECT id FROM splits WHERE dataset_id = $1 AND key = $2")
                .bind(dataset.id)
                .bind(split_key)
                .fetch_optional(self.pool())
                .await?;
        split
            .map(|(id,)| id)
            .ok_or_else(|| StoreError::NotFound(format!("split {split_key:?} of dataset {name:?}")))
    }

    /// Every QA annotation of an image on `side` (`train` or `test`) of split `split_key`, in a
    /// stable order, with the image's file relative to the data folder.
    pub async fn split_qa(
        &self,
        name: &str,
        split_key: &str,
        side: &str,
    ) -> Result<Vec<SplitQa>, StoreError> {
        let split_id = self.split_id(name, split_key).await?;
        let rows: Vec<(i64, String, String, String, String, String, String)> = sql::query_as(
            "SELECT i.id, d.root, i.file, i.category, i.label, q.question, q.answer
             FROM split_members m
             JOIN images i ON i.id = m.image_id
             JOIN datasets d ON d.id = i.dataset_id
             JOIN qa q ON q.image_id = i.id
             WHERE m.split_id = $1 AND m.side = $2
             ORDER BY i.rel_path, q.id",
        )
        .bind(split_id)
        .bind(side)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(image_id, root, file, category, label, question, answer)| SplitQa {
                    image_id,
                    file: Path::new(&root).join(file),
                    category,
                    label,
                    question,
                    answer,
                },
            )
            .collect())
    }

    /// Every image on `side` (`train` or `test`) of split `split_key`, in a stable order, with
    /// its mask file and defect name.
    pub async fn split_images(
        &self,
        name: &str,
        split_key: &str,
        side: &str,
    ) -> Result<Vec<SplitImage>, StoreError> {
        let split_id = self.split_id(name, split_key).await?;
        let rows: Vec<SplitImageRow> =
            sql::query_as(
                "SELECT i.id, d.root, i.file, i.category, i.label, i.has_mask,
                        (SELECT q.anomaly FROM qa q WHERE q.image_id = i.id AND q.anomaly IS NOT NULL
                         ORDER BY q.id LIMIT 1),
                        i.sha256
                 FROM split_members m
                 JOIN images i ON i.id = m.image_id
                 JOIN datasets d ON d.id = i.dataset_id
                 WHERE m.split_id = $1 AND m.side = $2
                 ORDER BY i.rel_path",
            )
            .bind(split_id)
            .bind(side)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(image_id, root, file, category, label, has_mask, anomaly, sha256)| {
                    let stem = Path::new(&file)
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    SplitImage {
                        image_id,
                        mask: has_mask.then(|| Path::new(&root).join(format!("masks/{stem}.png"))),
                        file: Path::new(&root).join(file),
                        category,
                        label,
                        anomaly,
                        sha256,
                    }
                },
            )
            .collect())
    }

    /// Every QA annotation of a dataset, in the import format.
    pub async fn export_qa(&self, name: &str) -> Result<Vec<QaRecord>, StoreError> {
        let dataset = self.dataset(name).await?;
        let rows: Vec<QaExportRow> = sql::query_as(
            "SELECT i.rel_path, q.question, q.answer, q.source, q.anomaly, q.region, u.username,
                    q.verified_at
             FROM qa q JOIN images i ON i.id = q.image_id LEFT JOIN users u ON u.id = q.verified_by
             WHERE i.dataset_id = $1 ORDER BY i.rel_path, q.id",
        )
        .bind(dataset.id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(
                |(image, question, answer, source, anomaly, region, verified_by, verified_at)| {
                    let source: QaSource = source.parse()?;
                    let region: Option<Region> = region.and_then(|r| serde_json::from_str(&r).ok());
                    Ok(QaRecord {
                        image,
                        question,
                        answer,
                        source,
                        anomaly,
                        region,
                        verified_by,
                        verified_at,
                    })
                },
            )
            .collect()
    }

    /// Computes and stores the split for (seed, fraction); the same arguments return the
    /// stored split again.
    pub async fn create_split(
        &self,
        name: &str,
        seed: u64,
        fraction: f64,
    ) -> Result<SplitInfo, StoreError> {
        let dataset = self.dataset(name).await?;
        let rows: Vec<(i64, String, String, String, String)> = sql::query_as(
            "SELECT id, rel_path, category, split, label FROM images WHERE dataset_id = $1",
        )
        .bind(dataset.id)
        .fetch_all(self.pool())
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for (_, key, category, split, label) in &rows {
            let split: SourceSplit = split.parse()?;
            let label: Label = label
                .parse()
                .map_err(|e: anomaly::labels::UnknownLabel| StoreError::Invalid(e.to_string()))?;
            items.push(SplitItem {
                key: key.clone(),
                category: category.clone(),
                split,
                label,
            });
        }
        let p = plan(&items, seed, fraction)?;
        let existing: Option<(i64,)> =
            sql::query_as("SELECT id FROM splits WHERE dataset_id = $1 AND key = $2")
                .bind(dataset.id)
                .bind(&p.id)
                .fetch_optional(self.pool())
                .await?;
        if existing.is_none() {
            let mut tx = self.pool().begin().await?;
            let (split_id,): (i64,) = sql::query_as("INSERT INTO splits (dataset_id, key, seed, fraction, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
                .bind(dataset.id)
                .bind(&p.id)
                .bind(seed as i64)
                .bind(fraction)
                .bind(now())
                .fetch_one(&mut tx)
                .await?;
            for ((image_id, ..), side) in rows.iter().zip(&p.sides) {
                let Some(side) = side else { continue };
                let side = if *side == Side::Train {
                    "train"
                } else {
                    "test"
                };
                sql::query(
                    "INSERT INTO split_members (split_id, image_id, side) VALUES ($1, $2, $3)",
                )
                .bind(split_id)
                .bind(image_id)
                .bind(side)
                .execute(&mut tx)
                .await?;
            }
            tx.commit().await?;
        }
        let stats = self.dataset_stats(name).await?;
        stats
            .splits
            .into_iter()
            .find(|s| s.key == p.id)
            .ok_or_else(|| StoreError::Invalid("the split was not stored".into()))
    }

    /// The jobs (evaluation runs) holding predictions on images of dataset `name`, by id.
    pub async fn runs_using_dataset(&self, name: &str) -> Result<Vec<i64>, StoreError> {
        let dataset = self.dataset(name).await?;
        let rows: Vec<(i64,)> = sql::query_as(
            "SELECT DISTINCT p.job_id FROM predictions p JOIN images i ON i.id = p.image_id
             WHERE i.dataset_id = $1 ORDER BY p.job_id",
        )
        .bind(dataset.id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Deletes a dataset's rows, then its files. Evaluation runs with predictions on it would
    /// lose them (the rows cascade), so such a dataset is refused with the runs' ids, unless
    /// `with_evaluations` says to delete those runs too; runs that people judged are refused
    /// either way (they are deleted one by one, keeping the judgements' export).
    pub async fn delete_dataset(
        &self,
        files_root: &Path,
        name: &str,
        with_evaluations: bool,
    ) -> Result<(), StoreError> {
        let dataset = self.dataset(name).await?;
        let runs = self.runs_using_dataset(name).await?;
        if !runs.is_empty() && !with_evaluations {
            return Err(StoreError::DatasetInUse {
                name: name.to_string(),
                runs,
            });
        }
        let (root,): (String,) = sql::query_as("SELECT root FROM datasets WHERE id = $1")
            .bind(dataset.id)
            .fetch_one(self.pool())
            .await?;
        let mut tx = self.pool().begin_immediate().await?;
        // People's judgements are deleted only with a run of its own, which keeps their export.
        let judged: Vec<(i64,)> = sql::query_as(
            "SELECT DISTINCT j.job_id FROM judgements j JOIN images i ON i.id = j.image_id
             WHERE i.dataset_id = $1 ORDER BY j.job_id",
        )
        .bind(dataset.id)
        .fetch_all(&mut tx)
        .await?;
        if !judged.is_empty() {
            return Err(StoreError::Conflict(format!(
                "evaluation run(s) {} on dataset {name:?} hold reviewers' judgements: delete those runs first (the Delete button of the run's page, or `vlm-inspect eval --delete N --with-reviews`), which keeps the judgements' export",
                judged.iter().map(|(r,)| r.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        for run in &runs {
            sql::query("DELETE FROM jobs WHERE id = $1")
                .bind(run)
                .execute(&mut tx)
                .await?;
        }
        sql::query("DELETE FROM datasets WHERE id = $1")
            .bind(dataset.id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        if !root.is_empty() {
            let dir = files_root.join(root);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| StoreError::File {
                    path: dir,
                    reason: e.to_string(),
                })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

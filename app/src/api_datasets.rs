//! Server functions for datasets: listing, browsing, images, import jobs, deletion.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use store::{DatasetStats, ImageDetail, ImageFilter, ImagePage, JobInfo};

use crate::ApiError;

#[cfg(feature = "ssr")]
use crate::ssr::{fail, require_user, state, store_error};
#[cfg(feature = "ssr")]
use store::Access;

/// Thumbnails per page of the browser.
pub const PER_PAGE: i64 = 48;

/// Every dataset with its counts and splits.
#[server(prefix = "/api", endpoint = "datasets")]
pub async fn list_datasets() -> Result<Vec<DatasetStats>, ApiError> {
    require_user(Access::AnyUser)?;
    let st = state()?;
    let mut out = Vec::new();
    for d in st.store.datasets().await.map_err(store_error)? {
        out.push(st.store.dataset_stats(&d.name).await.map_err(store_error)?);
    }
    Ok(out)
}

/// One dataset's counts.
#[server(prefix = "/api", endpoint = "dataset")]
pub async fn get_dataset_stats(name: String) -> Result<DatasetStats, ApiError> {
    require_user(Access::AnyUser)?;
    state()?
        .store
        .dataset_stats(&name)
        .await
        .map_err(store_error)
}

/// A page of a dataset's images matching the filter.
#[server(prefix = "/api", endpoint = "dataset/images")]
pub async fn dataset_images(
    name: String,
    filter: ImageFilter,
    page: i64,
) -> Result<ImagePage, ApiError> {
    require_user(Access::AnyUser)?;
    state()?
        .store
        .images_page(&name, &filter, page, PER_PAGE)
        .await
        .map_err(store_error)
}

/// One image with its QA annotations.
#[server(prefix = "/api", endpoint = "image")]
pub async fn get_image(id: i64) -> Result<ImageDetail, ApiError> {
    require_user(Access::AnyUser)?;
    state()?
        .store
        .image_detail(id)
        .await
        .map_err(|_| fail(ApiError::NotFound(format!("no image with id {id}"))))
}

/// What an admin asks to import.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportForm {
    /// A folder on the server.
    pub source: String,
    /// "loco" or "folder".
    pub layout: String,
    /// Optional QA JSONL file on the server.
    pub qa_file: String,
    pub name: String,
}

/// Starts an import in the background; returns the job id to follow.
#[server(prefix = "/api", endpoint = "admin/datasets/import")]
pub async fn start_import(form: ImportForm) -> Result<i64, ApiError> {
    use std::sync::Arc;
    use store::import::{ImportRequest, Layout};
    let me = require_user(Access::ADMIN)?;
    let st = state()?;
    let layout = match form.layout.as_str() {
        "loco" => Layout::Loco,
        "folder" => Layout::Folder,
        other => {
            return Err(fail(ApiError::BadRequest(format!(
                "unknown layout {other:?}: loco or folder"
            ))))
        }
    };
    let source = std::path::PathBuf::from(form.source.trim());
    if !source.is_dir() {
        return Err(fail(ApiError::BadRequest(format!(
            "{} is not a folder on the server",
            source.display()
        ))));
    }
    let name = if form.name.trim().is_empty() {
        source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        form.name.trim().to_string()
    };
    if st.store.dataset(&name).await.is_ok() {
        return Err(fail(ApiError::Conflict(format!(
            "a dataset named {name:?} exists already"
        ))));
    }
    let qa_file = Some(form.qa_file.trim())
        .filter(|s| !s.is_empty())
        .map(std::path::PathBuf::from);
    // Rust's Debug quoting is not JSON quoting (paths may hold any character).
    let config =
        serde_json::json!({"source": source.display().to_string(), "name": name}).to_string();
    let job = st
        .store
        .create_job("import", &config, Some(me.id))
        .await
        .map_err(store_error)?;
    let req = ImportRequest {
        source,
        layout,
        qa_file,
        name,
        categories: None,
    };
    let store = st.store.clone();
    let data_dir = st.data_dir.clone();
    tokio::spawn(async move {
        let (tx, mut rx) = tokio::sync::watch::channel(0.0f64);
        let progress = Arc::new(move |p: store::import::ImportProgress| {
            // Checking is most of the work; storing is the rest.
            let f = p.done as f64 / p.total.max(1) as f64;
            let _ = tx.send(if p.phase == "checking" {
                0.8 * f
            } else {
                0.8 + 0.2 * f
            });
        });
        let updater = {
            let store = store.clone();
            tokio::spawn(async move {
                while rx.changed().await.is_ok() {
                    let v = *rx.borrow();
                    let _ = store.job_progress(job, v).await;
                }
            })
        };
        let result = store.import_dataset(&data_dir, req, progress).await;
        let _ = updater.await;
        let error = result.err().map(|e| e.to_string());
        if let Err(e) = store.finish_job(job, error.as_deref()).await {
            leptos::logging::error!("cannot record the end of job {job}: {e}");
        }
    });
    Ok(job)
}

/// A job's state, for progress displays.
#[server(prefix = "/api", endpoint = "job")]
pub async fn job_status(id: i64) -> Result<JobInfo, ApiError> {
    require_user(Access::AnyUser)?;
    state()?
        .store
        .job(id)
        .await
        .map_err(|_| fail(ApiError::NotFound(format!("no job with id {id}"))))
}

/// Deletes a dataset and its files.
#[server(prefix = "/api", endpoint = "admin/datasets/delete")]
pub async fn delete_dataset(name: String) -> Result<(), ApiError> {
    require_user(Access::ADMIN)?;
    let st = state()?;
    st.store
        .delete_dataset(&st.data_dir, &name)
        .await
        .map_err(store_error)
}

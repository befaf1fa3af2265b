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
    require_user(Access::MEMBER)?;
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
    require_user(Access::MEMBER)?;
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
    require_user(Access::MEMBER)?;
    state()?
        .store
        .images_page(&name, &filter, page, PER_PAGE)
        .await
        .map_err(store_error)
}

/// One image with its QA annotations.
#[server(prefix = "/api", endpoint = "image")]
pub async fn get_image(id: i64) -> Result<ImageDetail, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    // Reviewers see the images of the runs shared with them, and nothing else.
    if !st
        .store
        .may_see_image(&me, id)
        .await
        .map_err(crate::ssr::store_error)?
    {
        return Err(fail(ApiError::NotFound(format!("no image with id {id}"))));
    }
    st.store
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

/// Queues an import (the server's data lane runs it); returns the job id to follow.
#[server(prefix = "/api", endpoint = "admin/datasets/import")]
pub async fn start_import(form: ImportForm) -> Result<i64, ApiError> {
    let me = require_user(Access::ADMIN)?;
    let st = state()?;
    let layout: store::ImportLayout = form
        .layout
        .parse()
        .map_err(|e: String| fail(ApiError::BadRequest(e)))?;
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
    let job = store::ImportJob {
        source: source.display().to_string(),
        layout,
        qa_file: Some(form.qa_file.trim().to_string()).filter(|s| !s.is_empty()),
        name,
    };
    crate::ssr::queue_job(&st, store::JobKind::Import, &job, &me).await
}

/// A job's state, for progress displays.
#[server(prefix = "/api", endpoint = "job")]
pub async fn job_status(id: i64) -> Result<JobInfo, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    let job = crate::ssr::job_of(&st, id, None, "job").await?;
    // Someone else's inspection is as absent as a missing job.
    if !st
        .store
        .may_see_job(&me, id)
        .await
        .map_err(crate::ssr::store_error)?
    {
        return Err(crate::ssr::fail(ApiError::NotFound(format!("no job {id}"))));
    }
    Ok(job)
}

/// Deletes a dataset and its files; refused (409, naming the runs) while evaluation runs hold
/// predictions on it, unless `with_evaluations` deletes them too.
#[server(prefix = "/api", endpoint = "admin/datasets/delete")]
pub async fn delete_dataset(
    name: String,
    #[server(default)] with_evaluations: bool,
) -> Result<(), ApiError> {
    require_user(Access::ADMIN)?;
    let st = state()?;
    st.store
        .delete_dataset(&st.data_dir, &name, with_evaluations)
        .await
        .map_err(store_error)
}

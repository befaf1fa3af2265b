//! `--model` for the commands that open no store of their own: the data folder's store is
//! opened just to resolve the name (`jobs::models::resolve_in`).

use std::path::PathBuf;

/// What `--model` names (see [`jobs::models::resolve_in`]); a path needs no store.
pub async fn resolve(model: &str, data: &crate::data_dir::DataDir) -> anyhow::Result<PathBuf> {
    let as_path = PathBuf::from(model);
    if as_path.exists() {
        return Ok(as_path);
    }
    crate::data_dir::prepare_data_dir(&data.data_dir)?;
    let store = data.open().await?;
    let found = jobs::models::resolve_in(&store, model, &data.data_dir).await;
    store.close().await;
    found
}

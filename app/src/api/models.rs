//! The Models page's server functions: the registry for everyone, and for admins registering,
//! testing and removing remote models. API keys go in one way only: an entered key is written
//! to the server's key file and never comes back (the page sees it masked).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ApiError;

#[cfg(feature = "ssr")]
use crate::ssr::{fail, require_user, state, store_error};
#[cfg(feature = "ssr")]
use store::Access;

/// One registered model as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    pub name: String,
    pub kind: String,
    /// Files on the server, or a remote model's base URL.
    pub location: String,
    pub remote: Option<RemoteRow>,
}

/// A remote model's settings, its key shown only masked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteRow {
    pub remote_model: String,
    /// "none", "env VAR" or "file".
    pub key: String,
    /// The stored key masked (`sk-…wxyz`), for a key kept in the key file.
    pub key_masked: Option<String>,
    pub max_concurrency: usize,
    pub max_image_side: Option<u32>,
    pub detail: Option<String>,
    pub price_in: Option<f64>,
    pub price_out: Option<f64>,
}

/// Every registered model.
#[server(prefix = "/api", endpoint = "models")]
pub async fn list_models() -> Result<Vec<ModelRow>, ApiError> {
    let me = require_user(Access::MEMBER)?;
    let admin = me.role == store::Role::Admin;
    let st = state()?;
    let models = st.store.models().await.map_err(store_error)?;
    Ok(models
        .into_iter()
        .map(|m| {
            let remote = m.remote.as_ref().map(|r| RemoteRow {
                remote_model: r.remote_model.clone(),
                key: match &r.api_key {
                    store::KeySource::None => "none".into(),
                    store::KeySource::Env { var } => format!("env {var}"),
                    store::KeySource::File => "file".into(),
                },
                key_masked: match r.api_key {
                    store::KeySource::File => jobs::remote_models::read_key(&st.data_dir, &m, r)
                        .ok()
                        .flatten()
                        .map(|k| k.masked()),
                    _ => None,
                },
                max_concurrency: r.max_concurrency,
                max_image_side: r.max_image_side,
                detail: r.detail.map(|d| d.as_str().to_string()),
                price_in: r.price_in,
                price_out: r.price_out,
            });
            ModelRow {
                name: m.name,
                kind: m.kind,
                // The server's file-system paths are for admins only.
                location: if admin || m.remote.is_some() {
                    m.path
                } else {
                    String::new()
                },
                remote,
            }
        })
        .collect())
}

/// The remote-model form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteForm {
    pub name: String,
    pub base_url: String,
    pub remote_model: String,
    /// An environment variable of the server holding the key.
    #[serde(default)]
    pub key_env: String,
    /// A key to keep in the server's key file (wins over `key_env`).
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub max_concurrency: String,
    #[serde(default)]
    pub max_image_side: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub price_in: String,
    #[serde(default)]
    pub price_out: String,
}

/// Registers (or updates) a remote model (admins).
#[server(prefix = "/api", endpoint = "admin/models/remote")]
pub async fn add_remote_model(form: RemoteForm) -> Result<String, ApiError> {
    require_user(Access::ADMIN)?;
    let st = state()?;
    let bad = |m: String| fail(ApiError::BadRequest(m));
    let number = |field: &str, v: &str| -> Result<Option<f64>, ApiError> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(None);
        }
        v.parse::<f64>()
            .map(Some)
            .map_err(|_| bad(format!("{field}: not a number")))
    };
    let key = form.key.trim();
    let spec = store::RemoteSpec {
        base_url: form.base_url.trim().trim_end_matches('/').to_string(),
        remote_model: form.remote_model.trim().to_string(),
        api_key: if !key.is_empty() {
            store::KeySource::File
        } else if !form.key_env.trim().is_empty() {
            store::KeySource::Env {
                var: form.key_env.trim().to_string(),
            }
        } else {
            store::KeySource::None
        },
        max_concurrency: match form.max_concurrency.trim() {
            "" => 4,
            v => v
                .parse()
                .map_err(|_| bad("max concurrency: a whole number".into()))?,
        },
        max_image_side: match form.max_image_side.trim() {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|_| bad("max image side: a whole number of pixels".into()))?,
            ),
        },
        detail: match form.detail.trim() {
            "" => None,
            v => Some(v.parse().map_err(bad)?),
        },
        price_in: number("price in", &form.price_in)?,
        price_out: number("price out", &form.price_out)?,
        first_token_timeout_s: None,
    };
    let key = (!key.is_empty()).then_some(key);
    let m = jobs::remote_models::register(&st.store, &st.data_dir, form.name.trim(), &spec, key)
        .await
        .map_err(|e| bad(format!("{e:#}")))?;
    Ok(m.name)
}

/// Sends one tiny request to a remote model (admins): its latency, or the server's error.
#[server(prefix = "/api", endpoint = "admin/models/test")]
pub async fn test_model(name: String) -> Result<String, ApiError> {
    require_user(Access::ADMIN)?;
    let st = state()?;
    jobs::remote_models::test_named(&st.store, &st.data_dir, &name)
        .await
        .map_err(|e| fail(ApiError::BadRequest(format!("{e:#}"))))
}

/// Removes a model from the registry (admins); a remote model's key file goes with it.
#[server(prefix = "/api", endpoint = "admin/models/remove")]
pub async fn remove_model(name: String) -> Result<(), ApiError> {
    require_user(Access::ADMIN)?;
    let st = state()?;
    let removed = jobs::remote_models::remove(&st.store, &st.data_dir, &name)
        .await
        .map_err(|e| fail(ApiError::Internal(format!("{e:#}"))))?;
    if !removed {
        return Err(fail(ApiError::NotFound(format!("no model named {name:?}"))));
    }
    Ok(())
}

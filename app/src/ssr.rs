//! Server-side plumbing the server functions share: state, the signed-in user, the guard.

use axum::extract::FromRef;
use axum::http::request::Parts;
use axum::http::StatusCode;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;
use store::{authorize, Access, Denied, Store, StoreError, UserInfo};

use crate::ApiError;

/// Shared by every request; provided to server functions as context.
#[derive(Clone, Debug)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: Store,
    /// The compute device the models run on, as shown on the home page.
    pub device: String,
    /// The data folder: database, dataset files, models.
    pub data_dir: std::path::PathBuf,
    /// The job worker's event feed and wake-up call.
    pub jobs: JobHub,
}

/// One stored progress event of a job, as broadcast to live pages.
#[derive(Clone, Debug, PartialEq)]
pub struct JobEvent {
    pub job: i64,
    /// Its sequence number in `job_events` (0 for the end-of-job notice, which is not stored).
    pub seq: i64,
    pub data: String,
}

/// What connects requests to the job worker: progress events for live pages, and a wake-up
/// when a job is queued.
#[derive(Clone, Debug)]
pub struct JobHub {
    pub events: tokio::sync::broadcast::Sender<JobEvent>,
    pub wake: std::sync::Arc<tokio::sync::Notify>,
}

impl Default for JobHub {
    fn default() -> Self {
        JobHub {
            events: tokio::sync::broadcast::channel(256).0,
            wake: Default::default(),
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The user the session cookie names (None when signed out). The server's middleware
/// resolves it once per request and puts it in the request's extensions.
#[derive(Clone, Debug, Default)]
pub struct SessionUser {
    pub user: Option<UserInfo>,
    /// The raw session token, so logout can end exactly this session.
    pub token: Option<String>,
}

/// The application state, from the server function's context.
pub fn state() -> Result<AppState, ApiError> {
    use_context::<AppState>()
        .ok_or_else(|| fail(ApiError::Internal("application state missing".into())))
}

/// The session of the current request.
pub fn session() -> SessionUser {
    use_context::<Parts>()
        .and_then(|p| p.extensions.get::<SessionUser>().cloned())
        .unwrap_or_default()
}

/// The guard every server function calls first: the signed-in user if `access` allows them.
pub fn require(access: Access) -> Result<Option<UserInfo>, ApiError> {
    let session = session();
    match authorize(session.user.as_ref(), access) {
        Ok(()) => Ok(session.user),
        Err(Denied::Unauthenticated) => Err(fail(ApiError::Unauthorized("sign in first".into()))),
        Err(Denied::Forbidden) => Err(fail(ApiError::Forbidden(
            "your role may not do this".into(),
        ))),
    }
}

/// Like [`require`] for endpoints that need a signed-in user.
pub fn require_user(access: Access) -> Result<UserInfo, ApiError> {
    require(access)?.ok_or_else(|| fail(ApiError::Unauthorized("sign in first".into())))
}

/// Sets the response status for `error` and returns it.
pub fn fail(error: ApiError) -> ApiError {
    set_status(&error);
    error
}

/// Sets the HTTP status of the current server-function response to match `error`.
pub fn set_status(error: &ApiError) {
    if let Some(res) = use_context::<ResponseOptions>() {
        res.set_status(
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        );
    }
}

/// Asks job `id` (a training or evaluation run) to stop; a conflict when it has already ended.
pub async fn cancel_job(st: &AppState, id: i64) -> Result<(), ApiError> {
    if st.store.request_cancel(id).await.map_err(store_error)? {
        Ok(())
    } else {
        Err(fail(ApiError::Conflict(format!(
            "run {id} has already ended"
        ))))
    }
}

/// Queues failed or cancelled job `id` again and wakes the workers; a conflict otherwise.
pub async fn resume_job(st: &AppState, id: i64) -> Result<(), ApiError> {
    if st.store.requeue_job(id).await.map_err(store_error)? {
        st.jobs.wake.notify_waiters();
        Ok(())
    } else {
        Err(fail(ApiError::Conflict(format!(
            "run {id} is not failed or cancelled"
        ))))
    }
}

/// Store errors as API errors with the right status.
pub fn store_error(e: StoreError) -> ApiError {
    fail(match e {
        StoreError::Invalid(m) => ApiError::BadRequest(m),
        StoreError::NoSuchUser(_) => ApiError::NotFound(e.to_string()),
        StoreError::UserExists(_) | StoreError::DatasetExists(_) => {
            ApiError::Conflict(e.to_string())
        }
        StoreError::NoSuchDataset(_) => ApiError::NotFound(e.to_string()),
        StoreError::Dataset(_) | StoreError::QaFile(_) | StoreError::File { .. } => {
            ApiError::BadRequest(e.to_string())
        }
        other => {
            leptos::logging::error!("store error: {other}");
            ApiError::Internal(other.to_string())
        }
    })
}

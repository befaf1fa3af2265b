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
    /// That device: every job launched from the web runs on it unless the launcher picks
    /// another one the server has (see [`job_device`]).
    pub compute: vlm::DeviceSpec,
    /// The data folder: database, dataset files, models.
    pub data_dir: std::path::PathBuf,
    /// The job lanes' event feed and wake-up call.
    pub jobs: jobs::JobHub,
    /// The interactive lane's turn, which `/v1` requests share with inspections.
    pub interactive: jobs::runner::Interactive,
    /// The address users reach the server at (`--public-url`), when given.
    pub public_url: Option<PublicUrl>,
}

impl AppState {
    /// Whether cookies carry the `Secure` flag: when users reach the server over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.as_ref().is_some_and(PublicUrl::is_https)
    }
}

/// The origin users reach the server at (`--public-url https://inspect.example.com`): state-
/// changing requests from browsers must come from it, and https turns on `Secure` cookies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    /// `scheme://host[:port]`, lower-cased, the default port left out.
    origin: String,
}

impl PublicUrl {
    /// Reads an http(s) URL; only its origin is kept.
    pub fn parse(text: &str) -> Result<Self, String> {
        origin_of(text)
            .map(|origin| Self { origin })
            .ok_or_else(|| format!("--public-url {text:?}: give an http:// or https:// URL"))
    }

    /// `scheme://host[:port]`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Served over https.
    pub fn is_https(&self) -> bool {
        self.origin.starts_with("https://")
    }
}

/// The origin (`scheme://host[:port]`, default port dropped) of an http(s) URL, as browsers
/// send it in `Origin` and `Referer`; None for anything else (including `null`).
pub fn origin_of(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    // Credentials in the authority never belong to an origin a browser sends.
    if authority.is_empty() || authority.contains('@') || authority.chars().any(char::is_whitespace)
    {
        return None;
    }
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}"))
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

/// The address the current request came from (the socket's peer), when the server knows it.
pub fn client_ip() -> Option<std::net::IpAddr> {
    use axum::extract::ConnectInfo;
    use_context::<Parts>().and_then(|p| {
        p.extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
    })
}

/// Tells the client when to try again (with a 429 or 503).
pub fn retry_after(secs: i64) {
    if let (Some(res), Ok(v)) = (
        use_context::<ResponseOptions>(),
        axum::http::HeaderValue::from_str(&secs.max(1).to_string()),
    ) {
        res.insert_header(axum::http::header::RETRY_AFTER, v);
    }
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

/// Queues a job for the signed-in user and wakes the lanes.
pub async fn queue_job<T: serde::Serialize + serde::de::DeserializeOwned>(
    st: &AppState,
    kind: store::JobKind,
    config: &T,
    owner: &UserInfo,
) -> Result<i64, ApiError> {
    let id = st
        .store
        .create_job(
            kind,
            &store::JobConfig::encode(config),
            store::JobOwner::User(owner.id),
        )
        .await
        .map_err(store_error)?;
    st.jobs.wake.notify_waiters();
    Ok(id)
}

/// Job `id` when it is of `kind` (any kind when None); a 404 naming `what` otherwise (a job of
/// another kind is as absent as a missing one).
pub async fn job_of(
    st: &AppState,
    id: i64,
    kind: Option<store::JobKind>,
    what: &str,
) -> Result<store::JobInfo, ApiError> {
    st.store
        .job(id)
        .await
        .ok()
        .filter(|j| kind.is_none_or(|k| j.kind == k))
        .ok_or_else(|| fail(ApiError::NotFound(format!("no {what} {id}"))))
}

/// Whether `me` may manage (cancel, resume, read privately) a job owned by `owner`.
pub fn owns_or_admin(me: &UserInfo, owner: &str) -> bool {
    me.role == store::Role::Admin || me.username == owner
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

/// The device a job launched from the web runs on: the server's own unless `requested` names
/// another one this server has (the CPU is always there). Errors name the field.
pub fn job_device(st: &AppState, requested: &str) -> Result<String, ApiError> {
    let requested = requested.trim();
    if requested.is_empty() {
        return Ok(st.compute.to_string());
    }
    let spec: vlm::DeviceSpec = requested
        .parse()
        .map_err(|e| fail(ApiError::BadRequest(format!("device: {e}"))))?;
    if spec == st.compute || spec == vlm::DeviceSpec::Cpu {
        Ok(spec.to_string())
    } else {
        Err(fail(ApiError::BadRequest(format!(
            "device: this server runs on {} (or cpu), not {spec}",
            st.compute
        ))))
    }
}

/// The device a job's runner last reported opening, from its stored events.
pub fn ran_on(events: &[(i64, String)]) -> Option<String> {
    events
        .iter()
        .rev()
        .find_map(|(_, e)| match store::JobEvent::from_json(e) {
            Some(store::JobEvent::Started { device, .. }) => Some(device),
            _ => None,
        })
}

/// A planning error as an API error: a bad request names its field.
pub fn plan_error(e: jobs::PlanError) -> ApiError {
    match e {
        jobs::PlanError::Invalid(m) => fail(ApiError::BadRequest(m)),
        jobs::PlanError::Store(e) => store_error(e),
    }
}

/// Store errors as API errors with the right status.
pub fn store_error(e: StoreError) -> ApiError {
    fail(match e {
        StoreError::Invalid(m) => ApiError::BadRequest(m),
        StoreError::NoSuchUser(_) => ApiError::NotFound(e.to_string()),
        StoreError::UserExists(_)
        | StoreError::DatasetExists(_)
        | StoreError::DatasetInUse { .. }
        | StoreError::RunHasReviews { .. } => ApiError::Conflict(e.to_string()),
        StoreError::NoSuchDataset(_) | StoreError::NotFound(_) => ApiError::NotFound(e.to_string()),
        StoreError::QueueFull(_) => ApiError::TooManyRequests(e.to_string()),
        StoreError::Conflict(m) => ApiError::Conflict(m),
        StoreError::Forbidden(m) => ApiError::Forbidden(m),
        StoreError::Dataset(_) | StoreError::QaFile(_) | StoreError::File { .. } => {
            ApiError::BadRequest(e.to_string())
        }
        other => {
            leptos::logging::error!("store error: {other}");
            ApiError::Internal(other.to_string())
        }
    })
}

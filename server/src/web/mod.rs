//! `vlm-inspect serve`: the axum router (pages, server functions, files, uploads, live job
//! events, downloads, the guard around them) and serving it.

pub mod downloads;
pub mod events;
pub mod files;
pub mod guard;
pub mod health;
pub mod upload;
pub mod v1;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use app::ssr::AppState;
use app::{shell, App};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use clap::Args;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use store::Store;
use tower_http::limit::RequestBodyLimitLayer;

use crate::data_dir::{prepare_data_dir, JobLock, ServerLock};
use guard::{guard, MAX_BODY_BYTES, MAX_UPLOAD_BYTES, UPLOAD_PATH};
use health::healthz;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VLM_INSPECT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub data: crate::data_dir::DataDir,
    /// Compute device for the models: cpu, wgpu[:N] or cuda[:N].
    #[arg(long, env = "VLM_INSPECT_DEVICE", default_value = "cpu")]
    pub device: String,
    /// Folder holding the built site (pkg/ with the wasm, js and css).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// When no evaluation has run yet, queue one of the default model on the demo set (what
    /// scripts/run.sh does on a first start, so the results pages fill within minutes).
    #[arg(long)]
    pub first_evaluation: bool,
    /// The address users reach the server at, e.g. https://inspect.example.com behind a
    /// proxy: browsers' state-changing requests must come from that origin, and https makes
    /// the session cookie `Secure`. Without it, requests must come from the `Host` they name.
    #[arg(long, env = "VLM_INSPECT_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<app::ssr::PublicUrl>,
    /// Jobs one user may have waiting in the queue at once (more are refused with 429).
    #[arg(long, env = "VLM_INSPECT_MAX_QUEUED", default_value_t = 20)]
    pub max_queued_per_user: usize,
}

fn parse_public_url(text: &str) -> Result<app::ssr::PublicUrl, String> {
    app::ssr::PublicUrl::parse(text)
}

/// Leptos options for a server listening on `addr` with the built site under `site_root`.
pub fn leptos_options(addr: SocketAddr, site_root: &Path) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("vlm-inspect")
        .site_root(site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// The whole application: pages, server functions, health check, static files, guard.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/files/{kind}/{id}", get(files::image_file))
        .route("/api/jobs/{id}/events", get(events::job_events))
        .route("/api/evaluations/{file}", get(downloads::download))
        .route("/api/reviews/{file}", get(downloads::review_download))
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // The streaming limit sits inside the guard, so the guard's clear 413 answers first
        // when a Content-Length is declared.
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Merged after the general limit, so only its own (larger) one applies.
        .merge(
            Router::new()
                .route(UPLOAD_PATH, post(upload::upload))
                .route("/v1/chat/completions", post(v1::chat_completions))
                .layer(DefaultBodyLimit::disable())
                .layer(RequestBodyLimitLayer::new(MAX_UPLOAD_BYTES)),
        )
        .route("/v1/models", get(v1::models))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// What a query value keeps as it is: RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The same with '/' kept, for a path carried in a query (`/login?next=/admin/users`).
const PATH_IN_QUERY: &AsciiSet = &QUERY_VALUE.remove(b'/');

/// `s` as a query value.
pub(crate) fn encode_query_value(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// A path as a query value (`/login?next=…`), slashes kept readable.
pub(crate) fn encode_query_path(s: &str) -> String {
    utf8_percent_encode(s, PATH_IN_QUERY).to_string()
}

/// How often expired sessions and forgotten sign-in counts are deleted.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// `vlm-inspect serve`: take the data folder, make sure an admin exists, recover interrupted
/// jobs, start the job lanes, listen.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let spec: vlm::DeviceSpec = args.device.parse()?;
    prepare_data_dir(&args.data.data_dir)?;
    // Before anything is written: a second server on the same folder stops here.
    let _lock = ServerLock::acquire(&args.data.data_dir)?;
    let store = args
        .data
        .open_with(store::StoreOptions {
            max_queued_per_user: args.max_queued_per_user.max(1),
            ..Default::default()
        })
        .await?;
    crate::setup::announce_first_admin(&store).await?;
    // No runner of this server is alive (we hold the folder's lock): whatever is `running` was
    // interrupted, unless a command-line evaluation holds its job's lock.
    let data_dir = args.data.data_dir.clone();
    let (requeued, failed) = store
        .recover_interrupted_jobs(&|id| JobLock::is_held(&data_dir, id))
        .await?;
    if !requeued.is_empty() {
        tracing::info!(
            "job(s) {requeued:?} were interrupted; they resume from their last checkpoint or stored predictions"
        );
    }
    if !failed.is_empty() {
        tracing::warn!(
            "job(s) {failed:?} were interrupted {} times and failed for good (resume them by hand)",
            store::jobs::MAX_INTERRUPTED_ATTEMPTS
        );
    }
    crate::setup::first_start(
        &store,
        args.data.data_dir.clone(),
        args.first_evaluation,
        spec,
    )
    .await?;
    spawn_housekeeping(store.clone());

    let device = vlm::device::probe(spec)?;
    tracing::info!("compute device: {}", device.description);
    if !args.site_root.join("pkg").is_dir() {
        tracing::warn!(
            "no built site at {}: pages will render but not hydrate (build with `cargo leptos build --release`)",
            args.site_root.display()
        );
    }

    let mut state = app_state(
        store.clone(),
        args.data.data_dir.clone(),
        leptos_options(args.addr, &args.site_root),
        spec,
        device.description,
    );
    state.public_url = args.public_url.clone();
    jobs::runner::start(
        store.clone(),
        args.data.data_dir.clone(),
        state.jobs.clone(),
        state.interactive.clone(),
    );
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let bound = listener.local_addr()?;
    println!(
        "vlm-inspect {} listening on http://{bound}",
        env!("CARGO_PKG_VERSION")
    );
    println!("data folder: {}", args.data.data_dir.display());
    // Streamed replies are many small writes: without TCP_NODELAY, Nagle's algorithm and the
    // client's delayed ACK hold each reply's last piece ~40 ms (bench/v1_eval.sh).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    // The peer's address reaches handlers as `ConnectInfo` (sign-in throttling counts by it).
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the server stopped with an error")?;
    store.close().await;
    Ok(())
}

/// The state every request shares.
pub fn app_state(
    store: Store,
    data_dir: PathBuf,
    leptos_options: LeptosOptions,
    compute: vlm::DeviceSpec,
    description: String,
) -> AppState {
    AppState {
        leptos_options,
        store,
        device: description,
        compute,
        data_dir,
        jobs: jobs::JobHub::default(),
        interactive: jobs::runner::Interactive::default(),
        public_url: None,
    }
}

/// Deletes expired sessions and forgotten sign-in counts now and every
/// [`HOUSEKEEPING_EVERY`] (the tables' bounds are in docs/reliability.md).
pub fn spawn_housekeeping(store: Store) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
        loop {
            every.tick().await;
            match store.purge_expired_sessions().await {
                Ok(0) => {}
                Ok(n) => tracing::info!("deleted {n} expired session(s)"),
                Err(e) => tracing::warn!("cannot delete expired sessions: {e}"),
            }
            match store.purge_login_throttle().await {
                Ok(0) => {}
                Ok(n) => tracing::info!("forgot {n} old sign-in count(s)"),
                Err(e) => tracing::warn!("cannot delete old sign-in counts: {e}"),
            }
        }
    })
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

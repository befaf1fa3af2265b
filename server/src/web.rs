//! Building the axum router and serving it.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use app::ssr::AppState;
use app::{shell, App};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use store::Store;
use tower_http::limit::RequestBodyLimitLayer;

use crate::bootstrap::{ensure_admin, FirstAdmin, FIRST_ADMIN};
use crate::cli::{prepare_data_dir, ServeArgs};
use crate::guard::{guard, MAX_BODY_BYTES, MAX_UPLOAD_BYTES, UPLOAD_PATH};
use crate::health::healthz;

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
        .route("/files/{kind}/{id}", get(crate::files::image_file))
        .route("/api/jobs/{id}/events", get(crate::job_events::job_events))
        .route("/api/evaluations/{file}", get(crate::eval_files::download))
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // The streaming limit sits inside the guard, so the guard's clear 413 answers first
        // when a Content-Length is declared.
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Merged after the general limit, so only its own (larger) one applies.
        .merge(
            Router::new()
                .route(UPLOAD_PATH, post(crate::upload::upload))
                .layer(DefaultBodyLimit::disable())
                .layer(RequestBodyLimitLayer::new(MAX_UPLOAD_BYTES)),
        )
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// `vlm-inspect serve`: open the data folder, make sure an admin exists, listen.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    prepare_data_dir(&args.data.data_dir)?;
    let store = args.data.open().await?;
    announce_first_admin(&store).await?;
    let interrupted = store.fail_interrupted_jobs("import").await?;
    if interrupted > 0 {
        tracing::warn!(
            "{interrupted} import job(s) were interrupted by a restart; they stored nothing"
        );
    }
    let mut resumed = store
        .requeue_interrupted_jobs(crate::worker::KIND_TRAIN)
        .await?;
    resumed.extend(
        store
            .requeue_interrupted_jobs(crate::worker::KIND_EVAL)
            .await?,
    );
    store
        .fail_interrupted_jobs(crate::worker::KIND_INSPECT)
        .await?;
    if !resumed.is_empty() {
        tracing::info!(
            "job(s) {resumed:?} were interrupted; they resume from their last checkpoint or stored predictions"
        );
    }
    crate::demo::ensure_demo_dataset(&store, &args.data.data_dir).await?;
    crate::models::ensure_embedded(&store, &args.data.data_dir).await?;
    // Composing the default model's base takes seconds and half a gigabyte: done beside the
    // running server, which lists it once it is registered.
    {
        let (store, data_dir, first) = (
            store.clone(),
            args.data.data_dir.clone(),
            args.first_evaluation,
        );
        tokio::spawn(async move {
            match crate::default_model::ensure_default_vlm(&store, &data_dir).await {
                Ok(Some(name)) if first => {
                    if let Err(e) =
                        crate::default_model::queue_first_evaluation(&store, &name).await
                    {
                        tracing::warn!("cannot queue the first evaluation: {e:#}");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("the default vision-language model is not installed: {e:#}")
                }
            }
        });
    }

    let spec: vlm::DeviceSpec = args.device.parse()?;
    let device = vlm::device::probe(spec)?;
    tracing::info!("compute device: {}", device.description);
    if !args.site_root.join("pkg").is_dir() {
        tracing::warn!(
            "no built site at {}: pages will render but not hydrate (build with `cargo leptos build --release`)",
            args.site_root.display()
        );
    }

    let state = AppState {
        leptos_options: leptos_options(args.addr, &args.site_root),
        store: store.clone(),
        device: device.description,
        data_dir: args.data.data_dir.clone(),
        jobs: app::ssr::JobHub::default(),
    };
    crate::worker::start(
        store.clone(),
        args.data.data_dir.clone(),
        state.jobs.clone(),
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
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the server stopped with an error")?;
    store.close().await;
    Ok(())
}

async fn announce_first_admin(store: &Store) -> anyhow::Result<()> {
    match ensure_admin(store, std::env::var("VLM_INSPECT_ADMIN_PASSWORD").ok()).await? {
        FirstAdmin::Exists => {}
        FirstAdmin::FromEnv => {
            println!("created the first admin account {FIRST_ADMIN:?} with the password from VLM_INSPECT_ADMIN_PASSWORD");
        }
        FirstAdmin::Generated(pw) => {
            println!("created the first admin account: username {FIRST_ADMIN}, password {pw}");
            println!("(shown once; change it with `vlm-inspect user passwd {FIRST_ADMIN}`)");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
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

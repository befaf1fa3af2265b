//! `GET /api/evaluations/{id}.json|csv`: a run's results to download, and
//! `GET /api/reviews/{id}.json|csv`: its judgements, one row each (for those who may see the
//! run; to anyone else it is absent).

use app::ssr::{AppState, SessionUser};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

/// What a download's file name asks for.
enum Format {
    Json,
    Csv,
}

fn parse(file: &str) -> Option<(i64, Format)> {
    let (id, ext) = file.rsplit_once('.')?;
    let format = match ext {
        "json" => Format::Json,
        "csv" => Format::Csv,
        _ => return None,
    };
    Some((id.parse().ok()?, format))
}

async fn visible(state: &AppState, session: &SessionUser, id: i64) -> bool {
    match &session.user {
        Some(user) => state.store.may_see_job(user, id).await.unwrap_or(false),
        None => false,
    }
}

fn attachment(name: String, format: &Format, json: String, csv: String) -> Response {
    let (content_type, body) = match format {
        Format::Json => ("application/json", json),
        Format::Csv => ("text/csv; charset=utf-8", csv),
    };
    let ext = match format {
        Format::Json => "json",
        Format::Csv => "csv",
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{ext}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// The run and format a download names, when the caller may see that run.
async fn requested(
    state: &AppState,
    session: &SessionUser,
    file: &str,
) -> Result<(i64, Format), Response> {
    let Some((id, format)) = parse(file) else {
        return Err((StatusCode::NOT_FOUND, "expected ID.json or ID.csv").into_response());
    };
    if !visible(state, session, id).await {
        return Err((StatusCode::NOT_FOUND, format!("no evaluation run {id}")).into_response());
    }
    Ok((id, format))
}

pub async fn download(
    State(state): State<AppState>,
    Extension(session): Extension<SessionUser>,
    Path(file): Path<String>,
) -> Response {
    let (id, format) = match requested(&state, &session, &file).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let (doc, csv) = match jobs::evaluate::export(&state.store, id).await {
        Ok(x) => x,
        Err(e) => return (StatusCode::NOT_FOUND, e.to_string()).into_response(),
    };
    let json = serde_json::to_string_pretty(&doc).unwrap_or_default();
    attachment(format!("evaluation-{id}"), &format, json, csv)
}

pub async fn review_download(
    State(state): State<AppState>,
    Extension(session): Extension<SessionUser>,
    Path(file): Path<String>,
) -> Response {
    let (id, format) = match requested(&state, &session, &file).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let rows = match state.store.review_export(id).await {
        Ok(rows) => rows,
        Err(e) => return (StatusCode::NOT_FOUND, e.to_string()).into_response(),
    };
    let csv = jobs::review::export_csv(&rows);
    let json = serde_json::to_string_pretty(&rows).unwrap_or_default();
    attachment(format!("reviews-{id}"), &format, json, csv)
}

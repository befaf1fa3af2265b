//! `GET /api/evaluations/{id}.json` and `{id}.csv`: a run's results to download (signed-in
//! users, as every route behind the guard).

use app::ssr::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

pub async fn download(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some((id, ext)) = file.rsplit_once('.') else {
        return (StatusCode::NOT_FOUND, "expected ID.json or ID.csv").into_response();
    };
    let Ok(id) = id.parse::<i64>() else {
        return (StatusCode::NOT_FOUND, "expected ID.json or ID.csv").into_response();
    };
    if ext != "json" && ext != "csv" {
        return (StatusCode::NOT_FOUND, "expected ID.json or ID.csv").into_response();
    }
    let (doc, csv) = match jobs::evaluate::export(&state.store, id).await {
        Ok(x) => x,
        Err(e) => return (StatusCode::NOT_FOUND, e.to_string()).into_response(),
    };
    let disposition = format!("attachment; filename=\"evaluation-{id}.{ext}\"");
    let (content_type, body) = if ext == "json" {
        (
            "application/json",
            serde_json::to_string_pretty(&doc).unwrap_or_default(),
        )
    } else {
        ("text/csv; charset=utf-8", csv)
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

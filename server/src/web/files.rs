//! `GET /files/{images|masks|thumbs|uploads}/{id}`: stored dataset files for signed-in users
//! (reviewers: the images of runs shared with them), and uploads for those who may see them
//! (their owner, admins, and users an inspection showing them is shared with).

use app::ssr::{AppState, SessionUser};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use store::datasets::ImageFile;

/// Serves one stored file of an image.
pub async fn image_file(
    State(state): State<AppState>,
    Extension(session): Extension<SessionUser>,
    Path((kind, id)): Path<(String, i64)>,
) -> Response {
    if kind == "uploads" {
        // Someone else's upload is as absent as a missing one.
        let visible = match &session.user {
            Some(user) => state.store.may_see_upload(user, id).await.unwrap_or(false),
            None => false,
        };
        if !visible {
            return (StatusCode::NOT_FOUND, format!("no upload {id}")).into_response();
        }
        return match state.store.upload(id).await {
            Ok(u) => send(&state.data_dir.join(u.file)).await,
            Err(e) => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
        };
    }
    // Reviewers see only the images of runs shared with them; to them the rest is absent.
    let visible = match &session.user {
        Some(user) => state.store.may_see_image(user, id).await.unwrap_or(false),
        None => false,
    };
    if !visible {
        return (StatusCode::NOT_FOUND, format!("no image {id}")).into_response();
    }
    let which = match kind.as_str() {
        "images" => ImageFile::Original,
        "masks" => ImageFile::Mask,
        "thumbs" => ImageFile::Thumbnail,
        _ => return (StatusCode::NOT_FOUND, "no such file kind").into_response(),
    };
    let path = match state.store.image_file(&state.data_dir, id, which).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                format!("image {id} has no {kind} file"),
            )
                .into_response()
        }
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    send(&path).await
}

/// Sends a stored file with its image type.
async fn send(path: &std::path::Path) -> Response {
    let content_type = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("bmp") => "image/bmp",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("cannot read {}: {e}", path.display());
            (StatusCode::NOT_FOUND, "the stored file is missing").into_response()
        }
    }
}

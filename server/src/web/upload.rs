//! `POST /api/uploads` (multipart, field `image`): an image for the Inspect page. The file is
//! checked before anything is stored: the body size (the route's limit), the format, the
//! declared size in pixels before decoding (decompression bombs), then a full decode; what is
//! kept is a re-encoded PNG named by the upload's SHA-256. Answers JSON `{"id": N}` (201), or
//! with `?redirect=1` (the page's plain HTML form) a redirect back to the Inspect page.

use std::io::Cursor;

use app::ssr::{AppState, SessionUser};
use axum::extract::{Multipart, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use store::{authorize, Access};

/// Largest upload side and pixel count: bigger files are refused before decoding.
pub const MAX_UPLOAD_SIDE: u32 = 8192;
pub const MAX_UPLOAD_PIXELS: u64 = 40_000_000;
/// Most bytes one upload may decode to (its colour type counted: a 40 MP 16-bit RGBA PNG of a
/// few hundred KB decodes to 320 MB), checked before decoding.
pub const MAX_UPLOAD_DECODED_BYTES: u64 = 160 << 20;
/// Uploads decoded at once; more get 503 with `Retry-After` rather than memory.
pub const MAX_CONCURRENT_DECODES: usize = 2;

static DECODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT_DECODES);

#[derive(Debug, Default, Deserialize)]
pub struct UploadQuery {
    #[serde(default)]
    redirect: Option<String>,
}

/// A refused upload: status and a message for the person.
struct Refused(StatusCode, String);

pub async fn upload(
    State(state): State<AppState>,
    Extension(session): Extension<SessionUser>,
    Query(q): Query<UploadQuery>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let redirect = q.redirect.is_some();
    let outcome = match authorize(session.user.as_ref(), Access::MEMBER) {
        Err(_) => Err(Refused(
            StatusCode::FORBIDDEN,
            "your role may not upload images".into(),
        )),
        Ok(()) => match multipart {
            Err(e) => Err(Refused(
                StatusCode::BAD_REQUEST,
                format!("expected a multipart form with an image field: {e}"),
            )),
            Ok(m) => store_upload(&state, session.user.as_ref().map(|u| u.id), m).await,
        },
    };
    match (outcome, redirect) {
        (Ok(id), false) => {
            (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response()
        }
        (Ok(id), true) => see_other(&format!("/inspect?upload={id}")),
        (Err(Refused(status, msg)), false) => {
            let mut res = (status, Json(serde_json::json!({ "error": msg }))).into_response();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
            }
            res
        }
        (Err(Refused(_, msg)), true) => see_other(&format!(
            "/inspect?upload_error={}",
            super::encode_query_value(&msg)
        )),
    }
}

fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

async fn store_upload(
    state: &AppState,
    owner: Option<i64>,
    mut multipart: Multipart,
) -> Result<i64, Refused> {
    let bad = |m: String| Refused(StatusCode::BAD_REQUEST, m);
    let mut found = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the upload is too large (limit {} MiB)",
                    super::guard::MAX_UPLOAD_BYTES >> 20
                ),
            )
        } else {
            bad(format!("cannot read the form: {e}"))
        }
    })? {
        if field.name() != Some("image") {
            continue;
        }
        let name = field.file_name().unwrap_or("upload").to_string();
        let bytes = field.bytes().await.map_err(|e| {
            Refused(
                e.status(),
                format!("cannot read the uploaded file: {}", e.body_text()),
            )
        })?;
        found = Some((name, bytes));
        break;
    }
    let (name, bytes) = found.ok_or_else(|| bad("the form has no image field".into()))?;
    if bytes.is_empty() {
        return Err(bad(format!("{name}: the file is empty")));
    }
    let name_for_task = name.clone();
    let Ok(_decoding) = DECODES.try_acquire() else {
        return Err(Refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is decoding other uploads: try again in a moment".into(),
        ));
    };
    let checked = tokio::task::spawn_blocking(move || check_and_encode(&bytes, &name_for_task))
        .await
        .map_err(|e| Refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let (sha, png, size) = checked;
    let rel = format!("uploads/{sha}.png");
    let path = state.data_dir.join(&rel);
    if !path.is_file() {
        store_file(&path, &png).await.map_err(|e| {
            tracing::error!("cannot store an upload: {e}");
            Refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server cannot store the file".into(),
            )
        })?;
    }
    state
        .store
        .add_upload(&sha, &rel, &name, size, owner)
        .await
        .map_err(|e| Refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Writes `bytes` to `path` through a temporary file of this call's own, so that uploads of
/// the same image at once (same SHA-256, same path) never write or rename each other's file.
async fn store_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("png.{}-{n}.part", std::process::id()));
    let written = async {
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, path).await
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    written
}

/// An accepted upload: SHA-256 of the bytes sent, the re-encoded PNG, its size.
type Checked = (String, Vec<u8>, (u32, u32));

/// Checks an uploaded file and re-encodes it as PNG.
fn check_and_encode(bytes: &[u8], name: &str) -> Result<Checked, Refused> {
    let unsupported = |reason: String| {
        Refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{name}: not an image this tool can read ({reason}); upload a PNG or JPEG"),
        )
    };
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| unsupported(e.to_string()))?;
    if reader.format().is_none() {
        return Err(unsupported("unknown format".into()));
    }
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| unsupported(e.to_string()))?;
    if w == 0 || h == 0 {
        return Err(unsupported("it has no pixels".into()));
    }
    if w > MAX_UPLOAD_SIDE || h > MAX_UPLOAD_SIDE || w as u64 * h as u64 > MAX_UPLOAD_PIXELS {
        return Err(Refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{name}: {w}×{h} pixels is too large (at most {MAX_UPLOAD_SIDE} a side and {} megapixels)",
                MAX_UPLOAD_PIXELS / 1_000_000
            ),
        ));
    }
    let decoder = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| unsupported(e.to_string()))?
        .into_decoder()
        .map_err(|e| unsupported(e.to_string()))?;
    let color = image::ImageDecoder::color_type(&decoder);
    let decoded = w as u64 * h as u64 * color.bytes_per_pixel() as u64;
    if decoded > MAX_UPLOAD_DECODED_BYTES {
        return Err(Refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{name}: {w}×{h} pixels of {color:?} decode to {} MB (at most {} MB): save it as 8-bit RGB or smaller",
                decoded >> 20,
                MAX_UPLOAD_DECODED_BYTES >> 20
            ),
        ));
    }
    let img =
        vlm::image::Preprocessor::decode(bytes, name).map_err(|e| unsupported(e.to_string()))?;
    let mut png = Vec::new();
    img.to_rgb8()
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let sha = hex::encode(Sha256::digest(bytes));
    Ok((sha, png, (w, h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twelve uploads of one image used to share `SHA.png.part`: one rename found it gone
    /// and the upload answered 500.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_same_image_stored_at_once_is_stored_once_without_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uploads").join("same.png");
        let bytes = vec![7u8; 1 << 20];
        let writes: Vec<_> = (0..16)
            .map(|_| {
                let (path, bytes) = (path.clone(), bytes.clone());
                tokio::spawn(async move { store_file(&path, &bytes).await })
            })
            .collect();
        for w in writes {
            w.await.unwrap().unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("same.png")]);
    }
}

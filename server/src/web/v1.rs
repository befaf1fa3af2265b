//! vlm-inspect's own OpenAI-compatible API: `GET /v1/models` and `POST /v1/chat/completions`
//! (streamed or not, several images per message as data URIs), serving the registered Burn
//! models to other tools and to other vlm-inspect servers. Clients authenticate with a user's
//! API token (`Authorization: Bearer vi-…`); errors come in OpenAI's shape.

use app::ssr::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use jobs::serving::{ServeError, ServeReply, ServeRequest};
use serde::Deserialize;
use serde_json::{json, Value};
use store::UserInfo;

/// Most images one message may carry.
const MAX_IMAGES: usize = 8;
/// Most new tokens a request may ask for.
const MAX_NEW_TOKENS: usize = 4096;

/// An error in OpenAI's shape: `{"error": {"message", "type", "code"}}`.
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            code: None,
            message: message.into(),
            retry_after: None,
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "code": self.code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

impl From<ServeError> for ApiError {
    fn from(e: ServeError) -> Self {
        match e {
            ServeError::NoSuchModel(m) => ApiError {
                code: Some("model_not_found"),
                ..ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", m)
            },
            ServeError::BadRequest(m) => ApiError::bad(m),
            ServeError::Busy(b) => ApiError {
                code: Some("queue_full"),
                retry_after: Some(2),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    b.to_string(),
                )
            },
            ServeError::Failed(m) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", m)
            }
        }
    }
}

/// The user whose token the request carries.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    let unauthorized = |m: &str| ApiError {
        code: Some("invalid_api_key"),
        ..ApiError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", m)
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("send an API token: Authorization: Bearer vi-… (create one on your account page or with `vlm-inspect token create`)"))?;
    match state.store.token_user(token).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(unauthorized("the API token is unknown or was revoked")),
        Err(e) => {
            tracing::error!("token lookup failed: {e}");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "the database is not answering",
            ))
        }
    }
}

/// `GET /v1/models`.
pub async fn models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = caller(&state, &headers).await {
        return e.into_response();
    }
    match jobs::serving::model_names(&state.store).await {
        Ok(names) => {
            let data: Vec<Value> = names
                .into_iter()
                .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "vlm-inspect"}))
                .collect();
            axum::Json(json!({"object": "list", "data": data})).into_response()
        }
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            e.to_string(),
        )
        .into_response(),
    }
}

#[derive(Deserialize)]
struct ChatBody {
    model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<usize>,
    max_completion_tokens: Option<usize>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    seed: Option<u64>,
    n: Option<usize>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
struct InMessage {
    role: String,
    content: Option<InContent>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum InContent {
    Text(String),
    Parts(Vec<InPart>),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum InPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Deserialize)]
struct ImageUrl {
    url: String,
}

/// The request as the model takes it: text with an `<image>` mark where each image was.
fn serve_request(body: ChatBody) -> Result<(ServeRequest, bool, bool), ApiError> {
    if body.n.is_some_and(|n| n != 1) {
        return Err(ApiError::bad("n: one reply per request"));
    }
    let mut system = None;
    let mut user = None;
    for m in body.messages {
        match (m.role.as_str(), m.content) {
            ("system" | "developer", Some(InContent::Text(t))) if system.is_none() => {
                system = Some(t)
            }
            ("system" | "developer", Some(InContent::Parts(parts))) if system.is_none() => {
                let mut text = String::new();
                for p in parts {
                    match p {
                        InPart::Text { text: t } => text.push_str(&t),
                        InPart::ImageUrl { .. } => {
                            return Err(ApiError::bad("a system message cannot hold images"))
                        }
                    }
                }
                system = Some(text);
            }
            ("user", Some(content)) if user.is_none() => user = Some(content),
            ("user", _) | ("assistant", _) | ("system" | "developer", _) => {
                return Err(ApiError::bad(
                    "messages: one user message (and at most one system message) per request; vlm-inspect keeps no conversation",
                ))
            }
            (other, _) => return Err(ApiError::bad(format!("messages: unknown role {other:?}"))),
        }
    }
    let content = user.ok_or_else(|| ApiError::bad("messages: no user message"))?;
    let mut text = String::new();
    let mut images = Vec::new();
    match content {
        InContent::Text(t) => text = t,
        InContent::Parts(parts) => {
            for p in parts {
                match p {
                    InPart::Text { text: t } => push_line(&mut text, &t),
                    InPart::ImageUrl { image_url } => {
                        images.push(data_uri(&image_url.url, images.len())?);
                        push_line(&mut text, "<image>\n");
                    }
                }
            }
        }
    }
    if images.len() > MAX_IMAGES {
        return Err(ApiError::bad(format!(
            "at most {MAX_IMAGES} images per message"
        )));
    }
    if text.trim().is_empty() {
        return Err(ApiError::bad("the user message has no text"));
    }
    let max_new = body
        .max_completion_tokens
        .or(body.max_tokens)
        .unwrap_or(256);
    if max_new == 0 || max_new > MAX_NEW_TOKENS {
        return Err(ApiError::bad(format!("max_tokens: 1 to {MAX_NEW_TOKENS}")));
    }
    let temperature = body.temperature.unwrap_or(0.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::bad("temperature: 0 to 2"));
    }
    let decoding = anomaly::explain::Decoding {
        max_new_tokens: max_new,
        temperature,
        top_p: body.top_p.unwrap_or(1.0).clamp(0.0, 1.0),
        seed: body.seed.unwrap_or(0),
        max_patches: None,
    };
    let usage = body.stream_options.is_some_and(|o| o.include_usage);
    Ok((
        ServeRequest {
            model: body.model,
            system,
            text,
            images,
            decoding,
        },
        body.stream,
        usage,
    ))
}

/// Appends a part on a line of its own, as the local prompts put text and `<image>` lines.
fn push_line(text: &mut String, part: &str) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(part);
}

/// The bytes of a `data:image/…;base64,…` URL (the server fetches nothing from the network).
fn data_uri(url: &str, index: usize) -> Result<Vec<u8>, ApiError> {
    let rest = url.strip_prefix("data:").ok_or_else(|| {
        ApiError::bad(format!(
            "image {index}: only data: URLs are accepted (base64 PNG or JPEG); this server fetches nothing"
        ))
    })?;
    let (meta, payload) = rest
        .split_once(',')
        .ok_or_else(|| ApiError::bad(format!("image {index}: a data URL needs a comma")))?;
    if !meta.ends_with(";base64") {
        return Err(ApiError::bad(format!(
            "image {index}: the data URL must be base64"
        )));
    }
    base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .map_err(|e| ApiError::bad(format!("image {index}: not base64: {e}")))
}

fn completion_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "chatcmpl-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn fingerprint() -> String {
    format!("vlm-inspect-{}", env!("CARGO_PKG_VERSION"))
}

fn created() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match answer(state, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn answer(
    state: AppState,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let user = caller(&state, &headers).await?;
    let body: ChatBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("the request is not a chat completion request: {e}")))?;
    let (req, stream, usage) = serve_request(body)?;
    tracing::info!("/v1 request by {} for {}", user.username, req.model);
    let model = req.model.clone();
    let id = completion_id();
    if !stream {
        let reply = jobs::serving::complete(
            &state.store,
            &state.data_dir,
            &state.interactive,
            state.compute,
            req,
            |_| true,
        )
        .await?;
        return Ok(axum::Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created(),
            "model": model,
            "system_fingerprint": fingerprint(),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": reply.finish_reason,
            }],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }))
        .into_response());
    }
    // Streamed: pieces go from the model's thread through a channel into the response body;
    // a client that goes away closes the channel, which stops the generation.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let chunk = Chunks { id, model };
    let _ = tx.send(chunk.delta(json!({"role": "assistant", "content": ""}), None));
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Result<ServeReply, ApiError>>();
    {
        let (pieces, chunk) = (tx.clone(), chunk.clone());
        let mut first = Some(first_tx);
        let on_text = move |text: &str| {
            if let Some(f) = first.take() {
                let _ = f.send(());
            }
            pieces
                .send(chunk.delta(json!({"content": text}), None))
                .is_ok()
        };
        tokio::spawn(async move {
            let outcome = jobs::serving::complete(
                &state.store,
                &state.data_dir,
                &state.interactive,
                state.compute,
                req,
                on_text,
            )
            .await;
            let _ = done_tx.send(outcome.map_err(ApiError::from));
        });
    }
    // Refusals known before the first piece (an unknown model, a full queue) are plain HTTP
    // errors; once text flows, a failure becomes an error event in the stream.
    let tail = match first_rx.await {
        Ok(()) => Tail::Pending(done_rx),
        Err(_) => match done_rx.await {
            Ok(Ok(reply)) => Tail::Done(Ok(reply)),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(stopped()),
        },
    };
    tokio::spawn(finish_stream(tx, tail, chunk, usage));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|s| (Ok::<_, std::io::Error>(axum::body::Bytes::from(s)), rx))
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

fn stopped() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "the model stopped without an answer",
    )
}

/// How a streamed reply ends: still generating, or already done.
enum Tail {
    Pending(tokio::sync::oneshot::Receiver<Result<ServeReply, ApiError>>),
    Done(Result<ServeReply, ApiError>),
}

/// `chat.completion.chunk` events of one reply.
#[derive(Clone)]
struct Chunks {
    id: String,
    model: String,
}

impl Chunks {
    fn delta(&self, delta: Value, finish: Option<&str>) -> String {
        let c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": created(),
            "model": self.model, "system_fingerprint": fingerprint(),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        format!("data: {c}\n\n")
    }

    fn usage(&self, reply: &ServeReply) -> String {
        let c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": created(),
            "model": self.model, "system_fingerprint": fingerprint(), "choices": [],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        });
        format!("data: {c}\n\n")
    }
}

/// The finish chunk, usage when asked for, and `[DONE]`; or an error event.
async fn finish_stream(
    tx: tokio::sync::mpsc::UnboundedSender<String>,
    tail: Tail,
    chunk: Chunks,
    usage: bool,
) {
    let outcome = match tail {
        Tail::Done(r) => r,
        Tail::Pending(rx) => rx.await.unwrap_or_else(|_| Err(stopped())),
    };
    match outcome {
        Ok(reply) => {
            let _ = tx.send(chunk.delta(json!({}), Some(reply.finish_reason)));
            if usage {
                let _ = tx.send(chunk.usage(&reply));
            }
            let _ = tx.send("data: [DONE]\n\n".into());
        }
        Err(e) => {
            let _ = tx.send(format!("data: {}\n\n", e.body()));
        }
    }
}

//! Sending a request: the limit on requests in flight, timeouts, retries, the streamed or
//! whole reply, cancellation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::endpoint::Endpoint;
use crate::error::{Phase, RemoteError};
use crate::reply::{error_message, ReplyState, Usage};
use crate::request::ChatRequest;
use crate::retry::parse_retry_after;
use crate::sse::SseParser;

/// What the caller hears while a reply streams in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// New text of the reply.
    Text(&'a str),
    /// The connection dropped and the request is sent again: forget the text so far.
    Restart,
}

/// A finished reply and what it cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Completion {
    pub text: String,
    pub usage: Option<Usage>,
    /// From sending the (last) attempt to its first piece of text.
    pub first_token: Option<Duration>,
    /// From the first attempt to the end of the reply, waits for retries included.
    pub latency: Duration,
    /// The model the server says answered (`gpt-4o-2024-08-06`).
    pub model: Option<String>,
    pub system_fingerprint: Option<String>,
    pub finish_reason: Option<String>,
    pub attempts: u32,
}

/// One remote model: its endpoint and a connection pool shared by every request to it.
#[derive(Clone, Debug)]
pub struct Client {
    endpoint: Endpoint,
    http: reqwest::Client,
    slots: Arc<Semaphore>,
}

/// Why one attempt failed, and how long the server asked us to wait.
struct Failed {
    error: RemoteError,
    retry_after: Option<Duration>,
}

impl From<RemoteError> for Failed {
    fn from(error: RemoteError) -> Self {
        Failed {
            error,
            retry_after: None,
        }
    }
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Result<Self, RemoteError> {
        let http = reqwest::Client::builder()
            .connect_timeout(endpoint.timeouts.connect)
            .tcp_nodelay(true)
            .user_agent(concat!("vlm-inspect/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RemoteError::Config(format!("HTTP client: {}", describe(&e))))?;
        let slots = Arc::new(Semaphore::new(endpoint.max_concurrency.max(1)));
        Ok(Client {
            endpoint,
            http,
            slots,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends `req` and returns the whole reply; `on_piece` hears the text as it comes and
    /// returns false to stop (the result is then [`RemoteError::Cancelled`]). Waits for a free
    /// slot first. Retries what [`RemoteError::retryable`] allows, up to the endpoint's
    /// policy; `cancel` aborts the request in flight (or the wait) at once.
    pub async fn complete(
        &self,
        req: &ChatRequest,
        cancel: &CancellationToken,
        on_piece: &mut (dyn FnMut(Piece<'_>) -> bool + Send),
    ) -> Result<Completion, RemoteError> {
        let body = req.body(&self.endpoint)?;
        let _slot = tokio::select! {
            _ = cancel.cancelled() => return Err(RemoteError::Cancelled),
            slot = self.slots.acquire() => slot.map_err(|_| RemoteError::Cancelled)?,
        };
        let start = Instant::now();
        let policy = self.endpoint.retry;
        let mut attempt = 1;
        loop {
            let mut heard = false;
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return Err(RemoteError::Cancelled),
                r = self.attempt(&body, &mut heard, on_piece) => r,
            };
            match outcome {
                Ok(state_and_ttft) => {
                    let (state, first_token) = state_and_ttft;
                    return Ok(Completion {
                        text: state.text,
                        usage: state.usage,
                        first_token,
                        latency: start.elapsed(),
                        model: state.model,
                        system_fingerprint: state.system_fingerprint,
                        finish_reason: state.finish_reason,
                        attempts: attempt,
                    });
                }
                Err(f) if f.error.retryable() && attempt < policy.max_attempts.max(1) => {
                    if heard {
                        on_piece(Piece::Restart);
                    }
                    let wait = policy.wait(attempt, f.retry_after, rand::random::<f64>());
                    tokio::select! {
                        _ = cancel.cancelled() => return Err(RemoteError::Cancelled),
                        _ = tokio::time::sleep(wait) => {}
                    }
                    attempt += 1;
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    /// One tiny request (a one-token reply), for "test connection".
    pub async fn test_connection(&self) -> Result<Completion, RemoteError> {
        let req = ChatRequest {
            system: None,
            text: "Reply with the single word OK.".into(),
            images: Vec::new(),
            max_tokens: 1,
            temperature: 0.0,
            seed: Some(0),
        };
        self.complete(&req, &CancellationToken::new(), &mut |_| true)
            .await
    }

    async fn attempt(
        &self,
        body: &serde_json::Value,
        heard: &mut bool,
        on_piece: &mut (dyn FnMut(Piece<'_>) -> bool + Send),
    ) -> Result<(ReplyState, Option<Duration>), Failed> {
        let e = &self.endpoint;
        let url = e.url("chat/completions");
        let sent = Instant::now();
        let mut request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(key) = &e.api_key {
            request = request.bearer_auth(key.secret());
        }
        let response = match tokio::time::timeout(e.timeouts.first_token, request.send()).await {
            Err(_) => {
                return Err(RemoteError::Timeout {
                    phase: Phase::FirstToken,
                    after: e.timeouts.first_token,
                }
                .into())
            }
            Ok(Err(err)) => return Err(self.send_error(&url, &err).into()),
            Ok(Ok(r)) => r,
        };
        let deadline = sent + e.timeouts.total;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body = self.read_all(response, deadline).await.unwrap_or_default();
            return Err(Failed {
                error: RemoteError::Status {
                    status: status.as_u16(),
                    message: self.provider_text(&error_message(&body)),
                },
                retry_after,
            });
        }
        let streamed = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !streamed {
            // Asked for a stream or not, a plain JSON reply is read whole.
            let body = self.read_all(response, deadline).await?;
            let state = ReplyState::whole(&body).map_err(|e| self.scrubbed(e))?;
            let ttft = sent.elapsed();
            if !state.text.is_empty() {
                *heard = true;
                if !on_piece(Piece::Text(&state.text)) {
                    return Err(RemoteError::Cancelled.into());
                }
            }
            return Ok((state, Some(ttft)));
        }
        self.read_stream(response, sent, heard, on_piece).await
    }

    async fn read_stream(
        &self,
        mut response: reqwest::Response,
        sent: Instant,
        heard: &mut bool,
        on_piece: &mut (dyn FnMut(Piece<'_>) -> bool + Send),
    ) -> Result<(ReplyState, Option<Duration>), Failed> {
        let e = &self.endpoint;
        let mut parser = SseParser::new();
        let mut state = ReplyState::default();
        let mut first_token = None;
        let mut received = 0usize;
        let mut any_event = false;
        loop {
            // Until the first event the first-token limit applies, then the whole reply's.
            let (limit, phase) = if any_event {
                (sent + e.timeouts.total, Phase::Reply)
            } else {
                (
                    sent + e.timeouts.first_token.min(e.timeouts.total),
                    Phase::FirstToken,
                )
            };
            let chunk = match tokio::time::timeout_at(limit.into(), response.chunk()).await {
                Err(_) => {
                    return Err(RemoteError::Timeout {
                        phase,
                        after: limit - sent,
                    }
                    .into())
                }
                Ok(Err(err)) => return Err(RemoteError::Dropped(describe(&err)).into()),
                Ok(Ok(c)) => c,
            };
            let events = match &chunk {
                Some(bytes) => {
                    received += bytes.len();
                    if received > e.max_reply_bytes {
                        return Err(RemoteError::TooLarge {
                            limit: e.max_reply_bytes,
                        }
                        .into());
                    }
                    parser.push(bytes)
                }
                None => parser.finish().into_iter().collect(),
            };
            for event in events {
                any_event = true;
                let piece = state.event(&event.data).map_err(|e| self.scrubbed(e))?;
                if !piece.is_empty() {
                    first_token.get_or_insert_with(|| sent.elapsed());
                    *heard = true;
                    if !on_piece(Piece::Text(&piece)) {
                        return Err(RemoteError::Cancelled.into());
                    }
                }
                if state.done {
                    return Ok((state, first_token));
                }
            }
            if chunk.is_none() {
                if state.complete() {
                    return Ok((state, first_token));
                }
                return Err(RemoteError::Dropped("the stream ended without [DONE]".into()).into());
            }
        }
    }

    /// A body (an error's or a whole reply's), refused past the size cap.
    async fn read_all(
        &self,
        mut response: reqwest::Response,
        deadline: Instant,
    ) -> Result<String, RemoteError> {
        let mut out = Vec::new();
        loop {
            let chunk = tokio::time::timeout_at(deadline.into(), response.chunk())
                .await
                .map_err(|_| RemoteError::Timeout {
                    phase: Phase::Reply,
                    after: self.endpoint.timeouts.total,
                })?
                .map_err(|e| RemoteError::Dropped(describe(&e)))?;
            let Some(bytes) = chunk else { break };
            out.extend_from_slice(&bytes);
            if out.len() > self.endpoint.max_reply_bytes {
                return Err(RemoteError::TooLarge {
                    limit: self.endpoint.max_reply_bytes,
                });
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn send_error(&self, url: &str, err: &reqwest::Error) -> RemoteError {
        if err.is_timeout() && err.is_connect() {
            return RemoteError::Timeout {
                phase: Phase::Connection,
                after: self.endpoint.timeouts.connect,
            };
        }
        if err.is_connect() {
            return RemoteError::Connect {
                url: url.to_string(),
                reason: self.provider_text(&describe(err)),
            };
        }
        RemoteError::Dropped(self.provider_text(&describe(err)))
    }

    /// A provider's text, with the key taken out and a hint where we know the fix.
    fn provider_text(&self, text: &str) -> String {
        let mut text = match &self.endpoint.api_key {
            Some(key) => key.scrub(text),
            None => text.to_string(),
        };
        if text.contains("At most") && text.contains("image(s)") {
            text.push_str(
                " (vLLM takes one image per prompt unless started with --limit-mm-per-prompt '{\"image\":2}'; Chain-of-Image sends two)",
            );
        }
        text
    }

    fn scrubbed(&self, e: RemoteError) -> Failed {
        match e {
            RemoteError::Provider(m) => RemoteError::Provider(self.provider_text(&m)).into(),
            RemoteError::Protocol(m) => RemoteError::Protocol(self.provider_text(&m)).into(),
            other => other.into(),
        }
    }
}

/// An error with its causes (`error sending request: connection refused`): reqwest's own
/// message alone rarely says what went wrong.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

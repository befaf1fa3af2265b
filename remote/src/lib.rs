//! A client for OpenAI-compatible chat servers: OpenAI itself, vLLM, Ollama's `/v1`,
//! llama.cpp's `llama-server`, or another vlm-inspect's `/v1`.
//!
//! - [`request`]: a prompt with `<image>` marks and its images become `messages[].content`
//!   parts (text, then each image as a base64 data URI where its mark was), optionally
//!   downscaled.
//! - [`sse`] and [`reply`]: streamed replies parsed as they arrive (`data:` lines, `[DONE]`,
//!   comments, events split across reads, an error object mid-stream).
//! - [`client`]: one [`Client`] per registered model: timeouts for connecting, the first token
//!   and the whole reply, retries with backoff and jitter on 429/5xx and dropped connections
//!   (honouring `Retry-After`), a cap on the reply's size, a limit on requests in flight, and
//!   cancellation that aborts the request.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod reply;
pub mod request;
pub mod retry;
pub mod sse;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{Client, Completion, Piece};
pub use endpoint::{ApiKey, Detail, Endpoint, Timeouts};
pub use error::RemoteError;
pub use reply::Usage;
pub use request::{ChatRequest, ImageInput};
pub use retry::RetryPolicy;

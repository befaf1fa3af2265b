//! Why a request to a remote model failed, worded for the person reading the job or the page.
//! No variant ever holds the API key (provider messages are scrubbed before they get here).

use std::time::Duration;

/// The part of a request a timeout cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Connection,
    FirstToken,
    Reply,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Connection => "connection",
            Phase::FirstToken => "first token",
            Phase::Reply => "complete reply",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Config(String),
    #[error(
        "the API key is read from the environment variable {var}, which the server does not have"
    )]
    MissingKey { var: String },
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("no {phase} within {} s", .after.as_secs_f64())]
    Timeout { phase: Phase, after: Duration },
    /// The server answered with an error status; `message` is its own text.
    #[error("the server answered {status}: {message}")]
    Status { status: u16, message: String },
    /// An error the server sent inside a streamed reply.
    #[error("the server reported an error mid-reply: {0}")]
    Provider(String),
    #[error("the reply is not what an OpenAI-compatible server sends: {0}")]
    Protocol(String),
    #[error("the connection dropped before the reply was complete: {0}")]
    Dropped(String),
    #[error("the reply is larger than {} MB; refused", .limit / (1 << 20))]
    TooLarge { limit: usize },
    #[error("image {index}: {reason}")]
    Image { index: usize, reason: String },
    #[error("cancelled")]
    Cancelled,
}

impl RemoteError {
    /// Worth trying again: the server is busy or failing for now, or the connection went.
    /// A client error (400, 401, 403, 404, 422 …) would only fail the same way again.
    pub fn retryable(&self) -> bool {
        match self {
            RemoteError::Status { status, .. } => matches!(status, 408 | 429 | 500..=504),
            RemoteError::Connect { .. } | RemoteError::Dropped(_) => true,
            // A slow server would only be slower with the same request again.
            RemoteError::Timeout { phase, .. } => *phase == Phase::Connection,
            _ => false,
        }
    }
}

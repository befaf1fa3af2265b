//! The error every server function returns, with the HTTP status it maps to.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What went wrong, in words for the user; the variant picks the HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// 401: not signed in, or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: signed in, but the role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: the thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 409: it conflicts with what is stored (e.g. a duplicate name).
    #[error("{0}")]
    Conflict(String),
    /// 429: too many attempts.
    #[error("{0}")]
    TooManyRequests(String),
    /// 500: a fault on the server.
    #[error("server error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::TooManyRequests(_) => 429,
            ApiError::Internal(_) => 500,
        }
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let error = match value {
            ServerFnErrorErr::Args(e)
            | ServerFnErrorErr::Deserialization(e)
            | ServerFnErrorErr::MissingArg(e) => {
                ApiError::BadRequest(format!("malformed request: {e}"))
            }
            ServerFnErrorErr::Request(e) => {
                ApiError::Internal(format!("could not reach the server: {e}"))
            }
            other => ApiError::Internal(other.to_string()),
        };
        #[cfg(feature = "ssr")]
        crate::ssr::set_status(&error);
        error
    }
}

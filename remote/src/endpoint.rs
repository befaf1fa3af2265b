//! Where a remote model lives and how to talk to it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::RemoteError;
use crate::retry::RetryPolicy;

/// A secret API key. It prints masked (`Debug`), has no `Display` and no `Serialize`, so it
/// cannot end up in a log line, a job config or a download by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key; surrounding whitespace (a newline at the end of a key file) is dropped. None for
    /// an empty key.
    pub fn new(key: &str) -> Option<Self> {
        let key = key.trim();
        (!key.is_empty()).then(|| ApiKey(key.to_string()))
    }

    /// The key itself: for the `Authorization` header and the key file, nothing else.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// What a page may show: the first three and the last four characters (`sk-…wxyz`), or
    /// only dots for a short key.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 12 {
            return "…".repeat(3);
        }
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}…{tail}")
    }

    /// `text` with every occurrence of the key replaced, for provider messages that echo it.
    pub fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, "***")
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

/// OpenAI's `image_url.detail`: how many tokens an image may cost (Ollama ignores it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detail {
    Auto,
    Low,
    High,
}

impl std::str::FromStr for Detail {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Detail::Auto),
            "low" => Ok(Detail::Low),
            "high" => Ok(Detail::High),
            other => Err(format!("detail {other:?}: one of auto, low, high")),
        }
    }
}

impl Detail {
    pub fn as_str(self) -> &'static str {
        match self {
            Detail::Auto => "auto",
            Detail::Low => "low",
            Detail::High => "high",
        }
    }
}

/// How long each part of a request may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the TCP (and TLS) connection.
    pub connect: Duration,
    /// From sending the request to the first piece of the reply (the response headers and,
    /// when streaming, the first event); a model loading or a long queue shows here.
    pub first_token: Duration,
    /// The whole reply of one attempt.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(120),
            total: Duration::from_secs(600),
        }
    }
}

/// A model on an OpenAI-compatible server.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Up to and including the API version, without a trailing slash
    /// (`https://api.openai.com/v1`, `http://gpu-box:8000/v1`).
    pub base_url: String,
    /// The server's name for the model (`gpt-4o`, `llava-hf/llava-1.5-7b-hf`).
    pub model: String,
    pub api_key: Option<ApiKey>,
    pub detail: Option<Detail>,
    /// Images are downscaled so their longer side is at most this (None: sent as they are).
    pub max_image_side: Option<u32>,
    /// Requests in flight at once through one [`crate::Client`].
    pub max_concurrency: usize,
    /// Stream the reply (`stream: true`); off, the whole reply comes in one response.
    pub stream: bool,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    /// A reply (body) larger than this is refused.
    pub max_reply_bytes: usize,
}

/// Default cap on one reply's body: far above any explanation, well below memory trouble.
pub const MAX_REPLY_BYTES: usize = 4 << 20;

impl Endpoint {
    /// An endpoint with the defaults; `base_url` must be an http(s) URL.
    pub fn new(base_url: &str, model: &str) -> Result<Self, RemoteError> {
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|e| RemoteError::Config(format!("base URL {base_url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(RemoteError::Config(format!(
                "base URL {base_url:?}: only http:// and https:// are supported"
            )));
        }
        if model.trim().is_empty() {
            return Err(RemoteError::Config("the remote model id is empty".into()));
        }
        Ok(Endpoint {
            base_url,
            model: model.trim().to_string(),
            api_key: None,
            detail: None,
            max_image_side: None,
            max_concurrency: 4,
            stream: true,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            max_reply_bytes: MAX_REPLY_BYTES,
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_print_whole_and_are_scrubbed_from_messages() {
        let key = ApiKey::new(" sk-proj-abcdefghijklmnop1234\n").unwrap();
        assert_eq!(key.masked(), "sk-…1234");
        assert_eq!(format!("{key:?}"), "ApiKey(sk-…1234)");
        assert_eq!(
            key.scrub("Incorrect API key provided: sk-proj-abcdefghijklmnop1234."),
            "Incorrect API key provided: ***."
        );
        assert_eq!(ApiKey::new("short").unwrap().masked(), "………");
        assert!(ApiKey::new("  \n").is_none());
    }

    #[test]
    fn base_urls_are_checked_and_trimmed() {
        let e = Endpoint::new("http://gpu-box:8000/v1/", "m").unwrap();
        assert_eq!(
            e.url("chat/completions"),
            "http://gpu-box:8000/v1/chat/completions"
        );
        assert!(Endpoint::new("ftp://x/v1", "m").is_err());
        assert!(Endpoint::new("not a url", "m").is_err());
        assert!(Endpoint::new("https://api.openai.com/v1", " ").is_err());
    }
}

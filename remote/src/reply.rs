//! What OpenAI-compatible servers send back: streamed chunks (`chat.completion.chunk`), whole
//! replies (`chat.completion`), token usage and error bodies, in the shapes OpenAI, vLLM and
//! Ollama write them.

use serde::{Deserialize, Serialize};

use crate::error::RemoteError;

/// Tokens the server counted for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<Usage>,
    model: Option<String>,
    system_fingerprint: Option<String>,
    error: Option<ErrorField>,
    /// vLLM writes an error mid-stream as `{"object": "error", "message": …}`.
    object: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
struct Delta {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Whole {
    #[serde(default)]
    choices: Vec<WholeChoice>,
    usage: Option<Usage>,
    model: Option<String>,
    system_fingerprint: Option<String>,
}

#[derive(Deserialize)]
struct WholeChoice {
    message: WholeMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WholeMessage {
    content: Option<String>,
}

/// `error` as OpenAI (an object with `message`) or Ollama (a string) write it.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Object { message: String },
    Text(String),
}

impl ErrorField {
    fn message(self) -> String {
        match self {
            ErrorField::Object { message } | ErrorField::Text(message) => message,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorField>,
    message: Option<String>,
    detail: Option<serde_json::Value>,
}

/// The reply as it builds up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplyState {
    pub text: String,
    pub usage: Option<Usage>,
    pub model: Option<String>,
    pub system_fingerprint: Option<String>,
    /// `stop`, `length` (cut at `max_tokens`), …
    pub finish_reason: Option<String>,
    /// `[DONE]` came.
    pub done: bool,
}

impl ReplyState {
    /// Takes one event's data; returns the new text it carries (maybe empty).
    pub fn event(&mut self, data: &str) -> Result<String, RemoteError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(String::new());
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            RemoteError::Protocol(format!("a malformed chunk ({e}): {}", clip(data)))
        })?;
        if let Some(e) = chunk.error {
            return Err(RemoteError::Provider(e.message()));
        }
        if chunk.object.as_deref() == Some("error") {
            return Err(RemoteError::Provider(
                chunk.message.unwrap_or_else(|| "unknown error".into()),
            ));
        }
        self.model = chunk.model.or(self.model.take());
        self.system_fingerprint = chunk.system_fingerprint.or(self.system_fingerprint.take());
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        let mut piece = String::new();
        // One reply is asked for (n = 1): choice 0.
        if let Some(choice) = chunk.choices.into_iter().next() {
            if let Some(text) = choice.delta.content {
                piece = text;
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        self.text.push_str(&piece);
        Ok(piece)
    }

    /// Ended well: `[DONE]` came, or at least a finish reason (some servers close without
    /// `[DONE]`).
    pub fn complete(&self) -> bool {
        self.done || self.finish_reason.is_some()
    }

    /// A whole (not streamed) reply.
    pub fn whole(body: &str) -> Result<Self, RemoteError> {
        let w: Whole = serde_json::from_str(body).map_err(|e| {
            RemoteError::Protocol(format!("not a chat completion ({e}): {}", clip(body)))
        })?;
        let choice = w
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| RemoteError::Protocol("the reply has no choices".into()))?;
        Ok(ReplyState {
            text: choice.message.content.unwrap_or_default(),
            usage: w.usage,
            model: w.model,
            system_fingerprint: w.system_fingerprint,
            finish_reason: choice.finish_reason,
            done: true,
        })
    }
}

/// The server's own words from an error response's body (OpenAI's `error.message`, vLLM's
/// `message`, Ollama's `error`, FastAPI's `detail`), else the start of the body.
pub fn error_message(body: &str) -> String {
    if let Ok(b) = serde_json::from_str::<ErrorBody>(body) {
        if let Some(e) = b.error {
            return e.message();
        }
        if let Some(m) = b.message {
            return m;
        }
        if let Some(d) = b.detail {
            return match d {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
        }
    }
    let text = clip(body.trim());
    if text.is_empty() {
        "(no message)".into()
    } else {
        text
    }
}

/// At most 300 characters of `text`, for messages.
fn clip(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[&str]) -> Result<ReplyState, RemoteError> {
        let mut r = ReplyState::default();
        for e in events {
            r.event(e)?;
        }
        Ok(r)
    }

    /// OpenAI's documented stream with `stream_options.include_usage`: a role chunk, content
    /// chunks, a finish chunk, then a usage chunk with empty `choices`.
    #[test]
    fn openai_stream_with_usage_chunk() {
        let r = run(&[
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"Anomalous: "},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"a pin is missing."},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_44709d6fcb","choices":[],"usage":{"prompt_tokens":1118,"completion_tokens":9,"total_tokens":1127,"prompt_tokens_details":{"cached_tokens":0}}}"#,
            "[DONE]",
        ])
        .unwrap();
        assert_eq!(r.text, "Anomalous: a pin is missing.");
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert_eq!(r.model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(r.system_fingerprint.as_deref(), Some("fp_44709d6fcb"));
        assert_eq!(
            r.usage,
            Some(Usage {
                prompt_tokens: 1118,
                completion_tokens: 9
            })
        );
        assert!(r.complete());
    }

    /// vLLM's stream: usage rides on the last chunk when asked for; `finish_reason: length`
    /// when `max_tokens` cut the reply.
    #[test]
    fn vllm_stream_cut_at_max_tokens() {
        let r = run(&[
            r#"{"id":"chatcmpl-b3","object":"chat.completion.chunk","created":2,"model":"llava-hf/llava-1.5-7b-hf","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-b3","object":"chat.completion.chunk","created":2,"model":"llava-hf/llava-1.5-7b-hf","choices":[{"index":0,"delta":{"content":"Normal"},"logprobs":null,"finish_reason":"length","stop_reason":null}]}"#,
            r#"{"id":"chatcmpl-b3","object":"chat.completion.chunk","created":2,"model":"llava-hf/llava-1.5-7b-hf","choices":[],"usage":{"prompt_tokens":1200,"total_tokens":1201,"completion_tokens":1}}"#,
            "[DONE]",
        ])
        .unwrap();
        assert_eq!(r.text, "Normal");
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
        assert_eq!(r.usage.unwrap().completion_tokens, 1);
    }

    /// Ollama's `/v1` stream: no usage chunk unless asked, `system_fingerprint: fp_ollama`.
    #[test]
    fn ollama_stream() {
        let r = run(&[
            r#"{"id":"chatcmpl-529","object":"chat.completion.chunk","created":3,"model":"llava:7b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"The"},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-529","object":"chat.completion.chunk","created":3,"model":"llava:7b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":" box"},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-529","object":"chat.completion.chunk","created":3,"model":"llava:7b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ])
        .unwrap();
        assert_eq!(r.text, "The box");
        assert_eq!(r.usage, None);
    }

    #[test]
    fn errors_mid_stream_and_malformed_chunks_are_errors() {
        let e = run(&[
            r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#,
            r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}"#,
        ])
        .unwrap_err();
        assert_eq!(
            e,
            RemoteError::Provider("The server had an error while processing your request.".into())
        );
        let e = run(&[r#"{"object":"error","message":"At most 1 image(s) may be provided in one request.","type":"BadRequestError","code":400}"#]).unwrap_err();
        assert!(matches!(e, RemoteError::Provider(m) if m.contains("At most 1 image")));
        let e = run(&[r#"{"choices":[{"delta":{"content":"#]).unwrap_err();
        assert!(matches!(e, RemoteError::Protocol(m) if m.contains("malformed chunk")));
        let r = run(&[r#"{"choices":[{"delta":{"content":"x"}}]}"#]).unwrap();
        assert!(!r.complete(), "no [DONE] and no finish reason");
    }

    #[test]
    fn whole_replies_and_error_bodies() {
        let r = ReplyState::whole(r#"{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Normal."},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":2,"total_tokens":22}}"#).unwrap();
        assert_eq!(
            (r.text.as_str(), r.usage.unwrap().prompt_tokens),
            ("Normal.", 20)
        );
        assert!(ReplyState::whole(r#"{"choices":[]}"#).is_err());
        assert!(ReplyState::whole("<html>502 Bad Gateway</html>").is_err());
        assert_eq!(
            error_message(
                r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}"#
            ),
            "Incorrect API key provided."
        );
        assert_eq!(
            error_message(r#"{"error":"model \"llava\" not found, try pulling it first"}"#),
            "model \"llava\" not found, try pulling it first"
        );
        assert_eq!(
            error_message(
                r#"{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","code":404}"#
            ),
            "The model `x` does not exist."
        );
        assert_eq!(error_message(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(error_message("   "), "(no message)");
        assert!(error_message(&"x".repeat(1000)).chars().count() <= 301);
    }
}

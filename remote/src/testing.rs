//! A loopback OpenAI-compatible server that follows a script, for tests (here and in the
//! crates that use this client): proper streamed replies, and the faults real servers have.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one request.
#[derive(Clone)]
pub enum Act {
    /// An error status with a JSON body and maybe `Retry-After`.
    Status(u16, Option<&'static str>, String),
    /// A chunked event stream: these `data:` payloads, then (if `end`) the last chunk.
    Stream {
        events: Vec<String>,
        end: bool,
        delay_first: Duration,
    },
    /// A 200 with this body and content type.
    Body(&'static str, String),
}

/// A running script server.
pub struct Server {
    /// Its base URL (`http://127.0.0.1:PORT/v1`).
    pub url: String,
    /// Requests received.
    pub hits: Arc<AtomicUsize>,
    /// Most requests waiting for their first event at once.
    pub in_flight_max: Arc<AtomicUsize>,
    /// Each request's body, in arrival order.
    pub bodies: Arc<Mutex<Vec<String>>>,
    /// Each request's line and headers, in arrival order.
    pub heads: Arc<Mutex<Vec<String>>>,
}

/// Starts a server that answers request n with `script[n]` (the last act repeats).
pub async fn serve(script: Vec<Act>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let in_flight_max = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(script);
    let (h, f, m, b, hd) = (
        hits.clone(),
        in_flight,
        in_flight_max.clone(),
        bodies.clone(),
        heads.clone(),
    );
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let n = h.fetch_add(1, Ordering::SeqCst);
            // The last act repeats for any further request.
            let act = script[n.min(script.len() - 1)].clone();
            let (f, m, b, hd) = (f.clone(), m.clone(), b.clone(), hd.clone());
            tokio::spawn(async move { answer(sock, act, (&hd, &b), (&f, &m)).await });
        }
    });
    Server {
        url,
        hits,
        in_flight_max,
        bodies,
        heads,
    }
}

/// The request's head and body.
async fn read_request(sock: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        let n = sock.read(&mut tmp).await.unwrap_or(0);
        if n == 0 {
            return (String::new(), String::new());
        }
        buf.extend_from_slice(&tmp[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                return (text[..end].to_string(), body);
            }
        }
    }
}

/// `waiting` counts requests between their arrival and their first event (now, most).
async fn answer(
    mut sock: TcpStream,
    act: Act,
    (heads, bodies): (&Mutex<Vec<String>>, &Mutex<Vec<String>>),
    waiting: (&AtomicUsize, &AtomicUsize),
) {
    let (head, body) = read_request(&mut sock).await;
    heads.lock().unwrap().push(head);
    bodies.lock().unwrap().push(body);
    match act {
        Act::Status(code, retry_after, body) => {
            let extra = retry_after
                .map(|r| format!("Retry-After: {r}\r\n"))
                .unwrap_or_default();
            let head = format!("HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n", body.len());
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
        }
        Act::Body(kind, body) => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
        }
        Act::Stream {
            events,
            end,
            delay_first,
        } => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            let _ = sock.write_all(head.as_bytes()).await;
            let now = waiting.0.fetch_add(1, Ordering::SeqCst) + 1;
            waiting.1.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(delay_first).await;
            waiting.0.fetch_sub(1, Ordering::SeqCst);
            for e in events {
                // Each event in two writes, split inside its text.
                let text = format!("data: {e}\n\n");
                let cut = text.len() / 2;
                for part in [&text.as_bytes()[..cut], &text.as_bytes()[cut..]] {
                    let chunk =
                        [format!("{:x}\r\n", part.len()).as_bytes(), part, b"\r\n"].concat();
                    if sock.write_all(&chunk).await.is_err() {
                        return;
                    }
                    let _ = sock.flush().await;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            if end {
                let _ = sock.write_all(b"0\r\n\r\n").await;
            }
            // Without the last chunk the connection just goes: a dropped stream.
        }
    }
    let _ = sock.shutdown().await;
}

/// One content chunk.
pub fn delta(text: &str) -> String {
    serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]}).to_string()
}

/// A well-formed streamed reply of these pieces, with a finish chunk, usage and `[DONE]`.
pub fn stream(pieces: &[&str]) -> Act {
    let mut events: Vec<String> = pieces.iter().map(|p| delta(p)).collect();
    events.push(r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"model":"tiny","system_fingerprint":"fp_1"}"#.into());
    events.push(
        r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#
            .into(),
    );
    events.push("[DONE]".into());
    Act::Stream {
        events,
        end: true,
        delay_first: Duration::ZERO,
    }
}

/// An error status with OpenAI's error body.
pub fn status(code: u16, message: &str) -> Act {
    Act::Status(
        code,
        None,
        serde_json::json!({"error": {"message": message, "type": "x"}}).to_string(),
    )
}

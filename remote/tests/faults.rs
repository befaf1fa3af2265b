//! The client against a loopback server of our own that misbehaves on purpose: every fault
//! ends in a whole reply or a clear error, never a hang, a panic or a partial reply.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use remote::error::Phase;
use remote::testing::{delta, serve, status, stream, Act};
use remote::{ApiKey, ChatRequest, Client, Endpoint, Piece, RemoteError, RetryPolicy};
use tokio_util::sync::CancellationToken;

fn client(url: &str, tweak: impl FnOnce(&mut Endpoint)) -> Client {
    let mut e = Endpoint::new(url, "tiny").unwrap();
    e.retry = RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(20),
        max_wait: Duration::from_secs(2),
    };
    e.timeouts.first_token = Duration::from_secs(5);
    e.timeouts.total = Duration::from_secs(10);
    tweak(&mut e);
    Client::new(e).unwrap()
}

fn request() -> ChatRequest {
    ChatRequest {
        system: None,
        text: "Is it normal?".into(),
        images: Vec::new(),
        max_tokens: 16,
        temperature: 0.0,
        seed: Some(1),
    }
}

/// Runs a request, recording the pieces heard.
async fn ask(c: &Client) -> (Result<remote::Completion, RemoteError>, Vec<String>) {
    let mut heard = Vec::new();
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        c.complete(&request(), &CancellationToken::new(), &mut |p| {
            heard.push(match p {
                Piece::Text(t) => t.to_string(),
                Piece::Restart => "<restart>".into(),
            });
            true
        }),
    )
    .await
    .expect("never hangs");
    (r, heard)
}

#[tokio::test]
async fn a_streamed_reply_arrives_whole_with_usage_and_timings() {
    let s = serve(vec![stream(&["Anomalous: ", "two pins ", "missing."])]).await;
    let (r, heard) = ask(&client(&s.url, |_| {})).await;
    let c = r.unwrap();
    assert_eq!(c.text, "Anomalous: two pins missing.");
    assert_eq!(heard, ["Anomalous: ", "two pins ", "missing."]);
    assert_eq!(c.usage.unwrap().completion_tokens, 3);
    assert_eq!(
        (c.model.as_deref(), c.system_fingerprint.as_deref()),
        (Some("tiny"), Some("fp_1"))
    );
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
    assert!(c.first_token.unwrap() <= c.latency);
    assert_eq!(c.attempts, 1);
    let sent: serde_json::Value = serde_json::from_str(&s.bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(
        (sent["model"].as_str(), sent["stream"].as_bool()),
        (Some("tiny"), Some(true))
    );
}

#[tokio::test]
async fn too_many_requests_twice_with_retry_after_then_success() {
    let busy = Act::Status(
        429,
        Some("0.2"),
        r#"{"error":{"message":"Rate limit reached"}}"#.into(),
    );
    let s = serve(vec![busy.clone(), busy, stream(&["ok"])]).await;
    let t0 = Instant::now();
    let (r, _) = ask(&client(&s.url, |_| {})).await;
    assert_eq!(r.unwrap().attempts, 3);
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "Retry-After honoured: {:?}",
        t0.elapsed()
    );
    assert_eq!(s.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_server_error_then_success() {
    let s = serve(vec![status(500, "internal"), stream(&["ok"])]).await;
    let (r, _) = ask(&client(&s.url, |_| {})).await;
    assert_eq!(r.unwrap().attempts, 2);
}

#[tokio::test]
async fn a_stream_dropped_mid_reply_is_sent_again_and_the_caller_told_to_restart() {
    let dropped = Act::Stream {
        events: vec![delta("Norm")],
        end: false,
        delay_first: Duration::ZERO,
    };
    let s = serve(vec![dropped, stream(&["Normal."])]).await;
    let (r, heard) = ask(&client(&s.url, |_| {})).await;
    assert_eq!(r.unwrap().text, "Normal.");
    assert_eq!(heard, ["Norm", "<restart>", "Normal."]);
}

#[tokio::test]
async fn a_stream_without_done_fails_after_the_retries() {
    let open_end = Act::Stream {
        events: vec![delta("a")],
        end: true,
        delay_first: Duration::ZERO,
    };
    let s = serve(vec![open_end]).await;
    let (r, _) = ask(&client(&s.url, |e| e.retry.max_attempts = 2)).await;
    assert!(
        matches!(r, Err(RemoteError::Dropped(ref m)) if m.contains("[DONE]")),
        "{r:?}"
    );
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_malformed_chunk_and_an_error_event_fail_at_once() {
    let bad = Act::Stream {
        events: vec![delta("a"), "{\"choices\": [".into()],
        end: true,
        delay_first: Duration::ZERO,
    };
    let s = serve(vec![bad]).await;
    let (r, _) = ask(&client(&s.url, |_| {})).await;
    assert!(
        matches!(r, Err(RemoteError::Protocol(ref m)) if m.contains("malformed")),
        "{r:?}"
    );
    assert_eq!(s.hits.load(Ordering::SeqCst), 1, "not retried");

    let error = Act::Stream {
        events: vec![
            delta("a"),
            r#"{"error":{"message":"model overloaded","type":"server_error"}}"#.into(),
        ],
        end: true,
        delay_first: Duration::ZERO,
    };
    let s = serve(vec![error]).await;
    let (r, _) = ask(&client(&s.url, |_| {})).await;
    assert_eq!(
        r.unwrap_err(),
        RemoteError::Provider("model overloaded".into())
    );
}

#[tokio::test]
async fn a_ten_megabyte_reply_is_refused() {
    let big = "x".repeat(10 << 20);
    let s = serve(vec![Act::Stream {
        events: vec![delta(&big)],
        end: true,
        delay_first: Duration::ZERO,
    }])
    .await;
    let (r, _) = ask(&client(&s.url, |_| {})).await;
    assert_eq!(r.unwrap_err(), RemoteError::TooLarge { limit: 4 << 20 });
    let s = serve(vec![Act::Body("application/json", big)]).await;
    let (r, _) = ask(&client(&s.url, |_| {})).await;
    assert_eq!(r.unwrap_err(), RemoteError::TooLarge { limit: 4 << 20 });
}

#[tokio::test]
async fn a_slow_first_token_times_out_without_a_retry() {
    let mut slow = stream(&["late"]);
    if let Act::Stream { delay_first, .. } = &mut slow {
        *delay_first = Duration::from_secs(3);
    }
    let s = serve(vec![slow]).await;
    let t0 = Instant::now();
    let (r, _) = ask(&client(&s.url, |e| {
        e.timeouts.first_token = Duration::from_millis(300)
    }))
    .await;
    assert!(
        matches!(
            r,
            Err(RemoteError::Timeout {
                phase: Phase::FirstToken,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_never_show_the_key() {
    let key = "sk-test-0123456789abcdef";
    let s = serve(vec![status(
        401,
        &format!("Incorrect API key provided: {key}."),
    )])
    .await;
    let (r, _) = ask(&client(&s.url, |e| e.api_key = ApiKey::new(key))).await;
    let e = r.unwrap_err();
    assert_eq!(
        e,
        RemoteError::Status {
            status: 401,
            message: "Incorrect API key provided: ***.".into()
        }
    );
    assert!(!e.to_string().contains(key));
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);

    let s = serve(vec![Act::Status(400, None, r#"{"object":"error","message":"At most 1 image(s) may be provided in one request.","type":"BadRequestError","code":400}"#.into())]).await;
    let (r, _) = ask(&client(&s.url, |_| {})).await;
    let text = r.unwrap_err().to_string();
    assert!(text.contains("--limit-mm-per-prompt"), "{text}");
}

#[tokio::test]
async fn unreachable_servers_and_non_json_answers_are_clear_errors() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (r, _) = ask(&client(&format!("http://127.0.0.1:{port}/v1"), |e| {
        e.retry.max_attempts = 2
    }))
    .await;
    let e = r.unwrap_err();
    assert!(matches!(e, RemoteError::Connect { .. }), "{e:?}");
    assert!(e.to_string().contains(&port.to_string()), "{e}");

    let s = serve(vec![Act::Body(
        "text/html",
        "<html>502 Bad Gateway</html>".into(),
    )])
    .await;
    let (r, _) = ask(&client(&s.url, |_| {})).await;
    assert!(
        matches!(r, Err(RemoteError::Protocol(ref m)) if m.contains("502 Bad Gateway")),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_whole_reply_is_read_when_the_server_does_not_stream() {
    let body = r#"{"id":"c","object":"chat.completion","model":"tiny","choices":[{"index":0,"message":{"role":"assistant","content":"Normal."},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;
    let s = serve(vec![Act::Body("application/json", body.into())]).await;
    let (r, heard) = ask(&client(&s.url, |e| e.stream = false)).await;
    assert_eq!(r.unwrap().text, "Normal.");
    assert_eq!(heard, ["Normal."]);
    let sent: serde_json::Value = serde_json::from_str(&s.bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(sent["stream"], false);
}

#[tokio::test]
async fn cancel_aborts_a_request_in_flight() {
    let mut slow = stream(&["late"]);
    if let Act::Stream { delay_first, .. } = &mut slow {
        *delay_first = Duration::from_secs(5);
    }
    let s = serve(vec![slow]).await;
    let c = client(&s.url, |_| {});
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stopper.cancel();
    });
    let t0 = Instant::now();
    let r = c.complete(&request(), &cancel, &mut |_| true).await;
    assert_eq!(r.unwrap_err(), RemoteError::Cancelled);
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn requests_in_flight_stay_within_the_limit() {
    let mut slowish = stream(&["ok"]);
    if let Act::Stream { delay_first, .. } = &mut slowish {
        *delay_first = Duration::from_millis(150);
    }
    let s = serve(vec![slowish]).await;
    let c = client(&s.url, |e| e.max_concurrency = 2);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                c.complete(&request(), &CancellationToken::new(), &mut |_| true)
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().text, "ok");
    }
    assert_eq!(s.hits.load(Ordering::SeqCst), 6);
    assert_eq!(s.in_flight_max.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_tls_failure_is_a_connect_error() {
    // A plain-HTTP server behind an https:// URL answers the TLS hello with plain text.
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            let _ = sock.shutdown().await;
        }
    });
    let (r, _) = ask(&client(&url, |e| e.retry.max_attempts = 1)).await;
    let e = r.unwrap_err();
    assert!(matches!(e, RemoteError::Connect { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with("cannot connect to https://"),
        "{e}"
    );
}

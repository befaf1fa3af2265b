//! Remote models from the command line: `model add --openai`, `model list`, `model test`,
//! `model remove`, against a loopback OpenAI-compatible server; the key never reaches the
//! database.

mod common;

use common::bin::{bin, ok, run, text};
use remote::testing::{serve, status, stream};

const KEY_VAR: &str = "VLM_INSPECT_TEST_REMOTE_KEY";
const KEY: &str = "sk-test-remote-0123456789";

#[test]
fn add_list_test_and_remove_a_remote_model() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(serve(vec![stream(&["OK"])]));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = ok(&[
        "model",
        "add",
        "gpt-4o",
        "--openai",
        &server.url,
        "--remote-model",
        "tiny",
        "--api-key-env",
        KEY_VAR,
        "--max-concurrency",
        "3",
        "--detail",
        "low",
        "--price-in",
        "2.5",
        "--price-out",
        "10",
        "--data-dir",
        d,
    ]);
    assert!(
        out.contains(&format!(
            "registered gpt-4o (openai): tiny at {}",
            server.url
        )),
        "{out}"
    );
    let list = ok(&["model", "list", "--data-dir", d]);
    assert!(
        list.contains(&format!("gpt-4o\topenai\t{}\ttiny", server.url)),
        "{list}"
    );

    // Without the variable: one line naming it, and no request.
    let out = bin()
        .args(["model", "test", "gpt-4o", "--data-dir", d])
        .env_remove(KEY_VAR)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(KEY_VAR), "{}", text(&out.stderr));
    assert_eq!(server.bodies.lock().unwrap().len(), 0);

    let out = bin()
        .args(["model", "test", "gpt-4o", "--data-dir", d])
        .env(KEY_VAR, KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("answered in"),
        "{}",
        text(&out.stdout)
    );
    let head = server.heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.contains(&format!(
            "authorization: bearer {}",
            KEY.to_ascii_lowercase()
        )),
        "{head}"
    );
    let body: serde_json::Value = serde_json::from_str(&server.bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(
        (body["model"].as_str(), body["max_tokens"].as_u64()),
        (Some("tiny"), Some(1))
    );

    // The key is nowhere in the data folder.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY),
            "{}",
            entry.display()
        );
    }

    let out = ok(&["model", "remove", "gpt-4o", "--data-dir", d]);
    assert!(out.contains("removed gpt-4o"), "{out}");
    let out = run(&["model", "test", "gpt-4o", "--data-dir", d], None);
    assert!(
        text(&out.stderr).contains("no model named"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_key_from_stdin_is_kept_in_a_private_file_and_sent() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(serve(vec![stream(&["OK"])]));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(
        &[
            "model",
            "add",
            "filed",
            "--openai",
            &server.url,
            "--remote-model",
            "tiny",
            "--api-key-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{KEY}\n")),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let keys: Vec<_> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(keys.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = keys[0].metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(ok(&["model", "test", "filed", "--data-dir", d]).contains("answered in"));
    let head = server.heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.contains(&format!("bearer {}", KEY.to_ascii_lowercase())),
        "{head}"
    );
    let db = std::fs::read(dir.path().join("vlm-inspect.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(KEY));
}

#[test]
fn bad_remote_settings_and_refusing_servers_are_one_line_errors() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(
        &[
            "model",
            "add",
            "x",
            "--openai",
            "ftp://host/v1",
            "--remote-model",
            "m",
            "--data-dir",
            d,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("only http:// and https://"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "model",
            "add",
            "x",
            "--openai",
            "http://127.0.0.1:9/v1",
            "--data-dir",
            d,
        ],
        None,
    );
    assert!(
        text(&out.stderr).contains("--remote-model"),
        "{}",
        text(&out.stderr)
    );

    let server = rt.block_on(serve(vec![status(404, "The model `nope` does not exist.")]));
    ok(&[
        "model",
        "add",
        "vllm",
        "--openai",
        &server.url,
        "--remote-model",
        "nope",
        "--data-dir",
        d,
    ]);
    let out = run(&["model", "test", "vllm", "--data-dir", d], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("model vllm") && err.contains("404") && err.contains("does not exist"),
        "{err}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The Models page's server functions: admins register a remote model with a key typed in, the
/// list shows it masked to everyone, members may not add, and "test connection" reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_models_page_registers_masks_and_tests_remote_models() {
    use axum::http::StatusCode;
    let server = serve(vec![stream(&["OK"])]).await;
    let app = common::TestApp::new().await;
    let (ada, mel) = (app.login("ada").await, app.login("mel").await);
    let form = format!(
        "form[name]=gpt&form[base_url]={}&form[remote_model]=tiny&form[key]={KEY}&form[max_concurrency]=2&form[detail]=low&form[price_in]=2.5&form[price_out]=10",
        common::enc(&server.url)
    );
    let (status, body, _) = app
        .post("/api/admin/models/remote", &form, Some(&mel))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body, _) = app
        .post("/api/admin/models/remote", &form, Some(&ada))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, list, _) = app.post("/api/models", "", Some(&mel)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(
        !list.contains(KEY),
        "the key never reaches the browser: {list}"
    );
    assert!(
        list.contains("sk-…6789") && list.contains("\"remote_model\":\"tiny\""),
        "{list}"
    );

    let (status, body, _) = app
        .post("/api/admin/models/test", "name=gpt", Some(&ada))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("answered in"), "{body}");
    let head = server.heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.contains(&format!("bearer {}", KEY.to_ascii_lowercase())),
        "{head}"
    );

    let (status, body, _) = app
        .post(
            "/api/admin/models/remote",
            "form[name]=bad&form[base_url]=ftp://x&form[remote_model]=m",
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("only http:// and https://"), "{body}");
    let (status, _, _) = app
        .post("/api/admin/models/remove", "name=gpt", Some(&ada))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list, _) = app.post("/api/models", "", Some(&mel)).await;
    assert!(!list.contains("\"gpt\""), "{list}");
}

/// Tokens from the account page: a member makes one and lists it, it opens `/v1`, a reviewer is
/// refused one, and a revoked token no longer opens `/v1`.
#[tokio::test]
async fn account_page_tokens_open_v1_until_revoked() {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    let app = common::TestApp::new().await;
    let (mel, rex) = (app.login("mel").await, app.login("rex").await);
    let (status, secret, _) = app
        .post("/api/me/tokens/create", "label=laptop", Some(&mel))
        .await;
    assert_eq!(status, StatusCode::OK, "{secret}");
    let secret: String = serde_json::from_str(&secret).unwrap();
    assert!(secret.starts_with("vi-"));
    let (status, body, _) = app
        .post("/api/me/tokens/create", "label=x", Some(&rex))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("reviewers may not hold API tokens"), "{body}");
    let (_, list, _) = app.post("/api/me/tokens", "", Some(&mel)).await;
    let list: Vec<store::TokenInfo> = serde_json::from_str(&list).unwrap();
    assert_eq!((list.len(), list[0].label.as_str()), (1, "laptop"));

    let models = |token: String| {
        Request::get("/v1/models")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, body, _) = common::split(app.send(models(secret.clone())).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"object\":\"list\""), "{body}");
    let (status, _, _) = app
        .post(
            "/api/me/tokens/revoke",
            &format!("id={}", list[0].id),
            Some(&mel),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = common::split(app.send(models(secret)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"]["code"], "invalid_api_key");
}

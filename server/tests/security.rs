//! The weaknesses of the security review (docs/reliability.md), each tried as an attacker
//! would, through the real router.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use common::{enc, split, TestApp, PASSWORD};

/// POSTs a sign-in from `peer`, as the server sees a browser at that address.
async fn login_from(
    app: &TestApp,
    peer: &str,
    user: &str,
    password: &str,
) -> (StatusCode, String, axum::http::Response<()>) {
    let form = format!("username={user}&password={}", enc(password));
    let mut req = Request::post("/api/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    split(app.send(req).await).await
}

#[tokio::test]
async fn a_stranger_guessing_cannot_lock_the_admin_out() {
    let app = TestApp::new().await;
    for _ in 0..8 {
        let (status, _, _) = login_from(&app, "203.0.113.9:5000", "ada", "wrong-guess").await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
    }
    let (status, body, head) = login_from(&app, "203.0.113.9:5001", "ada", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = head.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    // The admin, from her own address, signs in at once.
    let (status, body, _) = login_from(&app, "198.51.100.4:6000", "ada", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_sign_in_flood_gets_429_not_a_stalled_server() {
    let options = store::StoreOptions {
        hash_gate: store::password::HashGate::new(1, 2),
        ..Default::default()
    };
    let app = TestApp::with(vlm::DeviceSpec::Cpu, options, false).await;
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let peer = format!("10.0.{}.{}:4000", i / 200, i % 200 + 1);
                login_from(&app, &peer, "mel", "wrong-guess").await.0
            })
        })
        .collect();
    let health = {
        let app = app.clone();
        tokio::spawn(async move { app.get("/healthz", None).await.0 })
    };
    let mut busy = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => busy += 1,
            other => panic!("{other}"),
        }
    }
    assert!(busy > 0, "a gate of 1 + 2 let 40 parallel hashes through");
    assert_eq!(health.await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn tab_in_next_does_not_leave_the_site() {
    let app = TestApp::new().await;
    // `/login?next=/%09/example.com` reaches the form as "/\t/example.com".
    let (status, body, _) = app
        .post(
            "/api/login",
            &format!(
                "username=ada&password={}&next=%2F%09%2Fexample.com",
                enc(PASSWORD)
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "\"/\"");
}

#[tokio::test]
async fn state_changing_requests_from_other_origins_are_refused() {
    let app = TestApp::new().await;
    let cookie = app.login("ada").await;
    let post = |origin: Option<&str>| {
        let mut req = Request::post("/api/admin/set_disabled")
            .header(header::HOST, "inspect.local:3000")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &cookie);
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        req.body(Body::from("username=mel&disabled=true")).unwrap()
    };
    // Another port of the same host is same-site (the cookie goes along) but not same-origin.
    for foreign in [
        "http://inspect.local:8080",
        "http://evil.inspect.local:3000",
        "null",
    ] {
        let (status, body, _) = split(app.send(post(Some(foreign))).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{foreign}: {body}");
        assert!(body.contains("cross-site"), "{body}");
    }
    assert!(!app.store.user("mel").await.unwrap().disabled);
    let (status, body, _) = split(app.send(post(Some("http://inspect.local:3000"))).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(app.store.user("mel").await.unwrap().disabled);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::new().await;
    let cookie = app.login("mel").await;
    for path in [
        "/",
        "/healthz",
        "/login",
        "/no/such/page",
        "/files/images/999",
    ] {
        // Signed in, /login is a redirect home: fetch it signed out.
        let who = (path != "/login").then_some(cookie.as_str());
        let (_, body, head) = app.get(path, who).await;
        let h = head.headers();
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(h[header::REFERRER_POLICY], "same-origin", "{path}");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        // Pages allow exactly the scripts they carry the nonce of.
        if ["/", "/login"].contains(&path) {
            let nonce = csp
                .split("'nonce-")
                .nth(1)
                .and_then(|r| r.split('\'').next())
                .unwrap_or_else(|| panic!("{path}: no nonce in {csp}"));
            assert!(body.contains(&format!("nonce=\"{nonce}\"")), "{path}");
            assert!(!csp.contains("script-src 'self'"), "{path}: {csp}");
        }
    }
}

fn small_png() -> Vec<u8> {
    let mut png = Vec::new();
    image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 70]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

/// Upload ids are sequential: every other signed-in user used to be able to fetch any upload,
/// read any inspection and follow its stream, and inspect another member's upload.
#[tokio::test]
async fn uploads_and_inspections_belong_to_their_owner() {
    let (app, _) = common::tiny_app().await;
    let (mel, other, rex, ada) = (
        app.login("mel").await,
        app.login("target").await,
        app.login("rex").await,
        app.login("ada").await,
    );
    let (status, body, _) = common::upload(&app, &mel, "mine.png", &small_png(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let upload = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let file = format!("/files/uploads/{upload}");
    let inspect = format!(
        "form[model]=tiny-llava&form[prompt]=plain&form[upload]={upload}&form[max_new_tokens]=2"
    );
    let (status, body, _) = app.post("/api/inspect/start", &inspect, Some(&mel)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job: i64 = body.trim().parse().unwrap();
    let one = format!("id={job}");
    let events = format!("/api/jobs/{job}/events");

    // The owner and admins see everything.
    for who in [&mel, &ada] {
        assert_eq!(app.get(&file, Some(who)).await.0, StatusCode::OK);
        assert_eq!(
            app.post("/api/inspect/one", &one, Some(who)).await.0,
            StatusCode::OK
        );
    }
    // Another member and a reviewer: as if it did not exist.
    for who in [&other, &rex] {
        assert_eq!(app.get(&file, Some(who)).await.0, StatusCode::NOT_FOUND);
        let (status, body, _) = app.post("/api/inspect/one", &one, Some(who)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(app.get(&events, Some(who)).await.0, StatusCode::NOT_FOUND);
        let (status, body, _) = app
            .post(
                "/api/inspect/share",
                &format!("id={job}&username=target&share=true"),
                Some(who),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let (status, body, _) = app.post("/api/inspect/start", &inspect, Some(&other)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains(&format!("no upload {upload}")), "{body}");
    let (_, home, _) = app.post("/api/home", "", Some(&other)).await;
    assert!(!home.contains("\"inspect\""), "{home}");

    // Shared, the other member sees it and its image, but may not share it on.
    let (status, body, _) = app
        .post(
            "/api/inspect/share",
            &format!("id={job}&username=target&share=true"),
            Some(&mel),
        )
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "[\"target\"]"));
    assert_eq!(app.get(&file, Some(&other)).await.0, StatusCode::OK);
    assert_eq!(
        app.post("/api/inspect/one", &one, Some(&other)).await.0,
        StatusCode::OK
    );
    let (status, _, _) = app
        .post(
            "/api/inspect/share",
            &format!("id={job}&username=rex&share=true"),
            Some(&other),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&file, Some(&rex)).await.0, StatusCode::NOT_FOUND);
    // Taken back, it is gone again.
    app.post(
        "/api/inspect/share",
        &format!("id={job}&username=target&share=false"),
        Some(&mel),
    )
    .await;
    assert_eq!(app.get(&file, Some(&other)).await.0, StatusCode::NOT_FOUND);
}

/// Inspection and evaluation forms used to take any server path as the model, and their
/// errors told whether the path existed.
#[tokio::test]
async fn web_forms_take_registered_models_only() {
    let (app, _) = common::tiny_app().await;
    let mel = app.login("mel").await;
    let existing = app._dir.path().join("llava");
    assert!(existing.is_dir());
    let mut answers = Vec::new();
    for model in [existing.to_str().unwrap(), "/no/such/folder"] {
        let form = format!("form[model]={model}&form[prompt]=plain&form[image]=1");
        let (status, body, _) = app.post("/api/inspect/start", &form, Some(&mel)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("no registered model named"), "{body}");
        let form =
            format!("form[model]={model}&form[dataset]=tiny&form[split]=x&form[prompts]=plain");
        let (status, eval, _) = app.post("/api/eval/launch", &form, Some(&mel)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{eval}");
        answers.push(body.replace(model, "MODEL"));
    }
    assert_eq!(
        answers[0], answers[1],
        "the answer depends on whether the path exists"
    );
    // Model paths reach admins only.
    let (_, models, _) = app.post("/api/models", "", Some(&mel)).await;
    assert!(!models.contains(existing.to_str().unwrap()), "{models}");
    let (_, models, _) = app
        .post("/api/models", "", Some(&app.login("ada").await))
        .await;
    assert!(models.contains(existing.to_str().unwrap()), "{models}");
}

/// A few-hundred-byte PNG declaring 40 MP of 16-bit RGBA used to pass the pixel check and
/// decode to 320 MB; parallel uploads decoded without limit.
#[tokio::test]
async fn uploads_are_bounded_by_decoded_bytes_and_concurrency() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let mel = app.login("mel").await;
    let bomb = common::png_header(7900, 5000, 16, 6);
    assert!(bomb.len() < 1000);
    let (status, body, _) = common::upload(&app, &mel, "deep.png", &bomb, "").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("decode to 301 MB"), "{body}");
    // 8-bit RGB of the same size passes this check (and fails later: its data is cut short).
    let (status, body, _) = common::upload(
        &app,
        &mel,
        "flat.png",
        &common::png_header(7900, 5000, 8, 2),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");

    // Many real uploads at once: each is stored or told to come back, never anything else.
    let mut png = Vec::new();
    image::RgbImage::from_fn(1500, 1500, |x, y| {
        image::Rgb([x as u8, y as u8, (x ^ y) as u8])
    })
    .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
    .unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (app, mel, png) = (app.clone(), mel.clone(), png.clone());
            tokio::spawn(async move {
                let (status, _, head) =
                    common::upload(&app, &mel, &format!("p{i}.png"), &png, "").await;
                (status, head.headers().get(header::RETRY_AFTER).cloned())
            })
        })
        .collect();
    let (mut stored, mut later) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (StatusCode::CREATED, _) => stored += 1,
            (StatusCode::SERVICE_UNAVAILABLE, Some(retry)) => {
                assert_eq!(retry, "2");
                later += 1
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(stored >= 1, "{stored} stored, {later} refused");
}

//! Sign-in, sessions, throttling, logout, and bad input, through the real router.

mod common;

use axum::http::{header, StatusCode};
use common::{enc, TestApp, PASSWORD};

#[tokio::test]
async fn login_sets_a_strict_httponly_cookie() {
    let app = TestApp::new().await;
    let (status, body, head) = app
        .post(
            "/api/login",
            &format!(
                "username=ada&password={}&next=%2Fadmin%2Fusers",
                enc(PASSWORD)
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "\"/admin/users\"");
    let cookie = head
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(cookie.starts_with("vlm_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

#[tokio::test]
async fn open_redirects_are_refused() {
    let app = TestApp::new().await;
    let (_, body, _) = app
        .post(
            "/api/login",
            &format!(
                "username=ada&password={}&next=%2F%2Fevil.example",
                enc(PASSWORD)
            ),
            None,
        )
        .await;
    assert_eq!(body, "\"/\"");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_401_with_text() {
    let app = TestApp::new().await;
    for form in [
        "username=ada&password=nope-nope",
        "username=nobody&password=whatever1",
    ] {
        let (status, body, head) = app.post("/api/login", form, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{form}");
        assert!(body.contains("wrong username or password"), "{body}");
        assert!(head.headers().get(header::SET_COOKIE).is_none());
    }
    let (status, body, _) = app.post("/api/login", "username=&password=", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn repeated_failures_are_throttled() {
    let app = TestApp::new().await;
    for _ in 0..5 {
        let (status, _, _) = app
            .post("/api/login", "username=mel&password=wrong-guess", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body, _) = app
        .post(
            "/api/login",
            &format!("username=mel&password={}", enc(PASSWORD)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("try again in"), "{body}");
    // Other users are not affected.
    app.login("rex").await;
}

#[tokio::test]
async fn expired_sessions_are_refused_and_cleared() {
    let app = TestApp::new().await;
    let cookie = app.login("mel").await;
    let (status, _, _) = app.post("/api/me", "", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    store::sql::query("UPDATE sessions SET expires_at = 0")
        .execute(app.store.pool())
        .await
        .unwrap();
    let (status, body, head) = app.post("/api/me", "", Some(&cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let cleared = head
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (status, _, head) = app.get("/", Some(&cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        head.headers().get(header::LOCATION).unwrap(),
        "/login?next=/"
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::new().await;
    let cookie = app.login("rex").await;
    let (status, _, head) = app.post("/api/logout", "", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(head
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (status, _, _) = app.post("/api/me", "", Some(&cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signed_out_pages_redirect_to_login_with_next() {
    let app = TestApp::new().await;
    let (status, _, head) = app.get("/admin/users?tab=1", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        head.headers().get(header::LOCATION).unwrap(),
        "/login?next=/admin/users%3Ftab%3D1"
    );
    let (status, body, _) = app.get("/login", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Sign in"), "{body}");
    // Signed in, the login page sends you home.
    let cookie = app.login("mel").await;
    let (status, _, head) = app.get("/login", Some(&cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(head.headers().get(header::LOCATION).unwrap(), "/");
}

#[tokio::test]
async fn oversized_and_malformed_posts_get_4xx_with_text() {
    let app = TestApp::new().await;
    let big = format!("username=ada&password={}", "x".repeat(2 << 20));
    let (status, body, _) = app.post("/api/login", &big, None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("too large"), "{body}");
    let (status, body, _) = app.post("/api/login", "%zz=%%%", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("malformed request"), "{body}");
    let cookie = app.login("ada").await;
    let (status, body, _) = app
        .post(
            "/api/admin/set_disabled",
            "username=mel&disabled=maybe",
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn health_reports_version_and_database() {
    let app = TestApp::new().await;
    let (status, body, _) = app.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["database"], "ok");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn unknown_pages_are_404_for_signed_in_users() {
    let app = TestApp::new().await;
    let cookie = app.login("mel").await;
    let (status, body, _) = app.get("/no/such/page", Some(&cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Page not found"), "{body}");
}

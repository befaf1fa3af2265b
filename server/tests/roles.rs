//! Admin actions and pages by role (the full matrix of routes × roles is `access_matrix.rs`).

mod common;

use axum::http::StatusCode;
use common::TestApp;

#[tokio::test]
async fn admin_actions_take_effect() {
    let app = TestApp::new().await;
    let admin = app.login("ada").await;
    let (status, body, _) = app
        .post(
            "/api/admin/add_user",
            "username=nia&role=reviewer&password=",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let creds: serde_json::Value = serde_json::from_str(&body).unwrap();
    let generated = creds["generated_password"]
        .as_str()
        .expect("a generated password")
        .to_string();
    assert_eq!(
        app.store.user("nia").await.unwrap().role,
        store::Role::Reviewer
    );
    assert!(app
        .store
        .verify_login("nia", &generated, &store::throttle::ClientAddress::of(None))
        .await
        .is_ok());

    let (status, body, _) = app
        .post(
            "/api/admin/add_user",
            "username=nia&role=member&password=password123",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body, _) = app
        .post(
            "/api/admin/add_user",
            "username=zoe&role=owner&password=password123",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("unknown role"), "{body}");

    let (status, _, _) = app
        .post(
            "/api/admin/set_disabled",
            "username=ada&disabled=true",
            Some(&admin),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "admins cannot lock themselves out"
    );
    let (status, _, _) = app
        .post(
            "/api/admin/set_disabled",
            "username=ghost&disabled=true",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let mel = app.login("mel").await;
    let (status, _, _) = app
        .post(
            "/api/admin/set_disabled",
            "username=mel&disabled=true",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = app.post("/api/me", "", Some(&mel)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a disabled user's session ends at once"
    );
}

#[tokio::test]
async fn pages_render_for_their_roles() {
    let app = TestApp::new().await;
    let rex = app.login("rex").await;
    let (status, body, _) = app.get("/", Some(&rex)).await;
    assert_eq!(status, StatusCode::OK);
    for text in [
        "Overview",
        "Compute device",
        "cpu (test)",
        "No models registered yet.",
        "No jobs have run yet.",
    ] {
        assert!(body.contains(text), "home page lacks {text:?}");
    }
    let ada = app.login("ada").await;
    let (status, body, _) = app.get("/admin/users", Some(&ada)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Add a user") && body.contains("target"),
        "{body}"
    );
}

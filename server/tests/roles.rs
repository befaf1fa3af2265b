//! The role matrix: every endpoint × every role, allowed or refused.

mod common;

use axum::http::StatusCode;
use common::TestApp;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Who {
    Anonymous,
    Admin,
    Member,
    Reviewer,
}

/// (method, path, form body, roles allowed)
fn endpoints(tag: &str) -> Vec<(&'static str, &'static str, String, &'static [Who])> {
    use Who::*;
    const ANY: &[Who] = &[Admin, Member, Reviewer];
    const ADMIN: &[Who] = &[Admin];
    vec![
        ("GET", "/", String::new(), ANY),
        ("GET", "/admin/users", String::new(), ADMIN),
        ("POST", "/api/me", String::new(), ANY),
        ("POST", "/api/home", String::new(), ANY),
        ("POST", "/api/admin/users", String::new(), ADMIN),
        (
            "POST",
            "/api/admin/add_user",
            format!("username=new-{tag}&role=member&password=password123"),
            ADMIN,
        ),
        (
            "POST",
            "/api/admin/set_role",
            "username=target&role=reviewer".into(),
            ADMIN,
        ),
        (
            "POST",
            "/api/admin/set_disabled",
            "username=target&disabled=false".into(),
            ADMIN,
        ),
        (
            "POST",
            "/api/admin/reset_password",
            "username=target".into(),
            ADMIN,
        ),
        // Last: it ends the session.
        ("POST", "/api/logout", String::new(), ANY),
    ]
}

#[tokio::test]
async fn every_endpoint_checks_every_role() {
    let app = TestApp::new().await;
    for who in [Who::Anonymous, Who::Admin, Who::Member, Who::Reviewer] {
        let cookie = match who {
            Who::Anonymous => None,
            Who::Admin => Some(app.login("ada").await),
            Who::Member => Some(app.login("mel").await),
            Who::Reviewer => Some(app.login("rex").await),
        };
        let tag = format!("{who:?}").to_lowercase();
        for (method, path, form, allowed) in endpoints(&tag) {
            let (status, body, _) = if method == "GET" {
                app.get(path, cookie.as_deref()).await
            } else {
                app.post(path, &form, cookie.as_deref()).await
            };
            if allowed.contains(&who) {
                // Allowed callers get past the guard: success or a plain 4xx about the input.
                let refused = [
                    StatusCode::UNAUTHORIZED,
                    StatusCode::FORBIDDEN,
                    StatusCode::SEE_OTHER,
                ];
                assert!(
                    !refused.contains(&status) && status.as_u16() < 500,
                    "{who:?} {method} {path}: {status} {body}"
                );
                continue;
            }
            let expected = if who == Who::Anonymous {
                if method == "GET" {
                    StatusCode::SEE_OTHER
                } else {
                    StatusCode::UNAUTHORIZED
                }
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{who:?} {method} {path}: {body}");
        }
    }
}

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

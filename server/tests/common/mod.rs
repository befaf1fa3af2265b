//! A router over a temporary database with one user per role.

#![allow(dead_code)] // each test file uses a different part of this helper

use std::path::Path;

use app::ssr::AppState;
use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use store::{Role, Store, StoreOptions};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub router: Router,
}

impl TestApp {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("test.db"), StoreOptions::default())
            .await
            .unwrap();
        for (name, role) in [
            ("ada", Role::Admin),
            ("mel", Role::Member),
            ("rex", Role::Reviewer),
            ("target", Role::Member),
        ] {
            store.create_user(name, PASSWORD, role).await.unwrap();
        }
        let state = AppState {
            leptos_options: vlm_inspect::web::leptos_options(
                "127.0.0.1:0".parse().unwrap(),
                Path::new("target/site"),
            ),
            store: store.clone(),
            device: "cpu (test)".into(),
            data_dir: dir.path().to_path_buf(),
        };
        Self {
            _dir: dir,
            store,
            router: vlm_inspect::web::router(state),
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(req).await.unwrap()
    }

    /// POSTs a form to a server function, with the session cookie if given.
    pub async fn post(
        &self,
        path: &str,
        form: &str,
        cookie: Option<&str>,
    ) -> (StatusCode, String, Response<()>) {
        let mut req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::CONTENT_LENGTH, form.len());
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        let res = self
            .send(req.body(Body::from(form.to_string())).unwrap())
            .await;
        split(res).await
    }

    pub async fn get(
        &self,
        path: &str,
        cookie: Option<&str>,
    ) -> (StatusCode, String, Response<()>) {
        let mut req = Request::get(path).header(header::ACCEPT, "text/html");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        split(self.send(req.body(Body::empty()).unwrap()).await).await
    }

    /// Signs in and returns the `Cookie` header value to send back.
    pub async fn login(&self, user: &str) -> String {
        let (status, body, head) = self
            .post(
                "/api/login",
                &format!("username={user}&password={}", enc(PASSWORD)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {user}: {body}");
        let set = head
            .headers()
            .get(header::SET_COOKIE)
            .expect("a session cookie")
            .to_str()
            .unwrap();
        set.split(';').next().unwrap().to_string()
    }
}

pub async fn split(res: Response<Body>) -> (StatusCode, String, Response<()>) {
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        String::from_utf8_lossy(&bytes).into_owned(),
        Response::from_parts(parts, ()),
    )
}

pub fn enc(s: &str) -> String {
    s.replace(' ', "+")
}

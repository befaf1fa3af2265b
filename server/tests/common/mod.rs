//! A router over a temporary database with one user per role.

#![allow(dead_code)] // each test file uses a different part of this helper

pub mod bin;

use std::path::Path;

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
        Self::on(vlm::DeviceSpec::Cpu).await
    }

    /// A server whose compute device is `compute` (its jobs run there).
    pub async fn on(compute: vlm::DeviceSpec) -> Self {
        Self::with(compute, StoreOptions::default(), true).await
    }

    /// A server with these store settings, with or without job lanes (without, queued jobs
    /// stay queued).
    pub async fn with(compute: vlm::DeviceSpec, options: StoreOptions, lanes: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // SQLite, or PostgreSQL when VLM_INSPECT_TEST_DATABASE_URL names a server.
        let store = store::test_db::open(&dir.path().join("test.db"), options)
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
        let state = vlm_inspect::web::app_state(
            store.clone(),
            dir.path().to_path_buf(),
            vlm_inspect::web::leptos_options(
                "127.0.0.1:0".parse().unwrap(),
                Path::new("target/site"),
            ),
            compute,
            format!("{compute} (test)"),
        );
        if lanes {
            jobs::runner::start(
                store.clone(),
                dir.path().to_path_buf(),
                state.jobs.clone(),
                state.interactive.clone(),
            );
        }
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

/// A tiny LLaVA folder (the parity fixture plus a word-level tokenizer with `<image>` = 127)
/// and two PNG images.
pub fn tiny_llava_folder(dir: &std::path::Path) -> (std::path::PathBuf, Vec<std::path::PathBuf>) {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vlm/tests/fixtures/tiny-llava");
    let model = dir.join("llava");
    std::fs::create_dir_all(&model).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture.join(f), model.join(f)).unwrap();
    }
    let mut vocab = serde_json::Map::new();
    for (i, w) in ["<unk>", "<s>", "</s>", "USER", ":", "ASSISTANT", "hello"]
        .iter()
        .enumerate()
    {
        vocab.insert(w.to_string(), i.into());
    }
    for i in 7..127 {
        vocab.insert(format!("w{i}"), i.into());
    }
    vocab.insert("<image>".into(), 127.into());
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": 127, "content": "<image>", "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    });
    std::fs::write(model.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let images: Vec<std::path::PathBuf> = [(40u32, 30u32), (64, 48)]
        .iter()
        .enumerate()
        .map(|(i, &(w, h))| {
            let path = dir.join(format!("img{i}.png"));
            image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 5) as u8, (y * 3) as u8, 90]))
                .save(&path)
                .unwrap();
            path
        })
        .collect();
    (model, images)
}

/// A generated dataset `tiny` (`categories`, `counts` per category, 64 px, `seed`) imported into
/// `app`'s store, a split of it (seed 1, `fraction` of the test anomalies to training) and the
/// tiny LLaVA registered as `tiny-llava`; returns the split key.
pub async fn tiny_dataset_and_llava(
    app: &TestApp,
    seed: u64,
    counts: anomaly::synth::Counts,
    categories: &[&str],
    fraction: f64,
) -> String {
    let root = app._dir.path();
    let src = root.join("synth");
    let cfg = anomaly::synth::SynthConfig {
        seed,
        size: 64,
        counts,
        categories: categories.iter().map(|c| c.to_string()).collect(),
    };
    anomaly::synth::generate(&src, &cfg).unwrap();
    let req = store::import::ImportRequest {
        source: src,
        layout: store::import::Layout::Loco,
        qa_file: None,
        name: "tiny".into(),
        categories: None,
    };
    app.store
        .import_dataset(root, req, std::sync::Arc::new(store::import::go_on))
        .await
        .unwrap();
    let split = app.store.create_split("tiny", 1, fraction).await.unwrap();
    let (model, _) = tiny_llava_folder(root);
    app.store
        .register_model("tiny-llava", "llava", model.to_str().unwrap())
        .await
        .unwrap();
    split.key
}

/// A multipart body with `bytes` as its `image` file field, and its content type.
pub fn multipart(file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "XyZzY0123456789";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// POSTs `bytes` as the `image` field of a multipart form to `/api/uploads{query}`.
pub async fn upload(
    app: &TestApp,
    cookie: &str,
    name: &str,
    bytes: &[u8],
    query: &str,
) -> (StatusCode, String, axum::http::Response<()>) {
    let (content_type, body) = multipart(name, bytes);
    let req = Request::post(format!("/api/uploads{query}"))
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap();
    split(app.send(req).await).await
}

/// A PNG whose header declares `w`×`h` pixels of `bit_depth` and `color_type` (2 RGB, 6 RGBA; valid CRCs) followed by a few bytes of image
/// data: what a decompression bomb looks like before it is inflated.
pub fn png_header(w: u32, h: u32, bit_depth: u8, color_type: u8) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([bit_depth, color_type, 0, 0, 0]);
    out.extend(13u32.to_be_bytes());
    out.extend(&ihdr);
    out.extend(crc32(&ihdr).to_be_bytes());
    let idat = b"IDAT\x78\x9c\x63\x00\x00\x00\x01\x00\x01".to_vec();
    out.extend(((idat.len() - 4) as u32).to_be_bytes());
    out.extend(&idat);
    out.extend(crc32(&idat).to_be_bytes());
    out
}

/// A server without job lanes (queued jobs stay queued), with the tiny dataset (seed 3, one
/// image of each kind of pushpins) and its split's key and LLaVA.
pub async fn tiny_app() -> (TestApp, String) {
    let app = TestApp::with(vlm::DeviceSpec::Cpu, Default::default(), false).await;
    let split = tiny_dataset_and_llava(
        &app,
        3,
        anomaly::synth::Counts {
            train: 1,
            validation: 0,
            good: 1,
            logical: 1,
            structural: 1,
        },
        &["pushpins"],
        0.0,
    )
    .await;
    (app, split)
}

//! Datasets through the web API: browsing, images, files, and import jobs.

mod common;

use std::time::Duration;

use anomaly::synth::{generate, Counts, SynthConfig};
use axum::http::{header, StatusCode};
use common::TestApp;

fn synth(out: &std::path::Path) {
    let cfg = SynthConfig {
        seed: 9,
        size: 64,
        counts: Counts {
            train: 2,
            validation: 1,
            good: 2,
            logical: 3,
            structural: 3,
        },
        categories: vec!["pushpins".into(), "juice_bottle".into()],
    };
    generate(out, &cfg).unwrap();
}

/// Starts an import as admin and waits for its job to end; returns the job as JSON.
async fn import(app: &TestApp, admin: &str, source: &str, name: &str) -> serde_json::Value {
    let form = format!("form[source]={source}&form[layout]=loco&form[qa_file]=&form[name]={name}");
    let (status, body, _) = app
        .post("/api/admin/datasets/import", &form, Some(admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job: i64 = body.parse().unwrap();
    for _ in 0..200 {
        let (_, body, _) = app
            .post("/api/job", &format!("id={job}"), Some(admin))
            .await;
        let j: serde_json::Value = serde_json::from_str(&body).unwrap();
        if j["state"] != "queued" && j["state"] != "running" {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the import job did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_job_then_browse() {
    let app = TestApp::new().await;
    let src = app._dir.path().join("synth");
    synth(&src);
    let admin = app.login("ada").await;
    let job = import(&app, &admin, src.to_str().unwrap(), "demo").await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"], 1.0);

    let member = app.login("mel").await;
    let (status, body, _) = app.post("/api/datasets", "", Some(&member)).await;
    assert_eq!(status, StatusCode::OK);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list[0]["dataset"]["name"], "demo");
    assert_eq!(list[0]["dataset"]["image_count"], 22);

    let form = "name=demo&filter[category]=pushpins&filter[split]=test&filter[label]=logical&filter[qa_source]=&page=1";
    let (status, body, _) = app.post("/api/dataset/images", form, Some(&member)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["total"], 3);
    let id = page["images"][0]["id"].as_i64().unwrap();

    for (kind, mime) in [
        ("images", "image/png"),
        ("masks", "image/png"),
        ("thumbs", "image/jpeg"),
    ] {
        let (status, _, head) = app.get(&format!("/files/{kind}/{id}"), Some(&member)).await;
        assert_eq!(status, StatusCode::OK, "{kind}");
        assert_eq!(head.headers().get(header::CONTENT_TYPE).unwrap(), mime);
    }
    let (status, _, _) = app.get(&format!("/files/images/{id}"), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "files need a session");
    let (status, _, _) = app.get("/files/images/999999", Some(&member)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The server-rendered pages show the data.
    let (status, body, _) = app.get(&format!("/images/{id}"), Some(&member)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Logical anomaly") && body.contains("Show ground-truth mask"),
        "{body}"
    );
    let (_, body, _) = app
        .get(
            "/datasets/demo?category=pushpins&label=logical",
            Some(&member),
        )
        .await;
    // Leptos separates text nodes with <!> markers for hydration.
    let text = body.replace("<!>", "");
    assert!(text.contains("3 images match"), "{text}");

    // Importing the same name again fails before a job starts; a bad folder fails as a job.
    let form = format!(
        "form[source]={}&form[layout]=loco&form[qa_file]=&form[name]=demo",
        src.display()
    );
    let (status, _, _) = app
        .post("/api/admin/datasets/import", &form, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let broken = app._dir.path().join("broken");
    synth(&broken);
    std::fs::write(broken.join("pushpins/train/good/000.png"), b"not a png").unwrap();
    let job = import(&app, &admin, broken.to_str().unwrap(), "broken").await;
    assert_eq!(job["state"], "failed");
    assert!(job["error"].as_str().unwrap().contains("000.png"), "{job}");

    let (status, _, _) = app
        .post("/api/admin/datasets/delete", "name=demo", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body, _) = app.post("/api/datasets", "", Some(&member)).await;
    assert_eq!(body, "[]");
}

//! Training jobs through the web API: launch (admins only, bad input refused with the field
//! named), the worker runs the job, progress streams as server-sent events, the run page draws
//! the curves, cancel stops at a checkpoint and resume continues from it.

mod common;

use std::time::Duration;

use anomaly::synth::Counts;
use axum::http::StatusCode;
use common::TestApp;

/// A tiny dataset with a split and a registered tiny LLaVA; returns the split key.
async fn setup(app: &TestApp) -> String {
    let counts = Counts {
        train: 2,
        validation: 1,
        good: 1,
        logical: 2,
        structural: 2,
    };
    common::tiny_dataset_and_llava(app, 2, counts, &["pushpins"], 0.5).await
}

fn form(split: &str, extra: &str) -> String {
    format!("form[base_model]=tiny-llava&form[dataset]=tiny&form[split]={split}&form[learning_rate]=1e-3&form[batch_size]=2{extra}")
}

async fn run_state(app: &TestApp, cookie: &str, id: i64) -> serde_json::Value {
    let (status, body, _) = app
        .post("/api/training/run", &format!("id={id}"), Some(cookie))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Whether a run's state is final.
fn ended(r: &serde_json::Value) -> bool {
    !matches!(
        r["run"]["job"]["state"].as_str(),
        Some("queued" | "running")
    )
}

async fn wait_for(
    app: &TestApp,
    cookie: &str,
    id: i64,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..1200 {
        let r = run_state(app, cookie, id).await;
        if done(&r) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "run {id} did not get there: {}",
        run_state(app, cookie, id).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_follow_cancel_resume() {
    let app = TestApp::new().await;
    let split = setup(&app).await;
    let admin = app.login("ada").await;
    let member = app.login("mel").await;

    // Members read; only admins launch. Bad input names the field.
    let (status, _, _) = app
        .post(
            "/api/admin/training/launch",
            &form(&split, "&form[epochs]=2"),
            Some(&member),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (extra, field) in [
        ("&form[rank]=0", "lora.rank"),
        ("&form[epochs]=two", "epochs"),
        ("&form[learning_rate]=-1", "learning_rate"),
    ] {
        let (status, body, _) = app
            .post(
                "/api/admin/training/launch",
                &form(&split, extra),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra}: {body}");
        assert!(body.contains(field), "{field}: {body}");
    }
    let (status, body, _) = app
        .post(
            "/api/admin/training/launch",
            &form("nope", ""),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("split"), "{body}");

    // A run to the end: events, curve, registered model.
    let (status, body, _) = app
        .post(
            "/api/admin/training/launch",
            &form(&split, "&form[epochs]=2&form[name]=tiny-qa"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id: i64 = body.parse().unwrap();
    let done = wait_for(&app, &member, id, ended).await;
    assert_eq!(done["run"]["job"]["state"], "succeeded", "{done}");
    assert_eq!(done["run"]["model"], "tiny-qa");
    assert_eq!(done["can_manage"], false, "members read only");
    let events = done["events"].as_array().unwrap();
    assert!(events
        .iter()
        .any(|e| e[1].as_str().unwrap().contains("\"progress\"")));
    let (status, sse, _) = app
        .get(&format!("/api/jobs/{id}/events"), Some(&member))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        sse.contains("data: {") && sse.contains("\"kind\":\"end\""),
        "{sse}"
    );
    let (status, after, _) = app
        .get(&format!("/api/jobs/{id}/events?after=1000"), Some(&member))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !after.contains("\"progress\"") && after.contains("\"end\""),
        "{after}"
    );
    let (_, page, _) = app.get(&format!("/training/{id}"), Some(&member)).await;
    assert!(
        page.contains("id=\"loss-curve\"") && page.contains("tiny-qa"),
        "{page}"
    );
    assert!(
        !page.contains("data-points=\"0\""),
        "the curves have points"
    );
    let models = app.store.models().await.unwrap();
    assert!(models
        .iter()
        .any(|m| m.name == "tiny-qa" && m.kind == "llava-lora"));

    // An adapter is a base too (stages chain, as the default model's recipe does on the CLI).
    let chained = form(&split, "&form[epochs]=1&form[name]=tiny-qa-2")
        .replace("form[base_model]=tiny-llava", "form[base_model]=tiny-qa");
    let (status, body, _) = app
        .post("/api/admin/training/launch", &chained, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "an adapter as the base: {body}");
    let id: i64 = body.parse().unwrap();
    let done = wait_for(&app, &admin, id, ended).await;
    assert_eq!(done["run"]["job"]["state"], "succeeded", "{done}");

    // A long run: cancel stops it at a checkpoint, resume continues and finishes.
    let (_, body, _) = app
        .post(
            "/api/admin/training/launch",
            &form(&split, "&form[epochs]=40&form[save_every_steps]=1"),
            Some(&admin),
        )
        .await;
    let id: i64 = body.parse().unwrap();
    wait_for(&app, &admin, id, |r| {
        r["events"].as_array().is_some_and(|e| e.len() >= 2)
    })
    .await;
    let (status, body, _) = app
        .post(
            "/api/admin/training/cancel",
            &format!("id={id}"),
            Some(&member),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body, _) = app
        .post(
            "/api/admin/training/cancel",
            &format!("id={id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stopped = wait_for(&app, &admin, id, |r| {
        r["run"]["job"]["state"] == "cancelled"
    })
    .await;
    let steps_before = stopped["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e[1].as_str().unwrap().contains("\"progress\""))
        .count();
    let run_dir = app._dir.path().join(format!("runs/job-{id}"));
    assert!(std::fs::read_dir(&run_dir).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("checkpoint-")));
    let (status, body, _) = app
        .post(
            "/api/admin/training/resume",
            &format!("id={id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = wait_for(&app, &admin, id, |r| {
        r["run"]["job"]["state"] == "succeeded"
    })
    .await;
    let events: Vec<&str> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[1].as_str().unwrap())
        .collect();
    assert!(
        events.iter().any(|e| e.contains("\"resumed\"")),
        "resumed from the checkpoint"
    );
    assert!(steps_before < 160);
    let (status, body, _) = app
        .post(
            "/api/admin/training/resume",
            &format!("id={id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

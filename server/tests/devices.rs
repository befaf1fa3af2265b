//! Every job launched from the web runs on the server's compute device unless the launcher
//! picks another one the server has: inspections, evaluations and training runs record the
//! device in their configuration, and their runner reports the device it opened.

mod common;

use std::time::Duration;

use anomaly::synth::Counts;
use axum::http::StatusCode;
use common::TestApp;
use store::{JobEvent, JobKind};

async fn setup(app: &TestApp) -> String {
    let counts = Counts {
        train: 2,
        validation: 0,
        good: 1,
        logical: 1,
        structural: 1,
    };
    common::tiny_dataset_and_llava(app, 4, counts, &["pushpins"], 0.5).await
}

/// Launches `form` at `path` and returns the job id.
async fn launch(app: &TestApp, cookie: &str, path: &str, form: &str) -> i64 {
    let (status, body, _) = app.post(path, form, Some(cookie)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body.trim().parse().unwrap()
}

/// Waits for job `id` to end; returns the device of its configuration and the one its runner
/// reported opening.
async fn run_devices(app: &TestApp, id: i64, kind: JobKind) -> (String, String) {
    for _ in 0..1800 {
        let job = app.store.job(id).await.unwrap();
        if job.state.is_ended() {
            assert_eq!(
                job.state,
                store::JobState::Succeeded,
                "{kind} job {id}: {:?}",
                job.error
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (config, _) = app.store.job_config(id).await.unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    let configured = config["config"]["device"].as_str().unwrap().to_string();
    let opened = app
        .store
        .job_events(id, 0)
        .await
        .unwrap()
        .iter()
        .find_map(|(_, e)| match JobEvent::from_json(e) {
            Some(JobEvent::Started { device, .. }) => Some(device),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{kind} job {id} reported no device"));
    (configured, opened)
}

/// Launches one inspection, one evaluation and one training run with `device` in each form
/// (empty: the server's) and returns what each recorded.
async fn launch_all(app: &TestApp, device: &str) -> Vec<(JobKind, String, String)> {
    let split = setup(app).await;
    let member = app.login("mel").await;
    let admin = app.login("ada").await;
    let image = app.store.eval_images("tiny", &split, None).await.unwrap()[0].image_id;
    let dev = format!("&form[device]={device}");
    let inspect = launch(
        app,
        &member,
        "/api/inspect/start",
        &format!("form[model]=tiny-llava&form[prompt]=plain&form[image]={image}&form[max_new_tokens]=3{dev}"),
    )
    .await;
    let eval = launch(
        app,
        &member,
        "/api/eval/launch",
        &format!("form[model]=tiny-llava&form[dataset]=tiny&form[split]={split}&form[prompts]=plain&form[limit]=2&form[max_new_tokens]=3{dev}"),
    )
    .await;
    let train = launch(
        app,
        &admin,
        "/api/admin/training/launch",
        &format!("form[base_model]=tiny-llava&form[dataset]=tiny&form[split]={split}&form[epochs]=1&form[batch_size]=2{dev}"),
    )
    .await;
    let mut out = Vec::new();
    for (id, kind) in [
        (inspect, JobKind::Inspect),
        (eval, JobKind::Eval),
        (train, JobKind::Train),
    ] {
        let (configured, opened) = run_devices(app, id, kind).await;
        out.push((kind, configured, opened));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_jobs_run_on_the_servers_device_and_refuse_one_it_lacks() {
    let app = TestApp::new().await;
    for (kind, configured, opened) in launch_all(&app, "").await {
        assert_eq!(configured, "cpu", "{kind}");
        assert!(opened.starts_with("cpu"), "{kind}: {opened}");
    }
    // A device this server does not have is refused by name, for each kind of launch.
    let member = app.login("mel").await;
    let admin = app.login("ada").await;
    for (path, cookie, form) in [
        (
            "/api/inspect/start",
            &member,
            "form[model]=tiny-llava&form[prompt]=plain&form[image]=1",
        ),
        (
            "/api/eval/launch",
            &member,
            "form[model]=tiny-llava&form[dataset]=tiny&form[split]=x&form[prompts]=plain",
        ),
        (
            "/api/admin/training/launch",
            &admin,
            "form[base_model]=tiny-llava&form[dataset]=tiny&form[split]=x",
        ),
    ] {
        let (status, body, _) = app
            .post(path, &format!("{form}&form[device]=cuda:3"), Some(cookie))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(
            body.contains("device: this server runs on cpu"),
            "{path}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_past_the_queue_cap_gets_429_and_others_still_queue() {
    let options = store::StoreOptions {
        max_queued_per_user: 2,
        ..Default::default()
    };
    // No lanes: what is queued stays queued.
    let app = TestApp::with(vlm::DeviceSpec::Cpu, options, false).await;
    let split = setup(&app).await;
    let image = app.store.eval_images("tiny", &split, None).await.unwrap()[0].image_id;
    let form = format!("form[model]=tiny-llava&form[prompt]=plain&form[image]={image}");
    let member = app.login("mel").await;
    for _ in 0..2 {
        launch(&app, &member, "/api/inspect/start", &form).await;
    }
    let (status, body, _) = app.post("/api/inspect/start", &form, Some(&member)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("2 jobs waiting already"), "{body}");
    // The cap is per user.
    let other = app.login("target").await;
    launch(&app, &other, "/api/inspect/start", &form).await;
}

#[cfg(feature = "wgpu")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a wgpu adapter (lavapipe: scripts/test.sh runs it)"]
async fn web_jobs_on_a_wgpu_server_run_on_wgpu() {
    if let Err(e) = vlm::device::probe(vlm::DeviceSpec::Wgpu(0)) {
        panic!("no wgpu adapter: {e}");
    }
    let app = TestApp::on(vlm::DeviceSpec::Wgpu(0)).await;
    for (kind, configured, opened) in launch_all(&app, "").await {
        assert_eq!(configured, "wgpu:0", "{kind}");
        assert!(opened.contains("wgpu"), "{kind}: {opened}");
    }
}

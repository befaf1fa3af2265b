//! Part B end to end on a tiny LLaVA: evaluation jobs launched through the web API (rights,
//! bad input named), the worker stores one prediction per image and prompt, the run page shows
//! numbers equal to a recomputation from the stored predictions, downloads, cancel and resume;
//! uploads refuse what is not a safe image; an inspection of an upload streams and ends with a
//! verdict.

mod common;

use std::time::Duration;

use anomaly::synth::Counts;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::TestApp;

/// A small two-category dataset with a split and a registered tiny LLaVA; returns the split key.
async fn setup(app: &TestApp) -> String {
    let counts = Counts {
        train: 2,
        validation: 0,
        good: 2,
        logical: 2,
        structural: 2,
    };
    common::tiny_dataset_and_llava(app, 3, counts, &["pushpins", "breakfast_box"], 0.25).await
}

async fn post_json(app: &TestApp, path: &str, form: &str, cookie: &str) -> serde_json::Value {
    let (status, body, _) = app.post(path, form, Some(cookie)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn wait_state(
    app: &TestApp,
    cookie: &str,
    path: &str,
    id: i64,
    want: &[&str],
) -> serde_json::Value {
    for _ in 0..1200 {
        let v = post_json(app, path, &format!("id={id}"), cookie).await;
        let state = v["run"]["job"]["state"]
            .as_str()
            .or(v["job"]["state"].as_str())
            .unwrap_or_default()
            .to_string();
        if want.contains(&state.as_str()) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} never reached {want:?}");
}

fn launch_form(split: &str, extra: &str) -> String {
    format!("form[model]=tiny-llava&form[dataset]=tiny&form[split]={split}&form[prompts]=plain,P1&form[max_new_tokens]=6{extra}")
}

/// Accuracy in percent with one decimal, as the pages print it, computed here by hand.
fn pct(correct: usize, total: usize) -> String {
    if total == 0 {
        "n/a".into()
    } else {
        format!("{:.1}", 100.0 * correct as f64 / total as f64)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_runs_and_its_pages_show_the_stored_numbers() {
    let app = TestApp::new().await;
    let split = setup(&app).await;
    let member = app.login("mel").await;
    let reviewer = app.login("rex").await;

    // Reviewers read but do not launch; bad input names its field.
    let (status, _, _) = app
        .post(
            "/api/eval/launch",
            &launch_form(&split, ""),
            Some(&reviewer),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (form, field) in [
        (
            launch_form(&split, "").replace("plain,P1", "plain,P7"),
            "prompts",
        ),
        (launch_form("nope", ""), "split"),
        (
            launch_form(&split, "").replace("tiny-llava", "ghost"),
            "model",
        ),
        (launch_form(&split, "&form[limit]=x"), "limit"),
        (
            launch_form(&split, "").replace("=6", "=0"),
            "max_new_tokens",
        ),
    ] {
        let (status, body, _) = app.post("/api/eval/launch", &form, Some(&member)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form}: {body}");
        assert!(body.contains(field), "{field}: {body}");
    }

    // A user prompt joins the run next to the built-in ones.
    let (status, body, _) = app
        .post(
            "/api/prompts/add",
            "name=short&text=Compare+the+two+images.&chain_of_image=true",
            Some(&member),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = app
        .post("/api/prompts/add", "name=P1&text=x", Some(&member))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a built-in name: {body}");

    let (status, body, _) = app
        .post(
            "/api/eval/launch",
            &launch_form(&split, "").replace("plain,P1", "plain,P1,short"),
            Some(&member),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id: i64 = body.trim().parse().unwrap();
    let detail = wait_state(&app, &member, "/api/eval/run", id, &["succeeded", "failed"]).await;
    assert_eq!(detail["run"]["job"]["state"], "succeeded", "{detail}");

    // One prediction per test image and prompt, every one with a template for CoI prompts.
    let images = app.store.eval_images("tiny", &split, None).await.unwrap();
    let stored = app.store.predictions(id).await.unwrap();
    assert_eq!(stored.len(), images.len() * 3);
    for p in &stored {
        assert_eq!(p.template_id.is_some(), p.prompt != "plain", "{p:?}");
        assert!(p.new_tokens >= 1 && p.new_tokens <= 6, "{p:?}");
    }

    // The page's Table 1 equals a recomputation from the stored rows.
    let (status, html, _) = app.get(&format!("/evaluations/{id}"), Some(&member)).await;
    assert_eq!(status, StatusCode::OK);
    for prompt in ["plain", "P1", "short"] {
        let mine: Vec<_> = stored.iter().filter(|p| p.prompt == prompt).collect();
        let acc = |label: &str| {
            let of: Vec<_> = mine.iter().filter(|p| p.label == label).collect();
            let right = of
                .iter()
                .filter(|p| match p.verdict.as_str() {
                    "anomalous" => label != "good",
                    "normal" => label == "good",
                    _ => false,
                })
                .count();
            pct(right, of.len())
        };
        let row_start = html
            .find(&format!("<tr data-prompt=\"{prompt}\""))
            .unwrap_or_else(|| panic!("no Table 1 row for {prompt}"));
        let row = &html[row_start..row_start + html[row_start..].find("</tr>").unwrap()];
        for (col, label) in [
            ("logical", "logical"),
            ("structural", "structural"),
            ("good", "good"),
        ] {
            let cell = format!("data-col=\"{col}\">{}</td>", acc(label));
            assert!(row.contains(&cell), "{prompt} {col}: want {cell} in {row}");
        }
    }
    assert!(html.contains("id=\"accuracy-chart\""));
    assert!(html.contains("id=\"predictions\""));
    // Table 2 and the per-category table say whether explanations name the defect.
    assert!(html.contains("<th>Names defect</th><th>Location agrees</th>"));
    assert!(html.contains("data-col=\"named\""));

    // Downloads.
    let csv = app
        .send(
            Request::get(format!("/api/evaluations/{id}.csv"))
                .header(header::COOKIE, &member)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let (status, csv, _) = common::split(csv).await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with("image_id,image,category,label,prompt,"));
    assert!(csv.contains(",bert_f1,names_defect,location,new_tokens,"));
    let (status, json, _) = app
        .get(&format!("/api/evaluations/{id}.json"), Some(&member))
        .await;
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["predictions"].as_array().unwrap().len(), stored.len());
    assert!(doc["prompts"][0]["naming"]["judged"].is_u64(), "{doc}");
    assert!(doc["table2"].as_str().unwrap().contains("| Names defect |"));
    assert!(doc["table1"]
        .as_str()
        .unwrap()
        .contains("tiny-llava + CoI (P1)"));
    let (status, _, _) = app.get("/api/evaluations/999.json", Some(&member)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The comparison page lists the run's prompts.
    let (status, html, _) = app
        .get(&format!("/compare?id={id}&id={id}"), Some(&member))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"compare\""), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_evaluation_resumes_from_its_stored_predictions() {
    let app = TestApp::new().await;
    let split = setup(&app).await;
    let data = app._dir.path();
    let cfg = anomaly::evaluation::EvalConfig {
        decoding: anomaly::explain::Decoding {
            max_new_tokens: 3,
            ..Default::default()
        },
        ..anomaly::evaluation::EvalConfig::new("tiny-llava", "tiny", &split, &["plain"])
    };
    let plan = jobs::evaluate::plan(&app.store, data, cfg.clone())
        .await
        .unwrap();
    let job = app
        .store
        .create_running_job(
            store::JobKind::Eval,
            &store::JobConfig::encode(&cfg),
            store::JobOwner::CommandLine,
        )
        .await
        .unwrap();

    /// Cancels after `stop_after` predictions, or (with `mid_reply`) while the next reply is
    /// being generated.
    struct StopAfter {
        seen: usize,
        stop_after: usize,
        mid_reply: std::cell::Cell<usize>,
    }
    impl jobs::evaluate::EvalHooks for StopAfter {
        fn cancelled(&self) -> bool {
            if self.seen >= self.stop_after {
                // The check before the reply passes; the first one during it stops the run.
                let n = self.mid_reply.get();
                self.mid_reply.set(n + 1);
                return n >= 1;
            }
            false
        }
        fn event(&mut self, event: store::JobEvent) {
            if matches!(event, store::JobEvent::Prediction(_)) {
                self.seen += 1;
            }
        }
    }
    let store = app.store.clone();
    let first = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Handle::current();
        let mut hooks = StopAfter {
            seen: 0,
            stop_after: 2,
            mid_reply: Default::default(),
        };
        let s = jobs::evaluate::run(&plan, &store, job, &rt, &mut hooks).unwrap();
        (s, plan)
    })
    .await
    .unwrap();
    let (summary, plan) = first;
    assert!(summary.cancelled);
    assert_eq!(
        summary.made, 2,
        "the reply cut short by the cancel is not stored"
    );
    let kept = app.store.predictions(job).await.unwrap();
    assert_eq!(kept.len(), 2);

    let store = app.store.clone();
    let total = plan.images.len();
    let second = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Handle::current();
        let mut hooks = StopAfter {
            seen: 0,
            stop_after: usize::MAX,
            mid_reply: Default::default(),
        };
        jobs::evaluate::run(&plan, &store, job, &rt, &mut hooks).unwrap()
    })
    .await
    .unwrap();
    assert!(!second.cancelled);
    assert_eq!(second.made, total - 2, "only the missing images are judged");
    assert_eq!(second.predictions, total);
    // Greedy decoding: the two kept predictions are what a fresh run makes too.
    let all = app.store.predictions(job).await.unwrap();
    for k in &kept {
        assert!(all.contains(k));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_refuse_bad_images_and_an_inspection_streams_a_verdict() {
    let app = TestApp::new().await;
    setup(&app).await;
    let member = app.login("mel").await;
    let reviewer = app.login("rex").await;
    let mut png = Vec::new();
    image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 70]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();

    let (status, _, _) = common::upload(&app, &reviewer, "a.png", &png, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body, _) =
        common::upload(&app, &member, "notes.txt", b"hello, not an image", "").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(body.contains("PNG or JPEG"), "{body}");
    let (status, body, _) = common::upload(
        &app,
        &member,
        "bomb.png",
        &common::png_header(60_000, 60_000, 8, 2),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("60000×60000"), "{body}");
    let (status, body, _) =
        common::upload(&app, &member, "cut.png", &png[..png.len() / 2], "").await;
    assert_eq!(
        status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "a truncated file: {body}"
    );
    let (status, body, _) = common::upload(&app, &member, "empty.png", b"", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let huge = vec![0u8; 21 << 20];
    let (status, _, _) = common::upload(&app, &member, "huge.png", &huge, "").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // The page's form gets a redirect with the message instead.
    let (status, _, head) =
        common::upload(&app, &member, "notes.txt", b"nope", "?redirect=1").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = head.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("/inspect?upload_error="), "{location}");

    let (status, body, _) = common::upload(&app, &member, "good.png", &png, "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, _, _) = app
        .get(&format!("/files/uploads/{id}"), Some(&member))
        .await;
    assert_eq!(status, StatusCode::OK);

    // A CoI prompt on an upload needs somewhere to take the template from.
    let form =
        format!("form[model]=tiny-llava&form[prompt]=P1&form[upload]={id}&form[max_new_tokens]=5");
    let (status, body, _) = app.post("/api/inspect/start", &form, Some(&member)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job: i64 = body.trim().parse().unwrap();
    let v = wait_state(
        &app,
        &member,
        "/api/inspect/one",
        job,
        &["succeeded", "failed"],
    )
    .await;
    assert_eq!(v["job"]["state"], "failed");
    assert!(
        v["job"]["error"].as_str().unwrap().contains("template"),
        "{v}"
    );

    let form = format!("form[model]=tiny-llava&form[prompt]=P1&form[upload]={id}&form[dataset]=tiny&form[category]=pushpins&form[max_new_tokens]=5");
    let (status, body, _) = app.post("/api/inspect/start", &form, Some(&member)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job: i64 = body.trim().parse().unwrap();
    let v = wait_state(
        &app,
        &member,
        "/api/inspect/one",
        job,
        &["succeeded", "failed"],
    )
    .await;
    assert_eq!(v["job"]["state"], "succeeded", "{v}");
    assert!(v["template_url"]
        .as_str()
        .unwrap()
        .starts_with("/files/images/"));
    assert!(["normal", "anomalous", "undecided"].contains(&v["verdict"].as_str().unwrap()));
    // The streamed pieces add up to the reply.
    let events = app.store.job_events(job, 0).await.unwrap();
    let streamed: String = events
        .iter()
        .filter_map(|(_, e)| {
            serde_json::from_str::<serde_json::Value>(e).ok()?["text"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(streamed, v["text"].as_str().unwrap());
    let (status, html, _) = app.get(&format!("/inspect/{job}"), Some(&member)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"template-image\"") && html.contains("id=\"verdict\""));
    let (status, html, _) = app.get("/inspect", Some(&member)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("/inspect/{job}")),
        "history lists it"
    );
    // Bad picks are named.
    let (status, body, _) = app
        .post(
            "/api/inspect/start",
            "form[model]=tiny-llava&form[prompt]=plain",
            Some(&member),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("image"), "{body}");
}

/// A remote model's run launched from the web sits beside a local model's in one comparison,
/// with its per-prediction server details and its tokens and cost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_run_and_a_local_run_compare_side_by_side() {
    let server = remote::testing::serve(vec![remote::testing::stream(&[
        "A pin is missing.\n",
        "Verdict: anomalous",
    ])])
    .await;
    let app = TestApp::new().await;
    let split = setup(&app).await;
    let (ada, member) = (app.login("ada").await, app.login("mel").await);
    let form = format!(
        "form[name]=remote-x&form[base_url]={}&form[remote_model]=tiny&form[max_concurrency]=2&form[price_in]=1&form[price_out]=2",
        common::enc(&server.url)
    );
    post_json(&app, "/api/admin/models/remote", &form, &ada).await;
    let mut ids = Vec::new();
    for model in ["tiny-llava", "remote-x"] {
        let form = launch_form(&split, "").replace("tiny-llava", model);
        let (status, body, _) = app.post("/api/eval/launch", &form, Some(&member)).await;
        assert_eq!(status, StatusCode::OK, "{model}: {body}");
        let id: i64 = body.trim().parse().unwrap();
        let detail = wait_state(&app, &member, "/api/eval/run", id, &["succeeded", "failed"]).await;
        assert_eq!(
            detail["run"]["job"]["state"], "succeeded",
            "{model}: {detail}"
        );
        ids.push(id);
    }
    let remote_run = post_json(&app, "/api/eval/run", &format!("id={}", ids[1]), &member).await;
    let preds = remote_run["predictions"].as_array().unwrap();
    assert!(!preds.is_empty());
    assert!(preds
        .iter()
        .all(|p| p["served"]["fingerprint"] == "fp_1" && p["verdict"] == "anomalous"));
    let n = preds.len() as f64;
    let cost = remote_run["run"]["cost_usd"].as_f64().unwrap();
    assert!(
        (cost - (12.0 * n * 1.0 + 3.0 * n * 2.0) / 1e6).abs() < 1e-12,
        "{cost}"
    );

    let both = post_json(
        &app,
        "/api/eval/compare",
        &format!("ids={},{}", ids[0], ids[1]),
        &member,
    )
    .await;
    let models: Vec<&str> = both
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0]["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["tiny-llava", "remote-x"]);
    for run in both.as_array().unwrap() {
        assert_eq!(
            run[1].as_array().unwrap().len(),
            2,
            "plain and P1 rows: {run}"
        );
    }
    // Repeats are read once; past the cap is a clear 400 (each id used to cost a full report).
    let again = post_json(
        &app,
        "/api/eval/compare",
        &format!("ids={0},{1},{0},{1},{0}", ids[0], ids[1]),
        &member,
    )
    .await;
    assert_eq!(again, both);
    let many: Vec<String> = (1..=9).map(|i| i.to_string()).collect();
    let (status, body, _) = app
        .post(
            "/api/eval/compare",
            &format!("ids={}", many.join(",")),
            Some(&member),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("at most 8"), "{body}");
    // The compare page draws exactly this server function's answer in the browser.
    let (status, _, _) = app
        .get(
            &format!("/compare?ids={},{}", ids[0], ids[1]),
            Some(&member),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

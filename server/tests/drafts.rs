//! QA drafting end to end on a tiny LLaVA: a member launches a drafting job for the images
//! without annotations (bad input named, reviewers refused), the batch lane stores one draft per
//! image with its label and mask region in the prompt, two people deciding the same draft get
//! the second refused with the first's decision, and decisions become annotations that the
//! image page and the dataset's counts show; shared with a reviewer, the job's drafts are
//! theirs to decide too, until the share is taken back.

mod common;

use std::time::Duration;

use anomaly::synth::Counts;
use axum::http::StatusCode;
use common::TestApp;

async fn post_json(app: &TestApp, path: &str, form: &str, cookie: &str) -> serde_json::Value {
    let (status, body, _) = app.post(path, form, Some(cookie)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_are_written_for_unannotated_images_and_decided_once() {
    let app = TestApp::new().await;
    let counts = Counts {
        train: 1,
        validation: 0,
        good: 1,
        logical: 1,
        structural: 1,
    };
    common::tiny_dataset_and_llava(&app, 3, counts, &["pushpins"], 0.0).await;
    // The test anomalies lose their annotations: they are what a drafting job takes.
    store::sql::query(
        "DELETE FROM qa WHERE image_id IN (SELECT id FROM images WHERE split = 'test' AND label != 'good')",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    let mel = app.login("mel").await;
    let ada = app.login("ada").await;
    let rex = app.login("rex").await;

    let launch = "form[model]=tiny-llava&form[dataset]=tiny&form[max_new_tokens]=4";
    for (form, field) in [
        (launch.replace("tiny-llava", "no-such-model"), "model"),
        (format!("{launch}&form[label]=broken"), "label"),
        (
            format!("{launch}&form[category]=screw_bag"),
            "no image to draft",
        ),
        (format!("{launch}&form[limit]=x"), "limit"),
    ] {
        let (status, body, _) = app.post("/api/drafts/launch", &form, Some(&mel)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form}: {body}");
        assert!(body.contains(field), "{field}: {body}");
    }
    let (status, _, _) = app.post("/api/drafts/launch", launch, Some(&rex)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body, _) = app.post("/api/drafts/launch", launch, Some(&mel)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job: i64 = body.trim().parse().unwrap();

    let mut queue = serde_json::Value::Null;
    for _ in 0..1200 {
        queue = post_json(&app, "/api/drafts/queue", &format!("id={job}"), &mel).await;
        if matches!(
            queue["job"]["job"]["state"].as_str(),
            Some("succeeded" | "failed")
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(queue["job"]["job"]["state"], "succeeded", "{queue}");
    let drafts = queue["drafts"].as_array().unwrap().clone();
    assert_eq!(drafts.len(), 2, "the two test anomalies: {queue}");
    assert_eq!(queue["job"]["progress"]["pending"], 2);
    for d in &drafts {
        let prompt = d["prompt"].as_str().unwrap();
        assert!(
            prompt.starts_with("This image shows a pushpins."),
            "{prompt}"
        );
        assert!(prompt.contains("anomaly"), "{prompt}");
        assert_eq!(d["status"], "pending");
        if d["has_mask"] == true {
            assert!(
                prompt.contains("It lies in the"),
                "a mask gives the place: {prompt}"
            );
        }
    }
    let listed = post_json(&app, "/api/drafts/jobs", "name=tiny", &mel).await;
    assert_eq!(listed[0]["job"]["id"], job, "{listed}");
    let (status, _, _) = app
        .post("/api/drafts/queue", &format!("id={job}"), Some(&rex))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Mel accepts the first; ada, deciding from the same version, is refused with mel's.
    let (a, b) = (
        drafts[0]["id"].as_i64().unwrap(),
        drafts[1]["id"].as_i64().unwrap(),
    );
    let accepted = post_json(
        &app,
        "/api/drafts/decide",
        &format!("draft={a}&version=1&form[action]=accept"),
        &mel,
    )
    .await;
    assert_eq!(
        (accepted["status"].as_str(), accepted["version"].as_i64()),
        (Some("accepted"), Some(2))
    );
    let (status, body, _) = app
        .post(
            "/api/drafts/decide",
            &format!("draft={a}&version=1&form[action]=edit&form[text]=A+pin+is+missing."),
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("mel decided this draft first"), "{body}");
    // Bad decisions are named and change nothing.
    for (form, says) in [
        (format!("draft={b}&version=1&form[action]=maybe"), "action"),
        (
            format!("draft={b}&version=1&form[action]=reject&form[text]="),
            "reason",
        ),
    ] {
        let (status, body, _) = app.post("/api/drafts/decide", &form, Some(&ada)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form}: {body}");
        assert!(body.contains(says), "{says}: {body}");
    }
    let edited = post_json(
        &app,
        "/api/drafts/decide",
        &format!("draft={b}&version=1&form[action]=edit&form[text]=The+top+left+pin+is+bent."),
        &ada,
    )
    .await;
    assert_eq!(edited["status"], "edited", "{edited}");
    let image = edited["image_id"].as_i64().unwrap();
    let (_, page, _) = app
        .post("/api/image", &format!("id={image}"), Some(&mel))
        .await;
    assert!(page.contains("The top left pin is bent."), "{page}");
    assert!(page.contains("generated_verified"), "{page}");

    let stats = post_json(&app, "/api/dataset", "name=tiny", &mel).await;
    assert_eq!(stats["qa"]["verified_by_person"], 2, "{stats}");
    assert_eq!(stats["qa"]["pending_drafts"], 0, "{stats}");
    assert_eq!(
        stats["qa"]["annotated_images"], stats["qa"]["images"],
        "{stats}"
    );

    // Shared with rex, a reviewer: he sees the job's drafts and their images, not the dataset's
    // others, and decides; taken back, he is refused again and his decision stays.
    let thumb = |id: i64| format!("/files/thumbs/{id}");
    let good: (i64,) =
        store::sql::query_as("SELECT id FROM images WHERE split = 'test' AND label = 'good'")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert!(post_json(&app, "/api/drafts/shared", "", &rex)
        .await
        .as_array()
        .unwrap()
        .is_empty());
    let share = format!("id={job}&username=rex");
    let (status, _, _) = app.post("/api/review/share", &share, Some(&rex)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a reviewer shares nothing on"
    );
    post_json(&app, "/api/review/share", &share, &mel).await;
    let shared = post_json(&app, "/api/drafts/shared", "", &rex).await;
    assert_eq!(shared[0]["job"]["id"], job, "{shared}");
    let seen = post_json(&app, "/api/drafts/queue", &format!("id={job}"), &rex).await;
    assert_eq!(seen["drafts"].as_array().unwrap().len(), 2);
    assert_eq!(seen["can_share"], false);
    let owner_view = post_json(&app, "/api/drafts/queue", &format!("id={job}"), &mel).await;
    assert_eq!(owner_view["shared_with"], serde_json::json!(["rex"]));
    let (status, _, _) = app.get(&thumb(image), Some(&rex)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = app.get(&thumb(good.0), Some(&rex)).await;
    assert_ne!(status, StatusCode::OK, "an image no shared job drafted");
    let by_rex = post_json(
        &app,
        "/api/drafts/decide",
        &format!("draft={a}&version=2&form[action]=edit&form[text]=A+pin+is+missing+at+the+top."),
        &rex,
    )
    .await;
    assert_eq!(
        (by_rex["status"].as_str(), by_rex["decided_by"].as_str()),
        (Some("edited"), Some("rex"))
    );
    post_json(&app, "/api/review/unshare", &share, &mel).await;
    let (status, _, _) = app
        .post("/api/drafts/queue", &format!("id={job}"), Some(&rex))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = app
        .post(
            "/api/drafts/decide",
            &format!("draft={a}&version=3&form[action]=accept"),
            Some(&rex),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let kept = post_json(&app, "/api/drafts/queue", &format!("id={job}"), &mel).await;
    assert_eq!(kept["drafts"][0]["decided_by"], "rex", "{kept}");
}

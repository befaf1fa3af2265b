//! The review workflow over HTTP: a run shared with a reviewer opens that run (page, images,
//! downloads, queue) and nothing else; judgements go in through the server function with clear
//! refusals for bad input; exports have one row per judgement; an admin promotes a fix to a QA
//! annotation that the image then shows; an inspection shared with a reviewer is theirs to
//! judge, and nobody else's to read.

mod common;

use axum::http::StatusCode;
use store::evaluations::NewPrediction;

/// A run of mel's with one stored prediction per test image, and a second run nobody shared.
async fn runs(app: &common::TestApp, split: &str) -> (i64, i64, Vec<i64>) {
    let mel = app.login("mel").await;
    let launch = format!(
        "form[model]=tiny-llava&form[dataset]=tiny&form[split]={split}&form[prompts]=plain&form[max_new_tokens]=8"
    );
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, body, _) = app.post("/api/eval/launch", &launch, Some(&mel)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(body.trim().parse::<i64>().unwrap());
    }
    let images: Vec<(i64,)> = store::sql::query_as(
        "SELECT image_id FROM split_members WHERE side = 'test' ORDER BY image_id",
    )
    .fetch_all(app.store.pool())
    .await
    .unwrap();
    let images: Vec<i64> = images.into_iter().map(|(i,)| i).collect();
    for &run in &ids {
        for &image in &images {
            app.store
                .save_prediction(
                    run,
                    &NewPrediction {
                        image_id: image,
                        prompt: "plain",
                        template_id: None,
                        verdict: "normal",
                        explanation: "No defect is visible.",
                        raw: "No. No defect is visible.",
                        prompt_tokens: 9,
                        new_tokens: 6,
                        latency_ms: 3,
                        served: None,
                    },
                )
                .await
                .unwrap();
        }
    }
    (ids[0], ids[1], images)
}

fn judge(run: i64, image: i64, extra: &str) -> String {
    format!("id={run}&image={image}&prompt=plain&form[verdict]=wrong&form[explanation]=wrong&form[score]=2&form[tags]=missed_defect{extra}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_run_opens_to_its_reviewer_and_nothing_else_does() {
    let (app, split) = common::tiny_app().await;
    let (run, other, images) = runs(&app, &split).await;
    let mel = app.login("mel").await;
    let rex = app.login("rex").await;
    let ada = app.login("ada").await;
    let (train,): (i64,) =
        store::sql::query_as("SELECT image_id FROM split_members WHERE side = 'train' LIMIT 1")
            .fetch_one(app.store.pool())
            .await
            .unwrap();

    // Before sharing: nothing of the run.
    let (status, body, _) = app
        .post("/api/review/judge", &judge(run, images[0], ""), Some(&rex))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("not shared with you"), "{body}");

    let (status, body, _) = app
        .post(
            "/api/review/share",
            &format!("id={run}&username=rex"),
            Some(&mel),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // After: the run, its images and downloads; not the other run, a training image or a
    // dataset.
    for path in [
        format!("/evaluations/{run}"),
        format!("/review/{run}"),
        format!("/files/images/{}", images[0]),
        format!("/files/thumbs/{}", images[0]),
        format!("/api/evaluations/{run}.csv"),
        format!("/api/reviews/{run}.json"),
    ] {
        let (status, body, _) = app.get(&path, Some(&rex)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body:.200}");
    }
    // The page streams: its 404 is set only when the refusal comes before the head goes out
    // (a busy machine sends the head first), so the refusal it carries is what is checked.
    let (status, body, _) = app.get(&format!("/evaluations/{other}"), Some(&rex)).await;
    assert!(
        status == StatusCode::NOT_FOUND || body.contains(&format!("no evaluation run {other}")),
        "/evaluations/{other}: {status} {body:.200}"
    );
    for path in [
        format!("/files/images/{train}"),
        format!("/api/evaluations/{other}.csv"),
        format!("/api/reviews/{other}.csv"),
    ] {
        let (status, body, _) = app.get(&path, Some(&rex)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body:.200}");
    }
    let (status, _, _) = app.post("/api/dataset", "name=tiny", Some(&rex)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, body, _) = app.post("/api/eval/runs", "", Some(&rex)).await;
    let listed: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(listed.len(), 1, "{body}");
    assert_eq!(listed[0]["job"]["id"], run);
    let (_, body, _) = app.post("/api/review/runs", "", Some(&rex)).await;
    assert!(
        body.contains(&format!("\"id\":{run}")) && !body.contains(&format!("\"id\":{other}")),
        "{body}"
    );

    // Bad input: a clear 400, nothing stored.
    for (form, says) in [
        (
            judge(run, images[0], "").replace("score]=2", "score]=9"),
            "1 to 5",
        ),
        (judge(run, images[0], ",blurry"), "unknown tag"),
        (
            judge(
                run,
                images[0],
                &format!("&form[comment]={}", "x".repeat(100 * 1024)),
            ),
            "at most 2000",
        ),
        (
            judge(run, images[0], "").replace("verdict]=wrong", "verdict]=maybe"),
            "verdict",
        ),
    ] {
        let (status, body, _) = app.post("/api/review/judge", &form, Some(&rex)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains(says), "{says}: {body}");
    }
    let (n,): (i64,) = store::sql::query_as("SELECT COUNT(*) FROM judgements")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);

    // A judgement with a fix; the second for the same item is a conflict.
    let fix = "&form[fixed_explanation]=A+pin+is+missing+at+the+top+left.";
    let (status, body, _) = app
        .post("/api/review/judge", &judge(run, images[0], fix), Some(&rex))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let judgement = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, body, _) = app
        .post("/api/review/judge", &judge(run, images[0], ""), Some(&mel))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Rex may not promote; ada may.
    let (status, _, _) = app
        .post(
            "/api/review/promote",
            &format!("judgement={judgement}"),
            Some(&rex),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body, _) = app
        .post(
            "/api/review/promote",
            &format!("judgement={judgement}"),
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body, _) = app
        .post("/api/image", &format!("id={}", images[0]), Some(&ada))
        .await;
    assert!(body.contains("A pin is missing at the top left."), "{body}");

    // The export: one row per judgement.
    let (status, csv, _) = app
        .get(&format!("/api/reviews/{run}.csv"), Some(&mel))
        .await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[0].starts_with("judgement_id,job_id,image_id"),
        "{csv}"
    );
    assert!(
        lines[1].contains(",rex,wrong,wrong,2,missed_defect,"),
        "{csv}"
    );

    // The run page's figures count it.
    let (_, body, _) = app
        .post("/api/review/run", &format!("id={run}"), Some(&mel))
        .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["review"]["overall"]["judgements"], 1, "{body}");
    assert_eq!(v["review"]["overall"]["verdict_accuracy"], 0.0, "{body}");
    assert!(v["fixes"][0]["qa_id"].is_number(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_judged_run_asks_first_and_keeps_its_judgements() {
    let (app, split) = common::tiny_app().await;
    let (run, other, images) = runs(&app, &split).await;
    let mel = app.login("mel").await;
    let rex = app.login("rex").await;
    let ada = app.login("ada").await;
    let target = app.login("target").await;
    let delete = |id: i64, confirm: bool| format!("id={id}&with_reviews={confirm}");

    // A queued run is cancelled first.
    let (status, body, _) = app
        .post("/api/eval/delete", &delete(run, true), Some(&mel))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("cancel it"), "{body}");
    for id in [run, other] {
        app.store.finish_job(id, None).await.unwrap();
    }
    let (status, _, _) = app
        .post(
            "/api/review/share",
            &format!("id={run}&username=rex"),
            Some(&mel),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = app
        .post("/api/review/judge", &judge(run, images[0], ""), Some(&rex))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Only its owner or an admin deletes it; reviewers never do.
    for (who, cookie) in [("rex", &rex), ("target", &target)] {
        let (status, body, _) = app
            .post("/api/eval/delete", &delete(run, true), Some(cookie))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
    }
    // Unconfirmed: refused with the count, nothing deleted.
    let (status, body, _) = app
        .post("/api/eval/delete", &delete(run, false), Some(&mel))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("1 judgement(s)"), "{body}");
    assert_eq!(
        app.store.predictions(run).await.unwrap().len(),
        images.len()
    );

    let (status, body, _) = app
        .post("/api/eval/delete", &delete(run, true), Some(&mel))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(done["judgements"], 1, "{body}");
    let kept: Vec<String> = serde_json::from_value(done["kept"].clone()).unwrap();
    assert_eq!(kept.len(), 2, "{body}");
    let data = app._dir.path();
    let csv = std::fs::read_to_string(data.join(&kept[0])).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(",rex,wrong,wrong,2,missed_defect,"), "{csv}");
    let json: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(data.join(&kept[1])).unwrap()).unwrap();
    assert_eq!((json.len(), json[0]["reviewer"].as_str()), (1, Some("rex")));
    for path in [
        format!("/evaluations/{run}"),
        format!("/api/evaluations/{run}.csv"),
    ] {
        let (status, _, _) = app.get(&path, Some(&mel)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (n,): (i64,) = store::sql::query_as("SELECT COUNT(*) FROM judgements")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);

    // An admin deletes mel's unjudged run: nothing to keep.
    let (status, body, _) = app
        .post("/api/eval/delete", &delete(other, false), Some(&ada))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, r#"{"judgements":0,"kept":[]}"#);
}

/// An inspection of mel's, shared with rex: he sees it and judges it, blind to the others'
/// judgements until his is in; another member it is not shared with finds nothing there.
#[tokio::test]
async fn a_shared_inspection_is_judged_by_those_it_is_shared_with() {
    let (app, _) = common::tiny_app().await;
    let (mel, other, rex, ada) = (
        app.login("mel").await,
        app.login("target").await,
        app.login("rex").await,
        app.login("ada").await,
    );
    let mut png = Vec::new();
    image::RgbImage::from_fn(40, 40, |x, y| image::Rgb([x as u8 * 5, y as u8 * 5, 90]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let (status, body, _) = common::upload(&app, &mel, "part.png", &png, "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let upload = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, body, _) = app
        .post(
            "/api/inspect/start",
            &format!("form[model]=tiny-llava&form[prompt]=plain&form[upload]={upload}"),
            Some(&mel),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job: i64 = body.trim().parse().unwrap();
    // The judgement form with some fields given other values (each key once).
    let form = |overrides: &str| {
        let mut fields = vec![
            ("form[verdict]", "wrong".to_string()),
            ("form[explanation]", "partly".to_string()),
            ("form[score]", "2".to_string()),
            ("form[tags]", "vague,wrong_location".to_string()),
        ];
        for pair in overrides.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap();
            fields.retain(|(key, _)| *key != k);
            fields.push((k, v.to_string()));
        }
        let mut body = format!("id={job}");
        for (k, v) in fields {
            body.push_str(&format!("&{k}={v}"));
        }
        body
    };

    // Still queued (this server has no lanes): nothing to judge yet.
    let (status, body, _) = app.post("/api/inspect/judge", &form(""), Some(&mel)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    app.store
        .claim_next(&[store::JobKind::Inspect])
        .await
        .unwrap()
        .unwrap();
    app.store.finish_job(job, None).await.unwrap();

    // Not shared: hidden from rex and the other member, whatever they ask.
    for who in [&rex, &other] {
        for (path, body) in [
            ("/api/inspect/judge", form("")),
            ("/api/inspect/reviews", format!("id={job}")),
        ] {
            let (status, text, _) = app.post(path, &body, Some(who)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {text}");
        }
    }
    let (status, body, _) = app
        .post(
            "/api/inspect/share",
            &format!("id={job}&username=rex&share=true"),
            Some(&mel),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed: serde_json::Value =
        serde_json::from_str(&app.post("/api/inspect/shared", "", Some(&rex)).await.1).unwrap();
    assert_eq!(listed[0]["job_id"], job, "{listed}");
    assert_eq!(listed[0]["judged"], false, "{listed}");

    // Bad input is named and stores nothing.
    for (extra, says) in [
        ("&form[score]=9", "score"),
        ("&form[tags]=rude", "tags"),
        ("&form[verdict]=label_wrong", "no label"),
        (
            &format!("&form[comment]={}", "x".repeat(100 * 1024)),
            "comment",
        ),
    ] {
        let (status, text, _) = app
            .post("/api/inspect/judge", &form(extra), Some(&rex))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{says}: {text}");
        assert!(text.contains(says), "{says}: {text}");
    }
    // The owner judged first; rex does not see it until his own is in.
    let (status, body, _) = app
        .post("/api/inspect/judge", &form("&form[score]=4"), Some(&mel))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before: serde_json::Value = serde_json::from_str(
        &app.post("/api/inspect/reviews", &format!("id={job}"), Some(&rex))
            .await
            .1,
    )
    .unwrap();
    assert_eq!(before["judgements"], 1, "{before}");
    assert_eq!(before["others"], serde_json::json!([]), "{before}");
    let (status, body, _) = app.post("/api/inspect/judge", &form(""), Some(&rex)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mine: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        mine["judgement"]["tags"],
        serde_json::json!(["wrong_location", "vague"])
    );
    let after: serde_json::Value = serde_json::from_str(
        &app.post("/api/inspect/reviews", &format!("id={job}"), Some(&rex))
            .await
            .1,
    )
    .unwrap();
    assert_eq!(after["others"][0]["reviewer"], "mel", "{after}");
    // A second first judgement is refused; an edit from a stale version too.
    let (status, _, _) = app.post("/api/inspect/judge", &form(""), Some(&rex)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body, _) = app
        .post(
            "/api/inspect/judge",
            &form("&form[version]=1&form[score]=3"),
            Some(&rex),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = app
        .post(
            "/api/inspect/judge",
            &form("&form[version]=1&form[score]=5"),
            Some(&rex),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let all: serde_json::Value = serde_json::from_str(
        &app.post("/api/inspect/reviews", &format!("id={job}"), Some(&ada))
            .await
            .1,
    )
    .unwrap();
    assert_eq!(all["others"].as_array().unwrap().len(), 2, "{all}");
    // Unshared: his judgement stays, his access goes.
    app.post(
        "/api/inspect/share",
        &format!("id={job}&username=rex&share=false"),
        Some(&mel),
    )
    .await;
    let (status, _, _) = app
        .post("/api/inspect/reviews", &format!("id={job}"), Some(&rex))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let kept: serde_json::Value = serde_json::from_str(
        &app.post("/api/inspect/reviews", &format!("id={job}"), Some(&mel))
            .await
            .1,
    )
    .unwrap();
    assert_eq!(kept["judgements"], 2, "{kept}");
}

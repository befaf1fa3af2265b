//! An evaluation run by a remote model on a loopback OpenAI-compatible server: every request
//! carries the Burn path's wording and images, predictions are stored with who answered, the
//! limit on requests in flight holds, a resumed run sends only what is missing, and a failed
//! request stores nothing.

use std::sync::atomic::Ordering;

use anomaly::evaluation::EvalConfig;
use jobs::evaluate::{self, EvalHooks};
use remote::testing::{serve, status, stream, Server};
use store::{KeySource, RemoteSpec, Store, StoreOptions};
use tokio::runtime::Handle;

struct NoHooks;
impl EvalHooks for NoHooks {}

async fn store_with_demo(dir: &std::path::Path) -> (Store, String) {
    let store = Store::open(&dir.join("db.sqlite"), StoreOptions::default())
        .await
        .unwrap();
    let src = dir.join("src");
    let cfg = anomaly::synth::SynthConfig {
        seed: 3,
        size: 64,
        counts: anomaly::synth::Counts {
            train: 3,
            validation: 1,
            good: 2,
            logical: 2,
            structural: 2,
        },
        categories: vec!["pushpins".into()],
    };
    anomaly::synth::generate(&src, &cfg).unwrap();
    let req = store::import::ImportRequest {
        source: src,
        layout: store::import::Layout::Loco,
        qa_file: None,
        name: "demo".into(),
        categories: None,
    };
    store
        .import_dataset(dir, req, std::sync::Arc::new(store::import::go_on))
        .await
        .unwrap();
    let split = store.create_split("demo", 0, 0.1).await.unwrap();
    (store, split.key)
}

fn spec(server: &Server) -> RemoteSpec {
    RemoteSpec {
        base_url: server.url.clone(),
        remote_model: "tiny".into(),
        api_key: KeySource::None,
        max_concurrency: 2,
        max_image_side: None,
        detail: None,
        price_in: Some(2.5),
        price_out: Some(10.0),
        first_token_timeout_s: None,
    }
}

async fn evaluate(
    store: &Store,
    dir: &std::path::Path,
    split: &str,
    job: Option<i64>,
) -> (i64, anyhow::Result<evaluate::EvalSummary>) {
    let config = EvalConfig::new("remote-tiny", "demo", split, &["plain", "P1"]);
    let plan = evaluate::plan(store, dir, config).await.unwrap();
    let job = match job {
        Some(j) => j,
        None => store
            .create_running_job(
                store::JobKind::Eval,
                &store::JobConfig::encode(&plan.config),
                store::JobOwner::CommandLine,
            )
            .await
            .unwrap(),
    };
    let (store, runtime) = (store.clone(), Handle::current());
    let summary = tokio::task::spawn_blocking(move || {
        evaluate::run(&plan, &store, job, &runtime, &mut NoHooks)
    })
    .await
    .unwrap();
    (job, summary)
}

fn image_parts(body: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["messages"][0]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "image_url")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_model_evaluates_resumes_and_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (store, split) = store_with_demo(dir.path()).await;
    let server = serve(vec![stream(&[
        "Two pins are missing.\n",
        "Verdict: anomalous",
    ])])
    .await;
    jobs::remote_models::register(&store, dir.path(), "remote-tiny", &spec(&server), None)
        .await
        .unwrap();

    let (job, summary) = evaluate(&store, dir.path(), &split, None).await;
    let summary = summary.unwrap();
    let stored = store.predictions(job).await.unwrap();
    let tests = stored.len() / 2;
    assert!(tests > 0);
    assert_eq!(summary.predictions, 2 * tests);
    assert_eq!(server.hits.load(Ordering::SeqCst), 2 * tests);
    assert!(server.in_flight_max.load(Ordering::SeqCst) <= 2);
    // plain sends the test image; P1 (Chain-of-Image) the template, then the test image.
    let bodies = server.bodies.lock().unwrap().clone();
    let mut counts: Vec<usize> = bodies.iter().map(|b| image_parts(b)).collect();
    counts.sort_unstable();
    assert_eq!(counts, [vec![1; tests], vec![2; tests]].concat());
    assert!(bodies.iter().all(|b| b.contains("\"model\":\"tiny\"")));
    for p in &stored {
        assert_eq!(p.verdict, "anomalous");
        let served = p.served.as_ref().unwrap();
        assert_eq!(served.model.as_deref(), Some("tiny"));
        assert_eq!(served.fingerprint.as_deref(), Some("fp_1"));
        assert_eq!((p.prompt_tokens, p.new_tokens), (12, 3));
        assert_eq!(p.template_id.is_some(), p.prompt == "P1");
    }
    let n = summary.predictions as f64;
    let cost = summary.cost_usd.unwrap();
    assert!((cost - (12.0 * n * 2.5 + 3.0 * n * 10.0) / 1e6).abs() < 1e-12);

    // Resume after three predictions were lost: exactly three requests go out.
    store::sql::query("DELETE FROM predictions WHERE job_id = $1 AND (image_id, prompt) IN (SELECT image_id, prompt FROM predictions WHERE job_id = $1 ORDER BY image_id, prompt LIMIT 3)")
        .bind(job)
        .execute(store.pool())
        .await
        .unwrap();
    let before = server.hits.load(Ordering::SeqCst);
    let (_, again) = evaluate(&store, dir.path(), &split, Some(job)).await;
    let again = again.unwrap();
    assert_eq!((again.made, again.predictions), (3, 2 * tests));
    assert_eq!(server.hits.load(Ordering::SeqCst) - before, 3);

    // A server that refuses: the run fails naming the model and the reason; nothing stored.
    let refusing = serve(vec![status(401, "Incorrect API key provided.")]).await;
    jobs::remote_models::register(&store, dir.path(), "remote-tiny", &spec(&refusing), None)
        .await
        .unwrap();
    let (job, failed) = evaluate(&store, dir.path(), &split, None).await;
    let e = format!("{:#}", failed.unwrap_err());
    assert!(
        e.contains("remote-tiny") && e.contains("401") && e.contains("Incorrect API key"),
        "{e}"
    );
    assert!(store.predictions(job).await.unwrap().is_empty());
    // Not retried: no request went twice (a few others may have started before the run
    // stopped them).
    let mut sent = refusing.bodies.lock().unwrap().clone();
    // Requests the stopping run aborted before their body was sent arrive empty.
    sent.retain(|b| !b.is_empty());
    let n = sent.len();
    sent.sort();
    sent.dedup();
    assert!(
        n >= 1 && sent.len() == n,
        "{n} requests, {} distinct",
        sent.len()
    );
}

#[tokio::test]
async fn a_missing_key_variable_is_a_planning_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, split) = store_with_demo(dir.path()).await;
    let server = serve(vec![stream(&["ok"])]).await;
    let mut s = spec(&server);
    s.api_key = KeySource::Env {
        var: "VLM_INSPECT_TEST_KEY_THAT_IS_NOT_SET".into(),
    };
    jobs::remote_models::register(&store, dir.path(), "remote-tiny", &s, None)
        .await
        .unwrap();
    let config = EvalConfig::new("remote-tiny", "demo", &split, &["plain"]);
    let e = evaluate::plan(&store, dir.path(), config)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("VLM_INSPECT_TEST_KEY_THAT_IS_NOT_SET"), "{e}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

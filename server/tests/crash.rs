//! Crash safety, with real processes: a server killed in the middle of a job leaves it
//! `running`; the next start queues it again and it resumes from its checkpoint, as often as
//! it is killed while it makes progress (a job interrupted three times in a row without a
//! checkpoint fails for good instead: `store::jobs` tests that). Only one server may own a
//! data folder, while other commands keep working beside it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::bin::{ok, run, serve, text, tiny_split};
use store::{JobEvent, JobKind, JobOwner, JobState, Store, StoreOptions};

async fn open(data: &str) -> Store {
    Store::open(
        &Path::new(data).join("vlm-inspect.db"),
        StoreOptions::default(),
    )
    .await
    .unwrap()
}

/// Waits until job `id` runs its `attempt`-th time and has written a checkpoint in it.
async fn wait_mid_job(store: &Store, id: i64, attempt: u32) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let job = store.job(id).await.unwrap();
        assert!(job.state.is_live(), "job {id} ended: {job:?}");
        let events = store.job_events(id, 0).await.unwrap();
        let started = events
            .iter()
            .filter_map(|(_, e)| JobEvent::from_json(e))
            .skip_while(|e| !matches!(e, JobEvent::Started { attempt: a, .. } if *a == attempt))
            .any(|e| matches!(e, JobEvent::Checkpoint { .. }));
        if job.state == JobState::Running && job.attempts == attempt && started {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} never got into its attempt {attempt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_with_its_server_resumes_from_its_checkpoint_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = common::tiny_llava_folder(dir.path());
    let (split, data) = tiny_split(dir.path());
    ok(&[
        "model",
        "add",
        "tiny-llava",
        model.to_str().unwrap(),
        "--data-dir",
        &data,
    ]);
    let store = open(&data).await;
    let cfg = anomaly::finetune::FinetuneConfig::from_toml(&format!(
        "base_model = \"tiny-llava\"\ndataset = \"tiny\"\nsplit = {split:?}\n[training]\nepochs = 100000\nbatch_size = 1\nsave_every_steps = 1\n"
    ))
    .unwrap();
    let id = store
        .create_job(
            JobKind::Train,
            &store::JobConfig::encode(&cfg),
            JobOwner::System,
        )
        .await
        .unwrap();

    // More kills than the crash-loop limit: each attempt stored a checkpoint first.
    let kills = store::jobs::MAX_INTERRUPTED_ATTEMPTS + 1;
    for attempt in 1..=kills {
        let (mut server, _) = serve(&data);
        wait_mid_job(&store, id, attempt).await;
        if attempt == 1 {
            // One server per data folder: a second one is refused and names the first.
            let second = run(
                &["serve", "--addr", "127.0.0.1:0", "--data-dir", &data],
                None,
            );
            assert_eq!(second.status.code(), Some(1));
            let err = text(&second.stderr);
            assert!(
                err.contains("is in use by another vlm-inspect server")
                    && err.contains(&format!("pid {}", server.id())),
                "{err}"
            );
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
            // Commands that read or add data work beside the running server.
            assert!(ok(&["user", "list", "--data-dir", &data]).contains("admin"));
        }
        // SIGKILL: no shutdown, no cleanup; the job row still says running.
        server.kill().unwrap();
        server.wait().unwrap();
        assert_eq!(store.job(id).await.unwrap().state, JobState::Running);
    }
    // The next start resumes it once more.
    let (mut server, _) = serve(&data);
    wait_mid_job(&store, id, kills + 1).await;
    server.kill().unwrap();
    server.wait().unwrap();
    let job = store.job(id).await.unwrap();
    assert_eq!(job.attempts, kills + 1, "{job:?}");
    // Each restart resumed from the last checkpoint rather than starting over.
    let resumed = store
        .job_events(id, 0)
        .await
        .unwrap()
        .iter()
        .filter(|(_, e)| matches!(JobEvent::from_json(e), Some(JobEvent::Resumed { .. })))
        .count();
    assert_eq!(resumed, kills as usize);
}

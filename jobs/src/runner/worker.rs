//! A worker node (`vlm-inspect worker`): runs the jobs of chosen lanes on one device without
//! serving pages, beside a web server and other workers that share its database (PostgreSQL)
//! and data folder. Each claim carries a lease the node renews while the job runs; a node
//! that loses it stops the job and records nothing more of it. The node announces itself by
//! heartbeat and sends jobs whose workers vanished back to the queue.

use std::path::PathBuf;
use std::time::Duration;

use store::workers::{now_ms, Lease, WorkerInfo};
use store::{Lane, Store};

use super::{spawn_lanes, Interactive, Node};
use crate::hub::JobHub;

/// How a node runs.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    /// Unique among the workers of one database.
    pub name: String,
    pub lanes: Vec<Lane>,
    pub device: vlm::DeviceSpec,
    /// How long a claim stays the node's without a renewal; it renews at a third of that.
    pub lease: Duration,
}

/// Runs the node until `stop` resolves, then takes it off the workers list. Jobs it was
/// running when stopped keep their lease until it runs out, then go back to the queue.
pub async fn run(
    store: Store,
    data_dir: PathBuf,
    settings: NodeSettings,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), store::StoreError> {
    let info = WorkerInfo {
        name: settings.name.clone(),
        device: settings.device.to_string(),
        lanes: settings
            .lanes
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(","),
        host: format!("{}/{}", host_name(), std::process::id()),
        started_at_ms: now_ms(),
        last_seen_ms: 0,
        job: None,
    };
    store.worker_seen(&info).await?;
    let node = Node {
        lease: Lease::new(&settings.name, settings.lease),
        device: settings.device,
    };
    let lanes = spawn_lanes(
        &settings.lanes,
        &store,
        &data_dir,
        &JobHub::default(),
        &Interactive::default(),
        Some(&node),
    );
    let heartbeat = async {
        loop {
            if let Err(e) = store.worker_seen(&info).await {
                tracing::warn!("worker {}: heartbeat not recorded: {e}", info.name);
            }
            requeue_expired(&store).await;
            tokio::time::sleep(renewal_period(settings.lease)).await;
        }
    };
    tokio::select! {
        _ = heartbeat => {}
        _ = stop => {}
    }
    for lane in lanes {
        lane.abort();
    }
    store.forget_worker(&info.name).await
}

/// Sends jobs whose leases ran out back to the queue, saying so in the log.
pub(crate) async fn requeue_expired(store: &Store) {
    match store.requeue_expired_leases().await {
        Ok((requeued, failed)) if !requeued.is_empty() || !failed.is_empty() => {
            tracing::info!(
                "jobs whose workers stopped answering: re-queued {requeued:?}, failed {failed:?}"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot re-queue expired leases: {e}"),
    }
}

/// Renews the lease of running job `id` until the job's task ends (the caller aborts this) or
/// the lease is lost; the job's cancel flag then sees that it is no longer held.
pub(crate) async fn renew_while_running(store: Store, id: i64, lease: Lease) {
    loop {
        tokio::time::sleep(renewal_period(lease.duration)).await;
        match store.renew_lease(id, &lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    "job {id}: {} lost its lease; stopping the job",
                    lease.worker
                );
                return;
            }
            // The next try may reach the database; the lease is still good until it ends.
            Err(e) => tracing::warn!("job {id}: cannot renew its lease: {e}"),
        }
    }
}

/// A third of the lease: two renewals may fail before it runs out.
fn renewal_period(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(20))
}

/// This machine's name, for worker names and the workers list.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{run_with, Env, ModelCache, Outcome};
    use store::{JobKind, JobOwner, JobState, StoreOptions};

    /// A node runs a queued import on its lane and records it as the job's worker; stopping
    /// takes it off the list.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_runs_the_jobs_of_its_lanes() {
        let dir = tempfile::tempdir().unwrap();
        let s = store::test_db::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        let config = crate::runner::tests::tiny_import(dir.path(), "on-a-node");
        let id = s
            .create_job(JobKind::Import, &config, JobOwner::System)
            .await
            .unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let settings = NodeSettings {
            name: "node-1".into(),
            lanes: vec![Lane::Data],
            device: vlm::DeviceSpec::Cpu,
            lease: Duration::from_secs(3),
        };
        let node = tokio::spawn(run(
            s.clone(),
            dir.path().to_path_buf(),
            settings,
            async move {
                let _ = stop_rx.await;
            },
        ));
        let mut state = JobState::Queued;
        for _ in 0..200 {
            state = s.job(id).await.unwrap().state;
            if state.is_ended() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(state, JobState::Succeeded);
        assert_eq!(s.datasets().await.unwrap().len(), 1);
        let (worker,): (Option<String>,) =
            store::sql::query_as("SELECT worker FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_one(s.pool())
                .await
                .unwrap();
        assert_eq!(worker.as_deref(), Some("node-1"));
        let listed = s.workers().await.unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|w| (w.name.as_str(), w.lanes.as_str(), w.device.as_str()))
                .collect::<Vec<_>>(),
            [("node-1", "data", "cpu")]
        );
        stop_tx.send(()).unwrap();
        node.await.unwrap().unwrap();
        assert!(s.workers().await.unwrap().is_empty());
    }

    /// A node whose job is taken from it (its lease ran out and another worker claimed the
    /// job) stops the job at its next cancel check and does not record an end over the new
    /// holder's run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_that_loses_its_job_stops_it_and_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = store::test_db::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        let id = s
            .create_job(JobKind::Eval, "{}", JobOwner::System)
            .await
            .unwrap();
        let lease = Lease::new("node-a", Duration::from_millis(300));
        let claimed = s
            .claim_next_as(&[JobKind::Eval], Some(&lease))
            .await
            .unwrap()
            .unwrap();
        let env = Env {
            store: s.clone(),
            hub: JobHub::default(),
            data_dir: dir.path().to_path_buf(),
            cache: ModelCache::default(),
            interactive: Interactive::default(),
            node: Some(Node {
                lease,
                device: vlm::DeviceSpec::Cpu,
            }),
        };
        // A runner that works until its cancel flag says stop.
        let runner = tokio::spawn(async move {
            run_with(&env, claimed, |ctx, _, _| {
                Box::pin(async move {
                    let flag = ctx.cancel_flag();
                    tokio::task::spawn_blocking(move || {
                        while !flag.requested() {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    })
                    .await?;
                    Ok(Outcome::Cancelled)
                })
            })
            .await
        });
        // Renewals keep it: after several lease lengths it still runs.
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(!runner.is_finished());
        assert!(s.holds_job(id, "node-a").await.unwrap());
        // Another worker takes it over (as after an expired lease and a new claim).
        store::sql::query("UPDATE jobs SET worker = 'node-b' WHERE id = $1")
            .bind(id)
            .execute(s.pool())
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), runner)
            .await
            .expect("the runner stops once its job is gone")
            .unwrap();
        let job = s.job(id).await.unwrap();
        assert_eq!(job.state, JobState::Running, "node-b's run is left alone");
        assert!(s.holds_job(id, "node-b").await.unwrap());
    }
}

//! `vlm-inspect worker`: a worker node. It runs the jobs of the chosen lanes on one device
//! without serving pages, against the database a web server shares with it (`--database
//! postgres://…`) and the same data folder (a shared folder every node mounts). Each claim
//! carries a lease the node renews while the job runs (docs/design.md, "Worker leases").

use std::time::Duration;

use anyhow::Context;
use store::{JobKind, Lane};

use crate::data_dir::{prepare_data_dir, DataDir};

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// The jobs it takes, comma-separated: kinds (train, eval, inspect, import, draft_qa) or
    /// lanes (training, batch, interactive, data).
    #[arg(long, value_delimiter = ',', default_value = "train,eval,inspect")]
    pub lanes: Vec<String>,
    /// The device every job of this node runs on: cpu, wgpu[:N] or cuda[:N].
    #[arg(long, env = "VLM_INSPECT_DEVICE", default_value = "cpu")]
    pub device: String,
    /// This node's name, unique among the workers of the database (default: host-pid).
    #[arg(long)]
    pub name: Option<String>,
    /// Seconds a claim stays this node's without a renewal (it renews at a third of that).
    #[arg(long, default_value_t = 30)]
    pub lease_secs: u64,
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let lanes = parse_lanes(&args.lanes)?;
    anyhow::ensure!(args.lease_secs >= 1, "--lease-secs must be at least 1");
    let device: vlm::DeviceSpec = args.device.parse()?;
    // A device that does not work is reported before the node takes any job.
    let report = tokio::task::spawn_blocking(move || vlm::device::probe(device)).await??;
    prepare_data_dir(&args.data.data_dir)?;
    let store = args.data.open().await?;
    let name = match args.name {
        Some(n) if !n.trim().is_empty() => n.trim().to_string(),
        Some(_) => anyhow::bail!("--name is empty"),
        None => format!(
            "{}-{}",
            jobs::runner::worker::host_name(),
            std::process::id()
        ),
    };
    tracing::info!(
        "worker {name}: lanes {}, device {}, database {}",
        lanes
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(","),
        report.description,
        store.path().display()
    );
    let settings = jobs::runner::worker::NodeSettings {
        name,
        lanes,
        device,
        lease: Duration::from_secs(args.lease_secs),
    };
    jobs::runner::worker::run(
        store.clone(),
        args.data.data_dir.clone(),
        settings,
        crate::web::shutdown_signal(),
    )
    .await
    .context("the worker stopped")?;
    store.close().await;
    Ok(())
}

/// `train,eval,inspect` (kinds) or lane names, as the lanes that run them, each once.
fn parse_lanes(items: &[String]) -> anyhow::Result<Vec<Lane>> {
    let mut lanes = Vec::new();
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        let lane = Lane::ALL
            .into_iter()
            .find(|l| l.as_str() == item)
            .or_else(|| item.parse::<JobKind>().ok().map(JobKind::lane))
            .with_context(|| {
                format!(
                    "unknown lane {item:?}: name job kinds ({}) or lanes ({})",
                    JobKind::ALL.map(|k| k.as_str()).join(", "),
                    Lane::ALL.map(|l| l.as_str()).join(", ")
                )
            })?;
        if !lanes.contains(&lane) {
            lanes.push(lane);
        }
    }
    anyhow::ensure!(!lanes.is_empty(), "--lanes names no lane");
    Ok(lanes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_by_kind_or_name_each_once() {
        let items = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            parse_lanes(&items("train,eval,inspect")).unwrap(),
            [Lane::Training, Lane::Batch, Lane::Interactive]
        );
        assert_eq!(
            parse_lanes(&items("data, import,batch,eval")).unwrap(),
            [Lane::Data, Lane::Batch]
        );
        let err = parse_lanes(&items("train,gpu")).unwrap_err().to_string();
        assert!(
            err.contains("unknown lane \"gpu\"") && err.contains("training"),
            "{err}"
        );
        assert!(parse_lanes(&items(" , ")).is_err());
    }
}

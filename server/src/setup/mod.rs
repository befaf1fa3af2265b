//! What a server start sets up before it serves: the first admin, the demo dataset, the
//! embedded language model and the default vision-language model (beside the running server),
//! and, when asked, the first evaluation.

pub mod bootstrap;

use std::path::PathBuf;

use store::Store;

use bootstrap::{ensure_admin, FirstAdmin, FIRST_ADMIN};

/// Creates the first admin (printing a generated password once).
pub async fn announce_first_admin(store: &Store) -> anyhow::Result<()> {
    match ensure_admin(store, std::env::var("VLM_INSPECT_ADMIN_PASSWORD").ok()).await? {
        FirstAdmin::Exists => {}
        FirstAdmin::FromEnv => {
            println!("created the first admin account {FIRST_ADMIN:?} with the password from VLM_INSPECT_ADMIN_PASSWORD");
        }
        FirstAdmin::Generated(pw) => {
            println!("created the first admin account: username {FIRST_ADMIN}, password {pw}");
            println!("(shown once; change it with `vlm-inspect user passwd {FIRST_ADMIN}`)");
        }
    }
    Ok(())
}

/// The demo set and the embedded models. Composing the default model's base takes seconds and
/// half a gigabyte, so it happens beside the running server, which lists it once registered;
/// with `first_evaluation`, its evaluation on the demo split is queued for `device` then.
pub async fn first_start(
    store: &Store,
    data_dir: PathBuf,
    first_evaluation: bool,
    device: vlm::DeviceSpec,
) -> anyhow::Result<()> {
    jobs::demo::ensure_demo_dataset(store, &data_dir).await?;
    jobs::models::ensure_embedded(store, &data_dir).await?;
    let store = store.clone();
    tokio::spawn(async move {
        match jobs::default_model::ensure_default_vlm(&store, &data_dir).await {
            Ok(Some(name)) if first_evaluation => {
                let device = device.to_string();
                let queued = jobs::default_model::queue_first_evaluation(&store, &name, &device);
                if let Err(e) = queued.await {
                    tracing::warn!("cannot queue the first evaluation: {e:#}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("the default vision-language model is not installed: {e:#}"),
        }
    });
    Ok(())
}

//! First start: create an admin when the database has no users.

use store::{Role, Store};

/// The name of the account created on first start.
pub const FIRST_ADMIN: &str = "admin";

/// What [`ensure_admin`] did, so the caller can tell the person starting the server.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstAdmin {
    /// Users exist already; nothing was done.
    Exists,
    /// Created with the password from `VLM_INSPECT_ADMIN_PASSWORD`.
    FromEnv,
    /// Created with this generated password, to be printed once.
    Generated(String),
}

/// Creates the `admin` account if there are no users. `env_password` is the value of
/// `VLM_INSPECT_ADMIN_PASSWORD`, if set.
pub async fn ensure_admin(
    store: &Store,
    env_password: Option<String>,
) -> anyhow::Result<FirstAdmin> {
    if store.user_count().await? > 0 {
        return Ok(FirstAdmin::Exists);
    }
    let (password, outcome) = match env_password.filter(|p| !p.is_empty()) {
        Some(p) => (p, FirstAdmin::FromEnv),
        None => {
            let p = store::password::generate();
            (p.clone(), FirstAdmin::Generated(p))
        }
    };
    store
        .create_user(FIRST_ADMIN, &password, Role::Admin)
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot create the first admin from VLM_INSPECT_ADMIN_PASSWORD: {e}")
        })?;
    Ok(outcome)
}

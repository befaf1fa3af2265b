//! The data folder: where the database, uploads, models and runs live, shared by every
//! subcommand, and the lock that lets only one server own it at a time.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use store::{Store, StoreOptions};

/// Where stored data lives; shared by every subcommand that touches it.
#[derive(Debug, Clone, Args)]
pub struct DataDir {
    /// Folder for the database, uploads and models.
    #[arg(long, env = "VLM_INSPECT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

impl DataDir {
    /// The SQLite file inside the data folder.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("vlm-inspect.db")
    }

    /// Opens the database, creating the folder and running migrations.
    pub async fn open(&self) -> anyhow::Result<Store> {
        self.open_with(StoreOptions::default()).await
    }

    /// [`Self::open`] with other store settings.
    pub async fn open_with(&self, options: StoreOptions) -> anyhow::Result<Store> {
        Ok(Store::open(&self.database(), options).await?)
    }
}

/// Makes the data folder and its sub-folders, with a clear error when it cannot.
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    for sub in ["", "uploads", "models"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create data folder {}", path.display()))?;
    }
    Ok(())
}

/// The file a running server holds locked (with its pid inside) for as long as it runs.
pub const LOCK_FILE: &str = "server.lock";

/// Proof that this process is the one server of a data folder. The operating system drops
/// the lock when the process ends, however it ends, so a crash never leaves a stale lock.
#[derive(Debug)]
pub struct ServerLock {
    _file: File,
}

impl ServerLock {
    /// Takes the lock of `dir`, or says which process holds it. Commands that only read or
    /// add data (CLI imports, evaluations, user management) do not take it and keep working
    /// beside a running server.
    pub fn acquire(dir: &Path) -> anyhow::Result<ServerLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                anyhow::bail!(
                    "data folder {} is in use by another vlm-inspect server (pid {}); stop it first or pass another --data-dir",
                    dir.display(),
                    if holder.is_empty() { "unknown" } else { holder }
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(ServerLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_first_holder_and_a_released_lock_can_be_taken() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServerLock::acquire(dir.path()).unwrap();
        let err = ServerLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(
            err.contains("in use by another vlm-inspect server"),
            "{err}"
        );
        drop(first);
        ServerLock::acquire(dir.path()).unwrap();
    }
}

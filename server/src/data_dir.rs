//! The data folder: where the database, uploads, models and runs live, shared by every
//! subcommand; the lock that lets only one server own it at a time, and the locks a
//! command-line run holds on its job so a starting server does not take it for interrupted.

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
    /// The database: a PostgreSQL URL (`postgres://user@host:port/name`), shared by a web
    /// server and its workers, or an SQLite file; default: the SQLite file in the data folder.
    #[arg(long, env = "VLM_INSPECT_DATABASE_URL")]
    pub database: Option<String>,
}

impl DataDir {
    /// The SQLite file inside the data folder.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join(store::DATABASE_FILE)
    }

    /// Refuses commands that work on the data folder's own SQLite file (backup, restore,
    /// check) when `--database` names another database.
    pub fn require_sqlite(&self, what: &str) -> anyhow::Result<()> {
        use store::db::DatabaseLocation;
        match self.database.as_deref().map(DatabaseLocation::parse) {
            None => Ok(()),
            Some(DatabaseLocation::SqliteFile(file)) if file == self.database() => Ok(()),
            Some(DatabaseLocation::Postgres(_)) => anyhow::bail!(
                "{what} works on the data folder's SQLite file; with PostgreSQL use its own tools (pg_dump, pg_restore) for the database and copy the data folder's files"
            ),
            Some(DatabaseLocation::SqliteFile(file)) => anyhow::bail!(
                "{what} works on the data folder's own database file ({}), not on {}: leave out --database, or pass the folder that holds it as --data-dir",
                self.database().display(),
                file.display()
            ),
        }
    }

    /// Opens the database, creating the folder and running migrations.
    pub async fn open(&self) -> anyhow::Result<Store> {
        self.open_with(StoreOptions::default()).await
    }

    /// [`Self::open`] with other store settings.
    pub async fn open_with(&self, options: StoreOptions) -> anyhow::Result<Store> {
        Ok(match &self.database {
            Some(location) => Store::open_location(location, options).await?,
            None => Store::open(&self.database(), options).await?,
        })
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

/// Held by a command-line process for as long as it runs job `id` (`locks/job-<id>.lock`);
/// the operating system drops it when the process ends, however it ends.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
}

impl JobLock {
    fn path(dir: &Path, id: i64) -> PathBuf {
        dir.join("locks").join(format!("job-{id}.lock"))
    }

    fn open(dir: &Path, id: i64) -> anyhow::Result<File> {
        let path = Self::path(dir, id);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))
    }

    /// Takes the lock of job `id`; an error when another process runs it.
    pub fn acquire(dir: &Path, id: i64) -> anyhow::Result<JobLock> {
        let file = Self::open(dir, id)?;
        match file.try_lock() {
            Ok(()) => Ok(JobLock { _file: file }),
            Err(TryLockError::WouldBlock) => {
                anyhow::bail!("job {id} is being run by another vlm-inspect process")
            }
            Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock job {id}")),
        }
    }

    /// True when a live process holds job `id`'s lock. A lock that cannot be checked counts
    /// as not held: the job is then treated as interrupted, as before these locks.
    pub fn is_held(dir: &Path, id: i64) -> bool {
        if !Self::path(dir, id).is_file() {
            return false;
        }
        match Self::open(dir, id).map(|f| f.try_lock()) {
            Ok(Err(TryLockError::WouldBlock)) => true,
            Ok(_) | Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_commands_refuse_another_database() {
        let data = |database: Option<&str>| DataDir {
            data_dir: PathBuf::from("/srv/vlm"),
            database: database.map(String::from),
        };
        assert!(data(None).require_sqlite("backup").is_ok());
        assert!(data(Some("/srv/vlm/vlm-inspect.db"))
            .require_sqlite("backup")
            .is_ok());
        assert!(data(Some("sqlite:///srv/vlm/vlm-inspect.db"))
            .require_sqlite("backup")
            .is_ok());
        let pg = data(Some("postgres://u:pw@db/vlm")).require_sqlite("backup");
        assert!(pg.unwrap_err().to_string().contains("pg_dump"));
        let other = data(Some("/elsewhere/other.db")).require_sqlite("check");
        let text = other.unwrap_err().to_string();
        assert!(
            text.contains("/elsewhere/other.db") && text.contains("--data-dir"),
            "{text}"
        );
    }

    #[test]
    fn a_job_lock_is_seen_while_held_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!JobLock::is_held(dir.path(), 7));
        let lock = JobLock::acquire(dir.path(), 7).unwrap();
        assert!(JobLock::is_held(dir.path(), 7));
        assert!(!JobLock::is_held(dir.path(), 8));
        let err = JobLock::acquire(dir.path(), 7).unwrap_err().to_string();
        assert!(err.contains("another vlm-inspect process"), "{err}");
        drop(lock);
        assert!(!JobLock::is_held(dir.path(), 7));
    }

    #[test]
    fn backups_leave_the_locks_out() {
        assert!(store::backup::is_excluded(LOCK_FILE));
        let job = JobLock::path(Path::new(""), 1);
        assert!(store::backup::is_excluded(job.to_str().unwrap()));
    }

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

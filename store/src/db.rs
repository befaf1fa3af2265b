//! Opening the database: the embedded SQLite file (WAL mode) or a PostgreSQL server, each with
//! its own migrations of the same schema, and clear errors for unusable files and servers.

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::records::DatasetInfo;
use crate::sql::{self, Db, Engine};

/// Everything that can go wrong in the store, worded for the person reading it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("cannot migrate database {path}: {reason}")]
    Migrate { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("the import was cancelled; nothing was stored")]
    Cancelled,
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    #[error("a user named {0:?} exists already")]
    UserExists(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Dataset(#[from] anomaly::dataset::DatasetError),
    #[error("{} bad QA line(s):\n{}", .0.len(), .0.join("\n"))]
    QaFile(Vec<String>),
    #[error("a dataset named {0:?} exists already")]
    DatasetExists(String),
    #[error(
        "dataset {name:?} holds the predictions of evaluation run(s) {}: delete those runs first, or delete them with it (`--with-evaluations`)",
        runs.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")
    )]
    DatasetInUse { name: String, runs: Vec<i64> },
    #[error("no dataset named {0:?}")]
    NoSuchDataset(String),
    #[error(
        "run {job} holds {judgements} judgement(s) by reviewers, which deleting it deletes too: confirm it (`--with-reviews`), and they are kept as an export in the data folder's exports/"
    )]
    RunHasReviews { job: i64, judgements: i64 },
    #[error("no {0}")]
    NotFound(String),
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    /// Someone else changed it first, or the queue moved on: nothing was stored.
    #[error("{0}")]
    Conflict(String),
    /// The caller may see the object but not do this to it.
    #[error("{0}")]
    Forbidden(String),
    #[error("you have {0} jobs waiting already: wait for some to start, or cancel some")]
    QueueFull(usize),
}

/// Tunables of a store; the defaults are what the server uses.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How long a session stays valid after sign-in.
    pub session_ttl: Duration,
    /// How failed sign-ins slow further attempts down.
    pub throttle: crate::throttle::ThrottlePolicy,
    /// Where password hashes run (off the async runtime, bounded).
    pub hash_gate: crate::password::HashGate,
    /// Jobs one user may have waiting in the queue at once.
    pub max_queued_per_user: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            throttle: Default::default(),
            hash_gate: Default::default(),
            max_queued_per_user: 20,
        }
    }
}

/// The application's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Db,
    /// The SQLite file, or the PostgreSQL URL without its password: for messages.
    path: PathBuf,
    pub(crate) options: StoreOptions,
    pub(crate) reports: std::sync::Arc<crate::report_cache::ReportCache>,
}

/// The schema's history, once per engine: the same versions and the same tables, each in its
/// own dialect (`migrations/sqlite`, `migrations/postgres`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The database's file name inside the data folder.
pub const DATABASE_FILE: &str = "vlm-inspect.db";

/// Opens an existing database read-only and without migrating it, for commands that look at a
/// data folder a server may be using (backup, check): they never write to it or wait for a
/// lock of the server's.
pub(crate) async fn open_read_only(path: &Path) -> Result<SqlitePool, StoreError> {
    let open_err = |reason: String| StoreError::Open {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(open_err("there is no database file there".into()));
    }
    let url = format!("sqlite://{}", path.display());
    let connect = SqliteConnectOptions::from_str(&url)
        .map_err(|e| open_err(e.to_string()))?
        .read_only(true)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(connect)
        .await
        .map_err(|e| open_err(describe_sqlx(&e)))
}

/// The newest migration this build knows.
pub(crate) fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The newest migration applied to the database behind `pool` (0 for none).
pub(crate) async fn applied_migration(pool: &SqlitePool) -> Result<i64, StoreError> {
    let (v,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?;
    Ok(v.unwrap_or(0))
}

impl Store {
    /// Opens (creating if needed) the database at `path` and runs pending migrations.
    pub async fn open(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| open_err(format!("cannot create folder {}: {e}", parent.display())))?;
        }
        let url = format!("sqlite://{}", path.display());
        let connect = SqliteConnectOptions::from_str(&url)
            .map_err(|e| open_err(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(connect)
            .await
            .map_err(|e| open_err(describe_sqlx(&e)))?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Migrate {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            pool: Db::Sqlite(pool),
            path: path.to_path_buf(),
            options,
            reports: Default::default(),
        })
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user@host:port/name`) and
    /// runs pending migrations. Several processes may do so at once: PostgreSQL's migrator
    /// holds an advisory lock while it migrates.
    pub async fn connect_postgres(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let shown = PathBuf::from(redact_password(url));
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| StoreError::Open {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        PG_MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            pool: Db::Postgres(pool),
            path: shown,
            options,
            reports: Default::default(),
        })
    }

    /// Opens the database a `--database` value names: a `postgres://` or `postgresql://` URL,
    /// or else an SQLite file (a path, or a `sqlite://` URL).
    pub async fn open_location(location: &str, options: StoreOptions) -> Result<Self, StoreError> {
        match DatabaseLocation::parse(location) {
            DatabaseLocation::Postgres(url) => Self::connect_postgres(&url, options).await,
            DatabaseLocation::SqliteFile(path) => Self::open(&path, options).await,
        }
    }

    /// The connection pool, for modules of this crate and for tests.
    pub fn pool(&self) -> &Db {
        &self.pool
    }

    /// Which engine holds the data.
    pub fn engine(&self) -> Engine {
        self.pool.engine()
    }

    /// Where the database lives: the SQLite file, or the PostgreSQL URL without its password.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the database answers a query (for `/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sql::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Imported datasets, by name.
    pub async fn datasets(&self) -> Result<Vec<DatasetInfo>, StoreError> {
        let rows: Vec<(i64, String, String, i64)> =
            sql::query_as("SELECT id, name, layout, image_count FROM datasets ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, layout, image_count)| DatasetInfo {
                id,
                name,
                layout,
                image_count,
            })
            .collect())
    }
}

/// Where the data lives, as `--database` (or `VLM_INSPECT_DATABASE_URL`) names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseLocation {
    SqliteFile(PathBuf),
    Postgres(String),
}

impl DatabaseLocation {
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return DatabaseLocation::Postgres(text.to_string());
        }
        let path = text.strip_prefix("sqlite://").unwrap_or(text);
        DatabaseLocation::SqliteFile(PathBuf::from(path))
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`, for messages and logs.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// sqlx's messages for the common cases, said plainly.
fn describe_sqlx(e: &sqlx::Error) -> String {
    let text = e.to_string();
    if text.contains("file is not a database") {
        "the file is not an SQLite database (corrupt, or another kind of file)".into()
    } else if text.contains("readonly") || text.contains("read-only") {
        "the file or its folder is read-only".into()
    } else if text.contains("unable to open database file") {
        "the file cannot be created or opened (check the path and permissions)".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/db.sqlite");
        let store = Store::open(&path, StoreOptions::default()).await.unwrap();
        store.ping().await.unwrap();
        assert!(store.recent_jobs(10).await.unwrap().is_empty());
        assert!(store.models().await.unwrap().is_empty());
        assert!(store.datasets().await.unwrap().is_empty());
        store.close().await;
        let again = Store::open(&path, StoreOptions::default()).await.unwrap();
        again.ping().await.unwrap();
    }

    /// Every statement is written with PostgreSQL's numbered placeholders (`$1`), which
    /// sqlx's SQLite driver binds by number too: one SQL text for both databases (issue 22).
    #[test]
    fn sql_uses_numbered_placeholders() {
        fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    files(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let mut all = Vec::new();
        files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut all);
        let keyword = ["SELECT ", "INSERT ", "UPDATE ", "DELETE ", " WHERE "];
        let mut bad = Vec::new();
        for path in &all {
            let text = std::fs::read_to_string(path).unwrap();
            // String literals: "…" with backslash escapes (the store writes no raw SQL strings).
            let mut chars = text.char_indices().peekable();
            while let Some((start, c)) = chars.next() {
                if c == '\'' {
                    chars.next(); // a char literal such as '"' or '\\'
                    continue;
                }
                if c != '"' {
                    continue;
                }
                let mut literal = String::new();
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        c => literal.push(c),
                    }
                }
                if keyword.iter().any(|k| literal.contains(k)) && literal.contains('?') {
                    let line = text[..start].lines().count();
                    bad.push(format!("{}:{line}", path.display()));
                }
            }
        }
        assert!(
            bad.is_empty(),
            "`?` placeholders (write $1, $2, …): {bad:?}"
        );
    }

    #[tokio::test]
    async fn binds_numbered_placeholders_by_number() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::test_db::open(&dir.path().join("db.sqlite"), StoreOptions::default())
            .await
            .unwrap();
        let (v,): (i64,) = sql::query_as("SELECT $2 * 10 + $1 + $2")
            .bind(3i64)
            .bind(4i64)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(v, 47);
    }

    #[test]
    fn database_locations_and_redacted_urls() {
        assert_eq!(
            DatabaseLocation::parse("postgres://u:pw@db:5432/vlm"),
            DatabaseLocation::Postgres("postgres://u:pw@db:5432/vlm".into())
        );
        assert_eq!(
            DatabaseLocation::parse("postgresql://db/vlm"),
            DatabaseLocation::Postgres("postgresql://db/vlm".into())
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite:///srv/data/vlm.db"),
            DatabaseLocation::SqliteFile("/srv/data/vlm.db".into())
        );
        assert_eq!(
            DatabaseLocation::parse("data/vlm.db"),
            DatabaseLocation::SqliteFile("data/vlm.db".into())
        );
        assert_eq!(
            redact_password("postgres://u:s3cret@db:5432/vlm?sslmode=require"),
            "postgres://u:***@db:5432/vlm?sslmode=require"
        );
        assert_eq!(
            redact_password("postgres://u@db/vlm"),
            "postgres://u@db/vlm"
        );
        assert_eq!(redact_password("postgres://db"), "postgres://db");
        // An '@' in the password: the host is after the last one.
        assert_eq!(
            redact_password("postgres://u:p@ss@db/vlm"),
            "postgres://u:***@db/vlm"
        );
    }

    #[tokio::test]
    async fn unreachable_postgres_is_a_clear_error_without_the_password() {
        // A closed port on loopback: refused at once.
        let err = Store::connect_postgres(
            "postgres://u:s3cret@127.0.0.1:9/none",
            StoreOptions::default(),
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cannot open database"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[tokio::test]
    async fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let err = Store::open(&path, StoreOptions::default())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not an SQLite database"), "{text}");
        assert!(text.contains("db.sqlite"), "{text}");
    }

    #[tokio::test]
    async fn folder_that_is_a_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("data");
        std::fs::write(&blocker, b"x").unwrap();
        let err = Store::open(&blocker.join("db.sqlite"), StoreOptions::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cannot create folder"), "{err}");
    }

    #[tokio::test]
    async fn recent_jobs_name_their_owner() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::test_db::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        let admin = store
            .create_user("ada", "correct horse", crate::Role::Admin)
            .await
            .unwrap();
        for (kind, t) in [("train", 10), ("eval", 20)] {
            sql::query(
                "INSERT INTO jobs (kind, config, owner_id, created_at) VALUES ($1, '{}', $2, $3)",
            )
            .bind(kind)
            .bind(admin.id)
            .bind(t)
            .execute(store.pool())
            .await
            .unwrap();
        }
        let jobs = store.recent_jobs(10).await.unwrap();
        assert_eq!(
            jobs.iter().map(|j| j.kind.as_str()).collect::<Vec<_>>(),
            ["eval", "train"]
        );
        assert!(jobs
            .iter()
            .all(|j| j.owner == "ada" && j.state == crate::JobState::Queued));
        assert_eq!(store.recent_jobs(1).await.unwrap().len(), 1);
    }
}

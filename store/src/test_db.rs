//! The database a test runs on: an SQLite file by default or, when
//! `VLM_INSPECT_TEST_DATABASE_URL` names a PostgreSQL server, a fresh database of its own on
//! that server, so one suite runs on both engines (`scripts/test.sh` runs it twice).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, Executor};

use crate::db::{Store, StoreError, StoreOptions};

/// The variable that sends tests to a PostgreSQL server, e.g.
/// `postgres://postgres@127.0.0.1:55432/postgres` (`scripts/postgres.sh` starts one).
pub const TEST_DATABASE_URL: &str = "VLM_INSPECT_TEST_DATABASE_URL";

/// The PostgreSQL server tests run on, if one is named.
pub fn postgres_server() -> Option<String> {
    std::env::var(TEST_DATABASE_URL)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Opens a store for a test: the SQLite file `sqlite_file`, or a new, empty PostgreSQL
/// database when [`TEST_DATABASE_URL`] is set.
pub async fn open(sqlite_file: &Path, options: StoreOptions) -> Result<Store, StoreError> {
    match postgres_server() {
        Some(server) => Store::connect_postgres(&fresh_database(&server).await?, options).await,
        None => Store::open(sqlite_file, options).await,
    }
}

/// Two stores with pools of their own on one new database, as two processes would hold.
pub async fn open_two(
    sqlite_file: &Path,
    options: StoreOptions,
) -> Result<(Store, Store), StoreError> {
    match postgres_server() {
        Some(server) => {
            let url = fresh_database(&server).await?;
            let a = Store::connect_postgres(&url, options.clone()).await?;
            Ok((a, Store::connect_postgres(&url, options).await?))
        }
        None => {
            let a = Store::open(sqlite_file, options.clone()).await?;
            Ok((a, Store::open(sqlite_file, options).await?))
        }
    }
}

/// Creates a database no other test uses and returns its URL.
pub async fn fresh_database(server: &str) -> Result<String, StoreError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "vlm_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let open_err = |e: sqlx::Error| StoreError::Open {
        path: crate::db::redact_password(server).into(),
        reason: e.to_string(),
    };
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .map_err(open_err)?;
    // The name is made here from digits and letters: no quoting question.
    conn.execute(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {name} TEMPLATE template0"
    )))
    .await
    .map_err(open_err)?;
    conn.close().await.map_err(open_err)?;
    Ok(with_database(server, &name))
}

/// `server`'s URL with its database name replaced by `name` (query parameters kept).
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name_only() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5/postgres", "t1"),
            "postgres://u:p@127.0.0.1:5/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t2"),
            "postgres://u@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "t3"), "postgres://h:5/t3");
    }
}

//! One SQL text for both databases. Every statement is written once, with numbered placeholders
//! (`$1`, `$2`, …, PostgreSQL's form, which SQLite binds by number too), binds typed values and
//! runs on whichever database the store holds: the embedded SQLite file or a PostgreSQL server
//! (docs/design.md, "One SQL text for SQLite and PostgreSQL").

use std::marker::PhantomData;

use sqlx::postgres::{PgPool, PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqlitePool, SqliteRow};
use sqlx::FromRow;

/// Which database engine a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A pool of connections to either engine.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on either engine; dropped without `commit`, it rolls back.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Where a statement runs: on the pool (its own implicit transaction) or in an open one.
pub enum On<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Db> for On<'a> {
    fn from(db: &'a Db) -> Self {
        On::Db(db)
    }
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        On::Tx(tx)
    }
}

/// The key of the advisory lock that makes PostgreSQL writers take turns where SQLite's
/// `BEGIN IMMEDIATE` would (any constant works; this one spells "vlminsp").
const WRITER_LOCK: i64 = 0x0076_6c6d_696e_7370;

impl Db {
    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite(_) => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// The SQLite pool, for what only an SQLite file has (PRAGMAs, `VACUUM INTO`).
    pub fn sqlite(&self) -> Option<&SqlitePool> {
        match self {
            Db::Sqlite(p) => Some(p),
            Db::Postgres(_) => None,
        }
    }

    /// A transaction that reads before it writes without locking anyone out until it writes.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A transaction that holds the database's one writer slot from its start, so that what
    /// it read cannot change before it writes: SQLite's `BEGIN IMMEDIATE`, and on PostgreSQL a
    /// transaction-scoped advisory lock every such transaction takes.
    pub async fn begin_immediate(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITER_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Tx::Postgres(tx)
            }
        })
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.rollback().await,
            Tx::Postgres(t) => t.rollback().await,
        }
    }
}

/// A value bound to a placeholder. `None` binds a typed NULL: PostgreSQL checks the type of
/// every parameter, SQLite does not mind.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    I64(Option<i64>),
    F64(Option<f64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

macro_rules! value_from {
    ($variant:ident: $($t:ty => |$v:ident| $e:expr),+ $(,)?) => {$(
        impl From<$t> for Value {
            fn from($v: $t) -> Self {
                Value::$variant(Some($e))
            }
        }
        impl From<Option<$t>> for Value {
            fn from(v: Option<$t>) -> Self {
                Value::$variant(v.map(|$v| $e))
            }
        }
    )+};
}

value_from!(I64: i64 => |v| v, i32 => |v| v.into(), u32 => |v| v.into());
value_from!(F64: f64 => |v| v, f32 => |v| v.into());
value_from!(Bool: bool => |v| v);
value_from!(Text: String => |v| v, &str => |v| v.to_owned(), &String => |v| v.clone());
value_from!(Bytes: Vec<u8> => |v| v, &[u8] => |v| v.to_vec(), &Vec<u8> => |v| v.clone());

/// A reference binds what it points at.
macro_rules! value_from_ref {
    ($($t:ty),+) => {$(
        impl From<&$t> for Value {
            fn from(v: &$t) -> Self {
                v.clone().into()
            }
        }
    )+};
}

value_from_ref!(i64, f64, bool, Option<i64>, Option<f64>, Option<String>);

/// What a statement that returns no rows did.
#[derive(Clone, Copy, Debug)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

/// A statement with its bound values; `O` is the row type it decodes into (a tuple or a
/// `#[derive(sqlx::FromRow)]` record, which sqlx decodes from either engine's rows).
#[must_use = "a statement does nothing until it is executed or fetched"]
pub struct Query<O = ()> {
    sql: &'static str,
    args: Vec<Value>,
    out: PhantomData<fn() -> O>,
}

/// A statement whose rows are not read.
pub fn query(sql: &'static str) -> Query<()> {
    query_as(sql)
}

/// A statement whose rows decode into `O`.
pub fn query_as<O>(sql: &'static str) -> Query<O> {
    Query {
        sql,
        args: Vec::new(),
        out: PhantomData,
    }
}

/// Binds every value to a sqlx query of one engine (a macro: the two engines' query types
/// share no trait that carries `bind`).
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Value::I64(v) => q.bind(v),
                Value::F64(v) => q.bind(v),
                Value::Bool(v) => q.bind(v),
                Value::Text(v) => q.bind(v),
                Value::Bytes(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Runs `$method` of the bound statement on whichever target `$on` is.
macro_rules! dispatch {
    ($self:ident, $on:expr, $make:ident, $method:ident) => {
        match $on {
            On::Db(Db::Sqlite(p)) => {
                bind_all!(sqlx::$make::<Sqlite, _>($self.sql), $self.args)
                    .$method(p)
                    .await
            }
            On::Db(Db::Postgres(p)) => {
                bind_all!(sqlx::$make::<Postgres, _>($self.sql), $self.args)
                    .$method(p)
                    .await
            }
            On::Tx(Tx::Sqlite(t)) => {
                bind_all!(sqlx::$make::<Sqlite, _>($self.sql), $self.args)
                    .$method(&mut **t)
                    .await
            }
            On::Tx(Tx::Postgres(t)) => {
                bind_all!(sqlx::$make::<Postgres, _>($self.sql), $self.args)
                    .$method(&mut **t)
                    .await
            }
        }
    };
}

impl<O> Query<O> {
    /// Binds the next placeholder's value.
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Runs the statement for its effect.
    pub async fn execute<'a>(self, on: impl Into<On<'a>>) -> Result<Done, sqlx::Error> {
        let on = on.into();
        let rows_affected = match on {
            On::Db(Db::Sqlite(p)) => bind_all!(sqlx::query::<Sqlite>(self.sql), self.args)
                .execute(p)
                .await?
                .rows_affected(),
            On::Db(Db::Postgres(p)) => bind_all!(sqlx::query::<Postgres>(self.sql), self.args)
                .execute(p)
                .await?
                .rows_affected(),
            On::Tx(Tx::Sqlite(t)) => bind_all!(sqlx::query::<Sqlite>(self.sql), self.args)
                .execute(&mut **t)
                .await?
                .rows_affected(),
            On::Tx(Tx::Postgres(t)) => bind_all!(sqlx::query::<Postgres>(self.sql), self.args)
                .execute(&mut **t)
                .await?
                .rows_affected(),
        };
        Ok(Done { rows_affected })
    }
}

impl<O> Query<O>
where
    O: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    pub async fn fetch_all<'a>(self, on: impl Into<On<'a>>) -> Result<Vec<O>, sqlx::Error> {
        dispatch!(self, on.into(), query_as, fetch_all)
    }

    pub async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> Result<O, sqlx::Error> {
        dispatch!(self, on.into(), query_as, fetch_one)
    }

    pub async fn fetch_optional<'a>(self, on: impl Into<On<'a>>) -> Result<Option<O>, sqlx::Error> {
        dispatch!(self, on.into(), query_as, fetch_optional)
    }
}

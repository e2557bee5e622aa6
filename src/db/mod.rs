//! Storage: one `Db` handle over SQLite (the embedded default) or PostgreSQL.
//!
//! Both backends run the same SQL (`$1` placeholders, `RETURNING`, `ON CONFLICT`), so
//! each query is written once and the [`with_db!`] macro expands it for each concrete
//! pool. Concrete pools (rather than `AnyPool`) keep full type support for
//! [`Timestamp`] and JSON.

pub mod paging;
pub mod session_store;
pub mod sqlite;
pub mod types;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, PgConnection, PgPool};

pub use types::{Money, Timestamp};

/// A connection pool to whichever database the configuration names.
#[derive(Clone, Debug)]
pub enum Db {
    /// Embedded SQLite file (WAL mode).
    Sqlite(sqlite::Pool),
    /// PostgreSQL server.
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool `db` holds.
///
/// `with_db!(db, |pool| sqlx::query("...").execute(pool).await.map(|r| r.rows_affected()))`
///
/// The closure-like form is one rustfmt formats, so the SQL code inside stays formatted.
/// Exported for the integration tests and benches, which read the database directly.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Opens a transaction on whichever pool `db` holds and runs `$body` (a `Result`) with
/// `$tx` bound to it; commits when the body is `Ok`, rolls back (on drop) otherwise.
#[macro_export]
macro_rules! with_tx {
    ($db:expr, |$tx:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(pool) => {
                let mut $tx = $crate::db::begin_sqlite(pool).await?;
                let out = $body;
                if out.is_ok() {
                    $tx.commit().await?;
                }
                out
            }
            $crate::db::Db::Postgres(pool) => {
                let mut $tx = $crate::db::begin_postgres(pool).await?;
                let out = $body;
                if out.is_ok() {
                    $tx.commit().await?;
                }
                out
            }
        }
    };
}

/// Runs `$body` with `$conn` bound to the connection of an open [`Tx`], so domain
/// functions can take part in a caller's transaction:
/// `on_tx!(tx, |conn| sqlx::query("...").execute(&mut *conn).await)`.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match &mut ($tx).inner {
            $crate::db::TxInner::Sqlite(tx) => {
                let $conn: &mut $crate::db::sqlite::TxConn = tx;
                $body
            }
            $crate::db::TxInner::Postgres(tx) => {
                let $conn: &mut sqlx::PgConnection = &mut **tx;
                $body
            }
        }
    };
}

pub use crate::{on_tx, with_db, with_tx};

/// Declares a string-backed enum: `as_str`, `parse`, `FromStr`, `Display`, serde as the id, and
/// `TryFrom<String>` for reading it from a row (`#[sqlx(try_from = "String")]`).
macro_rules! id_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $id:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $id)] $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            /// The stored id.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $id),+
                }
            }

            /// Parses a stored id.
            pub fn parse(id: &str) -> Option<Self> {
                match id {
                    $($id => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(id: &str) -> Result<Self, String> {
                Self::parse(id).ok_or_else(|| format!(concat!("unknown ", stringify!($name), " {:?}"), id))
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(id: String) -> Result<Self, String> {
                id.parse()
            }
        }

        // The OpenAPI document names the ids, as the wire carries them.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($id),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use id_enum;

/// An open transaction on either backend; dropped without [`Tx::commit`], it rolls
/// back. Writes that belong together (a turn's messages and steps, a payment and the
/// balance it lowers) run on one. It also keeps the events recorded in it
/// ([`crate::events::record_in`]), so that once committed they can be handed to this
/// process's live streams without reading them back ([`crate::events::Bus::commit`]).
pub struct Tx {
    /// The transaction itself.
    pub inner: TxInner,
    /// The events recorded in it, in id order (on SQLite, numbered only once inserted
    /// with the commit).
    pub(crate) events: Vec<crate::events::Event>,
    /// On SQLite, the stored data of each event in `events`, inserted with the commit.
    pub(crate) unsent: Vec<String>,
}

/// The transaction of a [`Tx`], by backend.
pub enum TxInner {
    /// On SQLite.
    Sqlite(sqlite::Transaction),
    /// On PostgreSQL.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.commit_events().await.map(|_| ())
    }

    /// Commits, and returns the events recorded in the transaction.
    pub(crate) async fn commit_events(mut self) -> Result<Vec<crate::events::Event>, sqlx::Error> {
        match self.inner {
            TxInner::Sqlite(tx) if self.unsent.is_empty() => tx.commit().await?,
            TxInner::Sqlite(tx) => crate::events::insert_and_commit(tx, &mut self.events, &self.unsent).await?,
            TxInner::Postgres(tx) => tx.commit().await?,
        }
        Ok(self.events)
    }

    fn of(inner: TxInner) -> Self {
        Self { inner, events: Vec::new(), unsent: Vec::new() }
    }
}

/// Opens a SQLite transaction that holds the write lock from its first statement.
///
/// A deferred transaction (SQLite's default) that reads and then writes must upgrade
/// its read lock, and SQLite refuses that upgrade at once with `SQLITE_BUSY` (or
/// `SQLITE_BUSY_SNAPSHOT` in WAL mode when another writer committed since the read)
/// instead of waiting: the busy timeout does not apply. Every transaction here
/// writes, so each asks for the write lock up front with `BEGIN IMMEDIATE`, which does
/// wait its turn (<https://www.sqlite.org/lang_transaction.html>). PostgreSQL takes
/// row locks as it goes and needs nothing of the kind.
pub async fn begin_sqlite(pool: &sqlite::Pool) -> Result<sqlite::Transaction, sqlx::Error> {
    pool.begin().await
}

/// Opens a PostgreSQL transaction. sqlx's `begin` is a future of some 4 KB (its pool's
/// acquire, held twice over by its timeout); boxed, it is allocated only while a
/// transaction is being opened, instead of inlined into every caller's future (every
/// turn, every staff action) for the caller's whole life.
pub async fn begin_postgres(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    Box::pin(pool.begin()).await
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which kind of database a URL points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:` URLs.
    Sqlite,
    /// `postgres:` / `postgresql:` URLs.
    Postgres,
}

impl Backend {
    /// Recognises the backend from a database URL, or `None` for an unsupported scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// How long the first connection to PostgreSQL may take before start-up gives up: a
/// wrong host or a stopped server should be reported at once, with its cause, rather
/// than as the pool's "timed out" after it has retried for its whole acquire timeout.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a PostgreSQL connection may sit idle in the pool before it is checked
/// (a ping) on its next use. Under load connections come back within milliseconds and
/// go out unchecked; one that has waited longer may have been cut by a server restart
/// (which takes longer than this), and is replaced unseen instead of failing a request.
const PG_IDLE_CHECK: Duration = Duration::from_secs(1);

/// The first bytes of every SQLite 3 database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

impl Db {
    /// Opens a transaction (on SQLite one that holds the write lock: [`begin_sqlite`]).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(pool) => Tx::of(TxInner::Sqlite(begin_sqlite(pool).await?)),
            Self::Postgres(pool) => Tx::of(TxInner::Postgres(begin_postgres(pool).await?)),
        })
    }

    /// Connects to `url`, creating the SQLite file (and its folder) when missing.
    ///
    /// Errors say what to fix: the PostgreSQL host and port (never the password) and
    /// why the connection failed, or the SQLite path and what is wrong with it.
    #[tracing::instrument(skip_all, fields(backend))]
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let backend = Backend::from_url(url)
            .ok_or_else(|| anyhow::anyhow!("DATABASE_URL must start with sqlite: or postgres://"))?;
        tracing::Span::current().record("backend", tracing::field::debug(backend));
        match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|e| anyhow::anyhow!("DATABASE_URL is not a usable SQLite URL: {e}"))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let path = options.get_filename().to_owned();
                check_sqlite_path(&path)?;
                // An embedded file cannot hang up: no health check on each loan or
                // return (see `sqlite`).
                let pool = sqlite::Pool::connect(options, max_connections, Duration::from_secs(10))
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open the SQLite database {}: {e}", path.display()))?;
                Ok(Self::Sqlite(pool))
            }
            Backend::Postgres => {
                // sqlx's own message for a malformed URL does not repeat the URL.
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| anyhow::anyhow!("DATABASE_URL is not a usable PostgreSQL URL: {e}"))?;
                let target = format!("{}:{}", options.get_host(), options.get_port());
                match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
                    Err(_) => anyhow::bail!(
                        "cannot connect to PostgreSQL at {target} (DATABASE_URL): no answer within {} s; \
                         check the host, the port and any firewall",
                        FIRST_CONNECT_TIMEOUT.as_secs()
                    ),
                    Ok(Err(e)) => {
                        anyhow::bail!("cannot connect to PostgreSQL at {target} (DATABASE_URL): {}", cause(&e))
                    }
                    Ok(Ok(first)) => {
                        let _ = first.close().await;
                    }
                }
                // A connection idle for a while may have been cut (a server restart,
                // a firewall's idle timeout): only such a one is checked before use,
                // rather than every one on every acquire (sqlx's default, one more
                // round trip per query; sqlx checks each one given back regardless).
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for > PG_IDLE_CHECK {
                                conn.ping().await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL at {target} (DATABASE_URL): {e}"))?;
                Ok(Self::Postgres(pool))
            }
        }
    }

    /// Which backend this handle talks to.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the embedded migrations for this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(pool) => SQLITE_MIGRATIONS.run(&mut *pool.acquire().await?).await?,
            Self::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Cheap liveness probe used by `/health`.
    pub async fn ping(&self) -> bool {
        with_db!(self, |pool| sqlx::query("SELECT 1").execute(pool).await.is_ok())
    }

    /// Closes every connection (used by tests and graceful shutdown).
    pub async fn close(&self) {
        with_db!(self, |pool| pool.close().await)
    }

    /// Reads a value from the `settings` table.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, sqlx::Error> {
        with_db!(self, |pool| sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await)
    }

    /// Stores `value` under `key` unless a value is already there, and returns the stored
    /// one: two nodes starting at once agree on a single value.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, sqlx::Error> {
        with_db!(self, |pool| sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
        )
        .bind(key)
        .bind(value)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(self.setting(key).await?.unwrap_or_else(|| value.to_owned()))
    }
}

/// The reason a connection failed, as an operator would put it ("connection refused",
/// "password authentication failed for user ..."). sqlx's messages never include the
/// password.
fn cause(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused: nothing listens on that port (is PostgreSQL running there?)".to_owned()
            }
            _ => io.to_string(),
        },
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}

/// Checks what SQLite would otherwise report as a bare "unable to open database file"
/// or "file is not a database", naming the path: the data folder must be a writable
/// folder, and an existing database file must be writable and be a SQLite database.
///
/// Permission bits are checked as well as an actual open, because a process running
/// as root may write to a file marked read-only, which is never what the operator
/// meant.
fn check_sqlite_path(path: &std::path::Path) -> anyhow::Result<()> {
    if path.as_os_str().is_empty() || path == std::path::Path::new(":memory:") {
        return Ok(());
    }
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|e| {
            anyhow::anyhow!("cannot create the data folder {} for the SQLite database: {e}", folder.display())
        })?;
        let meta = std::fs::metadata(folder)
            .map_err(|e| anyhow::anyhow!("cannot read the data folder {}: {e}", folder.display()))?;
        if !meta.is_dir() {
            anyhow::bail!("the data folder {} is not a folder", folder.display());
        }
        if meta.permissions().readonly() {
            anyhow::bail!(
                "the data folder {} is read-only: SQLite needs to create its journal files there; \
                 make it writable for the user running Centralita",
                folder.display()
            );
        }
    }
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => anyhow::bail!("cannot read the SQLite database {}: {e}", path.display()),
    };
    if meta.permissions().readonly() {
        anyhow::bail!(
            "the SQLite database {} is read-only: make it writable for the user running Centralita",
            path.display()
        );
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open the SQLite database {} for writing: {e}", path.display()))?;
    let mut header = Vec::with_capacity(SQLITE_HEADER.len());
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, SQLITE_HEADER.len() as u64), &mut header)
        .map_err(|e| anyhow::anyhow!("cannot read the SQLite database {}: {e}", path.display()))?;
    // An empty file is what SQLite itself leaves before the first write: fine.
    if !header.is_empty() && header != SQLITE_HEADER {
        anyhow::bail!(
            "{} is not a SQLite database (the file is corrupt or of another kind); \
             restore it from a backup or point DATABASE_URL elsewhere",
            path.display()
        );
    }
    Ok(())
}

/// True when `err` is a unique-constraint violation (on either backend).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

//! The SQLite connections of this process: a small pool of sqlx connections that hands
//! a connection back for reuse as it is, and transactions begun and ended with plain
//! statements.
//!
//! sqlx's own pool (`sqlx::SqlitePool`) checks every connection given back to it with a
//! ping, from a task spawned for it, and its transactions wait for an acknowledgement
//! of `BEGIN` and `COMMIT` from the connection's thread. Each of those is one more
//! hand-off to that thread and back (a follow-up turn on the public page made about
//! four pings and two acknowledged transactions, a quarter of its thread wake-ups),
//! and none of it can find a fault an embedded file would have: every statement ends
//! reset whether or not its caller waited for it (sqlx resets a statement its caller
//! dropped), so a connection given back is as good as one never lent. What can be left
//! behind is an open transaction, which [`Lease`] rolls back before the connection is
//! lent again.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::sqlite::{SqliteConnectOptions, SqliteQueryResult, SqliteRow};
use sqlx::{ConnectOptions, Connection, Either, Execute, Executor, Sqlite, SqliteConnection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A pool of SQLite connections to one database file; cheap to clone.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    options: SqliteConnectOptions,
    /// Connections not lent out, the most recently given back last (it is lent first:
    /// its page cache is the warmest).
    idle: Mutex<Vec<SqliteConnection>>,
    /// One permit per connection that may exist.
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("sqlite::Pool")
            .field("idle", &self.idle().len())
            .field("available", &self.shared.permits.available_permits())
            .finish()
    }
}

impl Pool {
    /// Opens the database with one connection (so that a wrong path or a corrupt file
    /// is reported at once); up to `max_connections` are opened as needed.
    pub async fn connect(
        options: SqliteConnectOptions,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        let first = options.connect().await?;
        let permits = usize::try_from(max_connections.max(1)).unwrap_or(1);
        let shared = Shared {
            options,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(permits)),
            acquire_timeout,
        };
        Ok(Self { shared: Arc::new(shared) })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<SqliteConnection>> {
        self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lends a connection: an idle one, or a new one while fewer than the maximum are
    /// open. Waits up to the acquire timeout for one to be given back.
    pub async fn acquire(&self) -> Result<Lease, sqlx::Error> {
        let permit = tokio::time::timeout(self.shared.acquire_timeout, self.shared.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.shared.options.connect().await?,
        };
        Ok(Lease { conn: Some(conn), pool: self.clone(), permit: Some(permit), in_transaction: false })
    }

    /// Lends a connection and begins a transaction on it that holds the write lock from
    /// the start (see [`super::begin_sqlite`]).
    pub async fn begin(&self) -> Result<Transaction, sqlx::Error> {
        let mut lease = self.acquire().await?;
        lease.in_transaction = true;
        // Marked before the statement is sent: should this future be dropped while it
        // waits, the lease rolls back whatever the statement began.
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *lease).await?;
        Ok(Transaction { lease })
    }

    /// Closes every idle connection and refuses new loans; connections lent out are
    /// closed as they come back.
    pub async fn close(&self) {
        self.shared.permits.close();
        let idle = std::mem::take(&mut *self.idle());
        for conn in idle {
            let _ = conn.close().await;
        }
    }

    fn give_back(&self, conn: SqliteConnection) {
        if self.shared.permits.is_closed() {
            // Dropping it closes it (sqlx stops the connection's thread).
            return;
        }
        self.idle().push(conn);
    }
}

/// A connection lent by a [`Pool`]; given back when dropped. One dropped inside a
/// transaction (an error, or a cancelled request) is rolled back first, by a task of its
/// own, before anyone else may borrow it.
pub struct Lease {
    conn: Option<SqliteConnection>,
    pool: Pool,
    permit: Option<OwnedSemaphorePermit>,
    in_transaction: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("sqlite::Lease").field("in_transaction", &self.in_transaction).finish()
    }
}

impl std::ops::Deref for Lease {
    type Target = SqliteConnection;

    #[allow(clippy::expect_used)]
    fn deref(&self) -> &SqliteConnection {
        // Present until drop, the only place that takes it.
        self.conn.as_ref().expect("a lease holds its connection until dropped")
    }
}

impl std::ops::DerefMut for Lease {
    #[allow(clippy::expect_used)]
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        let permit = self.permit.take();
        if !self.in_transaction {
            self.pool.give_back(conn);
            return;
        }
        // Without a runtime (shutting down) the connection is simply dropped: closing
        // it rolls the transaction back.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let pool = self.pool.clone();
        runtime.spawn(async move {
            // An error means no transaction was open after all (a COMMIT cut short
            // after it reached the connection): the connection is fine either way,
            // unless it is gone, and then it is not given back.
            match sqlx::query("ROLLBACK").execute(&mut conn).await {
                Err(sqlx::Error::WorkerCrashed) => {}
                _ => pool.give_back(conn),
            }
            // The permit goes only once the connection is back (or gone).
            drop(permit);
        });
    }
}

/// A transaction on a lent connection: committed by [`Transaction::commit`], rolled
/// back when dropped without it.
#[derive(Debug)]
pub struct Transaction {
    lease: Lease,
}

impl Transaction {
    /// Commits. On an error the transaction is rolled back when this is dropped.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("COMMIT").execute(&mut *self.lease).await?;
        self.lease.in_transaction = false;
        Ok(())
    }
}

impl std::ops::Deref for Transaction {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.lease
    }
}

impl std::ops::DerefMut for Transaction {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.lease
    }
}

// Queries run on a pool borrow a connection for the one query, as with sqlx's pool.
impl<'p> Executor<'p> for &'_ Pool {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Sqlite>,
    {
        let pool = self.clone();
        Box::pin(async_stream::try_stream! {
            let mut conn = pool.acquire().await?;
            let mut rows = conn.fetch_many(query);
            while let Some(row) = rows.try_next().await? {
                yield row;
            }
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Sqlite>,
    {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.fetch_optional(query).await })
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [sqlx::sqlite::SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<sqlx::sqlite::SqliteStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.prepare_with(sql, parameters).await })
    }

    fn describe<'e>(self, sql: sqlx::SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Sqlite>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.describe(sql).await })
    }
}

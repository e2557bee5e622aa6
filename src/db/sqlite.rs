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
//! dropped). What a caller can leave behind is an open transaction, or a statement
//! still running after it stopped waiting; [`Lease`] rolls back the one and waits out
//! the other before the connection is lent again. A connection whose statements all
//! ran to their end goes straight back.
//!
//! Writers (transactions, and statements run on their own that write: [`may_write`])
//! queue for the write lock in this process, in the order they came, before they ask
//! SQLite for it: SQLite's own wait sleeps and retries, and serves whoever retries
//! first ([`Pool::begin`]).
//!
//! SQLite empties a connection's page cache whenever another connection wrote since
//! its last transaction, so that under a steady stream of writes every connection but
//! the last writer's reads its pages again from the file. Writers are therefore lent
//! the connection of the last write ([`Idle::last_writer`]), which readers get only
//! when no other is idle: with this process's writes on one connection, they find the
//! pages they wrote last time still in its cache. (Lending it to readers first as well
//! was tried: writers then kept finding it lent and moved from one connection to the
//! next, and the file was read more often, not less.)

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::sqlite::{SqliteConnectOptions, SqliteQueryResult, SqliteRow};
use sqlx::{
    AssertSqlSafe, ConnectOptions, Connection, Either, Execute, Executor, SqlSafeStr, Sqlite, SqliteConnection,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A pool of SQLite connections to one database file; cheap to clone.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    options: SqliteConnectOptions,
    idle: Mutex<Idle>,
    /// One permit per connection that may exist.
    permits: Arc<Semaphore>,
    /// One permit: the right to write, held by this process's writer of the moment (a
    /// transaction, or a statement on its own that writes).
    writer: Arc<Semaphore>,
    max_connections: u32,
    acquire_timeout: Duration,
}

struct Idle {
    /// Connections not lent out, the most recently given back last (it is lent first:
    /// its page cache is the warmest).
    conns: Vec<SqliteConnection>,
    /// The connection of the last write while it is not lent (its page cache is the
    /// only one still valid): lent to writers first, to readers last. A connection
    /// comes back here from the latest loan for writing, or from a read that was lent
    /// it when no loan for writing has been made since.
    last_writer: Option<SqliteConnection>,
    /// Loans for writing made so far.
    writes: u64,
    /// Set by [`Pool::close`]: connections given back from then on are closed.
    closed: bool,
}

impl Idle {
    fn len(&self) -> usize {
        self.conns.len() + usize::from(self.last_writer.is_some())
    }
}

/// How long [`Pool::close`] waits for connections lent out to come back.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

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
        let max_connections = max_connections.max(1);
        let shared = Shared {
            options,
            idle: Mutex::new(Idle { conns: vec![], last_writer: Some(first), writes: 0, closed: false }),
            permits: Arc::new(Semaphore::new(usize::try_from(max_connections).unwrap_or(1))),
            writer: Arc::new(Semaphore::new(1)),
            max_connections,
            acquire_timeout,
        };
        Ok(Self { shared: Arc::new(shared) })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lends a connection: an idle one, or a new one while fewer than the maximum are
    /// open. Waits up to the acquire timeout for one to be given back.
    pub async fn acquire(&self) -> Result<Lease, sqlx::Error> {
        self.acquire_by(self.deadline(), false).await
    }

    /// When a loan asked for now gives up: one acquire timeout for every wait it makes
    /// (its turn at the write lock, then a connection).
    fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.shared.acquire_timeout
    }

    /// [`Pool::acquire`], waiting until `deadline` at most; `writing` when the loan is
    /// for a writer (which holds this process's right to write).
    async fn acquire_by(&self, deadline: tokio::time::Instant, writing: bool) -> Result<Lease, sqlx::Error> {
        let permit = tokio::time::timeout_at(deadline, self.shared.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let (idle, lent_at) = {
            let mut idle = self.idle();
            if idle.closed {
                return Err(sqlx::Error::PoolClosed);
            }
            let taken = if writing {
                idle.writes += 1;
                idle.last_writer.take().or_else(|| idle.conns.pop()).map(|conn| (conn, true))
            } else {
                match idle.conns.pop() {
                    Some(conn) => Some((conn, false)),
                    None => idle.last_writer.take().map(|conn| (conn, true)),
                }
            };
            (taken, idle.writes)
        };
        let (conn, last_writer) = match idle {
            Some(taken) => taken,
            // Boxed: opening a connection is rare, its future large (1 KB), and
            // would otherwise sit in every loan's future.
            None => (Box::pin(self.shared.options.connect()).await?, writing),
        };
        Ok(Lease {
            conn: Some(conn),
            pool: self.clone(),
            permit: Some(permit),
            writer: None,
            last_writer,
            lent_at,
            in_transaction: false,
            settled: false,
            broken: false,
        })
    }

    /// Lends a connection and begins a transaction on it that holds the write lock from
    /// the start (see [`super::begin_sqlite`]).
    ///
    /// The transactions of this process take their turn at the write lock in the order
    /// they asked for it, behind an in-process queue, before they ask SQLite: SQLite's
    /// own wait for a busy lock sleeps and retries (1, 2, 5, 10 … 100 ms), and under
    /// load a writer that keeps losing the race could wait hundreds of milliseconds
    /// while others went first. The queue is taken before a connection, so writers
    /// waiting their turn hold none that readers could use. (Another process on the
    /// same file still meets the busy timeout.)
    pub async fn begin(&self) -> Result<Transaction, sqlx::Error> {
        let deadline = self.deadline();
        let writer = self.writer(deadline).await?;
        let mut lease = self.acquire_by(deadline, true).await?;
        lease.writer = Some(writer);
        // `BEGIN IMMEDIATE` goes with the first statement ([`Transaction`]).
        lease.settled = true;
        Ok(Transaction { conn: TxConn { lease, begun: false } })
    }

    /// Waits for this process's turn at the write lock (see [`Pool::begin`]). Given up
    /// at the deadline with an error that says so: the pool's own "timed out waiting
    /// for an open connection" would send an operator to raise the connection count,
    /// which does not help a write held up behind another (often another process's
    /// long transaction on the same file).
    async fn writer(&self, deadline: tokio::time::Instant) -> Result<OwnedSemaphorePermit, sqlx::Error> {
        let waited = self.shared.acquire_timeout;
        tokio::time::timeout_at(deadline, self.shared.writer.clone().acquire_owned())
            .await
            .map_err(|_| {
                sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "gave up after {} ms waiting for the SQLite write lock behind other writers \
                         (a long transaction, possibly of another process on the same database file)",
                        waited.as_millis()
                    ),
                ))
            })?
            .map_err(|_| sqlx::Error::PoolClosed)
    }

    /// Lends a connection for one statement run outside a transaction; one that may
    /// write takes its turn at the write lock first, as transactions do.
    async fn acquire_for(&self, statement: &Statement) -> Result<Lease, sqlx::Error> {
        let deadline = self.deadline();
        let writer = if may_write(statement.sql.as_str()) { Some(self.writer(deadline).await?) } else { None };
        let mut lease = self.acquire_by(deadline, writer.is_some()).await?;
        lease.writer = writer;
        Ok(lease)
    }

    /// Refuses new loans, closes every idle connection, and waits (a few seconds at
    /// most) for those lent out, which are closed as they come back.
    pub async fn close(&self) {
        let idle = {
            let mut idle = self.idle();
            idle.closed = true;
            let mut conns = std::mem::take(&mut idle.conns);
            conns.extend(idle.last_writer.take());
            conns
        };
        for conn in idle {
            let _ = conn.close().await;
        }
        let all = self.shared.permits.acquire_many(self.shared.max_connections);
        let _ = tokio::time::timeout(CLOSE_WAIT, all).await;
        self.shared.permits.close();
    }

    /// Takes back a connection: as the last writer's when it was lent as such
    /// (`last_writer`) and no loan for writing was made after it (`lent_at`).
    fn give_back(&self, conn: SqliteConnection, last_writer: bool, lent_at: u64) {
        let mut idle = self.idle();
        if idle.closed {
            // Dropping it closes it (sqlx stops the connection's thread).
            return;
        }
        if last_writer && lent_at == idle.writes && idle.last_writer.is_none() {
            idle.last_writer = Some(conn);
        } else {
            idle.conns.push(conn);
        }
    }
}

/// A connection lent by a [`Pool`]; given back when dropped. One dropped inside a
/// transaction (an error, or a cancelled request) is rolled back first, and one whose
/// last statement may still be running (its caller gave up waiting) is given back once
/// that statement is done, each by a task of its own: nobody else borrows a connection
/// that is not ready.
pub struct Lease {
    conn: Option<SqliteConnection>,
    pool: Pool,
    permit: Option<OwnedSemaphorePermit>,
    /// The right to write, while a transaction this process began may be open on it or
    /// a statement that writes runs on it.
    writer: Option<OwnedSemaphorePermit>,
    /// Lent for writing, or lent the last writer's connection ([`Idle::last_writer`]).
    last_writer: bool,
    /// [`Idle::writes`] when it was lent.
    lent_at: u64,
    /// A transaction may be open on it.
    in_transaction: bool,
    /// Everything sent to it has been answered.
    settled: bool,
    /// Its thread is gone: it is dropped rather than given back.
    broken: bool,
}

impl Lease {
    /// Notes the outcome of a statement run to its end.
    fn settle<T>(&mut self, result: &Result<T, sqlx::Error>) {
        self.settled = true;
        if matches!(result, Err(sqlx::Error::WorkerCrashed)) {
            self.broken = true;
        }
    }
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
        // On the two paths below that drop the connection at once (its thread gone,
        // or no runtime), the write lock may outlive the permit for as long as closing
        // takes: the next writer of this process then meets SQLite's busy wait.
        let writer = self.writer.take();
        if self.broken {
            return;
        }
        if !self.in_transaction && self.settled {
            self.pool.give_back(conn, self.last_writer, self.lent_at);
            return;
        }
        // Without a runtime (shutting down) the connection is simply dropped: closing
        // it rolls any transaction back.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let pool = self.pool.clone();
        let in_transaction = self.in_transaction;
        let (last_writer, lent_at) = (self.last_writer, self.lent_at);
        runtime.spawn(async move {
            // The connection's thread runs what it is sent in order: this answer comes
            // once whatever was cut short is done.
            let ready = if in_transaction {
                match sqlx::query("ROLLBACK").execute(&mut conn).await {
                    Ok(_) => true,
                    // A COMMIT (or a failed BEGIN) cut short: no transaction was left.
                    Err(sqlx::Error::Database(e)) => e.message().contains("no transaction is active"),
                    Err(_) => false,
                }
            } else {
                conn.ping().await.is_ok()
            };
            // Anything else (an I/O error, a thread gone) and the connection is
            // dropped, closing it, rather than lent with a transaction still open.
            if ready {
                pool.give_back(conn, last_writer, lent_at);
            }
            // The permits go only once the connection is back (or gone), the transaction
            // with it.
            drop(writer);
            drop(permit);
        });
    }
}

/// A transaction on a lent connection: committed by [`Transaction::commit`], rolled
/// back when dropped without it. Statements run on it through its [`TxConn`]'s
/// [`Executor`] (it lends no connection otherwise, so none can run outside it). Each hand-off to the
/// connection's thread and back is two thread wake-ups, the largest cost of a short
/// statement, so it takes none of its own to begin or end: `BEGIN IMMEDIATE` is sent
/// in front of its first statement and `COMMIT` behind its last one when the caller
/// has one to give ([`Transaction::commit_after`]), SQLite running a string of
/// statements in order in one hand-off and stopping at the first that fails. It is
/// begun with a plain statement, so sqlx does not count it: a `Connection::begin` on
/// its connection would fail rather than open a savepoint (nothing here nests
/// transactions).
#[derive(Debug)]
pub struct Transaction {
    conn: TxConn,
}

/// The connection of a [`Transaction`], as its statements see it. A statement that
/// fails leaves the transaction fit only to be dropped (rolled back), as on
/// PostgreSQL, which refuses every later statement of a transaction that met an
/// error: the first statement's failure may be its `BEGIN IMMEDIATE`'s.
#[derive(Debug)]
pub struct TxConn {
    lease: Lease,
    /// `BEGIN IMMEDIATE` has been sent.
    begun: bool,
}

impl std::ops::Deref for Transaction {
    type Target = TxConn;

    fn deref(&self) -> &TxConn {
        &self.conn
    }
}

impl std::ops::DerefMut for Transaction {
    fn deref_mut(&mut self) -> &mut TxConn {
        &mut self.conn
    }
}

impl TxConn {
    /// `query` as it is sent: the first statement carries the `BEGIN IMMEDIATE`; true
    /// when this one does.
    fn next<'q>(&mut self, query: impl Execute<'q, Sqlite>) -> (Statement, bool) {
        let mut statement = Statement::of(query);
        let begins = !self.begun;
        if begins {
            // Marked before the statement is sent: should its caller stop waiting, the
            // lease rolls back whatever it began.
            self.begun = true;
            self.lease.in_transaction = true;
            statement.sql = AssertSqlSafe(format!("BEGIN IMMEDIATE; {}", statement.sql.as_str())).into_sql_str();
        }
        (statement, begins)
    }

    /// Sends `statement`, which ends with the `COMMIT`; returns the rows it returned.
    async fn end(&mut self, statement: Statement) -> Result<Vec<SqliteRow>, sqlx::Error> {
        let result = self.lease.fetch_all(statement).await;
        self.lease.settle(&result);
        let rows = result?;
        // The right to write stays until the lease is dropped, after its connection
        // is back as the last writer's: a writer let in before would find it lent.
        self.lease.in_transaction = false;
        Ok(rows)
    }
}

impl Transaction {
    /// Commits. On an error the transaction is rolled back when this is dropped.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        if !self.conn.begun {
            // Nothing was sent: nothing to end.
            return Ok(());
        }
        self.conn.end(Statement::of(sqlx::query("COMMIT"))).await.map(|_| ())
    }

    /// Runs `last`, the transaction's last statement, then commits, in one hand-off to
    /// the connection's thread; returns `read` of each row `last` returned. On an
    /// error (of either) the transaction is rolled back when this is dropped.
    pub async fn commit_after<'q, T>(
        mut self,
        last: impl Execute<'q, Sqlite>,
        read: impl Fn(&SqliteRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, sqlx::Error> {
        let (mut statement, _) = self.conn.next(last);
        statement.sql = AssertSqlSafe(format!("{}; COMMIT", statement.sql.as_str())).into_sql_str();
        self.conn.end(statement).await?.iter().map(read).collect()
    }
}

// Statements run in the transaction; the first begins it.
impl<'c> Executor<'c> for &'c mut TxConn {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        let (statement, begins) = self.next(query);
        let conn: &'c mut SqliteConnection = &mut self.lease;
        let results = conn.fetch_many(statement);
        if !begins {
            return results;
        }
        // The `BEGIN`'s own result goes: it reports as changed rows whatever the last
        // statement before it on this connection changed (`sqlite3_changes`), which
        // `execute` would add to the caller's count. Its error, if any, stays.
        let mut first = true;
        Box::pin(results.try_filter(move |result| {
            let begin = std::mem::take(&mut first) && result.is_left();
            std::future::ready(!begin)
        }))
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        // Results other than rows (the `BEGIN`'s included) are not looked at.
        let (statement, _) = self.next(query);
        let conn: &'c mut SqliteConnection = &mut self.lease;
        conn.fetch_optional(statement)
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [sqlx::sqlite::SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<sqlx::sqlite::SqliteStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        let conn: &'c mut SqliteConnection = &mut self.lease;
        conn.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: sqlx::SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Sqlite>, sqlx::Error>>
    where
        'c: 'e,
    {
        let conn: &'c mut SqliteConnection = &mut self.lease;
        conn.describe(sql)
    }
}

/// Whether a statement run on its own writes, and so takes its turn at the write lock:
/// one that begins (after blanks and comments) with a verb that changes the database,
/// or a `WITH` whose body does. A write missed here only loses its place in the queue
/// (SQLite's busy wait still applies); a read taken for a write would wait for open
/// transactions for nothing, so reads are never guessed to be writes.
pub fn may_write(sql: &str) -> bool {
    const WRITES: [&str; 10] =
        ["INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "VACUUM", "REINDEX", "ANALYZE"];
    let mut words = words_of(sql);
    match words.next() {
        Some(first) if first.eq_ignore_ascii_case("WITH") => {
            words.any(|w| WRITES[..4].iter().any(|verb| w.eq_ignore_ascii_case(verb)))
        }
        Some(first) => WRITES.iter().any(|verb| first.eq_ignore_ascii_case(verb)),
        None => false,
    }
}

/// The words of `sql` outside comments and quoted text, read as they are asked for
/// (most statements need only their first).
fn words_of(sql: &str) -> impl Iterator<Item = &str> {
    let mut rest = sql;
    std::iter::from_fn(move || {
        while let Some(c) = rest.chars().next() {
            if rest.starts_with("--") {
                rest = rest.find('\n').map_or("", |i| &rest[i..]);
            } else if rest.starts_with("/*") {
                rest = rest[2..].find("*/").map_or("", |i| &rest[i + 4..]);
            } else if c == '\'' || c == '"' {
                rest = rest[1..].find(c).map_or("", |i| &rest[i + 2..]);
            } else if c.is_ascii_alphabetic() || c == '_' {
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                let word = &rest[..end];
                rest = &rest[end..];
                return Some(word);
            } else {
                rest = &rest[c.len_utf8()..];
            }
        }
        None
    })
}

/// A query taken apart, so that its text can be read before it is run.
struct Statement {
    sql: sqlx::SqlStr,
    arguments: Result<Option<sqlx::sqlite::SqliteArguments>, sqlx::error::BoxDynError>,
    persistent: bool,
}

impl Statement {
    fn of<'q>(mut query: impl Execute<'q, Sqlite>) -> Self {
        let persistent = query.persistent();
        let arguments = query.take_arguments();
        Self { sql: query.sql(), arguments, persistent }
    }
}

impl<'q> Execute<'q, Sqlite> for Statement {
    fn sql(self) -> sqlx::SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&sqlx::sqlite::SqliteStatement> {
        None
    }

    fn take_arguments(&mut self) -> Result<Option<sqlx::sqlite::SqliteArguments>, sqlx::error::BoxDynError> {
        std::mem::replace(&mut self.arguments, Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

// Queries run on a pool borrow a connection for the one query, as with sqlx's pool.
impl<'p> Executor<'p> for &'_ Pool {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Sqlite>,
    {
        let pool = self.clone();
        let query = Statement::of(query);
        Box::pin(async_stream::try_stream! {
            let mut lease = pool.acquire_for(&query).await?;
            let mut rows = lease.fetch_many(query);
            let end = loop {
                match rows.try_next().await {
                    Ok(Some(row)) => yield row,
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            drop(rows);
            // Dropped before its end, the stream leaves the lease unsettled.
            lease.settle(&end);
            end?;
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Sqlite>,
    {
        let pool = self.clone();
        let query = Statement::of(query);
        Box::pin(async move {
            let mut lease = pool.acquire_for(&query).await?;
            let result = lease.fetch_optional(query).await;
            lease.settle(&result);
            result
        })
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
        Box::pin(async move {
            let mut lease = pool.acquire().await?;
            let result = lease.prepare_with(sql, parameters).await;
            lease.settle(&result);
            result
        })
    }

    fn describe<'e>(self, sql: sqlx::SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Sqlite>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move {
            let mut lease = pool.acquire().await?;
            let result = lease.describe(sql).await;
            lease.settle(&result);
            result
        })
    }
}

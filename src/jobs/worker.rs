//! The claim/lease/retry loop every queue table shares (the email outbox and the
//! `jobs` table): a [`Worker`] claims one due row at a time under a lease, hands it to
//! its [`Queue`], and stores the outcome — done, retry later with backoff, or dead.
//!
//! A claim is one statement: it counts the attempt, writes a fresh claim token (the
//! lease owner) and the lease's expiry, and, on PostgreSQL, skips rows another node has
//! locked (`FOR UPDATE SKIP LOCKED`), so two workers never take the same row. The work
//! is cut off before its lease ends, so a row is only claimed again once nobody is
//! working on it; a process that dies mid-work leaves a lease that simply expires, and
//! the row is claimed again by whichever worker looks next. The outcome is stored only
//! while the claim token still matches (the lease was not lost), in one transaction with
//! what the queue writes about it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use tokio::sync::{Notify, watch};

use crate::db::{Db, Timestamp, Tx, on_tx};

/// A table worked as a queue. Every such table has the columns `id`, `status`,
/// `attempts`, `max_attempts`, `next_attempt_at`, `claim_token`, `claimed_until`,
/// `last_error` and `updated_at`; the names here are the table's own words for the
/// states.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    /// Table name.
    pub name: &'static str,
    /// The statuses a due row can be claimed in, as an SQL list (`'queued', 'retrying'`).
    pub claimable: &'static str,
    /// The status a claim writes, if any (otherwise the lease alone says a row is held).
    pub running: Option<&'static str>,
    /// Waiting for its first attempt.
    pub queued: &'static str,
    /// Done.
    pub done: &'static str,
    /// Failed for now, tried again at `next_attempt_at`.
    pub retrying: &'static str,
    /// Given up on.
    pub dead: &'static str,
    /// The columns a claim returns (what [`Queue::Item`] reads).
    pub columns: &'static str,
}

/// How a worker works a table.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Rows one process works on at the same time.
    pub concurrency: usize,
    /// How often the worker looks for due rows without a wake-up.
    pub poll: Duration,
    /// The longest one attempt may run; it is cut off then and counts as failed.
    pub cutoff: Duration,
    /// How long a claim lasts; longer than `cutoff`, so that nobody claims a row that
    /// is still being worked on.
    pub lease: Duration,
    /// Delay before the first retry; later ones double.
    pub retry_base: Duration,
    /// Longest delay between two attempts.
    pub retry_max: Duration,
}

/// Why an attempt failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Trying again cannot help (the row goes dead at once).
    pub permanent: bool,
    /// What happened, for `last_error` and the logs.
    pub detail: String,
}

impl Failure {
    /// A failure worth retrying.
    pub fn transient(detail: impl Into<String>) -> Self {
        Self { permanent: false, detail: detail.into() }
    }

    /// A failure no retry can fix.
    pub fn permanent(detail: impl Into<String>) -> Self {
        Self { permanent: true, detail: detail.into() }
    }
}

/// What became of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It worked; the text is the queue's answer (an SMTP reply, a job's result).
    Done(String),
    /// It failed and is tried again at `at`.
    Retry {
        /// The error.
        detail: String,
        /// When the next attempt is due.
        at: Timestamp,
    },
    /// It failed for good (a permanent failure, or the last attempt).
    Dead(String),
}

impl Outcome {
    /// The status `table` stores for this outcome.
    pub fn status(&self, table: &Table) -> &'static str {
        match self {
            Self::Done(_) => table.done,
            Self::Retry { .. } => table.retrying,
            Self::Dead(_) => table.dead,
        }
    }

    /// The answer or the error.
    pub fn detail(&self) -> &str {
        match self {
            Self::Done(d) | Self::Dead(d) | Self::Retry { detail: d, .. } => d,
        }
    }

    /// The error, when it failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Done(_) => None,
            Self::Retry { detail, .. } | Self::Dead(detail) => Some(detail),
        }
    }
}

/// A claimed row: what the loop needs to know about it.
pub trait Claimed {
    /// Row id.
    fn id(&self) -> i64;
    /// Attempts so far, this one included.
    fn attempts(&self) -> i64;
    /// Attempts allowed.
    fn max_attempts(&self) -> i64;
}

/// One queue table and the work its rows stand for.
pub trait Queue: Send + Sync + 'static {
    /// A claimed row, read from [`Table::columns`].
    type Item: Claimed + Send + Sync + Unpin + for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow>;

    /// The table.
    const TABLE: Table;

    /// Does the work of one claimed row, outside any transaction.
    fn perform(&self, item: &Self::Item) -> impl Future<Output = Result<String, Failure>> + Send;

    /// Writes what else the outcome means, in the transaction that stores it. `held`
    /// says whether the claim was still ours (when not, the row was not touched).
    fn record(
        &self,
        tx: &mut Tx,
        item: &Self::Item,
        outcome: &Outcome,
        held: bool,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// After the outcome was stored with the claim held (announce it).
    fn settled(&self, item: &Self::Item, outcome: &Outcome) -> impl Future<Output = ()> + Send;
}

/// Wakes a worker when a row is due now, and stops it at shutdown. Shared between the
/// worker and whoever queues work.
pub struct Signal {
    wake: Notify,
    stop: watch::Sender<bool>,
}

impl Default for Signal {
    fn default() -> Self {
        Self { wake: Notify::new(), stop: watch::channel(false).0 }
    }
}

impl Signal {
    /// A row is due now: one idle worker looks at once.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Asks the worker to stop after the rows it is working on.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// The delay before attempt `attempt + 1`: `base · 2^(attempt−1)`, capped at `max`,
/// then a random point in its upper half (jitter, so that many rows failing together
/// do not retry together).
pub fn backoff(attempt: i64, base: Duration, max: Duration) -> Duration {
    let exponent = attempt.saturating_sub(1).clamp(0, 30) as u32;
    let full = base.saturating_mul(2u32.saturating_pow(exponent)).min(max);
    let ms = full.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(ms / 2..=ms.max(1)))
}

/// `d` as a `time` duration (a minute if it does not fit).
pub fn span(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MINUTE)
}

/// The statements of one table, written once from its [`Table`].
struct Statements {
    claim_sqlite: String,
    claim_postgres: String,
    release: String,
    finish: String,
    next_due: String,
}

impl Statements {
    fn new(t: &Table) -> Self {
        let running = t.running.map(|s| format!(", status = '{s}'")).unwrap_or_default();
        let claim = |lock: &str| {
            format!(
                "UPDATE {name} SET claim_token = $1, claimed_until = $2, attempts = attempts + 1, updated_at = $3{running} \
                 WHERE id IN (SELECT id FROM {name} WHERE status IN ({claimable}) AND next_attempt_at <= $3 \
                 AND (claimed_until IS NULL OR claimed_until < $3) ORDER BY next_attempt_at, id LIMIT 1{lock}) \
                 RETURNING {columns}",
                name = t.name,
                claimable = t.claimable,
                columns = t.columns,
            )
        };
        // A row released untouched goes back to the status it was claimed in.
        let back = t
            .running
            .map(|_| format!(", status = CASE WHEN attempts > 1 THEN '{}' ELSE '{}' END", t.retrying, t.queued))
            .unwrap_or_default();
        Self {
            claim_sqlite: claim(""),
            claim_postgres: claim(" FOR UPDATE SKIP LOCKED"),
            release: format!(
                "UPDATE {} SET claim_token = NULL, claimed_until = NULL, attempts = attempts - 1{back} \
                 WHERE id = $1 AND claim_token = $2",
                t.name
            ),
            // When the next claimable row is due: its attempt time, or the end of a
            // lease still held on it.
            next_due: format!(
                "SELECT MIN(CASE WHEN claimed_until IS NOT NULL AND claimed_until > next_attempt_at \
                 THEN claimed_until ELSE next_attempt_at END) FROM {} WHERE status IN ({})",
                t.name, t.claimable
            ),
            finish: format!(
                "UPDATE {} SET status = $3, claim_token = NULL, claimed_until = NULL, updated_at = $4, \
                 last_error = $5, next_attempt_at = $6 WHERE id = $1 AND claim_token = $2",
                t.name
            ),
        }
    }
}

/// Works one queue table: claims due rows under a lease, one per sender, and stores
/// each outcome.
pub struct Worker<Q: Queue> {
    db: Db,
    queue: Q,
    policy: Policy,
    signal: Arc<Signal>,
    sql: Statements,
}

impl<Q: Queue> Worker<Q> {
    /// A worker for `queue` on `db`, woken and stopped through `signal`.
    pub fn new(db: Db, queue: Q, policy: Policy, signal: Arc<Signal>) -> Self {
        Self { db, queue, policy, signal, sql: Statements::new(&Q::TABLE) }
    }

    /// The queue it works.
    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// Its policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A row is due now.
    pub fn wake(&self) {
        self.signal.wake();
    }

    /// Asks the worker to stop after the rows it is working on.
    pub fn stop(&self) {
        self.signal.stop();
    }

    /// Runs until [`Worker::stop`]. Rows claimed but not started are released
    /// untouched; the table keeps everything else as it was.
    pub async fn run(self: Arc<Self>) {
        // Several senders, each claiming one row at a time: most work (an SMTP
        // exchange, a model request) is spent waiting.
        futures_util::future::join_all((0..self.policy.concurrency.max(1)).map(|_| self.sender())).await;
    }

    async fn sender(&self) {
        let mut stop = self.signal.stop.subscribe();
        while !*stop.borrow() {
            let token = uuid::Uuid::new_v4().to_string();
            match self.claim(&token).await {
                Ok(Some(item)) => {
                    // More may be due (a burst queued with one wake-up): let an idle
                    // sender look too.
                    self.signal.wake.notify_one();
                    if *stop.borrow() {
                        self.release(item.id(), &token).await;
                    } else {
                        self.attempt(item, &token).await;
                    }
                }
                Ok(None) => {
                    let pause = self.idle_pause().await;
                    tokio::select! {
                        _ = self.signal.wake.notified() => {}
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => {}
                    }
                }
                Err(err) => {
                    tracing::warn!(queue = Q::TABLE.name, error = %err, "could not claim work; trying again shortly");
                    tokio::select! {
                        _ = tokio::time::sleep(self.policy.poll.min(Duration::from_secs(5))) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    }

    async fn claim(&self, token: &str) -> Result<Option<Q::Item>, sqlx::Error> {
        let now = Timestamp::now();
        let until = now.plus(span(self.policy.lease));
        match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_as(AssertSqlSafe(self.sql.claim_sqlite.as_str()))
                    .bind(token)
                    .bind(until)
                    .bind(now)
                    .fetch_optional(pool)
                    .await
            }
            Db::Postgres(pool) => {
                sqlx::query_as(AssertSqlSafe(self.sql.claim_postgres.as_str()))
                    .bind(token)
                    .bind(until)
                    .bind(now)
                    .fetch_optional(pool)
                    .await
            }
        }
    }

    /// How long an idle sender sleeps without a wake-up: until the next row falls due
    /// (a retry, a lease that runs out), at most the poll interval.
    async fn idle_pause(&self) -> Duration {
        let next: Result<Option<Timestamp>, sqlx::Error> =
            crate::db::with_db!(&self.db, |pool| sqlx::query_scalar(AssertSqlSafe(self.sql.next_due.as_str()))
                .fetch_one(pool)
                .await);
        let Ok(Some(next)) = next else { return self.policy.poll };
        let ahead = (next.as_offset() - Timestamp::now().as_offset()).whole_microseconds().max(0);
        // A little past the moment, so the claim's `<=` finds it due; never a busy
        // loop on a row due already (another node holding it for a moment).
        let until_due = Duration::from_micros(u64::try_from(ahead).unwrap_or(u64::MAX)) + Duration::from_millis(20);
        until_due.min(self.policy.poll)
    }

    async fn release(&self, id: i64, token: &str) {
        let released = crate::db::with_db!(&self.db, |pool| sqlx::query(AssertSqlSafe(self.sql.release.as_str()))
            .bind(id)
            .bind(token)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
        if let Err(err) = released {
            tracing::warn!(queue = Q::TABLE.name, error = %err, id, "could not release a claimed row; its lease will expire");
        }
    }

    async fn attempt(&self, item: Q::Item, token: &str) {
        let cutoff = self.policy.cutoff;
        let result = match tokio::time::timeout(cutoff, self.queue.perform(&item)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::transient(format!("no answer within {}s", cutoff.as_secs()))),
        };
        let now = Timestamp::now();
        let outcome = match result {
            Ok(detail) => Outcome::Done(detail),
            Err(f) if f.permanent || item.attempts() >= item.max_attempts() => Outcome::Dead(cut(f.detail)),
            Err(f) => {
                let wait = backoff(item.attempts(), self.policy.retry_base, self.policy.retry_max);
                Outcome::Retry { detail: cut(f.detail), at: now.plus(span(wait)) }
            }
        };
        let (queue, id, attempt) = (Q::TABLE.name, item.id(), item.attempts());
        match &outcome {
            Outcome::Done(_) => tracing::info!(queue, id, attempt, "work done"),
            Outcome::Retry { detail, .. } => {
                tracing::warn!(queue, id, attempt, error = %detail, "work failed; will retry")
            }
            Outcome::Dead(detail) => tracing::warn!(queue, id, attempt, error = %detail, "work failed for good"),
        }
        match self.store(&item, token, &outcome, now).await {
            Ok(true) => self.queue.settled(&item, &outcome).await,
            Ok(false) => tracing::warn!(queue, id, "the claim was lost before the outcome was stored"),
            Err(err) => tracing::error!(queue, error = %err, id, "could not store an outcome"),
        }
    }

    async fn store(&self, item: &Q::Item, token: &str, outcome: &Outcome, now: Timestamp) -> Result<bool, sqlx::Error> {
        let next = match outcome {
            Outcome::Retry { at, .. } => Some(*at),
            _ => None,
        };
        let mut tx = self.db.begin().await?;
        let held = on_tx!(&mut tx, |conn| sqlx::query(AssertSqlSafe(self.sql.finish.as_str()))
            .bind(item.id())
            .bind(token)
            .bind(outcome.status(&Q::TABLE))
            .bind(now)
            .bind(outcome.error())
            .bind(next)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected()))?
            == 1;
        self.queue.record(&mut tx, item, outcome, held).await?;
        tx.commit().await?;
        Ok(held)
    }
}

/// At most 1,000 characters of an error.
fn cut(detail: String) -> String {
    if detail.chars().count() <= 1000 { detail } else { detail.chars().take(1000).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_ceiling() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        for _ in 0..50 {
            let first = backoff(1, base, max);
            assert!(first >= Duration::from_secs(1) && first <= base, "{first:?}");
            let third = backoff(3, base, max);
            assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(8), "{third:?}");
            let late = backoff(40, base, max);
            assert!(late >= Duration::from_secs(30) && late <= max, "{late:?}");
        }
    }

    #[test]
    fn a_table_with_a_running_status_releases_rows_to_the_status_they_were_claimed_in() {
        let t = Table {
            name: "jobs",
            claimable: "'queued', 'retrying', 'running'",
            running: Some("running"),
            queued: "queued",
            done: "done",
            retrying: "retrying",
            dead: "dead",
            columns: "id",
        };
        let sql = Statements::new(&t);
        assert!(sql.claim_sqlite.contains("status = 'running'"), "{}", sql.claim_sqlite);
        assert!(sql.claim_postgres.ends_with("FOR UPDATE SKIP LOCKED) RETURNING id"), "{}", sql.claim_postgres);
        assert!(sql.release.contains("THEN 'retrying' ELSE 'queued'"), "{}", sql.release);
        let outbox = Table { running: None, ..t };
        assert!(!Statements::new(&outbox).release.contains("status"));
    }
}

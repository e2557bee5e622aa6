//! Durable background work: one job mechanism for the whole project.
//!
//! Two kinds of table are worked by the same code in [`worker`]: the email outbox
//! (`email_outbox`, see `email::deliver`) and the general `jobs` table defined here.
//! Both get the same claim under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! several nodes never run the same row), the same cut-off before the lease ends, the
//! same reclaim of an expired lease after a crash or restart, the same exponential
//! backoff with jitter, the same "dead after N attempts", and the same wake-up: a
//! [`Signal`] woken in-process when something is queued, with a rare poll as the safety
//! net (and the way other nodes' work is found).
//!
//! # Using the `jobs` table
//!
//! 1. Queue a job in the same transaction as the decision it stands for, with
//!    [`enqueue_in`] (or [`enqueue`] outside one), giving its `kind`, a JSON payload and,
//!    when a second request for the same work must not make a second job, a dedupe key
//!    (unique; the existing job's id is returned instead). After the commit, call
//!    [`Jobs::wake`] so an idle worker of this process starts at once.
//! 2. Give the worker a [`Handler`] (the domain's dispatcher on `kind`, assembled in
//!    `app`): [`Handler::perform`] does the work outside any transaction and returns the
//!    job's result text (stored in `jobs.result`) or a [`Failure`] (transient: retried
//!    with backoff; permanent: dead at once); [`Handler::settle`] writes what the outcome
//!    means for the job's subject in the same transaction that marks the job done,
//!    retrying or dead — and only while this worker still holds the lease, so an outcome
//!    is written once even when a lease expired under a slow attempt.
//! 3. The job's state is visible in its row ([`get`], [`by_dedupe_key`]): `queued`,
//!    `running` (claimed; `claimed_until` is the lease's end), `retrying` (with
//!    `next_attempt_at` and `last_error`), `done` or `dead`; `attempts` counts every
//!    claim, a crashed one included.
//!
//! Work must be safe to repeat: a process that dies mid-attempt loses the attempt's
//! effects outside the database, and the job runs again once its lease expires.

pub mod worker;

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::config::JobsConfig;
use crate::db::{Db, Timestamp, Tx, on_tx, with_db};
pub use worker::{Claimed, Failure, Outcome, Policy, Queue, Signal, Table, Worker, backoff};

/// Where a job stands.
pub mod status {
    /// Waiting for its first attempt.
    pub const QUEUED: &str = "queued";
    /// Claimed by a worker (until `claimed_until`).
    pub const RUNNING: &str = "running";
    /// Failed; tried again at `next_attempt_at`.
    pub const RETRYING: &str = "retrying";
    /// Done.
    pub const DONE: &str = "done";
    /// Given up on after its last attempt (or a permanent failure).
    pub const DEAD: &str = "dead";
}

/// The columns of [`Job`] (the same list as [`TABLE`]'s).
macro_rules! columns {
    () => {
        "id, kind, payload, status, attempts, max_attempts, next_attempt_at, claimed_until, last_error, result, \
         dedupe_key, created_at, updated_at"
    };
}

/// The `jobs` table, as the shared worker sees it.
pub const TABLE: Table = Table {
    name: "jobs",
    claimable: "'queued', 'retrying', 'running'",
    running: Some(status::RUNNING),
    queued: status::QUEUED,
    done: status::DONE,
    retrying: status::RETRYING,
    dead: status::DEAD,
    columns: columns!(),
};

/// One job.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// What it does (`inquiry.classify`, ...).
    pub kind: String,
    /// Its input, as JSON text.
    pub payload: String,
    /// queued, running, retrying, done or dead.
    pub status: String,
    /// Attempts so far (claims, a crashed one included).
    pub attempts: i64,
    /// Attempts allowed before it is dead.
    pub max_attempts: i64,
    /// When it is due (its next attempt).
    pub next_attempt_at: Option<Timestamp>,
    /// The end of the current lease, while a worker holds it.
    pub claimed_until: Option<Timestamp>,
    /// The last failure.
    pub last_error: Option<String>,
    /// What it produced, once done.
    pub result: Option<String>,
    /// The key that makes a second request for the same work return this job.
    pub dedupe_key: Option<String>,
    /// Queued.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl Claimed for Job {
    fn id(&self) -> i64 {
        self.id
    }
    fn attempts(&self) -> i64 {
        self.attempts
    }
    fn max_attempts(&self) -> i64 {
        self.max_attempts
    }
}

impl Job {
    /// The payload as `T`.
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_str(&self.payload).map_err(|e| Failure::permanent(format!("bad payload: {e}")))
    }
}

/// A job to queue.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// What it does.
    pub kind: &'static str,
    /// Its input.
    pub payload: serde_json::Value,
    /// Makes queuing idempotent: the job already holding this key is returned.
    pub dedupe_key: Option<String>,
    /// Not before (now when unset).
    pub run_after: Option<Timestamp>,
}

impl NewJob {
    /// A job of `kind` due now.
    pub fn new(kind: &'static str, payload: serde_json::Value) -> Self {
        Self { kind, payload, dedupe_key: None, run_after: None }
    }

    /// With a dedupe key.
    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
}

/// Queues `job` inside `tx` and returns its id (or the id of the job already holding
/// its dedupe key).
pub async fn enqueue_in(tx: &mut Tx, job: &NewJob, max_attempts: u32) -> Result<i64, sqlx::Error> {
    let now = Timestamp::now();
    let payload = job.payload.to_string();
    let inserted: Option<i64> = on_tx!(tx, |conn| {
        sqlx::query_scalar(
        "INSERT INTO jobs (kind, payload, status, attempts, max_attempts, next_attempt_at, dedupe_key, created_at, updated_at) \
         VALUES ($1, $2, 'queued', 0, $3, $4, $5, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(job.kind)
    .bind(&payload)
    .bind(i64::from(max_attempts))
    .bind(job.run_after.unwrap_or(now))
    .bind(job.dedupe_key.as_deref())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    })?;
    match inserted {
        Some(id) => Ok(id),
        None => on_tx!(tx, |conn| sqlx::query_scalar("SELECT id FROM jobs WHERE dedupe_key = $1")
            .bind(job.dedupe_key.as_deref())
            .fetch_one(&mut *conn)
            .await),
    }
}

/// [`enqueue_in`] in a transaction of its own.
pub async fn enqueue(db: &Db, job: &NewJob, max_attempts: u32) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let id = enqueue_in(&mut tx, job, max_attempts).await?;
    tx.commit().await?;
    Ok(id)
}

/// Queues a finished or dead job again with a fresh set of attempts, due now (inside
/// `tx`). Returns false when the job is still queued, running or retrying.
pub async fn requeue_in(tx: &mut Tx, id: i64, max_attempts: u32) -> Result<bool, sqlx::Error> {
    let now = Timestamp::now();
    on_tx!(tx, |conn| sqlx::query(
        "UPDATE jobs SET status = 'queued', next_attempt_at = $2, updated_at = $2, last_error = NULL, result = NULL, \
         max_attempts = attempts + $3 WHERE id = $1 AND status IN ('done', 'dead')",
    )
    .bind(id)
    .bind(now)
    .bind(i64::from(max_attempts))
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected() == 1))
}

/// One job.
pub async fn get(db: &Db, id: i64) -> Result<Option<Job>, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_as(concat!("SELECT ", columns!(), " FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await)
}

/// The job holding a dedupe key.
pub async fn by_dedupe_key(db: &Db, key: &str) -> Result<Option<Job>, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_as(concat!("SELECT ", columns!(), " FROM jobs WHERE dedupe_key = $1"))
        .bind(key)
        .fetch_optional(pool)
        .await)
}

/// The work behind each job kind, supplied by the domain.
pub trait Handler: Send + Sync + 'static {
    /// Does the job's work (outside any transaction): its result text, or why not.
    fn perform(&self, job: &Job) -> impl Future<Output = Result<String, Failure>> + Send;

    /// Writes what `outcome` means for the job's subject, in the transaction that
    /// stores it; called only while the worker still holds the job's lease.
    fn settle(&self, tx: &mut Tx, job: &Job, outcome: &Outcome)
    -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// After the outcome was stored (announce it).
    fn settled(&self, job: &Job, outcome: &Outcome) -> impl Future<Output = ()> + Send;
}

/// The `jobs` table as a [`Queue`] whose work is `H`'s.
pub struct JobQueue<H: Handler>(pub H);

impl<H: Handler> Queue for JobQueue<H> {
    type Item = Job;
    const TABLE: Table = TABLE;

    async fn perform(&self, job: &Job) -> Result<String, Failure> {
        self.0.perform(job).await
    }

    async fn record(&self, tx: &mut Tx, job: &Job, outcome: &Outcome, held: bool) -> Result<(), sqlx::Error> {
        if !held {
            return Ok(());
        }
        if let Outcome::Done(result) = outcome {
            on_tx!(&mut *tx, |conn| sqlx::query("UPDATE jobs SET result = $2 WHERE id = $1")
                .bind(job.id)
                .bind(result)
                .execute(&mut *conn)
                .await
                .map(|_| ()))?;
        }
        self.0.settle(tx, job, outcome).await
    }

    async fn settled(&self, job: &Job, outcome: &Outcome) {
        self.0.settled(job, outcome).await;
    }
}

/// The handle on the jobs worker that the domain holds: its settings and its wake-up.
pub struct Jobs {
    config: JobsConfig,
    signal: Arc<Signal>,
}

impl Jobs {
    /// A handle for `config`.
    pub fn new(config: JobsConfig) -> Self {
        Self { config, signal: Arc::default() }
    }

    /// Attempts a new job gets.
    pub fn max_attempts(&self) -> u32 {
        self.config.max_attempts
    }

    /// A job is due now: an idle worker of this process looks at once.
    pub fn wake(&self) {
        self.signal.wake();
    }

    /// Asks the worker to stop after the jobs it is running.
    pub fn stop(&self) {
        self.signal.stop();
    }

    /// How the worker works the table.
    pub fn policy(&self) -> Policy {
        let c = &self.config;
        Policy {
            concurrency: c.concurrency,
            poll: c.poll,
            cutoff: c.timeout,
            lease: c.lease(),
            retry_base: c.retry_base,
            retry_max: c.retry_max,
        }
    }

    /// The worker that runs `handler`'s jobs on `db`, woken through this handle.
    pub fn worker<H: Handler>(&self, db: Db, handler: H) -> Worker<JobQueue<H>> {
        Worker::new(db, JobQueue(handler), self.policy(), self.signal.clone())
    }
}

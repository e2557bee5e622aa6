//! The domain's context: what calls, email, agents, auth and users need to do their
//! work (configuration, database, events bus, the agents' pipeline, the email worker's
//! and the jobs worker's handles, token keys), owned below the HTTP layers.
//!
//! `web/` and `api/` reach it through [`crate::app::AppState`], which wraps it together
//! with what only HTTP needs (CSRF key, public-page limits, request metrics). Nothing in
//! the domain imports `web`, `api` or `app`; `src/layers.rs` checks that.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tracing::Instrument;

use crate::agents::pipeline::Pipeline;
use crate::auth::tokens::Keys;
use crate::config::Config;
use crate::db::Db;
use crate::email::deliver::Mailer;
use crate::events::Bus;
use crate::jobs::Jobs;

/// Shared, cheaply clonable domain context.
#[derive(Clone)]
pub struct Ctx(Arc<Inner>);

struct Inner {
    config: Config,
    db: Db,
    bus: Arc<Bus>,
    pipeline: Pipeline,
    mailer: Arc<Mailer>,
    jobs: Jobs,
    keys: Keys,
    dummy_hash: String,
    turns: Arc<Turns>,
    clock: Clock,
}

/// The parts a [`Ctx`] is made of.
pub struct Parts {
    /// The configuration in force.
    pub config: Config,
    /// The database.
    pub db: Db,
    /// The events bus.
    pub bus: Arc<Bus>,
    /// The three agents over the configured model.
    pub pipeline: Pipeline,
    /// The email delivery worker.
    pub mailer: Arc<Mailer>,
    /// JWT keys.
    pub keys: Keys,
    /// A valid argon2id hash of a random password (see [`Ctx::dummy_hash`]).
    pub dummy_hash: String,
}

impl Ctx {
    /// Assembles the context.
    pub fn new(parts: Parts) -> Self {
        let Parts { config, db, bus, pipeline, mailer, keys, dummy_hash } = parts;
        let jobs = Jobs::new(config.jobs.clone());
        Self(Arc::new(Inner {
            config,
            db,
            bus,
            pipeline,
            mailer,
            jobs,
            keys,
            dummy_hash,
            turns: Arc::default(),
            clock: Clock::default(),
        }))
    }
    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.0.config
    }
    /// The database.
    pub fn db(&self) -> &Db {
        &self.0.db
    }
    /// JWT keys.
    pub fn keys(&self) -> &Keys {
        &self.0.keys
    }
    /// A valid argon2id hash of a random password, verified against when the user is
    /// unknown so that timing does not reveal account existence.
    pub fn dummy_hash(&self) -> &str {
        &self.0.dummy_hash
    }
    /// The three agents over the configured model.
    pub fn pipeline(&self) -> &Pipeline {
        &self.0.pipeline
    }
    /// The events bus.
    pub fn bus(&self) -> &Bus {
        &self.0.bus
    }
    /// The events bus, for tasks and streams that outlive a request.
    pub fn bus_handle(&self) -> Arc<Bus> {
        self.0.bus.clone()
    }
    /// The email delivery worker's handle (wake it when an email is queued).
    pub fn mailer(&self) -> &Mailer {
        &self.0.mailer
    }
    /// The email delivery worker, to run and stop it.
    pub fn mailer_handle(&self) -> Arc<Mailer> {
        self.0.mailer.clone()
    }
    /// The background jobs' handle (wake the worker when a job is queued).
    pub fn jobs(&self) -> &Jobs {
        &self.0.jobs
    }
    /// Background customer turns.
    pub fn turns(&self) -> &Arc<Turns> {
        &self.0.turns
    }
    /// The clock business hours are judged by.
    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }
}

/// The time business hours are judged at: the system clock, or an instant a test sets
/// so that "outside hours" does not depend on when the suite runs. Only the decisions
/// that depend on the hour of the day read it; records keep the real time.
#[derive(Default)]
pub struct Clock {
    fixed: std::sync::Mutex<Option<crate::db::Timestamp>>,
}

impl Clock {
    /// The current instant (the set one, if any).
    pub fn now(&self) -> crate::db::Timestamp {
        let fixed = *self.fixed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        fixed.unwrap_or_else(crate::db::Timestamp::now)
    }

    /// Fixes the clock at `at` (`None`: back to the system clock).
    pub fn set(&self, at: Option<crate::db::Timestamp>) {
        *self.fixed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

/// Customer turns running on tasks of their own (every turn a request or a WhatsApp
/// message starts), so that shutdown lets them finish and store their reply; and the
/// lock that runs a call's turns one at a time.
#[derive(Default)]
pub struct Turns {
    running: AtomicUsize,
    idle: tokio::sync::Notify,
    /// Per call with a turn running or waiting: the lock its turns take in turn.
    calls: std::sync::Mutex<std::collections::HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

/// The right to run the agents on one call ([`Turns::one_at_a_time`]); given up when
/// dropped.
pub struct CallTurn {
    turns: Arc<Turns>,
    call_id: i64,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for CallTurn {
    fn drop(&mut self) {
        self.guard.take();
        let mut calls = self.turns.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Nobody else holds or waits for it (waiters clone it under this lock): gone.
        if calls.get(&self.call_id).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            calls.remove(&self.call_id);
        }
    }
}

impl Turns {
    /// Runs `turn` on its own task, counted until it ends.
    pub fn spawn<F>(self: &Arc<Self>, turn: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        /// Counts a turn as ended when dropped, a turn that panicked included.
        struct Running(Arc<Turns>);
        impl Drop for Running {
            fn drop(&mut self) {
                if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
                    self.0.idle.notify_waiters();
                }
            }
        }
        self.running.fetch_add(1, Ordering::SeqCst);
        let running = Running(self.clone());
        // Boxed: an async block that awaits a future it captured holds it twice (the
        // captured value and the one being awaited), and a turn's future is tens of KB.
        let turn = Box::pin(turn);
        tokio::spawn(
            async move {
                let _running = running;
                turn.await
            }
            .in_current_span(),
        )
    }

    /// Runs `turn` on its own task ([`Turns::spawn`]) and waits for its outcome. A
    /// request's turn runs this way: should its client go away (the request's future
    /// dropped midway), the turn still runs to its end and stores its reply, rather
    /// than stopping with the customer's message stored and unanswered until the turn
    /// recovery hands the call to a person.
    ///
    /// The turn is spawned when this is called, not when the answer is first polled:
    /// the future returned holds only the task's handle, not a copy of the turn's
    /// future (which would stay in the request's future, unused, for the whole turn).
    pub fn finish<T, F>(
        self: &Arc<Self>,
        turn: F,
    ) -> impl std::future::Future<Output = crate::error::AppResult<T>> + Send + 'static
    where
        F: std::future::Future<Output = crate::error::AppResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let handle = self.spawn(turn);
        async move { handle.await.map_err(|e| anyhow::anyhow!("customer turn stopped: {e}"))? }
    }

    /// Waits until no other turn of call `call_id` runs in this process (waiters go in
    /// the order they started waiting). A customer who writes again while the agents
    /// still answer their last message (short messages in a row are how people chat)
    /// gets the next answer from agents that read the previous one, instead of two
    /// answers written side by side, the second blind to the first. Nodes do not wait
    /// for each other's turns. What the agents read must be read once this returns.
    pub async fn one_at_a_time(self: &Arc<Self>, call_id: i64) -> CallTurn {
        let guard = self.lock_of(call_id).lock_owned().await;
        CallTurn { turns: self.clone(), call_id, guard: Some(guard) }
    }

    /// [`Turns::one_at_a_time`] when no turn of the call runs now; `None` otherwise.
    pub fn one_at_a_time_now(self: &Arc<Self>, call_id: i64) -> Option<CallTurn> {
        let guard = self.lock_of(call_id).try_lock_owned().ok();
        // Dropped at once when taken by another turn: its entry stays for that one.
        guard.map(|guard| CallTurn { turns: self.clone(), call_id, guard: Some(guard) })
    }

    /// The lock of call `call_id`'s turns, made when no turn holds or waits for it.
    fn lock_of(&self, call_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut calls = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        calls.entry(call_id).or_default().clone()
    }

    /// Waits until no turn runs, or `limit` has passed.
    pub async fn drain(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let idle = self.idle.notified();
                if self.running.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A turn's future is tens of KB: the request awaiting it must hold only the
    /// task's handle, not another copy of it.
    #[tokio::test]
    async fn awaiting_a_turn_holds_its_handle_not_its_future() {
        let turns = Arc::new(Turns::default());
        let big = [7u8; 64 * 1024];
        let turn = async move { Ok::<u64, crate::error::AppError>(big.iter().map(|&b| u64::from(b)).sum()) };
        assert!(std::mem::size_of_val(&turn) >= 64 * 1024);
        let answer = turns.finish(turn);
        assert!(std::mem::size_of_val(&answer) < 1024, "{} bytes", std::mem::size_of_val(&answer));
        // Spawned when asked for, counted until it ends.
        assert_eq!(turns.running.load(Ordering::SeqCst), 1);
        assert_eq!(answer.await.ok(), Some(7 * 64 * 1024));
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while turns.running.load(Ordering::SeqCst) != 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the turn is counted as ended");
    }
}

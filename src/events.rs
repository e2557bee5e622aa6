//! The events bus behind every live page and `GET /api/v1/events`.
//!
//! Every event is a row in `events` first; its id is the SSE id a reconnecting client
//! sends back as `Last-Event-ID`. One pump task per process reads new rows in id order
//! and broadcasts them to that process's subscribers; the events this process itself
//! commits reach it as they are ([`Bus::commit`]), so it reads the log only for the
//! others' (or after a gap in the ids). The pump wakes when this process
//! publishes, on PostgreSQL also on `NOTIFY centralita_events` from any process sharing
//! the database, and every `CENTRALITA_EVENTS_POLL_MS` (2 s) regardless (so a missed
//! notification only delays an event). On PostgreSQL, inserts take a transaction-scoped advisory lock so
//! that ids become visible in order and the pump's cursor never skips one.
//!
//! Reply text streaming to a customer ("typing") is not stored: it goes through an
//! in-process channel of the call's own, which exists only while a customer page of the
//! call follows it on this process, and the stored `message` event that follows is
//! authoritative. A turn asks [`Bus::watched`] whether anyone follows its call before
//! it has the reply streamed at all.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde::Serialize;
use serde_json::Value;
use sqlx::AssertSqlSafe;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;

use crate::db::with_db;
use crate::db::{Db, Timestamp, Tx, TxInner};
use crate::error::AppResult;

mod payload;

pub use payload::{CallChange, CallFields, MessageData, Payload};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A customer started a call.
    CallCreated,
    /// Classification, rating or consent changed.
    CallUpdated,
    /// A message was stored (customer, AI, human or system).
    Message,
    /// The supervisor agent put the call in its department's human queue.
    Escalated,
    /// A staff member took the call.
    TakenOver,
    /// The staff member gave the call back to the AI.
    HandedBack,
    /// The call ended.
    Closed,
    /// The AI asked for an action only a person may approve.
    ActionPending,
    /// A supervisor approved or rejected it.
    ActionDecided,
    /// A staff member's availability changed.
    Presence,
    /// A customer's record changed (details, a payment, a ticket): staff pages showing
    /// it redraw; never sent to the customer's page.
    CustomerChanged,
    /// A staff member opened a ticket from the call (staff only).
    TicketOpened,
    /// Staff transferred the call to a department or a person (staff only).
    Transferred,
    /// Staff added an internal note to the call (staff only; never the customer's).
    NoteAdded,
    /// A written inquiry arrived, was classified, failed, or staff changed or answered
    /// it (staff only; no text): the board redraws its inquiry queue.
    InquiryChanged,
    /// A message sent over WhatsApp changed delivery status (sent, delivered, read,
    /// failed; staff only): the call's page redraws its ticks.
    WhatsappStatus,
}

impl Kind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CallCreated => "call_created",
            Self::CallUpdated => "call_updated",
            Self::Message => "message",
            Self::Escalated => "escalated",
            Self::TakenOver => "taken_over",
            Self::HandedBack => "handed_back",
            Self::Closed => "closed",
            Self::ActionPending => "action_pending",
            Self::ActionDecided => "action_decided",
            Self::Presence => "presence",
            Self::CustomerChanged => "customer_changed",
            Self::TicketOpened => "ticket_opened",
            Self::Transferred => "transferred",
            Self::NoteAdded => "note_added",
            Self::InquiryChanged => "inquiry_changed",
            Self::WhatsappStatus => "whatsapp_status",
        }
    }
}

/// A stored event.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Position in the log (the SSE id).
    pub id: i64,
    /// Wire name of the [`Kind`].
    pub kind: String,
    /// The call it concerns, if any.
    pub call_id: Option<i64>,
    /// When.
    pub at: Timestamp,
    /// Kind-specific details.
    pub data: Value,
}

/// How many events a slow subscriber may fall behind before it catches up from the
/// database instead.
const CAPACITY: usize = 1024;
/// How many pieces of reply text a customer page may fall behind (the built-in
/// engine writes a reply word by word, all at once); it then misses some, and the
/// stored reply replaces them on the page moments later.
const TYPING_CAPACITY: usize = 128;
/// Rows read per query when catching up.
const PAGE: i64 = 500;
const CHANNEL: &str = "centralita_events";

/// The insert of one event row from the four SQL expressions given (kind, call, data,
/// time), returning its id.
macro_rules! event_insert_sql {
    ($kind:expr, $call:expr, $data:expr, $at:expr) => {
        concat!(
            "INSERT INTO events (kind, call_id, data, at) VALUES (",
            $kind,
            ", ",
            $call,
            ", ",
            $data,
            ", ",
            $at,
            ") RETURNING id"
        )
    };
}
pub(crate) use event_insert_sql;

const INSERT: &str = event_insert_sql!("$1", "$2", "$3", "$4");

/// What an event's row holds besides its call: kind, data and time.
fn event_row(payload: &Payload) -> Result<(Kind, String, Timestamp), sqlx::Error> {
    let data = serde_json::to_string(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    Ok((payload.kind(), data, Timestamp::now()))
}

/// Stores an event inside the caller's transaction, so it is published exactly when
/// the change it reports is committed; commit with [`Bus::commit`] (or call
/// [`Bus::wake`] after the commit). Record
/// events as the transaction's last statements: on PostgreSQL the events lock is held
/// from here to the commit, and a transaction that waits for a row lock while holding
/// it would stall every other writer (or deadlock with one).
///
/// On PostgreSQL, events are numbered under a transaction-scoped lock so that ids
/// become visible in order (a reader's cursor never skips an id committed late), and
/// the notification to other processes is sent on commit. On SQLite (one writer at a
/// time) they are inserted with the `COMMIT`, in the same hand-off to the connection's
/// thread ([`Tx::commit`]).
pub async fn record_in(tx: &mut Tx, call_id: Option<i64>, payload: &Payload) -> Result<(), sqlx::Error> {
    record_all_in(tx, call_id, std::slice::from_ref(payload)).await
}

/// [`record_in`] for several events of one call at once, in order: one statement
/// whatever their number (on PostgreSQL the lock, the rows and the notification
/// included).
pub async fn record_all_in(tx: &mut Tx, call_id: Option<i64>, payloads: &[Payload]) -> Result<(), sqlx::Error> {
    if payloads.is_empty() {
        return Ok(());
    }
    let at = Timestamp::now();
    let mut kinds = Vec::with_capacity(payloads.len());
    let mut data = Vec::with_capacity(payloads.len());
    for payload in payloads {
        kinds.push(payload.kind().as_str());
        data.push(serde_json::to_string(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?);
    }
    let mut ids: Vec<i64> = match &mut tx.inner {
        // Numbered when inserted, with the commit.
        TxInner::Sqlite(_) => vec![0; payloads.len()],
        TxInner::Postgres(tx) => {
            sqlx::query_scalar(PG_INSERT)
                .bind(&kinds)
                .bind(call_id)
                .bind(&data)
                .bind(at)
                .bind(CHANNEL)
                .fetch_all(&mut **tx)
                .await?
        }
    };
    // Drawn in order; returned in whatever order the database chose.
    ids.sort_unstable();
    // Kept with the transaction as the log will hold them, for `Bus::commit`.
    for ((&id, kind), data) in ids.iter().zip(kinds).zip(data) {
        let value = serde_json::from_str(&data).unwrap_or(Value::Null);
        tx.events.push(Event { id, kind: kind.to_owned(), call_id, at, data: value });
        if matches!(tx.inner, TxInner::Sqlite(_)) {
            tx.unsent.push(data);
        }
    }
    Ok(())
}

/// Inserts `events` (their ids not yet drawn) on SQLite and commits `tx`, in one
/// hand-off; numbers the events as the log holds them. `data` is each event's data as
/// stored.
pub(crate) async fn insert_and_commit(
    tx: crate::db::sqlite::Transaction,
    events: &mut [Event],
    data: &[String],
) -> Result<(), sqlx::Error> {
    let sql = sqlite_insert(events.len());
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (event, data) in events.iter().zip(data) {
        query = query.bind(event.kind.as_str()).bind(event.call_id).bind(data.as_str()).bind(event.at);
    }
    let mut ids = tx.commit_after(query, |row| sqlx::Row::try_get::<i64, _>(row, 0)).await?;
    ids.sort_unstable();
    for (event, id) in events.iter_mut().zip(ids) {
        event.id = id;
    }
    Ok(())
}

/// Inserts events on PostgreSQL (`$1` kinds, `$2` call, `$3` data, `$4` time, `$5` the
/// channel to notify). The lock is taken before any id is drawn (a row needs both
/// sides of the join) and held to the commit, so ids become visible in order.
const PG_INSERT: &str = "WITH ins AS (INSERT INTO events (kind, call_id, data, at) \
     SELECT u.kind, $2, u.data, $4 FROM UNNEST($1::text[], $3::text[]) WITH ORDINALITY AS u(kind, data, n) \
     CROSS JOIN (SELECT pg_advisory_xact_lock(7270001)) AS l ORDER BY u.n RETURNING id) \
     SELECT id FROM ins, LATERAL (SELECT pg_notify($5, id::text)) AS n";

/// The SQLite statement inserting `n` events (one per row of `VALUES`).
fn sqlite_insert(n: usize) -> String {
    let rows: Vec<String> =
        (0..n).map(|i| format!("(${}, ${}, ${}, ${})", 4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4)).collect();
    format!("INSERT INTO events (kind, call_id, data, at) VALUES {} RETURNING id", rows.join(", "))
}

/// The bus; cheap to share behind an `Arc`.
pub struct Bus {
    db: Db,
    tx: broadcast::Sender<Arc<Event>>,
    /// Reply text for each call a customer page follows on this process (only those:
    /// a piece goes to the pages of its call, never past every open page).
    typing: Mutex<HashMap<i64, broadcast::Sender<String>>>,
    wake: Notify,
    /// Set by [`Bus::wake`]: events were stored that the pump must read from the log.
    stale: AtomicBool,
    /// Events this process committed ([`Bus::commit`], [`Bus::publish`]), waiting for the
    /// pump to broadcast them without reading them back.
    pending: Mutex<Vec<Event>>,
    /// On PostgreSQL, ids of events this process is committing: their notification
    /// needs no read, the event itself follows through `pending`.
    own: Mutex<Vec<i64>>,
    /// The id of the last event the pump broadcast (-1 until it starts).
    cursor: AtomicI64,
    /// The highest id among the events this process committed and handed to the pump.
    committed: AtomicI64,
    /// Set when the server shuts down: open streams end so that it can.
    stopping: tokio::sync::watch::Sender<bool>,
    /// How often the pump looks without a wake-up.
    poll: Duration,
}

impl Bus {
    /// A bus over `db` whose pump also looks every `poll`. Nothing is delivered until
    /// [`Bus::start`] runs the pump.
    pub fn new(db: Db, poll: Duration) -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            db,
            tx,
            typing: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            stale: AtomicBool::new(false),
            pending: Mutex::new(Vec::new()),
            own: Mutex::new(Vec::new()),
            cursor: AtomicI64::new(-1),
            committed: AtomicI64::new(0),
            stopping: tokio::sync::watch::Sender::new(false),
            poll,
        }
    }

    /// Commits `tx` and hands the events recorded in it ([`record_in`]) to this
    /// process's streams as they are, without the pump reading them back (other
    /// processes hear PostgreSQL's notification, or poll). Use it in place of
    /// `tx.commit()` followed by [`Bus::wake`].
    pub async fn commit(&self, tx: Tx) -> Result<(), sqlx::Error> {
        if tx.events.is_empty() {
            return tx.commit().await;
        }
        // Their notifications, which may arrive before the commit returns, need no read.
        let ids: Vec<i64> = match tx.inner {
            TxInner::Postgres(_) => tx.events.iter().map(|e| e.id).collect(),
            TxInner::Sqlite(_) => Vec::new(),
        };
        lock(&self.own).extend_from_slice(&ids);
        let mut unsure = Unsure { bus: self, ids, settled: false };
        let events = tx.commit_events().await?;
        unsure.settled = true;
        self.deliver(events);
        Ok(())
    }

    /// Runs `last` and commits `tx` (on SQLite) in one hand-off, for a caller whose
    /// `last` stores its events itself; returns `read` of each row it returned. The
    /// caller hands the events to [`Bus::deliver`]. Should the outcome be unknown (an
    /// error, or the caller stopped waiting), the pump reads the log.
    pub(crate) async fn commit_after<'q, T>(
        &self,
        tx: crate::db::sqlite::Transaction,
        last: impl sqlx::Execute<'q, sqlx::Sqlite>,
        read: impl Fn(&sqlx::sqlite::SqliteRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, sqlx::Error> {
        let mut unsure = Unsure { bus: self, ids: Vec::new(), settled: false };
        let rows = tx.commit_after(last, read).await?;
        unsure.settled = true;
        Ok(rows)
    }

    /// Queues committed events for the pump to broadcast as they are.
    pub(crate) fn deliver(&self, events: Vec<Event>) {
        if let Some(last) = events.iter().map(|e| e.id).max() {
            self.committed.fetch_max(last, Ordering::AcqRel);
        }
        lock(&self.pending).extend(events);
        self.wake.notify_one();
    }

    /// Stores an event and wakes the pumps of every process.
    pub async fn publish(&self, call_id: Option<i64>, payload: &Payload) -> AppResult<i64> {
        let (kind, data, at) = event_row(payload)?;
        let id = match &self.db {
            // One statement is its own transaction: no BEGIN/COMMIT round trips.
            Db::Sqlite(pool) => {
                sqlx::query_scalar(INSERT)
                    .bind(kind.as_str())
                    .bind(call_id)
                    .bind(&data)
                    .bind(at)
                    .fetch_one(pool)
                    .await?
            }
            // One statement (lock, row, notification) is its own transaction too; the
            // lock lasts until it commits.
            Db::Postgres(pool) => {
                sqlx::query_scalar(PG_INSERT)
                    .bind([kind.as_str()])
                    .bind(call_id)
                    .bind([&data])
                    .bind(at)
                    .bind(CHANNEL)
                    .fetch_one(pool)
                    .await?
            }
        };
        let data = serde_json::from_str(&data).unwrap_or(Value::Null);
        self.deliver(vec![Event { id, kind: kind.as_str().to_owned(), call_id, at, data }]);
        Ok(id)
    }

    /// Wakes this process's pump to read the log: call it after committing events
    /// stored with [`record_in`] when not committing through [`Bus::commit`] (other
    /// processes hear PostgreSQL's notification, or poll).
    pub fn wake(&self) {
        self.stale.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Publishes, logging instead of failing: for callers whose own change has already
    /// been committed (the dashboards re-read the database on their next refresh).
    pub async fn emit(&self, call_id: Option<i64>, payload: Payload) {
        if let Err(err) = self.publish(call_id, &payload).await {
            tracing::warn!(error = %err, kind = payload.kind().as_str(), "event not published");
        }
    }

    /// Ends every open feed (graceful shutdown waits for open responses).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Streams reply text to a call's customer pages on this process, if any follows.
    pub fn typing(&self, call_id: i64, text: &str) {
        if let Some(tx) = lock(&self.typing).get(&call_id) {
            let _ = tx.send(text.to_owned());
        }
    }

    /// Whether a customer page follows call `call_id` on this process: when none does,
    /// a turn has no one to stream its reply to.
    pub fn watched(&self, call_id: i64) -> bool {
        lock(&self.typing).contains_key(&call_id)
    }

    /// Counts call `call_id` as followed until the returned hold drops, for a turn whose
    /// customer page is on its way: the page's form was sent by script (htmx), which
    /// opens the call's stream once it has the page, likely while the turn runs.
    pub fn page_coming(self: &Arc<Self>, call_id: i64) -> PageComing {
        PageComing { _watch: self.watch(call_id) }
    }

    /// Follows the reply text of call `call_id` until the returned watch drops.
    fn watch(self: &Arc<Self>, call_id: i64) -> TypingWatch {
        let rx = lock(&self.typing).entry(call_id).or_insert_with(|| broadcast::channel(TYPING_CAPACITY).0).subscribe();
        TypingWatch { bus: self.clone(), call_id, rx: Some(rx) }
    }

    /// Events stored after `after`, oldest first, at most `limit`.
    pub async fn since(&self, after: i64, limit: i64) -> AppResult<Vec<Event>> {
        let rows: Vec<EventRow> = with_db!(&self.db, |pool| sqlx::query_as(
            "SELECT id, kind, call_id, data, at FROM events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(to_events(rows))
    }

    /// One call's events stored after `after`, oldest first, at most `limit` (the
    /// `events_call_idx` index: a customer's replay never reads other calls' rows).
    pub async fn since_for_call(&self, call_id: i64, after: i64, limit: i64) -> AppResult<Vec<Event>> {
        let rows: Vec<EventRow> = with_db!(&self.db, |pool| {
            sqlx::query_as(
            "SELECT id, kind, call_id, data, at FROM events WHERE call_id = $1 AND id > $2 ORDER BY call_id, id LIMIT $3",
        )
        .bind(call_id)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
        })?;
        Ok(to_events(rows))
    }

    /// Where a live stream of this process starts so that it misses nothing later and
    /// repeats nothing earlier: the newest event this process committed or broadcast
    /// (no query; another process's events not yet broadcast here are heard again by a
    /// stream that starts now, which only redraws what it shows), or before the pump
    /// runs the newest stored id (0 when there is none).
    pub async fn latest_id(&self) -> AppResult<i64> {
        match self.cursor.load(Ordering::Acquire) {
            -1 => self.stored_latest_id().await,
            cursor => Ok(cursor.max(self.committed.load(Ordering::Acquire))),
        }
    }

    /// The newest stored event id (0 when there is none).
    async fn stored_latest_id(&self) -> AppResult<i64> {
        let id: Option<i64> =
            with_db!(&self.db, |pool| sqlx::query_scalar("SELECT MAX(id) FROM events").fetch_one(pool).await)?;
        Ok(id.unwrap_or(0))
    }

    /// Starts the pump (and on PostgreSQL the listener). Abort the handles on shutdown.
    pub async fn start(self: &Arc<Self>) -> AppResult<Vec<JoinHandle<()>>> {
        let mut tasks = Vec::new();
        let cursor = self.stored_latest_id().await?;
        self.cursor.store(cursor, Ordering::Release);
        let bus = self.clone();
        tasks.push(tokio::spawn(async move { bus.pump(cursor).await }));
        if let Db::Postgres(pool) = &self.db {
            let bus = self.clone();
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move { bus.listen(pool).await }));
        }
        Ok(tasks)
    }

    /// Broadcasts every event in id order: those this process committed as they are,
    /// while they follow on from the last one broadcast; otherwise (events of other
    /// processes, a gap, a plain [`Bus::wake`], every `poll`) it reads the log.
    async fn pump(&self, mut cursor: i64) {
        loop {
            let woken = tokio::time::timeout(self.poll, self.wake.notified()).await.is_ok();
            let stale = self.stale.swap(false, Ordering::AcqRel);
            let mut read = !woken || stale;
            let mut direct = std::mem::take(&mut *lock(&self.pending));
            direct.sort_unstable_by_key(|e| e.id);
            for event in direct {
                if event.id <= cursor {
                    continue;
                }
                if event.id != cursor + 1 {
                    // Someone else's events come between (or ids were skipped):
                    // the log has them all.
                    read = true;
                    break;
                }
                cursor = event.id;
                let _ = self.tx.send(Arc::new(event));
            }
            while read {
                match self.since(cursor, PAGE).await {
                    Ok(batch) => {
                        read = batch.len() as i64 == PAGE;
                        for event in batch {
                            cursor = event.id;
                            let _ = self.tx.send(Arc::new(event));
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "events pump could not read the log");
                        self.stale.store(true, Ordering::Release);
                        break;
                    }
                }
            }
            self.cursor.store(cursor, Ordering::Release);
            let mut own = lock(&self.own);
            if !own.is_empty() {
                own.retain(|&id| id > cursor);
            }
        }
    }

    /// Whether a notification of event `id` needs the pump to read the log: not when
    /// it was broadcast already or this process is committing it.
    fn needs_read(&self, id: Option<i64>) -> bool {
        match id {
            Some(id) => id > self.cursor.load(Ordering::Acquire) && !lock(&self.own).contains(&id),
            None => true,
        }
    }

    async fn listen(&self, pool: sqlx::PgPool) {
        loop {
            let listener = async {
                let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
                listener.listen(CHANNEL).await?;
                // Events committed before this subscription (the node just started, or
                // the listener reconnected) were notified to nobody here: the pump reads
                // the log once now instead of at its next poll.
                self.wake();
                loop {
                    let note = listener.recv().await?;
                    if self.needs_read(note.payload().parse().ok()) {
                        self.wake();
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            if let Err(err) = listener.await {
                tracing::warn!(error = %err, "events listener lost its connection; retrying");
            }
            // Whatever was missed meanwhile is picked up by the pump's own polling.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Deletes events older than `keep` (reconnecting pages only ever need minutes).
    pub async fn prune(&self, keep: time::Duration) -> AppResult<u64> {
        let before = Timestamp::from(time::OffsetDateTime::now_utc() - keep);
        Ok(with_db!(&self.db, |pool| sqlx::query("DELETE FROM events WHERE at < $1")
            .bind(before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// A live feed: first the stored events after `after` (when a client reconnects
    /// with `Last-Event-ID`), then new events as they come; with `typing_for`, also the
    /// reply text streamed to that call's customer, and catching up reads only that
    /// call's events, one page at most (a customer page needs the latest change, not
    /// the day's history; an anonymous `after=0` must not make the server read every
    /// call's events). A staff subscriber that falls behind catches up from the
    /// database, so nothing is skipped.
    pub async fn feed(
        self: &Arc<Self>,
        after: Option<i64>,
        typing_for: Option<i64>,
    ) -> AppResult<impl Stream<Item = Item> + Send + use<>> {
        // Subscribe before reading the log so that nothing falls between the two.
        let rx = self.tx.subscribe();
        let typing = typing_for.map(|id| self.watch(id));
        let last = match after {
            Some(id) => id,
            None => self.latest_id().await?,
        };
        let state = Feed {
            bus: self.clone(),
            rx,
            typing,
            backlog: VecDeque::new(),
            last,
            catching_up: after.is_some(),
            call: typing_for,
        };
        let mut stopping = self.stopping.subscribe();
        let stopped = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        Ok(futures_util::stream::unfold(state, |mut feed| async move {
            let item = feed.next().await?;
            Some((item, feed))
        })
        .take_until(Box::pin(stopped)))
    }
}

/// Events whose commit did not come back (an error, or the request was dropped while
/// committing): perhaps committed all the same, so once dropped, their notifications
/// count again and the pump reads the log.
struct Unsure<'a> {
    bus: &'a Bus,
    ids: Vec<i64>,
    /// The commit came back: the events go to the pump as they are.
    settled: bool,
}

impl Drop for Unsure<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if !self.ids.is_empty() {
            lock(&self.bus.own).retain(|id| !self.ids.contains(id));
        }
        self.bus.wake();
    }
}

/// A hold from [`Bus::page_coming`]; what it receives is never read.
pub struct PageComing {
    _watch: TypingWatch,
}

/// A customer page's hold on its call's reply text; the call's channel goes when the
/// last page following it does.
struct TypingWatch {
    bus: Arc<Bus>,
    call_id: i64,
    /// Always set until dropped.
    rx: Option<broadcast::Receiver<String>>,
}

impl Drop for TypingWatch {
    fn drop(&mut self) {
        let mut typing = lock(&self.bus.typing);
        // Under the lock, so that no page subscribes between the two.
        drop(self.rx.take());
        if typing.get(&self.call_id).is_some_and(|tx| tx.receiver_count() == 0) {
            typing.remove(&self.call_id);
        }
    }
}

/// Locks one of the bus's small lists; a panic while one was held left it usable.
fn lock<T>(list: &Mutex<T>) -> MutexGuard<'_, T> {
    list.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An `events` row as read: id, kind, call, data (JSON text), time.
type EventRow = (i64, String, Option<i64>, String, Timestamp);

fn to_events(rows: Vec<EventRow>) -> Vec<Event> {
    rows.into_iter()
        .map(|(id, kind, call_id, data, at)| Event {
            id,
            kind,
            call_id,
            at,
            data: serde_json::from_str(&data).unwrap_or(Value::Null),
        })
        .collect()
}

/// One item of a [`Bus::feed`].
#[derive(Clone, Debug)]
pub enum Item {
    /// A stored event.
    Event(Arc<Event>),
    /// Reply text for the followed call.
    Typing(String),
}

struct Feed {
    bus: Arc<Bus>,
    rx: broadcast::Receiver<Arc<Event>>,
    typing: Option<TypingWatch>,
    backlog: VecDeque<Arc<Event>>,
    /// Id of the last event handed out (or the client's Last-Event-ID).
    last: i64,
    /// True while stored events may remain to be read.
    catching_up: bool,
    /// The one call a customer's feed follows.
    call: Option<i64>,
}

impl Feed {
    async fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                if event.id > self.last {
                    self.last = event.id;
                    return Some(Item::Event(event));
                }
                continue;
            }
            if self.catching_up {
                let batch = match self.call {
                    Some(call_id) => self.bus.since_for_call(call_id, self.last, PAGE).await,
                    None => self.bus.since(self.last, PAGE).await,
                };
                match batch {
                    Ok(batch) => {
                        self.catching_up = self.call.is_none() && batch.len() as i64 == PAGE;
                        self.backlog.extend(batch.into_iter().map(Arc::new));
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "event catch-up failed");
                        self.catching_up = false;
                    }
                }
                continue;
            }
            let received = match self.typing.as_mut().and_then(|w| w.rx.as_mut()) {
                Some(typing) => {
                    // Typing first: a turn's text is all sent before its stored
                    // message is published, and must reach the page before it.
                    tokio::select! {
                        biased;
                        piece = typing.recv() => {
                            match piece {
                                Ok(text) => return Some(Item::Typing(text)),
                                Err(broadcast::error::RecvError::Lagged(_)) => None,
                                Err(broadcast::error::RecvError::Closed) => return None,
                            }
                        }
                        event = self.rx.recv() => Some(event),
                    }
                }
                None => Some(self.rx.recv().await),
            };
            match received {
                None => continue,
                Some(Ok(event)) => {
                    if event.id > self.last {
                        self.last = event.id;
                        return Some(Item::Event(event));
                    }
                }
                Some(Err(broadcast::error::RecvError::Lagged(_))) => {
                    self.catching_up = true;
                }
                Some(Err(broadcast::error::RecvError::Closed)) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call's reply text has a channel exactly while at least one customer page
    /// follows the call; staff feeds do not count, and closed pages leave nothing.
    #[tokio::test]
    async fn a_calls_typing_channel_lasts_while_a_page_follows_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/bus.db", dir.path().display()), 1).await.unwrap();
        let bus = Arc::new(Bus::new(db, Duration::from_secs(60)));
        let staff = bus.feed(Some(0), None).await.unwrap();
        assert!(!bus.watched(7), "a staff feed follows no call's text");
        let first = bus.feed(Some(0), Some(7)).await.unwrap();
        let second = bus.feed(Some(0), Some(7)).await.unwrap();
        assert!(bus.watched(7) && !bus.watched(8));
        bus.typing(8, "nobody hears this");
        drop(first);
        assert!(bus.watched(7), "one page still follows");
        drop(second);
        assert!(!bus.watched(7));
        let coming = bus.page_coming(7);
        assert!(bus.watched(7), "a page on its way counts");
        bus.typing(7, "unread");
        drop(coming);
        assert!(!bus.watched(7));
        assert!(lock(&bus.typing).is_empty(), "no channel left behind");
        drop(staff);
    }
}

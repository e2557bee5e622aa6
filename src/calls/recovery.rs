//! Turns a dead node left unanswered go to a person.
//!
//! A customer turn stores the customer's message first, then runs the agents, then
//! stores their steps with the call update, then the reply. A node killed in between
//! leaves the customer waiting forever: the call is `ai` with the customer's message
//! last (or already `queued` by the supervisor agent, with agent steps but no reply).
//! Every node looks for such calls at start and then periodically (the dead node may
//! never come back), and hands each to the human queue with a system note instead of
//! running the agents again: a rerun could repeat a tool's side effect or a pending
//! action, a person cannot.
//!
//! "Abandoned" means: the customer's last message has no answer (no agents' turn for
//! it, no person or note after it; see [`abandoned_where`]) and nothing about the call
//! changed for longer than the grace period, which is at least the longest a turn can
//! run (the service budget plus the routing and supervisor requests' timeouts and
//! retries; twice that by default), so a turn still running on a live node is never
//! taken from it.
//! The hand-over is one conditional `UPDATE` on the call row plus the note and its
//! events in the same transaction; the `UPDATE` moves `updated_at` past the cut-off, so when two nodes
//! race only one matches and only one note is written.

use std::time::Duration;

use super::{Call, MessageKind, MessageRole, call_columns, call_fields, insert_message};
use crate::context::Ctx;
use crate::db::Timestamp;
use crate::db::{on_tx, with_db};
use crate::error::AppResult;
use crate::events::{self, CallChange, Payload};

/// The escalation reason, and the system note's `agent` value, of a recovered turn.
pub const INTERRUPTED: &str = "interrupted";

/// The calls (up to `$2`) with a customer message whose turn was abandoned before `$1`
/// (see [`ABANDONED_WHERE`]).
const ABANDONED: &str = concat!(
    "SELECT c.id FROM calls c JOIN messages m ON m.id = \
     (SELECT MAX(id) FROM messages WHERE call_id = c.id AND role = 'customer') WHERE ",
    abandoned_where!(),
    " ORDER BY c.id LIMIT $2"
);

/// Whether call `c`, with `m` its last customer message, was abandoned mid-turn: nothing
/// about the call changed and the message is older than the cut-off `$1`, and
/// - `ai`: no turn of the agents answered `m` (none stored steps under its turn number,
///   which counts the customer's messages), and no person or system note came after
///   it. Only the AI's replies to the customer's earlier messages may follow it: a
///   message waiting for the answer to the one before (a call's turns run one at a
///   time) when the node died.
/// - `queued`: `m` is the last message and the agents ran after it (the supervisor
///   escalated, the node died before the reply); a customer writing while waiting for
///   a person is normal.
macro_rules! abandoned_where {
    () => {
        "c.status IN ('ai', 'queued') AND c.updated_at < $1 AND m.at < $1 AND ( \
         (c.status = 'ai' \
          AND NOT EXISTS (SELECT 1 FROM agent_runs r WHERE r.call_id = c.id \
              AND r.turn = (SELECT COUNT(*) FROM messages WHERE call_id = c.id AND role = 'customer' AND id <= m.id)) \
          AND NOT EXISTS (SELECT 1 FROM messages h WHERE h.call_id = c.id AND h.id > m.id AND h.role IN ('human', 'system'))) \
         OR (c.status = 'queued' AND m.id = (SELECT MAX(id) FROM messages WHERE call_id = c.id) \
          AND EXISTS (SELECT 1 FROM agent_runs r WHERE r.call_id = c.id AND r.at >= m.at)))"
    };
}
use abandoned_where;

/// Calls handed over per sweep; the next sweep takes the rest.
const BATCH: i64 = 200;

/// Hands every call abandoned for longer than `grace` to the human queue; returns
/// the ids this node handed over (another node racing gets the others).
#[tracing::instrument(skip_all)]
pub async fn sweep(ctx: &Ctx, grace: Duration) -> AppResult<Vec<i64>> {
    let cutoff = Timestamp::now().plus(-time::Duration::milliseconds(grace.as_millis().min(i64::MAX as u128) as i64));
    let candidates: Vec<i64> =
        with_db!(ctx.db(), |pool| sqlx::query_scalar(ABANDONED).bind(cutoff).bind(BATCH).fetch_all(pool).await)?;
    let mut handed = Vec::new();
    for call_id in candidates {
        if hand_over(ctx, call_id, cutoff).await? {
            handed.push(call_id);
        }
    }
    Ok(handed)
}

/// Moves one call to the queue with its note, unless another node (or a new customer
/// message, or a person) got there first. True when this node did it.
async fn hand_over(ctx: &Ctx, call_id: i64, cutoff: Timestamp) -> AppResult<bool> {
    let now = Timestamp::now();
    // The conditions on the call row itself (status, updated_at) are what PostgreSQL
    // re-checks after waiting for a racing node's lock, so they carry the exactly-once
    // guarantee; the message conditions only skip calls answered since.
    let mut tx = ctx.db().begin().await?;
    let changed = on_tx!(&mut tx, |conn| sqlx::query(concat!(
        "UPDATE calls SET status = 'queued', \
         queued_at = CASE WHEN status = 'queued' THEN COALESCE(queued_at, $2) ELSE $2 END, \
         escalation_reason = CASE WHEN status = 'queued' THEN COALESCE(escalation_reason, $4) ELSE $4 END, \
         department = COALESCE(department, 'general'), updated_at = $2 \
         WHERE id = $3 AND status IN ('ai', 'queued') AND updated_at < $1 \
         AND id IN (SELECT c.id FROM calls c JOIN messages m ON m.id = \
         (SELECT MAX(id) FROM messages WHERE call_id = c.id AND role = 'customer') WHERE c.id = $3 AND ",
        abandoned_where!(),
        ")"
    ))
    .bind(cutoff)
    .bind(now)
    .bind(call_id)
    .bind(INTERRUPTED)
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    if changed == 0 {
        return Ok(false);
    }
    let (_, note) =
        insert_message(&mut tx, call_id, MessageRole::System, Some(MessageKind::Interrupted), INTERRUPTED, None)
            .await?;
    let sql = concat!("SELECT ", call_columns!(), " FROM calls WHERE id = $1");
    let call: Call = on_tx!(&mut tx, |conn| sqlx::query_as(sql).bind(call_id).fetch_one(&mut *conn).await)?;
    let escalated = Payload::Escalated {
        department: call.department.map(crate::agents::Department::as_str),
        priority: call.priority.map(crate::agents::Priority::as_str),
        reason: call.escalation_reason.clone(),
    };
    // The note and its events are committed together: a node that dies right after
    // leaves no note the live pages were never told of.
    let news = [note, Payload::CallUpdated(CallChange::of(call_fields(&call))), escalated];
    events::record_all_in(&mut tx, Some(call_id), &news).await?;
    ctx.bus().commit(tx).await?;
    tracing::warn!(call_id, "an unanswered customer turn was handed to the human queue");
    Ok(true)
}

/// Sweeps at start and then every `CENTRALITA_TURN_RECOVERY_INTERVAL_SECONDS`, for
/// turns this node's previous life or another node abandoned.
pub async fn watch(ctx: Ctx) {
    let recovery = ctx.config().turn_recovery.clone();
    let mut tick = tokio::time::interval(recovery.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = sweep(&ctx, recovery.grace).await {
            tracing::warn!(error = %err, "unanswered-turn sweep failed");
        }
    }
}

//! Turns a dead node left unanswered go to a person.
//!
//! A customer turn stores the customer's message first, marked as awaiting its turn,
//! then runs the agents, then stores their steps, the call update and the reply, and
//! clears the mark, in one transaction. A node killed in between leaves the customer
//! waiting forever, and not only for the message being answered: the messages queued
//! behind it on the same call (a customer who wrote again while the agents answered)
//! are marked too, even when an earlier turn's reply was stored after them. Every node
//! looks for marked messages at start and then periodically (the dead node may never
//! come back), and hands each of their calls to the human queue with a system note
//! instead of running the agents again: a rerun could repeat a tool's side effect or a
//! pending action, a person cannot.
//!
//! "Abandoned" means: a message of an `ai` or `queued` call has awaited its turn, and
//! nothing about the call changed, for longer than the grace period, which is at least
//! the longest a turn can run (the service budget plus the routing and supervisor
//! requests' timeouts and retries; twice that by default), so a turn still running on
//! a live node (or waiting behind one that moves the call on) is never taken from it.
//! The hand-over is one conditional `UPDATE` on the call row, the note, its events and
//! the cleared marks in the same transaction; the `UPDATE` moves `updated_at` past the
//! cut-off, so when two nodes race only one matches and only one note is written.

use std::time::Duration;

use super::{Call, MessageKind, MessageRole, call_columns, call_fields, insert_message, turn_ended};
use crate::context::Ctx;
use crate::db::Timestamp;
use crate::db::{on_tx, with_db};
use crate::error::AppResult;
use crate::events::{self, CallChange, Payload};

/// The escalation reason, and the system note's `agent` value, of a recovered turn.
pub const INTERRUPTED: &str = "interrupted";

/// Calls handed over per sweep; the next sweep takes the rest.
const BATCH: i64 = 200;

/// Hands every call abandoned for longer than `grace` to the human queue; returns
/// the ids this node handed over (another node racing gets the others).
#[tracing::instrument(skip_all)]
pub async fn sweep(ctx: &Ctx, grace: Duration) -> AppResult<Vec<i64>> {
    let cutoff = Timestamp::now().plus(-time::Duration::milliseconds(grace.as_millis().min(i64::MAX as u128) as i64));
    // A `queued` call counts too: its turn may have escalated and died before the reply,
    // or have been queued behind that one. (A customer writing while waiting for a
    // person stores no mark: no turn will answer.) The partial index holds only the
    // marked messages, so a sweep reads no more than the turns under way.
    let candidates: Vec<i64> = with_db!(ctx.db(), |pool| sqlx::query_scalar(
        "SELECT DISTINCT c.id FROM messages m JOIN calls c ON c.id = m.call_id \
         WHERE m.awaiting_turn AND m.at < $1 AND c.status IN ('ai', 'queued') AND c.updated_at < $1 \
         ORDER BY c.id LIMIT $2",
    )
    .bind(cutoff)
    .bind(BATCH)
    .fetch_all(pool)
    .await)?;
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
    // guarantee; the message condition only skips calls whose turns ended since.
    let mut tx = ctx.db().begin().await?;
    let changed = on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE calls SET status = 'queued', \
         queued_at = CASE WHEN status = 'queued' THEN COALESCE(queued_at, $2) ELSE $2 END, \
         escalation_reason = CASE WHEN status = 'queued' THEN COALESCE(escalation_reason, $3) ELSE $3 END, \
         department = COALESCE(department, 'general'), updated_at = $2 \
         WHERE id = $1 AND status IN ('ai', 'queued') AND updated_at < $4 \
         AND EXISTS (SELECT 1 FROM messages WHERE call_id = $1 AND awaiting_turn)",
    )
    .bind(call_id)
    .bind(now)
    .bind(INTERRUPTED)
    .bind(cutoff)
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    if changed == 0 {
        return Ok(false);
    }
    // A person answers every message still waiting: none is looked for again.
    turn_ended(&mut tx, call_id, None).await?;
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

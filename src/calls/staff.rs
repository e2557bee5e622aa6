//! What staff do to a call: take it over (one holder at a time), reply as a person,
//! hand it back to the AI, close it with an outcome. Each step is one conditional
//! `UPDATE`, so two people racing for the same call cannot both win.

use serde::Deserialize;
use serde_json::json;

use super::{Call, call_fields, get, message_event, record_change};
use super::{CallStatus, Channel, MessageKind, MessageRole};
use crate::auth::AgentCap;
use crate::context::Ctx;
use crate::db::{Db, Timestamp, Tx};
use crate::db::{on_tx, with_db};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};
use crate::events::{CallChange, Payload};

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The customer's need was met.
    Resolved,
    /// Someone must get back to the customer.
    FollowUp,
    /// Sent to another team or channel.
    Transferred,
    /// The customer left.
    Abandoned,
}

impl Outcome {
    /// Every outcome, in the order forms list them.
    pub const ALL: [Outcome; 4] = [Self::Resolved, Self::FollowUp, Self::Transferred, Self::Abandoned];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resolved => "resolved",
            Self::FollowUp => "follow_up",
            Self::Transferred => "transferred",
            Self::Abandoned => "abandoned",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text.trim())
    }
}

/// Checks a 1–5 rating.
pub fn parse_csat(value: Option<i64>) -> AppResult<Option<i32>> {
    match value {
        None => Ok(None),
        Some(n @ 1..=5) => Ok(Some(n as i32)),
        Some(_) => Err(AppError::Validation(FieldErrors::from([("csat", "field.csat_range")]))),
    }
}

/// A staff member's display name (for "held by ...").
pub(super) async fn user_name(db: &Db, id: i64) -> AppResult<String> {
    Ok(crate::users::get(db, id).await?.map(|u| u.full_name).unwrap_or_default())
}

/// Why a conditional update on a call matched nothing, as the right error.
pub(super) async fn refusal(db: &Db, call_id: i64, me: i64) -> AppError {
    match get(db, call_id).await {
        Ok(now) => not_allowed(db, &now, me, Conflict::CallStateChanged).await,
        Err(_) => AppError::NotFound,
    }
}

/// Why `me` may not act on `call`: it ended, someone else holds it (with their name),
/// or else `otherwise`.
pub(crate) async fn not_allowed(db: &Db, call: &Call, me: i64, otherwise: Conflict) -> AppError {
    if !call.is_open() {
        return AppError::Conflict(Conflict::CallClosed);
    }
    match call.assigned_to {
        Some(holder) if holder != me => match user_name(db, holder).await {
            Ok(name) => AppError::HeldBy(name),
            Err(err) => err,
        },
        _ => AppError::Conflict(otherwise),
    }
}

/// Takes a call: the AI stops answering and the customer sees who joined. Taking a
/// call one already holds changes nothing; a call someone else holds is refused with
/// their name.
pub async fn take_over(ctx: &Ctx, cap: &AgentCap<'_>, call_id: i64) -> AppResult<Call> {
    let me = cap.actor();
    let call = get(ctx.db(), call_id).await?;
    if call.status == CallStatus::Human && call.assigned_to == Some(me.id) {
        return Ok(call);
    }
    let mut tx = ctx.db().begin().await?;
    let changed = on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE calls SET status = 'human', assigned_to = $2, human_involved = TRUE, updated_at = $3 \
         WHERE id = $1 AND status IN ('ai', 'queued')",
    )
    .bind(call_id)
    .bind(me.id)
    .bind(Timestamp::now())
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    if changed == 0 {
        drop(tx);
        return Err(refusal(ctx.db(), call_id, me.id).await);
    }
    // The person answers from here: no message awaits an AI turn any more (one a
    // crashed node left would otherwise send the call back to the queue as interrupted
    // once handed back to the AI and quiet for a while).
    super::turn_ended(&mut tx, call_id, None).await?;
    let news = |_: &Call| Payload::TakenOver { user_id: me.id, name: me.full_name.clone(), from: call.status.as_str() };
    record_change(ctx, tx, call_id, (MessageKind::Joined, &me.full_name), Some(me), news).await
}

/// The holder (or a supervisor/admin) gives the call back to the AI.
pub async fn hand_back(ctx: &Ctx, cap: &AgentCap<'_>, call_id: i64) -> AppResult<Call> {
    let me = cap.actor();
    let call = get(ctx.db(), call_id).await?;
    let mut tx = ctx.db().begin().await?;
    let changed = on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE calls SET status = 'ai', assigned_to = NULL, updated_at = $3 \
         WHERE id = $1 AND status = 'human' AND (assigned_to = $2 OR $4)",
    )
    .bind(call_id)
    .bind(me.id)
    .bind(Timestamp::now())
    .bind(cap.oversees())
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    if changed == 0 {
        drop(tx);
        if call.is_open() && call.status != CallStatus::Human {
            return Err(AppError::Conflict(Conflict::CallNotHeld));
        }
        return Err(refusal(ctx.db(), call_id, me.id).await);
    }
    let news = |_: &Call| Payload::HandedBack { user_id: me.id, name: me.full_name.clone() };
    record_change(ctx, tx, call_id, (MessageKind::Left, &me.full_name), Some(me), news).await
}

/// A person's reply to the customer; only the holder may send one.
pub async fn reply(ctx: &Ctx, cap: &AgentCap<'_>, call_id: i64, text: &str) -> AppResult<i64> {
    let me = cap.actor();
    let call = get(ctx.db(), call_id).await?;
    if call.status != CallStatus::Human || call.assigned_to != Some(me.id) {
        return Err(not_allowed(ctx.db(), &call, me.id, Conflict::CallNotHeld).await);
    }
    let text = super::parse_message(text)?;
    if call.channel == Channel::Whatsapp {
        let conversation = crate::channels::whatsapp::conversation::of_call(ctx.db(), call_id).await?;
        if !conversation.is_some_and(|c| c.window_open(Timestamp::now())) {
            return Err(AppError::WhatsappWindowClosed);
        }
    }
    store_reply(ctx, cap, &call, &text, None).await
}

/// Stores a person's message in `call` if they still hold it at this instant (a
/// hand-back or close may have won the race since the caller's check), queued for
/// WhatsApp in the same transaction on a WhatsApp call (as `template`, when given);
/// audited and published. `text` is checked already.
/// How long the same template (name, language and values) to the same call counts as
/// one send.
const TEMPLATE_REPEAT_SECONDS: i64 = 30;

/// The message of the same template sent to the call in the last
/// [`TEMPLATE_REPEAT_SECONDS`], if any. The call row is locked first, so parallel
/// identical sends queue here and all but the first find it.
async fn same_template_just_sent(
    tx: &mut Tx,
    call_id: i64,
    template: &crate::channels::whatsapp::outbound::TemplateMessage,
    now: Timestamp,
) -> AppResult<Option<i64>> {
    let json = serde_json::to_string(template).map_err(|e| AppError::Internal(e.into()))?;
    let since = now.plus(time::Duration::seconds(-TEMPLATE_REPEAT_SECONDS));
    on_tx!(tx, |conn| sqlx::query("UPDATE calls SET updated_at = updated_at WHERE id = $1")
        .bind(call_id)
        .execute(&mut *conn)
        .await
        .map(|_| ()))?;
    let found: Option<i64> = on_tx!(tx, |conn| sqlx::query_scalar(
        "SELECT message_id FROM whatsapp_outbound WHERE call_id = $1 AND template = $2 AND created_at >= $3 \
         ORDER BY id DESC LIMIT 1"
    )
    .bind(call_id)
    .bind(&json)
    .bind(since)
    .fetch_optional(&mut *conn)
    .await)?;
    Ok(found)
}

pub(crate) async fn store_reply(
    ctx: &Ctx,
    cap: &AgentCap<'_>,
    call: &Call,
    text: &str,
    template: Option<&crate::channels::whatsapp::outbound::TemplateMessage>,
) -> AppResult<i64> {
    let me = cap.actor();
    let call_id = call.id;
    let whatsapp = call.channel == Channel::Whatsapp;
    let now = Timestamp::now();
    let mut tx = ctx.db().begin().await?;
    if let Some(t) = template
        && let Some(id) = same_template_just_sent(&mut tx, call_id, t, now).await?
    {
        // A double click, or a client retrying: the template (a paid message) went
        // out already; answer with that one.
        return Ok(id);
    }
    let id: Option<i64> = on_tx!(&mut tx, |conn| sqlx::query_scalar(
        "INSERT INTO messages (call_id, role, agent, content, author_id, at) \
         SELECT $1, 'human', NULL, $2, $3, $4 \
         WHERE EXISTS (SELECT 1 FROM calls WHERE id = $1 AND status = 'human' AND assigned_to = $3) RETURNING id",
    )
    .bind(call_id)
    .bind(text)
    .bind(me.id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await)?;
    let Some(id) = id else {
        drop(tx);
        return Err(refusal(ctx.db(), call_id, me.id).await);
    };
    let attempts = ctx.jobs().max_attempts();
    match (whatsapp, template) {
        (true, Some(t)) => {
            crate::channels::whatsapp::outbound::queue_template_in(&mut tx, call_id, id, text, t, attempts).await?
        }
        (true, None) => crate::channels::whatsapp::outbound::queue_in(&mut tx, call_id, id, text, attempts).await?,
        (false, _) => {}
    }
    tx.commit().await?;
    if whatsapp {
        ctx.jobs().wake();
    }
    let (action, metadata) = match template {
        Some(t) => ("call.whatsapp_template", json!({"message_id": id, "template": t.name, "language": t.language})),
        None => ("call.reply", json!({"message_id": id})),
    };
    let entry = crate::audit::Entry::new(Some(me.id), me.username.clone(), action)
        .target(format!("call:{call_id}"))
        .metadata(metadata);
    crate::audit::record(ctx.db(), &entry).await?;
    message_event(ctx, call_id, id, MessageRole::Human, None, text, Some(me)).await;
    with_db!(ctx.db(), |pool| sqlx::query("UPDATE calls SET updated_at = $2 WHERE id = $1")
        .bind(call_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(id)
}

/// Checks that a staff member may relay the customer's words into `call` over the
/// API: only on a call they opened themselves (a phone call they are typing in, say:
/// calls staff open have no private link, so no customer writes into them).
/// Anywhere else staff speak only as staff, while holding the call; writing as
/// someone else's customer is refused with the same 409s as a takeover.
pub async fn may_relay(ctx: &Ctx, cap: &AgentCap<'_>, call: &Call) -> AppResult<()> {
    let me = cap.actor();
    if call.is_open() && call.created_by == Some(me.id) {
        return Ok(());
    }
    Err(not_allowed(ctx.db(), call, me.id, Conflict::CallNotHeld).await)
}

/// Ends a call with an outcome (and optionally the rating the customer gave on the
/// phone). The holder, anyone on a call nobody holds, or a supervisor/admin may close.
pub async fn close(
    ctx: &Ctx,
    cap: &AgentCap<'_>,
    call_id: i64,
    outcome: Outcome,
    csat: Option<i32>,
) -> AppResult<Call> {
    let me = cap.actor();
    let now = Timestamp::now();
    // An unknown call matches nothing and `refusal` answers 404.
    let mut tx = ctx.db().begin().await?;
    let changed = on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE calls SET status = 'closed', outcome = $3, csat = COALESCE($4, csat), closed_at = $5, \
         updated_at = $5 WHERE id = $1 AND status <> 'closed' AND (assigned_to IS NULL OR assigned_to = $2 OR $6)",
    )
    .bind(call_id)
    .bind(me.id)
    .bind(outcome.as_str())
    .bind(csat)
    .bind(now)
    .bind(cap.oversees())
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    if changed == 0 {
        drop(tx);
        return Err(refusal(ctx.db(), call_id, me.id).await);
    }
    let news = |closed: &Call| {
        Payload::Closed(CallChange {
            fields: Some(call_fields(closed)),
            outcome: Some(outcome.as_str()),
            by: Some(me.full_name.clone()),
            ..CallChange::default()
        })
    };
    record_change(ctx, tx, call_id, (MessageKind::Closed, outcome.as_str()), Some(me), news).await
}

/// Confirms the identity behind the call's unverified customer record (see
/// [`crate::customers::confirm_claim`]) and tells the call's pages.
pub async fn confirm_caller(ctx: &Ctx, cap: &AgentCap<'_>, call_id: i64, ip: Option<String>) -> AppResult<Call> {
    let call = get(ctx.db(), call_id).await?;
    let customer_id = call.customer_id.ok_or(AppError::Conflict(Conflict::CallUnlinked))?;
    crate::customers::confirm_claim(ctx.db(), cap, customer_id, ip).await?;
    let change =
        CallChange { fields: Some(call_fields(&call)), customer_verified: Some(true), ..CallChange::default() };
    ctx.bus().emit(Some(call_id), Payload::CallUpdated(change)).await;
    Ok(call)
}

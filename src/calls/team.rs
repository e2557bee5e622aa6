//! Working a call as a team: transfers to a department or a person (with a reason the
//! receiver reads), internal notes, and calls staff open for a customer.
//!
//! How a transfer moves the call (what a call-center team expects):
//! - **to a person** (an enabled agent, supervisor or admin): they hold the call from
//!   now on (`human`, assigned to them), whoever held it before: a warm transfer, like
//!   a phone call put through to a colleague's desk. The customer sees them join.
//! - **to a department only**: the call goes to that department's human queue
//!   (`queued`, nobody holds it) and the AI stays silent; the next free person there
//!   takes it. The customer is told they are being passed on.
//!
//! Only the holder (or a supervisor/admin) may transfer a call someone holds; anyone
//! who works calls may transfer a call nobody holds. A department given sets the
//! call's department (and `transferred_at`, so later AI turns keep it).
//!
//! Notes are for staff only: they live in `call_notes`, never in `messages`, so they
//! are not on the customer's page or stream and not in the agents' history (which is
//! built from `messages`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::staff::{not_allowed, refusal};
use super::{Call, CallStatus, Channel, MessageKind, MessageRole, NewCall, call_columns, get, record_change};
use crate::agents::Department;
use crate::audit::audit_insert;
use crate::auth::{AgentCap, Principal, Role};
use crate::context::Ctx;
use crate::db::{Db, Timestamp, Tx, on_tx, with_db};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};
use crate::events::{self, Payload};

/// Longest transfer reason (characters).
pub const MAX_REASON: usize = 500;

/// `POST /api/v1/calls/{id}/transfer` body (and the call page's form, read into it).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    /// Department code to send the call to.
    #[serde(default)]
    pub department: Option<String>,
    /// Staff member to put the call through to.
    #[serde(default)]
    pub to_user_id: Option<i64>,
    /// Why (required; the receiver reads it).
    #[serde(default)]
    pub reason: String,
}

/// A checked transfer.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// New department.
    pub department: Option<Department>,
    /// New holder.
    pub to_user: Option<i64>,
    /// Why.
    pub reason: String,
}

fn clean_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n').collect::<String>().trim().to_owned()
}

impl TransferInput {
    /// Checks the shape: a department and/or a person, and a reason.
    pub fn parse(&self) -> AppResult<Transfer> {
        let mut errors = FieldErrors::new();
        let department = match self.department.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Department::parse(s).or_else(|| {
                errors.insert("department", "field.department_invalid");
                None
            }),
            None => None,
        };
        let reason = clean_text(&self.reason);
        if reason.is_empty() {
            errors.insert("reason", "field.reason_required");
        } else if reason.chars().count() > MAX_REASON {
            errors.insert("reason", "field.reason_too_long");
        }
        if errors.is_empty() && department.is_none() && self.to_user_id.is_none() {
            errors.insert("department", "field.transfer_target_required");
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        Ok(Transfer { department, to_user: self.to_user_id, reason })
    }
}

/// The person a call is put through to: an enabled account that works calls.
async fn receiver(db: &Db, id: i64) -> AppResult<Principal> {
    let user = crate::users::get(db, id).await?;
    match user {
        Some(u) if !u.disabled && u.role() != Role::Viewer => Ok(u.principal()),
        _ => Err(AppError::Validation(FieldErrors::from([("to_user_id", "field.transfer_user_invalid")]))),
    }
}

/// Transfers a call (see the module's rules) in one transaction with its transfer row,
/// audit entry, the customer's system message and the events.
pub async fn transfer(ctx: &Ctx, cap: &AgentCap<'_>, call_id: i64, t: &Transfer) -> AppResult<Call> {
    let me = cap.actor();
    let call = get(ctx.db(), call_id).await?;
    if !call.is_open() {
        return Err(AppError::Conflict(Conflict::CallClosed));
    }
    let held_by_other = call.status == CallStatus::Human && call.assigned_to.is_some_and(|h| h != me.id);
    if held_by_other && !cap.oversees() {
        return Err(not_allowed(ctx.db(), &call, me.id, Conflict::CallNotHeld).await);
    }
    // Putting a call through to the person holding it would only record "Ana → Ana".
    if call.status == CallStatus::Human && t.to_user.is_some() && call.assigned_to == t.to_user {
        return Err(AppError::Validation(FieldErrors::from([("to_user_id", "field.transfer_user_holds_call")])));
    }
    let to = match t.to_user {
        Some(id) => Some(receiver(ctx.db(), id).await?),
        None => None,
    };
    let now = Timestamp::now();
    let (status, holder) = match &to {
        Some(p) => (CallStatus::Human, Some(p.id)),
        None => (CallStatus::Queued, None),
    };
    let mut tx = ctx.db().begin().await?;
    // Only if nobody moved the call since it was read (a takeover, another transfer).
    let changed = on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE calls SET status = $2, assigned_to = $3, department = COALESCE($4, department), \
         transferred_at = CASE WHEN $4 IS NULL THEN transferred_at ELSE $5 END, \
         queued_at = CASE WHEN $2 = 'queued' THEN $5 ELSE queued_at END, \
         human_involved = human_involved OR $2 = 'human', updated_at = $5 \
         WHERE id = $1 AND status = $6 AND COALESCE(assigned_to, 0) = $7",
    )
    .bind(call_id)
    .bind(status.as_str())
    .bind(holder)
    .bind(t.department.map(Department::as_str))
    .bind(now)
    .bind(call.status.as_str())
    .bind(call.assigned_to.unwrap_or(0))
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    if changed == 0 {
        drop(tx);
        return Err(refusal(ctx.db(), call_id, me.id).await);
    }
    // A person or the queue answers from here, as after a takeover: no message awaits
    // an AI turn any more.
    super::turn_ended(&mut tx, call_id, None).await?;
    on_tx!(&mut tx, |conn| sqlx::query(
        "INSERT INTO call_transfers (call_id, from_department, to_department, from_user, to_user, reason, by_id, at) \
         VALUES ($1, $2, COALESCE($3, $2), $4, $5, $6, $7, $8)",
    )
    .bind(call_id)
    .bind(call.department.map(Department::as_str))
    .bind(t.department.map(Department::as_str))
    .bind(call.assigned_to)
    .bind(holder)
    .bind(&t.reason)
    .bind(me.id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(|_| ()))?;
    let entry = crate::audit::Entry::new(Some(me.id), me.username.clone(), "call.transfer")
        .target(format!("call:{call_id}"))
        .metadata(json!({
            "from_department": call.department, "to_department": t.department.or(call.department),
            "from_user": call.assigned_to, "to_user": holder, "reason": t.reason,
        }));
    on_tx!(&mut tx, |conn| audit_insert!(&entry).execute(&mut *conn).await.map(|_| ()))?;
    let news = |after: &Call| Payload::Transferred {
        department: after.department.map(Department::as_str),
        to_user: holder,
        to_name: to.as_ref().map(|p| p.full_name.clone()),
        reason: t.reason.clone(),
        by: me.full_name.clone(),
    };
    match &to {
        // The customer sees the receiver join, as after a takeover.
        Some(p) => record_change(ctx, tx, call_id, (MessageKind::Joined, &p.full_name), Some(p), news).await,
        None => {
            let dept = t.department.or(call.department).map(Department::as_str).unwrap_or_default();
            record_change(ctx, tx, call_id, (MessageKind::Transferred, dept), Some(me), news).await
        }
    }
}

/// A transfer as the call page and the board show it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TransferRow {
    /// Id.
    pub id: i64,
    /// The call.
    pub call_id: i64,
    /// Department before.
    pub from_department: Option<String>,
    /// Department after.
    pub to_department: Option<String>,
    /// Who held it before.
    pub from_name: Option<String>,
    /// Who holds it after (a transfer to a person).
    pub to_name: Option<String>,
    /// Who transferred it.
    pub by_name: Option<String>,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

macro_rules! transfer_select {
    () => {
        "SELECT t.id, t.call_id, t.from_department, t.to_department, fu.full_name AS from_name, tu.full_name AS to_name, \
         bu.full_name AS by_name, t.reason, t.at FROM call_transfers t LEFT JOIN users fu ON fu.id = t.from_user \
         LEFT JOIN users tu ON tu.id = t.to_user LEFT JOIN users bu ON bu.id = t.by_id "
    };
}

/// A call's transfers, oldest first.
pub async fn transfers(db: &Db, call_id: i64) -> AppResult<Vec<TransferRow>> {
    let sql = concat!(transfer_select!(), "WHERE t.call_id = $1 ORDER BY t.id");
    Ok(with_db!(db, |pool| sqlx::query_as(sql).bind(call_id).fetch_all(pool).await)?)
}

/// The latest transfer of every open call (for the board's rows).
pub async fn latest_open_transfers(db: &Db) -> AppResult<Vec<TransferRow>> {
    let sql = concat!(
        transfer_select!(),
        "WHERE t.id IN (SELECT MAX(x.id) FROM call_transfers x JOIN calls c ON c.id = x.call_id \
         WHERE c.status <> 'closed' GROUP BY x.call_id)"
    );
    Ok(with_db!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await)?)
}

/// An internal note.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Note {
    /// Id.
    pub id: i64,
    /// Who wrote it (their name then).
    pub author: String,
    /// Text (escape when showing).
    pub content: String,
    /// When.
    pub at: Timestamp,
}

/// Adds an internal note to a call (open or closed) with its audit entry and event,
/// in one transaction; returns its id.
pub async fn add_note(ctx: &Ctx, cap: &AgentCap<'_>, call_id: i64, text: &str) -> AppResult<i64> {
    let me = cap.actor();
    let text = check_note(text, "text")?;
    get(ctx.db(), call_id).await?;
    let mut tx = ctx.db().begin().await?;
    let (id, event) = insert_note(&mut tx, me, call_id, &text).await?;
    events::record_in(&mut tx, Some(call_id), &event).await?;
    ctx.bus().commit(tx).await?;
    Ok(id)
}

/// Stores a checked note by `me` (with its audit entry) in `tx`: its id, and the event
/// to record.
async fn insert_note(tx: &mut Tx, me: &Principal, call_id: i64, text: &str) -> Result<(i64, Payload), sqlx::Error> {
    let id: i64 = on_tx!(tx, |conn| sqlx::query_scalar(
        "INSERT INTO call_notes (call_id, author_id, author, content, at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(call_id)
    .bind(me.id)
    .bind(&me.full_name)
    .bind(text)
    .bind(Timestamp::now())
    .fetch_one(&mut *conn)
    .await)?;
    let entry = crate::audit::Entry::new(Some(me.id), me.username.clone(), "call.note")
        .target(format!("call:{call_id}"))
        .metadata(json!({"note_id": id}));
    on_tx!(tx, |conn| audit_insert!(&entry).execute(&mut *conn).await.map(|_| ()))?;
    Ok((id, Payload::NoteAdded { note_id: id, author: me.full_name.clone() }))
}

/// A note's text, checked (a 422 on `field` when empty or too long).
fn check_note(text: &str, field: &'static str) -> AppResult<String> {
    super::parse_message(text).map_err(|_| {
        let key = if clean_text(text).is_empty() { "field.note_required" } else { "field.text_too_long" };
        AppError::Validation(FieldErrors::from([(field, key)]))
    })
}

/// A call's notes, oldest first.
pub async fn notes(db: &Db, call_id: i64) -> AppResult<Vec<Note>> {
    Ok(with_db!(db, |pool| sqlx::query_as(
        "SELECT id, author, content, at FROM call_notes WHERE call_id = $1 ORDER BY id"
    )
    .bind(call_id)
    .fetch_all(pool)
    .await)?)
}

/// Finds the customer staff mean by `reference`: an id, an email address, or a name
/// (case-insensitive, exactly one match). Checks like the API's `customer_id`.
pub async fn find_customer(db: &Db, reference: &str) -> AppResult<i64> {
    let r = reference.trim();
    let unknown = || AppError::Validation(FieldErrors::from([("customer", "field.customer_unknown")]));
    if r.is_empty() {
        return Err(AppError::Validation(FieldErrors::from([("customer", "field.required")])));
    }
    let id = match r.parse::<i64>() {
        Ok(id) => id,
        Err(_) => {
            let ids: Vec<i64> = with_db!(db, |pool| {
                sqlx::query_scalar(
                "SELECT id FROM customers WHERE active = TRUE AND (LOWER(email) = LOWER($1) OR LOWER(name) = LOWER($1)) \
                 ORDER BY id LIMIT 2"
            )
            .bind(r)
            .fetch_all(pool)
            .await
            })?;
            match ids.as_slice() {
                [id] => *id,
                [] => return Err(unknown()),
                _ => return Err(AppError::Validation(FieldErrors::from([("customer", "field.customer_ambiguous")]))),
            }
        }
    };
    let checked = crate::customers::resolve_customer(db, Some(id), None).await.map_err(|e| match e {
        AppError::Validation(f) => AppError::Validation(f.into_values().map(|v| ("customer", v)).collect()),
        other => other,
    })?;
    checked.ok_or_else(unknown)
}

/// Opens a call for a customer on the staff member's behalf (a phone call being
/// logged, say): with a first message, the customer's words they relay run through the
/// agents as on `POST /api/v1/calls`; with only a note, they hold the call at once
/// (they are on the phone) and the note is stored. Returns the call's id.
pub async fn start_for_customer(
    ctx: &Ctx,
    cap: &AgentCap<'_>,
    customer_id: i64,
    message: Option<&str>,
    note: Option<&str>,
) -> AppResult<i64> {
    let me = cap.actor();
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    let note = note.map(str::trim).filter(|m| !m.is_empty());
    if message.is_none() && note.is_none() {
        return Err(AppError::Validation(FieldErrors::from([("message", "field.message_or_note")])));
    }
    let message = message.map(super::parse_message).transpose()?;
    // Checked before anything is stored: a note refused afterwards would leave the call.
    let note = note.map(|n| check_note(n, "note")).transpose()?;
    let new = NewCall {
        channel: Channel::Api,
        customer_id: Some(customer_id),
        created_by: Some(me.id),
        access_hash: None,
        contact: None,
    };
    let mut tx = ctx.db().begin().await?;
    let (call, first, mut news) = match &message {
        Some(text) => {
            let (opened, news) = super::turn::stage_call(&mut tx, &new, text, Some(me)).await?;
            (opened.call, Some(opened.message_id), news)
        }
        None => {
            let (call, news) = open_held(&mut tx, &new, me).await?;
            (call, None, news)
        }
    };
    // The note goes in with the call: a first answer that fails afterwards (the model
    // down, say) loses neither.
    if let Some(note) = &note {
        let (_, event) = insert_note(&mut tx, me, call.id, note).await?;
        news.push(event);
    }
    events::record_all_in(&mut tx, Some(call.id), &news).await?;
    ctx.bus().commit(tx).await?;
    let id = call.id;
    if let (Some(text), Some(message_id)) = (message, first) {
        // Run to its end should the staff member's request be cut off meanwhile.
        let turn_ctx = ctx.clone();
        let opened = super::Opened { call, message_id };
        ctx.turns().finish(async move { super::first_answer(&turn_ctx, opened, &text, None).await }).await?;
    }
    Ok(id)
}

/// Stores a call staff open with no message, held by them from the start (as a
/// takeover leaves it, their joining shown to the customer), in `tx`: the call as
/// stored, and the events to record.
async fn open_held(tx: &mut Tx, new: &NewCall<'_>, me: &Principal) -> AppResult<(Call, Vec<Payload>)> {
    let (opened, created) = super::insert_call(tx, new).await?;
    let sql = concat!(
        "UPDATE calls SET status = 'human', assigned_to = $2, human_involved = TRUE WHERE id = $1 RETURNING ",
        call_columns!()
    );
    let call: Call = on_tx!(tx, |conn| sqlx::query_as(sql).bind(opened.id).bind(me.id).fetch_one(&mut *conn).await)?;
    let (_, joined) =
        super::insert_message(tx, call.id, MessageRole::System, Some(MessageKind::Joined), &me.full_name, Some(me))
            .await?;
    let taken = Payload::TakenOver { user_id: me.id, name: me.full_name.clone(), from: CallStatus::Ai.as_str() };
    Ok((call, vec![created, joined, taken]))
}

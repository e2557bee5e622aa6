//! Staff working tickets: opening one (for a customer, optionally from one of their
//! calls) and changing its status, priority or assignee, with a comment. Every change
//! writes its history row and audit entry in the same transaction as the change.

use serde_json::json;

use super::{HistoryField, HistoryRow, Ticket, TicketStatus, get};
use crate::agents::Priority;
use crate::audit::{Entry, audit_insert};
use crate::auth::AgentCap;
use crate::context::Ctx;
use crate::db::{Db, Timestamp, Tx, on_tx};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::events::{self, Payload};

/// Longest title, in characters.
pub const TITLE_MAX: usize = 200;
/// Longest description or comment, in characters.
pub const TEXT_MAX: usize = 4000;

/// A ticket staff want to open, as typed (ids already read as numbers).
#[derive(Clone, Debug, Default)]
pub struct TicketDraft<'a> {
    /// Whose (required).
    pub customer_id: Option<i64>,
    /// Short title (required).
    pub title: &'a str,
    /// What happened.
    pub description: &'a str,
    /// `low`, `medium`, `high` or `critical`; medium when absent or empty.
    pub priority: Option<&'a str>,
    /// The call it comes from (its customer must be this one).
    pub call_id: Option<i64>,
    /// Who works on it.
    pub assigned_to: Option<i64>,
}

/// A checked ticket to open.
#[derive(Clone, Debug)]
pub struct StaffTicket {
    customer_id: i64,
    title: String,
    description: String,
    priority: Priority,
    call_id: Option<i64>,
    assigned_to: Option<i64>,
}

/// A title: trimmed, 1 to [`TITLE_MAX`] characters, on one line.
fn parse_title(text: &str) -> Result<String, &'static str> {
    // Line breaks and tabs are spacing and fold into single spaces; any other control
    // character (NUL, BEL, escapes) has no place in a title.
    let title = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if crate::text::has_control(&title) {
        Err("field.text_invalid")
    } else if title.is_empty() {
        Err("field.required")
    } else if title.chars().count() > TITLE_MAX {
        Err("field.ticket_title_too_long")
    } else {
        Ok(title)
    }
}

/// A description or comment: trimmed, at most [`TEXT_MAX`] characters, several lines
/// (and tabs) allowed but no other control character.
fn parse_text(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    if crate::text::has_control_but_lines(text) {
        Err("field.text_invalid")
    } else if text.chars().count() > TEXT_MAX {
        Err("field.text_too_long")
    } else {
        Ok(text.to_owned())
    }
}

/// A priority id (`None` or empty: medium).
pub fn parse_priority(text: Option<&str>) -> Result<Priority, &'static str> {
    match text.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Priority::Medium),
        Some(p) => Priority::parse(p).ok_or("field.priority_invalid"),
    }
}

impl TicketDraft<'_> {
    /// Checks the fields that need no database, collecting every problem.
    pub fn parse(&self) -> Result<StaffTicket, FieldErrors> {
        let mut errors = FieldErrors::new();
        let customer_id = self.customer_id.or_else(|| {
            errors.insert("customer_id", "field.required");
            None
        });
        let title = parse_title(self.title).map_err(|e| errors.insert("title", e)).ok();
        let description = parse_text(self.description).map_err(|e| errors.insert("description", e)).ok();
        let priority = parse_priority(self.priority).map_err(|e| errors.insert("priority", e)).ok();
        match (customer_id, title, description, priority) {
            (Some(customer_id), Some(title), Some(description), Some(priority)) if errors.is_empty() => {
                Ok(StaffTicket {
                    customer_id,
                    title,
                    description,
                    priority,
                    call_id: self.call_id,
                    assigned_to: self.assigned_to,
                })
            }
            _ => Err(errors),
        }
    }
}

/// A change staff ask for; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TicketChange {
    /// New status.
    pub status: Option<TicketStatus>,
    /// New priority.
    pub priority: Option<Priority>,
    /// New assignee (`Some(None)` unassigns).
    pub assigned_to: Option<Option<i64>>,
    /// A comment (empty means none).
    pub comment: Option<String>,
}

impl TicketChange {
    /// Reads typed values: unknown status or priority ids and an over-long comment are
    /// field errors.
    pub fn parse(
        status: Option<&str>,
        priority: Option<&str>,
        assigned_to: Option<Option<i64>>,
        comment: Option<&str>,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let given = |v: Option<&str>| v.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let status = given(status).and_then(|s| {
            TicketStatus::parse(&s).or_else(|| {
                errors.insert("status", "field.ticket_status_invalid");
                None
            })
        });
        let priority = given(priority).and_then(|p| {
            Priority::parse(&p).or_else(|| {
                errors.insert("priority", "field.priority_invalid");
                None
            })
        });
        let comment = match comment.map(parse_text) {
            Some(Ok(c)) if !c.is_empty() => Some(c),
            Some(Err(e)) => {
                errors.insert("comment", e);
                None
            }
            _ => None,
        };
        if errors.is_empty() { Ok(Self { status, priority, assigned_to, comment }) } else { Err(errors) }
    }
}

fn invalid(field: &'static str, key: &'static str) -> AppError {
    AppError::Validation(FieldErrors::from([(field, key)]))
}

/// Is `user` someone a ticket may be assigned to: an enabled agent, supervisor or admin?
async fn check_assignee(tx: &mut Tx, user: i64) -> AppResult<()> {
    let ok: Option<i64> = on_tx!(tx, |conn| sqlx::query_scalar(
        "SELECT id FROM users WHERE id = $1 AND disabled = FALSE AND role IN ('agent', 'supervisor', 'admin')",
    )
    .bind(user)
    .fetch_optional(&mut *conn)
    .await)?;
    ok.map(|_| ()).ok_or_else(|| invalid("assigned_to", "field.assignee_invalid"))
}

fn audit_entry(cap: &AgentCap<'_>, action: &'static str, ticket: i64, ip: Option<String>) -> Entry {
    let me = cap.actor();
    Entry::new(Some(me.id), me.username.clone(), action).target(format!("ticket:{ticket}")).ip(ip)
}

async fn audit_in(tx: &mut Tx, entry: &Entry) -> AppResult<()> {
    on_tx!(tx, |conn| audit_insert!(entry).execute(&mut *conn).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Opens a ticket for a customer (with its `created` history row and audit entry);
/// from a call, the call's page hears of it. The customer must exist, the call must be
/// theirs and an assignee must be an enabled agent or above (else 422 naming the field).
#[tracing::instrument(skip_all, fields(customer_id = t.customer_id))]
pub async fn create(ctx: &Ctx, cap: &AgentCap<'_>, t: &StaffTicket, ip: Option<String>) -> AppResult<Ticket> {
    let me = cap.actor();
    let mut tx = ctx.db().begin().await?;
    let customer: Option<i64> = on_tx!(&mut tx, |conn| sqlx::query_scalar("SELECT id FROM customers WHERE id = $1")
        .bind(t.customer_id)
        .fetch_optional(&mut *conn)
        .await)?;
    if customer.is_none() {
        return Err(invalid("customer_id", "field.customer_unknown"));
    }
    if let Some(call_id) = t.call_id {
        let caller: Option<Option<i64>> =
            on_tx!(&mut tx, |conn| sqlx::query_scalar("SELECT customer_id FROM calls WHERE id = $1")
                .bind(call_id)
                .fetch_optional(&mut *conn)
                .await)?;
        match caller {
            None => return Err(invalid("call_id", "field.call_unknown")),
            Some(c) if c != Some(t.customer_id) => return Err(invalid("call_id", "field.customer_not_on_call")),
            Some(_) => {}
        }
    }
    if let Some(user) = t.assigned_to {
        check_assignee(&mut tx, user).await?;
    }
    let now = Timestamp::now();
    let id: i64 = on_tx!(&mut tx, |conn| sqlx::query_scalar(
        "INSERT INTO tickets (customer_id, title, description, status, priority, assigned_to, call_id, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(t.customer_id)
    .bind(&t.title)
    .bind(&t.description)
    .bind(t.priority.as_str())
    .bind(t.assigned_to)
    .bind(t.call_id)
    .bind(me.id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await)?;
    HistoryRow::created(id, Some(me.id), &me.full_name, TicketStatus::Open).insert_in(&mut tx).await?;
    if let Some(user) = t.assigned_to {
        let row = HistoryRow {
            ticket_id: id,
            actor_id: Some(me.id),
            actor: &me.full_name,
            field: HistoryField::AssignedTo,
            old_value: None,
            new_value: Some(user.to_string()),
        };
        row.insert_in(&mut tx).await?;
    }
    let entry = audit_entry(cap, "ticket.create", id, ip).metadata(json!({
        "customer_id": t.customer_id, "call_id": t.call_id, "priority": t.priority.as_str(), "assigned_to": t.assigned_to,
    }));
    audit_in(&mut tx, &entry).await?;
    if let Some(call_id) = t.call_id {
        let event = Payload::TicketOpened { ticket_id: id, priority: t.priority.as_str(), by: me.full_name.clone() };
        events::record_in(&mut tx, Some(call_id), &event).await?;
    }
    ctx.bus().commit(tx).await?;
    // The customer's other open calls show their open tickets in the customer panel.
    crate::customers::records::notify_open_calls(ctx, t.customer_id, None, "ticket").await;
    get(ctx.db(), id).await
}

/// The row's current values, read after the row is locked.
#[derive(sqlx::FromRow)]
struct Current {
    status: TicketStatus,
    priority: Priority,
    assigned_to: Option<i64>,
}

/// Takes the ticket's row for this transaction and reads it (`None`: no such ticket).
///
/// The first statement writes, so it waits for any other writer of the row: a row lock
/// on PostgreSQL, the database's write lock on SQLite (taken before this transaction
/// reads anything, so it never works from a stale snapshot). What is read after it is
/// what the other transaction committed, and the history this one writes records
/// exactly what it changed: two concurrent updates cannot lose a change.
async fn lock(tx: &mut Tx, id: i64) -> AppResult<Option<Current>> {
    let touched = on_tx!(tx, |conn| sqlx::query("UPDATE tickets SET status = status WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected()))?;
    if touched == 0 {
        return Ok(None);
    }
    Ok(Some(on_tx!(tx, |conn| sqlx::query_as::<_, Current>(
        "SELECT status, priority, assigned_to FROM tickets WHERE id = $1"
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await)?))
}

/// Applies a change: each field that really changes writes one history row (old →
/// new) and one audit entry; a comment writes its own; `resolved_at` is set when the
/// ticket becomes resolved or closed and cleared when it is reopened. A change that
/// changes nothing writes nothing. All in one transaction. Returns the ticket and the
/// fields that changed.
#[tracing::instrument(skip_all, fields(ticket_id = id))]
pub async fn update(
    db: &Db,
    cap: &AgentCap<'_>,
    id: i64,
    change: &TicketChange,
    ip: Option<String>,
) -> AppResult<(Ticket, Vec<HistoryField>)> {
    let me = cap.actor();
    let mut tx = db.begin().await?;
    let now = lock(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let mut rows: Vec<HistoryRow<'_>> = Vec::new();
    let row = |field, old: Option<String>, new: Option<String>| HistoryRow {
        ticket_id: id,
        actor_id: Some(me.id),
        actor: &me.full_name,
        field,
        old_value: old,
        new_value: new,
    };
    let status = change.status.filter(|s| *s != now.status);
    if let Some(s) = status {
        rows.push(row(HistoryField::Status, Some(now.status.as_str().into()), Some(s.as_str().into())));
    }
    let priority = change.priority.filter(|p| *p != now.priority);
    if let Some(p) = priority {
        rows.push(row(HistoryField::Priority, Some(now.priority.as_str().into()), Some(p.as_str().into())));
    }
    let assignee = change.assigned_to.filter(|a| *a != now.assigned_to);
    if let Some(a) = assignee {
        if let Some(user) = a {
            check_assignee(&mut tx, user).await?;
        }
        let show = |v: Option<i64>| v.map(|u| u.to_string());
        rows.push(row(HistoryField::AssignedTo, show(now.assigned_to), show(a)));
    }
    if let Some(c) = &change.comment {
        rows.push(row(HistoryField::Comment, None, Some(c.clone())));
    }
    if rows.is_empty() {
        // Rolls back the row lock's no-op write.
        drop(tx);
        return Ok((get(db, id).await?, Vec::new()));
    }
    let new_status = status.unwrap_or(now.status);
    let at = Timestamp::now();
    // `resolved_at` keeps its first value while the ticket moves between resolved and
    // closed; it is set on entering them and cleared on leaving them.
    let resolved_at = match (now.status.is_done(), new_status.is_done()) {
        (false, true) => Some(Some(at)),
        (true, false) => Some(None),
        _ => None,
    };
    on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE tickets SET status = $2, priority = $3, assigned_to = $4, updated_at = $5, \
         resolved_at = CASE WHEN $6 THEN $7 ELSE resolved_at END WHERE id = $1",
    )
    .bind(id)
    .bind(new_status.as_str())
    .bind(priority.unwrap_or(now.priority).as_str())
    .bind(assignee.unwrap_or(now.assigned_to))
    .bind(at)
    .bind(resolved_at.is_some())
    .bind(resolved_at.flatten())
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    for r in &rows {
        r.insert_in(&mut tx).await?;
        let (action, metadata) = match r.field {
            HistoryField::Status => ("ticket.status", json!({"from": r.old_value, "to": r.new_value})),
            HistoryField::Priority => ("ticket.priority", json!({"from": r.old_value, "to": r.new_value})),
            HistoryField::AssignedTo => ("ticket.assign", json!({"from": r.old_value, "to": r.new_value})),
            _ => ("ticket.comment", json!({"length": r.new_value.as_deref().map_or(0, |c| c.chars().count())})),
        };
        audit_in(&mut tx, &audit_entry(cap, action, id, ip.clone()).metadata(metadata)).await?;
    }
    tx.commit().await?;
    Ok((get(db, id).await?, rows.iter().map(|r| r.field).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_collect_every_problem() {
        let long = "x".repeat(TITLE_MAX + 1);
        let draft = TicketDraft { title: &long, priority: Some("urgent"), ..TicketDraft::default() };
        let errors = draft.parse().unwrap_err();
        assert_eq!(errors.keys().copied().collect::<Vec<_>>(), ["customer_id", "priority", "title"]);
        let draft = TicketDraft { customer_id: Some(3), title: "  No\n dial  tone ", ..TicketDraft::default() };
        let t = draft.parse().unwrap();
        assert_eq!((t.title.as_str(), t.priority), ("No dial tone", Priority::Medium));
    }

    #[test]
    fn changes_refuse_unknown_values_and_ignore_empty_comments() {
        let e = TicketChange::parse(Some("done"), Some("urgent"), None, None).unwrap_err();
        assert_eq!(e.keys().copied().collect::<Vec<_>>(), ["priority", "status"]);
        let c = TicketChange::parse(Some("resolved"), None, Some(None), Some("   ")).unwrap();
        assert_eq!((c.status, c.assigned_to, c.comment), (Some(TicketStatus::Resolved), Some(None), None));
    }
}

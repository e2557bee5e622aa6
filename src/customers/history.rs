//! What is on a customer's record besides their details: tickets, payments, calls and
//! emails, as the customer page, the API and the call page's customer panel show them.

use serde::Serialize;

use super::payments::{self, Payment, PaymentFilter};
use super::records::{self, Customer};
use crate::db::paging::Paging;
use crate::db::{Db, Timestamp, with_db};
use crate::error::AppResult;

/// A ticket as a customer's record lists it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TicketLine {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// open, in_progress, pending, resolved or closed.
    pub status: String,
    /// low, medium, high or critical.
    pub priority: String,
    /// The call it was opened from.
    pub call_id: Option<i64>,
    /// When it was opened.
    pub created_at: Timestamp,
    /// When it was resolved.
    pub resolved_at: Option<Timestamp>,
}

impl TicketLine {
    /// Still to be worked on (open, in progress or pending).
    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "open" | "in_progress" | "pending")
    }
}

/// A call as a customer's record lists it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CallLine {
    /// Id.
    pub id: i64,
    /// ai, queued, human or closed.
    pub status: String,
    /// web, api, ...
    pub channel: String,
    /// Department.
    pub department: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// How it ended.
    pub outcome: Option<String>,
    /// When it started.
    pub created_at: Timestamp,
    /// When it ended.
    pub closed_at: Option<Timestamp>,
}

/// An email to the customer as their record lists it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EmailLine {
    /// Id.
    pub id: i64,
    /// summary, information or follow_up.
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Its delivery status as shown to staff.
    pub status: String,
    /// The call it belongs to.
    pub call_id: Option<i64>,
    /// When it was written.
    pub created_at: Timestamp,
}

/// A customer's record with its history.
#[derive(Clone, Debug)]
pub struct Record {
    /// The details.
    pub customer: Customer,
    /// Tickets still to be worked on.
    pub open_tickets: i64,
    /// The newest tickets.
    pub tickets: Vec<TicketLine>,
    /// The newest payments.
    pub payments: Vec<Payment>,
    /// The newest calls.
    pub calls: Vec<CallLine>,
    /// The newest emails (only for staff who may read email).
    pub emails: Vec<EmailLine>,
}

/// How many rows of each kind a record shows.
const SHOWN: i64 = 50;

/// A customer's record, with emails when `with_emails` (viewers do not read email).
pub async fn record(db: &Db, id: i64, with_emails: bool) -> AppResult<Record> {
    let customer = records::get(db, id).await?;
    let emails = if with_emails {
        let filter = crate::email::Filter { status: None, call_id: None, customer_id: Some(id) };
        crate::email::list(db, &filter, SHOWN)
            .await?
            .into_iter()
            .map(|e| EmailLine {
                id: e.id,
                status: e.shown_status().to_owned(),
                kind: e.kind,
                subject: e.subject,
                call_id: e.call_id,
                created_at: e.created_at,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Record {
        open_tickets: open_tickets(db, id).await?,
        tickets: tickets(db, id, SHOWN).await?,
        payments: recent_payments(db, id, SHOWN).await?,
        calls: calls(db, id, None, SHOWN).await?,
        emails,
        customer,
    })
}

/// What the call page shows of its caller: the record with a few rows of each kind,
/// earlier calls only.
#[derive(Clone, Debug)]
pub struct Panel {
    /// The details.
    pub customer: Customer,
    /// Tickets still to be worked on.
    pub open_tickets: i64,
    /// Those tickets (the newest few).
    pub tickets: Vec<TicketLine>,
    /// The newest payments.
    pub payments: Vec<Payment>,
    /// Calls before this one.
    pub earlier_calls: Vec<CallLine>,
}

/// The panel for a call with the customer `customer_id`.
pub async fn panel(db: &Db, customer_id: i64, call_id: i64) -> AppResult<Panel> {
    let customer = records::get(db, customer_id).await?;
    let tickets: Vec<TicketLine> =
        tickets(db, customer_id, 20).await?.into_iter().filter(TicketLine::is_open).collect();
    Ok(Panel {
        open_tickets: open_tickets(db, customer_id).await?,
        tickets: tickets.into_iter().take(5).collect(),
        payments: recent_payments(db, customer_id, 5).await?,
        earlier_calls: calls(db, customer_id, Some(call_id), 5).await?,
        customer,
    })
}

async fn open_tickets(db: &Db, customer_id: i64) -> AppResult<i64> {
    Ok(with_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM tickets WHERE customer_id = $1 AND status IN ('open', 'in_progress', 'pending')",
    )
    .bind(customer_id)
    .fetch_one(pool)
    .await)?)
}

async fn tickets(db: &Db, customer_id: i64, limit: i64) -> AppResult<Vec<TicketLine>> {
    Ok(with_db!(db, |pool| sqlx::query_as(
        "SELECT id, title, status, priority, call_id, created_at, resolved_at FROM tickets \
         WHERE customer_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(customer_id)
    .bind(limit)
    .fetch_all(pool)
    .await)?)
}

async fn recent_payments(db: &Db, customer_id: i64, limit: i64) -> AppResult<Vec<Payment>> {
    let filter = PaymentFilter { customer_id: Some(customer_id), period: None };
    let paging = Paging { page: 1, per_page: limit };
    Ok(payments::list(db, &filter, paging).await?.items)
}

/// The customer's calls, newest first, leaving out `except` and any later call.
async fn calls(db: &Db, customer_id: i64, except: Option<i64>, limit: i64) -> AppResult<Vec<CallLine>> {
    let before = except.unwrap_or(i64::MAX);
    Ok(with_db!(db, |pool| sqlx::query_as(
        "SELECT id, status, channel, department, category, outcome, created_at, closed_at FROM calls \
         WHERE customer_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(customer_id)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await)?)
}

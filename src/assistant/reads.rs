//! The few reads the assistant's tools need: customers by name, email or phone, one
//! customer's record, and tickets counted or listed by status, priority and customer.

use serde::Serialize;

use crate::agents::Priority;
use crate::agents::builtin::text::normalize;
use crate::customers::tickets::TicketStatus;
use crate::db::{Db, Money, Timestamp, with_db};

/// Most customers a search returns.
pub const SEARCH_LIMIT: usize = 10;
/// Most tickets a list returns.
pub const LIST_LIMIT: i64 = 20;

/// A customer as a search shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CustomerHit {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Phone.
    pub phone: Option<String>,
    /// What the customer owes, "12.50".
    pub balance: String,
}

type HitRow = (i64, String, String, Option<String>, Money);

fn hit((id, name, email, phone, balance): HitRow) -> CustomerHit {
    CustomerHit { id, name, email, phone, balance: balance.to_string() }
}

/// `text` as a LIKE pattern fragment: wildcards escaped (with `\`), and each letter
/// that may carry an accent (vowels, n) left open as `_`, so `Maria Garcia` finds
/// `María García` on both backends; [`normalize`] then keeps only true matches.
fn accent_blind(text: &str) -> String {
    let mut out = String::new();
    for c in text.to_lowercase().chars() {
        match c {
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if "aeiouáéíóúàèìòùäëïöüâêîôûnñ".contains(c) => out.push('_'),
            c => out.push(c),
        }
    }
    out
}

/// Customers whose name, email or phone contains `query` (accents and case aside),
/// up to [`SEARCH_LIMIT`], by name.
pub async fn search_customers(db: &Db, query: &str) -> Result<Vec<CustomerHit>, sqlx::Error> {
    let query = query.trim();
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    let looks_like_phone = digits.len() >= 6 && query.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let rows: Vec<HitRow> = if looks_like_phone {
        let pattern = format!("%{digits}%");
        with_db!(db, |pool| sqlx::query_as(
            "SELECT id, name, email, phone, balance_cents FROM customers \
             WHERE REPLACE(REPLACE(REPLACE(REPLACE(COALESCE(phone, ''), ' ', ''), '-', ''), '+', ''), '.', '') LIKE $1 \
             ORDER BY name, id LIMIT $2",
        )
        .bind(pattern)
        .bind(SEARCH_LIMIT as i64)
        .fetch_all(pool)
        .await)?
    } else {
        let pattern = format!("%{}%", accent_blind(query));
        let rows: Vec<HitRow> = with_db!(db, |pool| sqlx::query_as(
            "SELECT id, name, email, phone, balance_cents FROM customers \
             WHERE LOWER(name) LIKE $1 ESCAPE '\\' OR LOWER(email) LIKE $1 ESCAPE '\\' ORDER BY name, id LIMIT 200",
        )
        .bind(pattern)
        .fetch_all(pool)
        .await)?;
        let wanted = normalize(query);
        rows.into_iter()
            .filter(|(_, name, email, _, _)| normalize(name).contains(&wanted) || normalize(email).contains(&wanted))
            .take(SEARCH_LIMIT)
            .collect()
    };
    Ok(rows.into_iter().map(hit).collect())
}

/// A ticket in a list.
#[derive(Clone, Debug, Serialize)]
pub struct TicketLine {
    /// Id.
    pub id: i64,
    /// Whose.
    pub customer_id: i64,
    /// Title.
    pub title: String,
    /// Status.
    pub status: String,
    /// Priority.
    pub priority: String,
    /// When it was opened.
    pub created_at: Timestamp,
}

/// A payment in a customer's record.
#[derive(Clone, Debug, Serialize)]
pub struct PaymentLine {
    /// Id.
    pub id: i64,
    /// Amount, "50.00".
    pub amount: String,
    /// How.
    pub method: String,
    /// What for.
    pub description: String,
    /// When.
    pub at: Timestamp,
}

/// One customer's record as the assistant reports it.
#[derive(Clone, Debug, Serialize)]
pub struct CustomerRecord {
    /// Contact details and balance.
    #[serde(flatten)]
    pub customer: CustomerHit,
    /// Whether the record is active.
    pub active: bool,
    /// Tickets not yet resolved or closed, newest first (up to 10).
    pub open_tickets: Vec<TicketLine>,
    /// The five most recent payments.
    pub recent_payments: Vec<PaymentLine>,
}

/// The customer with `id`, with open tickets and recent payments.
pub async fn customer(db: &Db, id: i64) -> Result<Option<CustomerRecord>, sqlx::Error> {
    let row: Option<(i64, String, String, Option<String>, Money, bool)> = with_db!(db, |pool| sqlx::query_as(
        "SELECT id, name, email, phone, balance_cents, active FROM customers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await)?;
    let Some((id, name, email, phone, balance, active)) = row else { return Ok(None) };
    let filter = TicketFilter { customer_id: Some(id), unresolved: true, ..TicketFilter::default() };
    let open_tickets = list_tickets(db, &filter, 10).await?;
    let payments: Vec<(i64, Money, String, String, Timestamp)> = with_db!(db, |pool| {
        sqlx::query_as(
        "SELECT id, amount_cents, method, description, at FROM payments WHERE customer_id = $1 ORDER BY at DESC, id DESC LIMIT 5",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    })?;
    let recent_payments = payments
        .into_iter()
        .map(|(id, amount, method, description, at)| PaymentLine {
            id,
            amount: amount.to_string(),
            method,
            description,
            at,
        })
        .collect();
    Ok(Some(CustomerRecord { customer: hit((id, name, email, phone, balance)), active, open_tickets, recent_payments }))
}

/// Which tickets to count or list.
#[derive(Clone, Copy, Debug, Default)]
pub struct TicketFilter {
    /// Only this status.
    pub status: Option<TicketStatus>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only this customer's.
    pub customer_id: Option<i64>,
    /// Only those not resolved or closed (when no status is given).
    pub unresolved: bool,
}

/// The filter's condition, shared by the count and the list (a macro, so each query
/// stays one literal).
macro_rules! ticket_where {
    () => {
        "($1 IS NULL OR status = $1) AND ($2 IS NULL OR priority = $2) \
         AND ($3 IS NULL OR customer_id = $3) AND ($4 = 0 OR status NOT IN ('resolved', 'closed'))"
    };
}

/// How many tickets match.
pub async fn count_tickets(db: &Db, f: &TicketFilter) -> Result<i64, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_scalar::<_, i64>(concat!("SELECT COUNT(*) FROM tickets WHERE ", ticket_where!()))
        .bind(f.status.map(TicketStatus::as_str))
        .bind(f.priority.map(Priority::as_str))
        .bind(f.customer_id)
        .bind(i64::from(f.unresolved))
        .fetch_one(pool)
        .await)
}

/// The newest matching tickets, up to `limit`.
pub async fn list_tickets(db: &Db, f: &TicketFilter, limit: i64) -> Result<Vec<TicketLine>, sqlx::Error> {
    let rows: Vec<(i64, i64, String, String, String, Timestamp)> = with_db!(db, |pool| sqlx::query_as(concat!(
        "SELECT id, customer_id, title, status, priority, created_at FROM tickets WHERE ",
        ticket_where!(),
        " ORDER BY created_at DESC, id DESC LIMIT $5"
    ))
    .bind(f.status.map(TicketStatus::as_str))
    .bind(f.priority.map(Priority::as_str))
    .bind(f.customer_id)
    .bind(i64::from(f.unresolved))
    .bind(limit)
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, customer_id, title, status, priority, created_at)| TicketLine {
            id,
            customer_id,
            title,
            status,
            priority,
            created_at,
        })
        .collect())
}

/// The name of the customer with `id`, if there is one.
pub async fn customer_name(db: &Db, id: i64) -> Result<Option<String>, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_scalar("SELECT name FROM customers WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await)
}

/// A customer's name and whether the record is active (payments go to active ones only).
pub async fn customer_name_and_active(db: &Db, id: i64) -> Result<Option<(String, bool)>, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_as("SELECT name, active FROM customers WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await)
}

#[cfg(test)]
mod tests {
    use super::accent_blind;

    #[test]
    fn search_patterns_ignore_accents_and_escape_wildcards() {
        assert_eq!(accent_blind("María"), "m_r__");
        assert_eq!(accent_blind("50%_x"), "50\\%\\_x");
    }
}

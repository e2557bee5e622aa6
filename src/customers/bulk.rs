//! Past tickets (with their history) and payments written in bulk: the demo seed's
//! weeks of history and the reports benchmark. Multi-row inserts inside the caller's
//! transaction; balances are left as they are (they were set knowing the history).

use crate::db::{Money, Timestamp, Tx, on_tx};

/// A ticket as it stands after its history.
#[derive(Clone, Debug)]
pub struct PastTicket {
    /// Whose.
    pub customer_id: i64,
    /// The call it came from (one ticket per call here).
    pub call_id: i64,
    /// Short title.
    pub title: String,
    /// What happened.
    pub description: String,
    /// Status now (`open`, `in_progress`, `pending`, `resolved`, `closed`).
    pub status: &'static str,
    /// `low`, `medium`, `high`, `critical`.
    pub priority: &'static str,
    /// Who works on it.
    pub assigned_to: Option<i64>,
    /// Who opened it.
    pub created_by: Option<i64>,
    /// Opened.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Resolved (resolved and closed tickets).
    pub resolved_at: Option<Timestamp>,
    /// Its changes, oldest first: actor id, actor name, field, old value, new value, when.
    pub history: Vec<PastChange>,
}

/// One change in a ticket's history.
#[derive(Clone, Debug)]
pub struct PastChange {
    /// Who.
    pub actor_id: Option<i64>,
    /// Their name (or `ai`).
    pub actor: String,
    /// `created`, `status`, `priority`, `assigned_to`, `comment`.
    pub field: &'static str,
    /// Before.
    pub old_value: Option<String>,
    /// After.
    pub new_value: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// A payment made in the past.
#[derive(Clone, Debug)]
pub struct PastPayment {
    /// Who paid.
    pub customer_id: i64,
    /// The call it was taken on.
    pub call_id: Option<i64>,
    /// How much.
    pub amount: Money,
    /// What for.
    pub description: String,
    /// `cash`, `card`, `transfer`, `check`.
    pub method: &'static str,
    /// Who registered it.
    pub processed_by: Option<i64>,
    /// When.
    pub at: Timestamp,
}

/// Rows per statement (well under both databases' bind-parameter limits).
const ROWS: usize = 1000;

/// Inserts tickets and their history.
pub async fn insert_tickets(tx: &mut Tx, tickets: &[PastTicket]) -> Result<(), sqlx::Error> {
    for part in tickets.chunks(ROWS) {
        let ids: Vec<(i64, i64)> = on_tx!(tx, |conn| {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO tickets (customer_id, call_id, title, description, status, priority, assigned_to, \
                 created_by, created_at, updated_at, resolved_at) ",
            );
            qb.push_values(part, |mut b, t| {
                b.push_bind(t.customer_id)
                    .push_bind(t.call_id)
                    .push_bind(&t.title)
                    .push_bind(&t.description)
                    .push_bind(t.status)
                    .push_bind(t.priority)
                    .push_bind(t.assigned_to)
                    .push_bind(t.created_by)
                    .push_bind(t.created_at)
                    .push_bind(t.updated_at)
                    .push_bind(t.resolved_at);
            });
            qb.push(" RETURNING id, call_id");
            qb.build_query_as().fetch_all(&mut *conn).await
        })?;
        let by_call: std::collections::HashMap<i64, i64> = ids.into_iter().map(|(id, call)| (call, id)).collect();
        let changes: Vec<(i64, &PastChange)> = part
            .iter()
            .filter_map(|t| by_call.get(&t.call_id).map(|id| (*id, t)))
            .flat_map(|(id, t)| t.history.iter().map(move |h| (id, h)))
            .collect();
        for rows in changes.chunks(ROWS) {
            on_tx!(tx, |conn| {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO ticket_history (ticket_id, actor_id, actor, field, old_value, new_value, at) ",
                );
                qb.push_values(rows, |mut b, (id, h)| {
                    b.push_bind(*id)
                        .push_bind(h.actor_id)
                        .push_bind(&h.actor)
                        .push_bind(h.field)
                        .push_bind(&h.old_value)
                        .push_bind(&h.new_value)
                        .push_bind(h.at);
                });
                qb.build().execute(&mut *conn).await.map(|_| ())
            })?;
        }
    }
    Ok(())
}

/// Inserts payments (balances unchanged).
pub async fn insert_payments(tx: &mut Tx, payments: &[PastPayment]) -> Result<(), sqlx::Error> {
    for part in payments.chunks(ROWS) {
        on_tx!(tx, |conn| {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO payments (customer_id, call_id, amount_cents, description, method, processed_by, at) ",
            );
            qb.push_values(part, |mut b, p| {
                b.push_bind(p.customer_id)
                    .push_bind(p.call_id)
                    .push_bind(p.amount)
                    .push_bind(&p.description)
                    .push_bind(p.method)
                    .push_bind(p.processed_by)
                    .push_bind(p.at);
            });
            qb.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

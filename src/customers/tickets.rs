//! Tickets: a customer's open problems and requests.

use crate::agents::Priority;
use crate::db::{Db, Timestamp, Tx, id_enum, on_tx, with_db};

id_enum! {
    /// Where a ticket stands.
    TicketStatus {
        /// Nobody works on it yet.
        Open => "open",
        /// Someone works on it.
        InProgress => "in_progress",
        /// Waiting on the customer or a third party.
        Pending => "pending",
        /// Solved; `resolved_at` is set.
        Resolved => "resolved",
        /// Closed.
        Closed => "closed",
    }
}

/// A ticket to open.
#[derive(Clone, Debug)]
pub struct NewTicket<'a> {
    /// Whose.
    pub customer_id: i64,
    /// Short title.
    pub title: &'a str,
    /// What happened.
    pub description: &'a str,
    /// Status it starts in (usually open).
    pub status: TicketStatus,
    /// How urgent.
    pub priority: Priority,
}

/// Opens a ticket; returns its id.
pub async fn open(db: &Db, t: &NewTicket<'_>) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let id = open_in(&mut tx, t).await?;
    tx.commit().await?;
    Ok(id)
}

/// Opens a ticket inside the caller's transaction; returns its id.
pub async fn open_in(tx: &mut Tx, t: &NewTicket<'_>) -> Result<i64, sqlx::Error> {
    on_tx!(tx, |conn| sqlx::query_scalar(
        "INSERT INTO tickets (customer_id, title, description, status, priority, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(t.customer_id)
    .bind(t.title)
    .bind(t.description)
    .bind(t.status.as_str())
    .bind(t.priority.as_str())
    .bind(Timestamp::now())
    .fetch_one(&mut *conn)
    .await)
}

/// Opens a ticket for the customer with `email` unless they already have one with
/// this title (the demo seed runs more than once); `customer_id` is ignored.
pub async fn open_once_for(db: &Db, email: &str, t: &NewTicket<'_>) -> Result<bool, sqlx::Error> {
    let added = with_db!(db, |pool| sqlx::query(
        "INSERT INTO tickets (customer_id, title, description, status, priority, created_at) \
         SELECT c.id, $2, $3, $4, $5, $6 FROM customers c WHERE c.email = $1 \
         AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.customer_id = c.id AND t.title = $2)",
    )
    .bind(email)
    .bind(t.title)
    .bind(t.description)
    .bind(t.status.as_str())
    .bind(t.priority.as_str())
    .bind(Timestamp::now())
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(added == 1)
}

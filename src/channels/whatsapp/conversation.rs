//! What staff see of a WhatsApp conversation (a call on channel `whatsapp`): who it is
//! with, how many customer messages nobody on the staff has read yet, marking it read,
//! and whether the 24-hour customer-service window is open.

use serde::Serialize;

use super::WINDOW_SECONDS;
use crate::db::{Db, Timestamp, with_db};

/// A WhatsApp call's conversation.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Conversation {
    /// The call.
    pub call_id: i64,
    /// Its status (ai, queued, human, closed).
    pub status: String,
    /// Our number.
    pub phone_number_id: String,
    /// The customer's WhatsApp id (their number).
    pub wa_id: String,
    /// The name on their WhatsApp profile (as they chose it: unverified).
    pub profile_name: Option<String>,
    /// The customer record their number matched, if any.
    pub customer_id: Option<i64>,
    /// The customer's last message.
    pub last_inbound_at: Timestamp,
    /// When staff last marked it read.
    pub read_at: Option<Timestamp>,
    /// Customer messages since then.
    pub unread: i64,
}

impl Conversation {
    /// Whether a free-form reply may be sent now (within 24 hours of the customer's
    /// last message).
    pub fn window_open(&self, now: Timestamp) -> bool {
        now.unix_seconds() - self.last_inbound_at.unix_seconds() < WINDOW_SECONDS
    }
}

macro_rules! conversation_select {
    () => {
        "SELECT w.call_id, c.status, k.phone_number_id, k.wa_id, k.profile_name, c.customer_id, w.last_inbound_at, \
         w.read_at, (SELECT COUNT(*) FROM messages m WHERE m.call_id = w.call_id AND m.role = 'customer' \
         AND (w.read_at IS NULL OR m.at > w.read_at)) AS unread \
         FROM whatsapp_calls w JOIN whatsapp_contacts k ON k.id = w.contact_id JOIN calls c ON c.id = w.call_id "
    };
}

/// The conversation of a call (`None` for a call on another channel).
pub async fn of_call(db: &Db, call_id: i64) -> Result<Option<Conversation>, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_as(concat!(conversation_select!(), "WHERE w.call_id = $1"))
        .bind(call_id)
        .fetch_optional(pool)
        .await)
}

/// Open conversations (or all, newest first, when `all`), at most `limit`.
pub async fn list(db: &Db, all: bool, limit: i64) -> Result<Vec<Conversation>, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_as(concat!(
        conversation_select!(),
        "WHERE ($1 OR c.status <> 'closed') ORDER BY w.last_inbound_at DESC, w.call_id DESC LIMIT $2"
    ))
    .bind(all)
    .bind(limit)
    .fetch_all(pool)
    .await)
}

/// Marks a conversation read now; false for a call that is not a WhatsApp one.
pub async fn mark_read(db: &Db, call_id: i64) -> Result<bool, sqlx::Error> {
    with_db!(db, |pool| sqlx::query("UPDATE whatsapp_calls SET read_at = $2 WHERE call_id = $1")
        .bind(call_id)
        .bind(Timestamp::now())
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))
}

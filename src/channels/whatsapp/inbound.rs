//! Processing a stored webhook event (the `whatsapp.event` job).
//!
//! A message: in one transaction, the contact is found or added (and, by the phone on
//! file, the customer), their open WhatsApp call is continued or a new one opened, the
//! customer's message stored and the event marked processed; then the three agents
//! answer through the same turn code as the web page, and the reply is queued for
//! sending with the reply itself. The event is marked in the transaction that stores
//! the message, so a repeated job never stores it twice; a process that dies after that
//! and before the agents answered leaves the customer's message unanswered, which the
//! turn recovery hands to a person (the agents are never run twice on one message).
//!
//! A status: moves the outbound message's delivery status forward (see
//! [`super::outbound::apply_status`]); one about a message we have not stored the id
//! of yet (the status overtook the provider's answer to our send) is retried.

use serde::Deserialize;

use super::outbound;
use crate::calls::{self, Channel, MessageKind, MessageRole};
use crate::context::Ctx;
use crate::db::{Timestamp, Tx, on_tx, with_db};
use crate::events::{self, Payload};
use crate::i18n::{self, Lang};
use crate::jobs::{Failure, Job};

/// A stored event, as the job reads it.
#[derive(Debug, sqlx::FromRow)]
struct StoredEvent {
    id: i64,
    phone_number_id: String,
    kind: String,
    wa_id: String,
    body: String,
    status: String,
    received_at: Timestamp,
}

/// An inbound message's stored body.
#[derive(Debug, Deserialize)]
struct MessageBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    profile_name: Option<String>,
    /// When the customer sent it (Unix seconds, as the provider says).
    #[serde(default)]
    timestamp: Option<String>,
}

impl MessageBody {
    /// When the customer wrote: the provider's time, never later than now (a message a
    /// provider delivers late must not reopen the 24-hour window).
    fn sent_at(&self, now: Timestamp) -> Timestamp {
        self.timestamp
            .as_deref()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
            .map(Timestamp::from)
            .filter(|sent| sent.unix_seconds() < now.unix_seconds())
            .unwrap_or(now)
    }
}

/// A status's stored body.
#[derive(Debug, Deserialize)]
struct StatusBody {
    id: String,
    status: String,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct EventPayload {
    event_id: i64,
}

fn db_failure(e: impl std::fmt::Display) -> Failure {
    Failure::transient(format!("database: {e}"))
}

/// How long a status about a message we do not know is retried before it is dropped
/// (at most: the job's last attempt drops it too).
const UNKNOWN_STATUS_PATIENCE_SECONDS: i64 = 3600;

/// The `whatsapp.event` job.
#[tracing::instrument(skip_all, fields(job = job.id))]
pub async fn perform(ctx: &Ctx, job: &Job) -> Result<String, Failure> {
    let EventPayload { event_id } = job.payload()?;
    let event: Option<StoredEvent> = with_db!(ctx.db(), |pool| sqlx::query_as(
        "SELECT id, phone_number_id, kind, wa_id, body, status, received_at FROM whatsapp_events WHERE id = $1"
    )
    .bind(event_id)
    .fetch_optional(pool)
    .await)
    .map_err(db_failure)?;
    let Some(event) = event else { return Ok("event deleted".into()) };
    if event.status == "processed" {
        return Ok("processed already".into());
    }
    match event.kind.as_str() {
        "status" => status(ctx, &event, job.attempts >= job.max_attempts).await,
        _ => message(ctx, &event).await,
    }
}

/// Marks the event processed (linked to `call_id`) inside `tx`; false when another
/// attempt or node did it first.
async fn mark_processed(tx: &mut Tx, event_id: i64, call_id: Option<i64>) -> Result<bool, sqlx::Error> {
    on_tx!(tx, |conn| sqlx::query(
        "UPDATE whatsapp_events SET status = 'processed', processed_at = $2, call_id = $3 \
         WHERE id = $1 AND status = 'pending'"
    )
    .bind(event_id)
    .bind(Timestamp::now())
    .bind(call_id)
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected() == 1))
}

async fn status(ctx: &Ctx, event: &StoredEvent, last_attempt: bool) -> Result<String, Failure> {
    let body: StatusBody =
        serde_json::from_str(&event.body).map_err(|e| Failure::permanent(format!("bad event body: {e}")))?;
    let mut tx = ctx.db().begin().await.map_err(db_failure)?;
    let applied =
        outbound::apply_status(&mut tx, &body.id, &body.status, body.error.as_deref()).await.map_err(db_failure)?;
    let known = applied != outbound::Applied::Unknown;
    let age = Timestamp::now().unix_seconds() - event.received_at.unix_seconds();
    // Retried while the send's answer may still be on its way; on the job's last
    // attempt it is dropped and the event marked processed, so no event is left
    // pending for ever (a message sent outside Centralita, from the same number).
    if !known && age < UNKNOWN_STATUS_PATIENCE_SECONDS && !last_attempt {
        return Err(Failure::transient("status of a message whose provider id is not stored yet"));
    }
    mark_processed(&mut tx, event.id, None).await.map_err(db_failure)?;
    // The call's page redraws the message's ticks (the event is the transaction's last
    // statement, as the bus asks).
    if let outbound::Applied::Changed { call_id, message_id } = applied {
        let payload = Payload::WhatsappStatus { message_id, delivery: body.status.clone() };
        events::record_in(&mut tx, Some(call_id), &payload).await.map_err(db_failure)?;
    }
    ctx.bus().commit(tx).await.map_err(db_failure)?;
    Ok(if known { format!("status {}", body.status) } else { "status of an unknown message, dropped".into() })
}

/// The language to answer a contact in when no turn decided it: their call's, else
/// English for the countries whose number says so, else Spanish (the default).
fn language_for(call_language: Option<&str>, wa_id: &str) -> Lang {
    if let Some(lang) = call_language.and_then(Lang::parse) {
        return lang;
    }
    const ENGLISH: [&str; 6] = ["1", "44", "61", "64", "353", "27"];
    if ENGLISH.iter().any(|code| wa_id.starts_with(code)) { Lang::En } else { Lang::default() }
}

async fn message(ctx: &Ctx, event: &StoredEvent) -> Result<String, Failure> {
    let body: MessageBody =
        serde_json::from_str(&event.body).map_err(|e| Failure::permanent(format!("bad event body: {e}")))?;
    let text = match (&body.kind[..], &body.text) {
        ("text", Some(t)) => {
            let cut: String = t.chars().take(calls::MAX_MESSAGE).collect();
            calls::parse_message(&cut).ok()
        }
        _ => None,
    };
    let customer = match super::e164_digits(&event.wa_id) {
        Some(digits) => crate::customers::records::by_phone(ctx.db(), &digits).await.map_err(db_failure)?,
        None => None,
    };
    let mut tx = ctx.db().begin().await.map_err(db_failure)?;
    let linked_before = linked_customer(&mut tx, event).await.map_err(db_failure)?;
    let contact = upsert_contact(&mut tx, event, body.profile_name.as_deref(), customer).await.map_err(db_failure)?;
    if let Some(Some(before)) = linked_before
        && Some(before) != contact.customer_id
    {
        unlink_open_call(&mut tx, contact.id, before, contact.customer_id).await.map_err(db_failure)?;
    }
    let (call_id, language, created) = open_call(&mut tx, &contact).await.map_err(db_failure)?;
    if !mark_processed(&mut tx, event.id, Some(call_id)).await.map_err(db_failure)? {
        return Ok("processed already".into());
    }
    let now = Timestamp::now();
    // The window counts from when the customer wrote, and only moves forward (a call
    // opened now takes the message's time).
    on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE whatsapp_calls SET last_inbound_at = $2 WHERE call_id = $1 AND (last_inbound_at < $2 OR $3)"
    )
    .bind(call_id)
    .bind(body.sent_at(now))
    .bind(created)
    .execute(&mut *conn)
    .await
    .map(|_| ()))
    .map_err(db_failure)?;
    let mut news = Vec::new();
    if created {
        news.push(Payload::CallCreated { channel: Channel::Whatsapp.as_str(), status: calls::CallStatus::Ai.as_str() });
    }
    let stored = text.clone().unwrap_or_else(|| format!("[{}]", body.kind));
    // Text awaits the agents' turn; anything else is answered here.
    let (message_id, event_news) =
        calls::insert_message_awaiting(&mut tx, call_id, MessageRole::Customer, None, &stored, None, text.is_some())
            .await
            .map_err(db_failure)?;
    news.push(event_news);
    if text.is_none() {
        // Only text is understood: say so, politely, in the contact's language.
        let lang = language_for(language.as_deref(), &contact.wa_id);
        let reply = i18n::t(lang, "wa.text_only");
        let (reply_id, reply_news) =
            calls::insert_message(&mut tx, call_id, MessageRole::Ai, Some(MessageKind::Service), reply, None)
                .await
                .map_err(db_failure)?;
        news.push(reply_news);
        outbound::queue_in(&mut tx, call_id, reply_id, reply, ctx.jobs().max_attempts()).await.map_err(db_failure)?;
    }
    on_tx!(&mut tx, |conn| sqlx::query("UPDATE calls SET updated_at = $2 WHERE id = $1")
        .bind(call_id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map(|_| ()))
    .map_err(db_failure)?;
    for payload in &news {
        events::record_in(&mut tx, Some(call_id), payload).await.map_err(db_failure)?;
    }
    ctx.bus().commit(tx).await.map_err(db_failure)?;
    ctx.jobs().wake();
    let Some(text) = text else { return Ok(format!("call {call_id}: {} answered as text only", body.kind)) };
    // The message is stored and the event processed: from here a failure must not run
    // the job again (that would store nothing new and answer nothing); the turn
    // recovery hands an unanswered message to a person. The turn runs on a task of its
    // own, not in this job's worker slot: a contact writing several messages in a row
    // queues their turns one after another (one call's turns run one at a time), and
    // other contacts' messages and the outgoing sends must not wait behind them.
    let turn_ctx = ctx.clone();
    ctx.turns().spawn(async move {
        match calls::answer_stored(&turn_ctx, call_id, message_id, &text).await {
            Ok(turn) if turn.reply.is_none() => tracing::info!(call_id, "WhatsApp message left for a person"),
            Ok(_) => {}
            Err(err) => tracing::error!(call_id, error = %err, "the agents could not answer a WhatsApp message"),
        }
    });
    Ok(format!("call {call_id}: stored, answer under way"))
}

/// A contact as the processing needs it.
#[derive(Debug, sqlx::FromRow)]
struct ContactRow {
    id: i64,
    wa_id: String,
    profile_name: Option<String>,
    customer_id: Option<i64>,
}

/// Adds or refreshes the contact (its row stays locked until the transaction ends, so
/// two messages of one contact processed at once open one call, not two).
async fn upsert_contact(
    tx: &mut Tx,
    event: &StoredEvent,
    profile_name: Option<&str>,
    customer: Option<i64>,
) -> Result<ContactRow, sqlx::Error> {
    let now = Timestamp::now();
    on_tx!(tx, |conn| sqlx::query_as(
        "INSERT INTO whatsapp_contacts (phone_number_id, wa_id, profile_name, customer_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (phone_number_id, wa_id) DO UPDATE SET \
         profile_name = COALESCE(excluded.profile_name, whatsapp_contacts.profile_name), \
         customer_id = excluded.customer_id, updated_at = excluded.updated_at \
         RETURNING id, wa_id, profile_name, customer_id",
    )
    .bind(&event.phone_number_id)
    .bind(&event.wa_id)
    .bind(profile_name)
    .bind(customer)
    .bind(now)
    .fetch_one(&mut *conn)
    .await)
}

/// The customer the contact was linked to before this message (`None` for a contact
/// never seen).
async fn linked_customer(tx: &mut Tx, event: &StoredEvent) -> Result<Option<Option<i64>>, sqlx::Error> {
    on_tx!(tx, |conn| sqlx::query_scalar(
        "SELECT customer_id FROM whatsapp_contacts WHERE phone_number_id = $1 AND wa_id = $2"
    )
    .bind(&event.phone_number_id)
    .bind(&event.wa_id)
    .fetch_optional(&mut *conn)
    .await)
}

/// The number no longer leads to the customer it was linked to (their phone changed,
/// the record was deactivated or unverified, another record has the number too): the
/// contact's open call that the link had identified stops speaking for that customer,
/// so the agents' tools no longer read their account. A call staff linked to someone
/// else is left alone.
async fn unlink_open_call(tx: &mut Tx, contact_id: i64, before: i64, now: Option<i64>) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn| sqlx::query(
        "UPDATE calls SET customer_id = $3 WHERE customer_id = $2 AND status <> 'closed' \
         AND id IN (SELECT call_id FROM whatsapp_calls WHERE contact_id = $1)"
    )
    .bind(contact_id)
    .bind(before)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(|_| ()))
}

/// The contact's open WhatsApp call, or a new one: its id, language and whether it
/// was opened now.
async fn open_call(tx: &mut Tx, contact: &ContactRow) -> Result<(i64, Option<String>, bool), sqlx::Error> {
    let open: Option<(i64, Option<String>)> = on_tx!(tx, |conn| sqlx::query_as(
        "SELECT c.id, c.language FROM whatsapp_calls w JOIN calls c ON c.id = w.call_id \
         WHERE w.contact_id = $1 AND c.status <> 'closed' ORDER BY c.id DESC LIMIT 1"
    )
    .bind(contact.id)
    .fetch_optional(&mut *conn)
    .await)?;
    if let Some((id, language)) = open {
        return Ok((id, language, false));
    }
    let now = Timestamp::now();
    let id: i64 = on_tx!(tx, |conn| sqlx::query_scalar(
        "INSERT INTO calls (channel, customer_id, status, contact_name, created_at, updated_at) \
         VALUES ($1, $2, 'ai', $3, $4, $4) RETURNING id",
    )
    .bind(Channel::Whatsapp.as_str())
    .bind(contact.customer_id)
    .bind(contact.profile_name.as_deref())
    .bind(now)
    .fetch_one(&mut *conn)
    .await)?;
    on_tx!(tx, |conn| sqlx::query(
        "INSERT INTO whatsapp_calls (call_id, contact_id, last_inbound_at) VALUES ($1, $2, $3)"
    )
    .bind(id)
    .bind(contact.id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(|_| ()))?;
    on_tx!(tx, |conn| sqlx::query("UPDATE whatsapp_contacts SET call_id = $2 WHERE id = $1")
        .bind(contact.id)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map(|_| ()))?;
    Ok((id, None, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contact_without_a_call_language_is_answered_by_country() {
        assert_eq!(language_for(Some("en"), "34600123456"), Lang::En);
        assert_eq!(language_for(None, "34600123456"), Lang::Es);
        assert_eq!(language_for(None, "447700900123"), Lang::En);
    }
}

//! The webhook's payload (the Cloud API's `whatsapp_business_account` notification)
//! and storing its events, each once, with the job that processes it.
//!
//! The payload types accept unknown fields on purpose (unlike our own API's input
//! types): the provider adds fields over time and a notification must not be refused
//! for that. Only what is read here is checked.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Number, is_provider_id};
use crate::context::Ctx;
use crate::db::{Timestamp, on_tx};
use crate::jobs::{self, NewJob};

/// The job kind that processes one stored event.
pub const EVENT_JOB: &str = "whatsapp.event";

/// A webhook notification.
#[derive(Debug, Deserialize)]
pub struct Notification {
    /// `whatsapp_business_account`.
    pub object: String,
    /// The accounts it reports on.
    #[serde(default)]
    pub entry: Vec<Entry>,
}

/// One account's changes.
#[derive(Debug, Deserialize)]
pub struct Entry {
    /// The changes.
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// One change: `value` holds messages and statuses of one number.
#[derive(Debug, Deserialize)]
pub struct Change {
    /// `messages` for messages and statuses.
    #[serde(default)]
    pub field: Option<String>,
    /// What changed.
    #[serde(default)]
    pub value: Option<ChangeValue>,
}

/// Messages and statuses of one of our numbers.
#[derive(Debug, Deserialize)]
pub struct ChangeValue {
    /// Which number.
    pub metadata: Option<Metadata>,
    /// Who wrote.
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// What they wrote.
    #[serde(default)]
    pub messages: Vec<InboundMessage>,
    /// What became of what we sent.
    #[serde(default)]
    pub statuses: Vec<Status>,
}

/// The number a change is about.
#[derive(Debug, Deserialize)]
pub struct Metadata {
    /// Its id at the provider.
    pub phone_number_id: String,
}

/// A WhatsApp user.
#[derive(Debug, Deserialize)]
pub struct Contact {
    /// Their WhatsApp id (their number, digits only).
    pub wa_id: String,
    /// Their profile.
    #[serde(default)]
    pub profile: Option<Profile>,
}

/// A contact's profile.
#[derive(Debug, Deserialize)]
pub struct Profile {
    /// The name they chose.
    #[serde(default)]
    pub name: Option<String>,
}

/// A message a user sent us.
#[derive(Debug, Deserialize)]
pub struct InboundMessage {
    /// The provider's message id (`wamid....`).
    pub id: String,
    /// The sender's WhatsApp id.
    pub from: String,
    /// Unix seconds, as text.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// text, image, audio, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The text, for type `text`.
    #[serde(default)]
    pub text: Option<Text>,
}

/// A text message's content.
#[derive(Debug, Deserialize)]
pub struct Text {
    /// What they wrote.
    pub body: String,
}

/// A delivery status of a message we sent.
#[derive(Debug, Deserialize)]
pub struct Status {
    /// Our message's provider id (`wamid....`).
    pub id: String,
    /// sent, delivered, read or failed.
    pub status: String,
    /// Unix seconds, as text.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// The recipient's WhatsApp id.
    #[serde(default)]
    pub recipient_id: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub errors: Option<Value>,
}

/// One event to store: its unique key and what the job needs.
#[derive(Debug)]
pub struct Event {
    /// The message id, or the message id and the status.
    pub key: String,
    /// Our number.
    pub phone_number_id: String,
    /// `message` or `status`.
    pub kind: &'static str,
    /// The user's WhatsApp id.
    pub wa_id: String,
    /// The event, as the job reads it.
    pub body: Value,
}

/// What a notification held: the events for numbers we answer on, and how many were
/// left out (another number, or ids that are not ids).
#[derive(Debug, Default)]
pub struct Sorted {
    /// Events to store.
    pub events: Vec<Event>,
    /// Changes for numbers we do not know.
    pub unknown_numbers: Vec<String>,
    /// Messages or statuses skipped for malformed ids.
    pub malformed: usize,
}

/// Text without control characters (newlines stay), at most `max` characters.
fn clean(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n').take(max).collect()
}

/// Sorts a notification's messages and statuses into events for `known` numbers.
pub fn sort(notification: Notification, known: &[Number]) -> Sorted {
    let mut out = Sorted::default();
    for value in notification.entry.into_iter().flat_map(|e| e.changes).filter_map(|c| c.value) {
        let Some(number) = value.metadata.map(|m| m.phone_number_id) else {
            out.malformed += value.messages.len() + value.statuses.len();
            continue;
        };
        if !known.iter().any(|n| n.phone_number_id == number) {
            out.unknown_numbers.push(clean(&number, 64));
            continue;
        }
        for m in value.messages {
            if !is_provider_id(&m.id) || !is_provider_id(&m.from) {
                out.malformed += 1;
                continue;
            }
            let name = value
                .contacts
                .iter()
                .find(|c| c.wa_id == m.from)
                .or(value.contacts.first())
                .and_then(|c| c.profile.as_ref())
                .and_then(|p| p.name.as_deref())
                .map(|n| clean(n, 200).trim().to_owned())
                .filter(|n| !n.is_empty());
            let kind: String = m.kind.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(32).collect();
            out.events.push(Event {
                key: m.id.clone(),
                phone_number_id: number.clone(),
                kind: "message",
                wa_id: m.from.clone(),
                body: json!({
                    "id": m.id, "type": kind, "text": m.text.map(|t| t.body), "profile_name": name,
                    "timestamp": m.timestamp.map(|t| clean(&t, 20)),
                }),
            });
        }
        for s in value.statuses {
            let recipient = s.recipient_id.unwrap_or_default();
            if !is_provider_id(&s.id) || !matches!(s.status.as_str(), "sent" | "delivered" | "read" | "failed") {
                out.malformed += 1;
                continue;
            }
            let error = s.errors.as_ref().map(|e| clean(&e.to_string(), 500));
            out.events.push(Event {
                key: format!("{}:{}", s.id, s.status),
                phone_number_id: number.clone(),
                kind: "status",
                wa_id: clean(&recipient, 32),
                body: json!({
                    "id": s.id, "status": s.status, "error": error,
                    "timestamp": s.timestamp.map(|t| clean(&t, 20)),
                }),
            });
        }
    }
    out
}

/// Stores the events that are new (a key seen before is skipped: a provider retry, a
/// duplicate, another node that got the same notification), each with its processing
/// job, in one transaction; returns how many were new. The caller answers the
/// provider only after this returns.
#[tracing::instrument(skip_all, fields(events = events.len()))]
pub async fn store(ctx: &Ctx, events: &[Event]) -> Result<usize, sqlx::Error> {
    if events.is_empty() {
        return Ok(0);
    }
    let now = Timestamp::now();
    let mut tx = ctx.db().begin().await?;
    let mut new = 0;
    for event in events {
        let body = event.body.to_string();
        let id: Option<i64> = on_tx!(&mut tx, |conn| sqlx::query_scalar(
            "INSERT INTO whatsapp_events (event_key, phone_number_id, kind, wa_id, body, status, received_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6) ON CONFLICT (event_key) DO NOTHING RETURNING id",
        )
        .bind(&event.key)
        .bind(&event.phone_number_id)
        .bind(event.kind)
        .bind(&event.wa_id)
        .bind(&body)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await)?;
        if let Some(id) = id {
            let job = NewJob::new(EVENT_JOB, json!({"event_id": id})).dedupe(format!("{EVENT_JOB}:{id}"));
            jobs::enqueue_in(&mut tx, &job, ctx.jobs().max_attempts()).await?;
            new += 1;
        }
    }
    tx.commit().await?;
    if new > 0 {
        ctx.jobs().wake();
    }
    Ok(new)
}

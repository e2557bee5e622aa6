//! Replies to WhatsApp calls: queued in the transaction that stores the call's message
//! (one outbound row and one send job per message, so nothing is sent twice from our
//! side), sent by the shared job worker with `POST {api_base}/{phone_number_id}/messages`
//! (retried with backoff on 5xx, 429 and timeouts; a 4xx refusal fails at once), and
//! followed through the provider's statuses.
//!
//! What HTTP cannot rule out: a process that dies after the provider accepted a message
//! but before its answer was stored sends it again when the job's lease expires (as
//! with SMTP). Every other case sends once.

use std::sync::LazyLock;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::number;
use crate::context::Ctx;
use crate::db::{Db, Timestamp, Tx, on_tx, with_db};
use crate::events::Payload;
use crate::jobs::{self, Failure, Job, NewJob, Outcome};

/// The job kind that sends one outbound message.
pub const SEND_JOB: &str = "whatsapp.send";

/// Where an outbound message stands, in the order it moves.
pub const STATUSES: [&str; 5] = ["queued", "sent", "delivered", "read", "failed"];

/// The provider's HTTP client: one connection pool for every send.
static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
});

/// One outbound message.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Outbound {
    /// Id.
    pub id: i64,
    /// The call's message it carries.
    pub message_id: i64,
    /// The call.
    pub call_id: i64,
    /// Our number.
    pub phone_number_id: String,
    /// The recipient's WhatsApp id.
    pub wa_id: String,
    /// The text (a template message: its body filled in).
    #[serde(skip)]
    pub body: String,
    /// A template message: what the provider is sent instead of the text (JSON
    /// `{"name", "language", "parameters"}`).
    #[serde(skip)]
    pub template: Option<String>,
    /// queued, sent, delivered, read or failed.
    pub status: String,
    /// The provider's message id, once accepted.
    pub wamid: Option<String>,
    /// Why it failed (or the last failed attempt's error).
    pub error: Option<String>,
    /// Queued.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

macro_rules! outbound_columns {
    () => {
        "id, message_id, call_id, phone_number_id, wa_id, body, template, status, wamid, error, created_at, updated_at"
    };
}

/// Queues call message `message_id` (`text`) for the WhatsApp contact of `call_id`,
/// inside the caller's transaction. A call with no WhatsApp contact queues nothing.
pub async fn queue_in(
    tx: &mut Tx,
    call_id: i64,
    message_id: i64,
    text: &str,
    attempts: u32,
) -> Result<(), sqlx::Error> {
    queue(tx, call_id, message_id, text, None, attempts).await
}

/// A template message to send: the approved template's name and language code, and the
/// values of its body's variables in order.
#[derive(Clone, Debug, serde::Deserialize, Serialize, PartialEq, Eq)]
pub struct TemplateMessage {
    /// The template's name.
    pub name: String,
    /// Its language code (`es`, `en_US`).
    pub language: String,
    /// `{{1}}`, `{{2}}`… in order.
    pub parameters: Vec<String>,
}

/// Queues call message `message_id` as the template message `template` (its body
/// filled in is `text`), like [`queue_in`].
pub async fn queue_template_in(
    tx: &mut Tx,
    call_id: i64,
    message_id: i64,
    text: &str,
    template: &TemplateMessage,
    attempts: u32,
) -> Result<(), sqlx::Error> {
    let json = serde_json::to_string(template).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    queue(tx, call_id, message_id, text, Some(&json), attempts).await
}

async fn queue(
    tx: &mut Tx,
    call_id: i64,
    message_id: i64,
    text: &str,
    template: Option<&str>,
    attempts: u32,
) -> Result<(), sqlx::Error> {
    let now = Timestamp::now();
    let id: Option<i64> = on_tx!(tx, |conn| {
        sqlx::query_scalar(
        "INSERT INTO whatsapp_outbound (message_id, call_id, phone_number_id, wa_id, body, template, status, created_at, \
         updated_at) SELECT $1, w.call_id, c.phone_number_id, c.wa_id, $3, $5, 'queued', $4, $4 \
         FROM whatsapp_calls w JOIN whatsapp_contacts c ON c.id = w.contact_id WHERE w.call_id = $2 \
         ON CONFLICT (message_id) DO NOTHING RETURNING id",
    )
    .bind(message_id)
    .bind(call_id)
    .bind(text)
    .bind(now)
    .bind(template)
    .fetch_optional(&mut *conn)
    .await
    })?;
    if let Some(id) = id {
        let job = NewJob::new(SEND_JOB, json!({"outbound_id": id})).dedupe(format!("{SEND_JOB}:{message_id}"));
        jobs::enqueue_in(tx, &job, attempts).await?;
    }
    Ok(())
}

/// What the provider is sent for `row`: its text, or its template with the body's
/// parameters (<https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates>).
fn send_body(row: &Outbound) -> Result<serde_json::Value, Failure> {
    let Some(template) = &row.template else {
        return Ok(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": row.wa_id,
            "type": "text", "text": {"preview_url": false, "body": row.body},
        }));
    };
    let t: TemplateMessage =
        serde_json::from_str(template).map_err(|e| Failure::permanent(format!("bad stored template: {e}")))?;
    let mut template = json!({"name": t.name, "language": {"code": t.language}});
    if !t.parameters.is_empty() {
        let parameters: Vec<serde_json::Value> =
            t.parameters.iter().map(|text| json!({"type": "text", "text": text})).collect();
        template["components"] = json!([{"type": "body", "parameters": parameters}]);
    }
    Ok(json!({
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": row.wa_id,
        "type": "template", "template": template,
    }))
}

/// One outbound message.
pub async fn get(db: &Db, id: i64) -> Result<Option<Outbound>, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_as(concat!(
        "SELECT ",
        outbound_columns!(),
        " FROM whatsapp_outbound WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await)
}

/// A call's outbound messages, oldest first.
pub async fn of_call(db: &Db, call_id: i64) -> Result<Vec<Outbound>, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_as(concat!(
        "SELECT ",
        outbound_columns!(),
        " FROM whatsapp_outbound WHERE call_id = $1 ORDER BY id"
    ))
    .bind(call_id)
    .fetch_all(pool)
    .await)
}

#[derive(serde::Deserialize)]
struct SendPayload {
    outbound_id: i64,
}

/// The send job: posts the message unless the provider has it already; the result is
/// the provider's message id.
#[tracing::instrument(skip_all, fields(job = job.id))]
pub async fn perform(ctx: &Ctx, job: &Job) -> Result<String, Failure> {
    let SendPayload { outbound_id } = job.payload()?;
    let row = get(ctx.db(), outbound_id)
        .await
        .map_err(|e| Failure::transient(format!("database: {e}")))?
        .ok_or_else(|| Failure::permanent("the outbound message is gone"))?;
    if let Some(wamid) = row.wamid {
        return Ok(wamid);
    }
    if row.status != "queued" {
        return Err(Failure::permanent(format!("the message is {} already", row.status)));
    }
    let number = number(ctx, &row.phone_number_id)
        .await
        .map_err(|e| Failure::transient(format!("database: {e}")))?
        .ok_or_else(|| Failure::permanent(format!("no WhatsApp number {} is configured", row.phone_number_id)))?;
    let url = format!("{}/{}/messages", number.api_base, number.phone_number_id);
    let body = send_body(&row)?;
    let response = CLIENT
        .post(&url)
        .bearer_auth(number.token.expose())
        .json(&body)
        .send()
        .await
        .map_err(|e| Failure::transient(format!("provider unreachable: {}", without_url(&e))))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let detail = || format!("provider answered {status}: {}", text.chars().take(300).collect::<String>());
    if status.is_success() {
        let wamid = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.pointer("/messages/0/id").and_then(|id| id.as_str()).map(str::to_owned))
            .filter(|id| super::is_provider_id(id));
        // Accepted: never sent again, even if the answer carries no usable id.
        Ok(wamid.unwrap_or_default())
    } else if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Err(Failure::transient(detail()))
    } else {
        Err(Failure::permanent(detail()))
    }
}

/// A reqwest error without its URL (it holds nothing secret, but keeps logs short).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_owned()
}

/// What a send's outcome means for its outbound row (in the worker's transaction).
pub async fn settle(tx: &mut Tx, job: &Job, outcome: &Outcome) -> Result<(), sqlx::Error> {
    let Ok(SendPayload { outbound_id }) = job.payload() else { return Ok(()) };
    let now = Timestamp::now();
    match outcome {
        Outcome::Done(wamid) => on_tx!(tx, |conn| sqlx::query(
            "UPDATE whatsapp_outbound SET wamid = COALESCE(wamid, NULLIF($2, '')), error = NULL, updated_at = $3, \
             status = CASE WHEN status = 'queued' THEN 'sent' ELSE status END WHERE id = $1",
        )
        .bind(outbound_id)
        .bind(wamid)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map(|_| ())),
        Outcome::Retry { detail, .. } => {
            on_tx!(tx, |conn| sqlx::query("UPDATE whatsapp_outbound SET error = $2, updated_at = $3 WHERE id = $1")
                .bind(outbound_id)
                .bind(detail)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map(|_| ()))
        }
        Outcome::Dead(detail) => on_tx!(tx, |conn| {
            sqlx::query(
            "UPDATE whatsapp_outbound SET status = 'failed', error = $2, updated_at = $3 WHERE id = $1 AND status = 'queued'"
        )
        .bind(outbound_id)
        .bind(detail)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        }),
    }
}

/// How far along a delivery status is: a status only ever replaces one of a lower
/// rank, so statuses arriving out of order (read before delivered) end on the latest.
/// `failed` replaces `queued` and `sent` only, and nothing replaces it.
fn rank(status: &str) -> i64 {
    match status {
        "queued" => 0,
        "sent" => 1,
        "delivered" | "failed" => 2,
        "read" => 3,
        _ => 4,
    }
}

/// What a provider status did to our message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// No message of ours has that id (yet).
    Unknown,
    /// The message is further along already (a status arriving late).
    Unchanged,
    /// The message moved to the status: call message `message_id` of `call_id`.
    Changed {
        /// The call.
        call_id: i64,
        /// The call's message.
        message_id: i64,
    },
}

/// Applies a provider status to the message with `wamid` (inside `tx`).
pub async fn apply_status(tx: &mut Tx, wamid: &str, status: &str, error: Option<&str>) -> Result<Applied, sqlx::Error> {
    let known: Option<(i64, i64, i64)> = on_tx!(tx, |conn| sqlx::query_as(
        "SELECT id, call_id, message_id FROM whatsapp_outbound WHERE wamid = $1 ORDER BY id LIMIT 1"
    )
    .bind(wamid)
    .fetch_optional(&mut *conn)
    .await)?;
    let Some((id, call_id, message_id)) = known else { return Ok(Applied::Unknown) };
    let changed = on_tx!(tx, |conn| {
        sqlx::query(
        "UPDATE whatsapp_outbound SET status = $2, error = COALESCE($3, error), updated_at = $4 WHERE id = $1 AND \
         (CASE status WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 4 END) < $5",
    )
    .bind(id)
    .bind(status)
    .bind(error)
    .bind(Timestamp::now())
    .bind(rank(status))
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected() == 1)
    })?;
    Ok(if changed { Applied::Changed { call_id, message_id } } else { Applied::Unchanged })
}

/// After a send settled (committed): tells the call's pages that the message is now
/// sent, or failed.
pub async fn settled(ctx: &Ctx, job: &Job, outcome: &Outcome) {
    if matches!(outcome, Outcome::Retry { .. }) {
        return;
    }
    let Ok(SendPayload { outbound_id }) = job.payload() else { return };
    match get(ctx.db(), outbound_id).await {
        Ok(Some(row)) if row.status != "queued" => {
            let payload = Payload::WhatsappStatus { message_id: row.message_id, delivery: row.status };
            ctx.bus().emit(Some(row.call_id), payload).await;
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "WhatsApp send settled, its row unreadable"),
    }
}

#[cfg(test)]
mod tests {
    use super::rank;

    #[test]
    fn delivery_statuses_only_move_forward() {
        assert!(rank("sent") < rank("delivered") && rank("delivered") < rank("read"));
        assert!(rank("failed") > rank("sent") && rank("failed") < rank("read"));
    }
}

//! Email: the outbox and its rules, the templates, the summary the supervisor agent
//! writes, and delivery.
//!
//! Nothing reaches a customer without their confirmation: an email is either written
//! already confirmed (the customer said yes on the call page, or a staff member ticks
//! that the customer confirmed, recorded with their name) or it waits in
//! `waiting_confirmation`. The row is written in the same transaction as that decision
//! (and its audit entry); the worker in [`deliver`] sends it. Emails go only to the
//! customer's address on file.

pub mod compose;
pub mod deliver;
pub mod render;
pub mod summary;

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::Entry;
use crate::audit::audit_insert;
use crate::context::Ctx;
use crate::db::{Db, Timestamp, Tx, id_enum, on_tx};
use crate::db::{with_db, with_tx};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};
use crate::i18n::Lang;
use render::{Content, Frame};

id_enum! {
    /// Where an email stands. Written `waiting_confirmation` until the customer
    /// confirms, then `queued`; the delivery worker moves it to `sent`, `retrying` (and
    /// back) or `failed`; staff may decline a waiting one or retry a failed one.
    EmailStatus {
        /// Waiting for the customer's confirmation.
        WaitingConfirmation => "waiting_confirmation",
        /// Due for delivery.
        Queued => "queued",
        /// Delivery failed for now; tried again later.
        Retrying => "retrying",
        /// Delivered to the relay (or the file mailbox).
        Sent => "sent",
        /// Given up on.
        Failed => "failed",
        /// The customer or staff said no.
        Declined => "declined",
    }
}

/// The kinds staff can write.
pub const KINDS: [&str; 3] = ["summary", "information", "follow_up"];

/// An outbox row without its bodies.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Email {
    /// Id.
    pub id: i64,
    /// summary, information or follow_up.
    pub kind: String,
    /// The call it is about.
    pub call_id: Option<i64>,
    /// The customer it goes to.
    pub customer_id: i64,
    /// The customer's name.
    pub customer_name: String,
    /// es or en.
    pub language: String,
    /// Recipient address (the customer's address on file when it was written).
    pub to_address: String,
    /// Subject.
    pub subject: String,
    /// The content's fields, as JSON.
    pub fields: String,
    /// Where it stands.
    #[sqlx(try_from = "String")]
    pub status: EmailStatus,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Attempts allowed before the email is marked failed.
    pub max_attempts: i64,
    /// When the next attempt is due.
    pub next_attempt_at: Option<Timestamp>,
    /// A worker holds it until then.
    pub claimed_until: Option<Timestamp>,
    /// Dedupe key.
    pub dedupe_key: String,
    /// The Message-ID header every attempt uses.
    pub message_id: String,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Who wrote it (none when the customer asked on the call page).
    pub created_by_name: Option<String>,
    /// Written.
    pub created_at: Timestamp,
    /// When the customer's confirmation was recorded.
    pub confirmed_by_customer_at: Option<Timestamp>,
    /// customer (on the call page) or staff (a staff member attests it).
    pub confirmed_via: Option<String>,
    /// The staff member who recorded the confirmation.
    pub confirmed_by_name: Option<String>,
    /// Delivered.
    pub sent_at: Option<Timestamp>,
    /// Last change.
    pub updated_at: Timestamp,
}

impl Email {
    /// The status to show: `sending` while a worker holds a due email.
    pub fn shown_status(&self) -> &str {
        let held = self.claimed_until.is_some_and(|t| t > Timestamp::now());
        if held && matches!(self.status, EmailStatus::Queued | EmailStatus::Retrying) {
            "sending"
        } else {
            self.status.as_str()
        }
    }

    /// The stored content, if it parses.
    pub fn content(&self) -> Option<Content> {
        serde_json::from_str(&self.fields).ok()
    }
}

/// One delivery attempt.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Attempt {
    /// 1-based attempt number.
    pub attempt: i64,
    /// When it ended.
    pub at: Timestamp,
    /// sent, retry or failed.
    pub outcome: String,
    /// The server's answer or the error.
    pub detail: String,
}

/// The `email_outbox` columns of [`Email`], joined with names.
macro_rules! email_select {
    () => {
        "SELECT e.id, e.kind, e.call_id, e.customer_id, cu.name AS customer_name, e.language, e.to_address, e.subject, \
         e.fields, e.status, e.attempts, e.max_attempts, e.next_attempt_at, e.claimed_until, e.dedupe_key, e.message_id, \
         e.last_error, cb.full_name AS created_by_name, e.created_at, e.confirmed_by_customer_at, e.confirmed_via, \
         cf.full_name AS confirmed_by_name, e.sent_at, e.updated_at \
         FROM email_outbox e JOIN customers cu ON cu.id = e.customer_id \
         LEFT JOIN users cb ON cb.id = e.created_by LEFT JOIN users cf ON cf.id = e.confirmed_by "
    };
}
pub(crate) use email_select;

/// Who confirmed that the customer wants the email.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Nobody yet: the email waits.
    Pending,
    /// The customer, on the call page.
    Customer,
    /// A staff member attests the customer confirmed (by phone, in the call).
    Staff(i64),
}

impl Confirmation {
    fn via(self) -> Option<&'static str> {
        match self {
            Self::Pending => None,
            Self::Customer => Some("customer"),
            Self::Staff(_) => Some("staff"),
        }
    }

    fn by(self) -> Option<i64> {
        match self {
            Self::Staff(id) => Some(id),
            _ => None,
        }
    }
}

/// A customer as an email addresses them: their details on file.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Recipient {
    /// Customer id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Address on file.
    pub email: String,
}

/// The customer on file, by id.
pub async fn recipient(db: &Db, customer_id: i64) -> AppResult<Option<Recipient>> {
    Ok(with_db!(db, |pool| sqlx::query_as("SELECT id, name, email FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_optional(pool)
        .await)?)
}

/// The customer on file, by their address.
pub async fn recipient_by_email(db: &Db, email: &str) -> AppResult<Option<Recipient>> {
    Ok(with_db!(db, |pool| sqlx::query_as("SELECT id, name, email FROM customers WHERE LOWER(email) = LOWER($1)")
        .bind(email.trim())
        .fetch_optional(pool)
        .await)?)
}

/// Checks that an address is one SMTP will carry (no spaces, no line breaks, one @,
/// a valid domain); `field` names the form field for the error.
pub fn check_address(address: &str, field: &'static str) -> AppResult<lettre::Address> {
    address
        .trim()
        .parse::<lettre::Address>()
        .map_err(|_| AppError::Validation(FieldErrors::from([(field, "field.email_on_file_invalid")])))
}

/// A new email, ready to be written to the outbox.
pub struct NewEmail {
    /// What it says.
    pub content: Content,
    /// Who it goes to (their address on file).
    pub recipient: Recipient,
    /// The call it is about.
    pub call_id: Option<i64>,
    /// Its language.
    pub lang: Lang,
    /// The key that makes a second request for the same email return the first.
    pub dedupe_key: String,
}

/// Writes `email` to the outbox with `confirmation`, together with the audit entry
/// when given. Returns the row and whether it is new: a request whose dedupe key
/// already exists returns the existing email (confirming it, when this request carries
/// a confirmation and it was waiting).
pub async fn create(
    ctx: &Ctx,
    email: NewEmail,
    created_by: Option<i64>,
    confirmation: Confirmation,
    entry: Option<Entry>,
) -> AppResult<(Email, bool)> {
    let address = check_address(&email.recipient.email, "customer")?;
    let frame = Frame { lang: email.lang, name: email.recipient.name.clone(), call_id: email.call_id };
    let rendered = render::render(&frame, &email.content).map_err(|e| AppError::Internal(e.into()))?;
    let now = Timestamp::now();
    let status =
        if confirmation == Confirmation::Pending { EmailStatus::WaitingConfirmation } else { EmailStatus::Queued };
    let message_id = deliver::new_message_id(&ctx.config().mail.from);
    let fields = serde_json::to_string(&email.content).map_err(|e| AppError::Internal(e.into()))?;
    let max_attempts = i64::from(ctx.config().mail.max_attempts);
    // An async block, so that a failed INSERT (a repeated dedupe key) comes back here
    // as a value instead of leaving the function.
    let inserted: Result<i64, sqlx::Error> = with_tx!(ctx.db(), |tx| {
        async {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO email_outbox (kind, call_id, customer_id, language, to_address, to_name, subject, html, text, fields, \
             status, attempts, max_attempts, next_attempt_at, dedupe_key, message_id, created_by, created_at, \
             confirmed_by_customer_at, confirmed_via, confirmed_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $13, $14, $15, $16, $17, $18, $19, $20, $17) RETURNING id",
        )
        .bind(email.content.kind())
        .bind(email.call_id)
        .bind(email.recipient.id)
        .bind(email.lang.code())
        .bind(address.to_string())
        .bind(&email.recipient.name)
        .bind(&rendered.subject)
        .bind(&rendered.html)
        .bind(&rendered.text)
        .bind(&fields)
        .bind(status.as_str())
        .bind(max_attempts)
        .bind((status == EmailStatus::Queued).then_some(now))
        .bind(&email.dedupe_key)
        .bind(&message_id)
        .bind(created_by)
        .bind(now)
        .bind((status == EmailStatus::Queued).then_some(now))
        .bind(confirmation.via())
        .bind(confirmation.by())
        .fetch_one(&mut *tx)
        .await?;
        if let Some(entry) = &entry {
            let entry = entry.clone().target(format!("email:{id}"));
            audit_insert!(&entry).execute(&mut *tx).await?;
        }
        Ok(id)
    }.await
    });
    match inserted {
        Ok(id) => {
            if status == EmailStatus::Queued {
                ctx.mailer().wake();
            }
            Ok((get(ctx.db(), id).await?, true))
        }
        Err(err) if crate::db::is_unique_violation(&err) => {
            let existing = by_dedupe_key(ctx.db(), &email.dedupe_key).await?.ok_or(AppError::NotFound)?;
            if confirmation != Confirmation::Pending && existing.status == EmailStatus::WaitingConfirmation {
                return Ok((confirm(ctx, existing.id, confirmation, entry).await?, false));
            }
            Ok((existing, false))
        }
        Err(err) => Err(err.into()),
    }
}

/// Records the customer's confirmation of a waiting email and queues it, in one
/// transaction with the audit entry.
pub async fn confirm(ctx: &Ctx, id: i64, by: Confirmation, entry: Option<Entry>) -> AppResult<Email> {
    // What was confirmed: the audit entry names the exact content (its hash), the
    // address and the subject; the row keeps the content itself.
    let email = get(ctx.db(), id).await?;
    let (html, text) = bodies(ctx.db(), id).await?;
    let digest = Sha256::digest(format!("{}\n{}\n{}\n{}", email.to_address, email.subject, text, html).as_bytes());
    let entry = entry.map(|mut entry| {
        let what = json!({"email_id": id, "via": by.via(), "to": email.to_address, "subject": email.subject,
            "call_id": email.call_id, "content_sha256": hex(&digest)});
        match (&mut entry.metadata, what) {
            (serde_json::Value::Object(fields), serde_json::Value::Object(more)) => fields.extend(more),
            (slot, what) => *slot = what,
        }
        entry
    });
    let mut tx = ctx.db().begin().await?;
    let changed = on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE email_outbox SET status = 'queued', next_attempt_at = $2, confirmed_by_customer_at = $2, \
         confirmed_via = $3, confirmed_by = $4, updated_at = $2 WHERE id = $1 AND status = 'waiting_confirmation'",
    )
    .bind(id)
    .bind(Timestamp::now())
    .bind(by.via())
    .bind(by.by())
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    let email = settle(ctx, tx, id, changed, entry, Conflict::EmailNotWaiting).await?;
    ctx.mailer().wake();
    Ok(email)
}

/// The customer (or staff for them) declines a waiting email; it is never sent.
pub async fn decline(ctx: &Ctx, id: i64, entry: Option<Entry>) -> AppResult<Email> {
    transition(ctx, id, EmailStatus::Declined, EmailStatus::WaitingConfirmation, Conflict::EmailNotWaiting, entry).await
}

/// Puts a failed email back in the queue with a fresh set of attempts.
pub async fn retry(ctx: &Ctx, id: i64, entry: Option<Entry>) -> AppResult<Email> {
    let email = transition(ctx, id, EmailStatus::Queued, EmailStatus::Failed, Conflict::EmailNotFailed, entry).await?;
    ctx.mailer().wake();
    Ok(email)
}

async fn transition(
    ctx: &Ctx,
    id: i64,
    to: EmailStatus,
    from: EmailStatus,
    conflict: Conflict,
    entry: Option<Entry>,
) -> AppResult<Email> {
    let now = Timestamp::now();
    let extra = i64::from(ctx.config().mail.max_attempts);
    let mut tx = ctx.db().begin().await?;
    let changed = on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE email_outbox SET status = $2, updated_at = $4, \
         next_attempt_at = CASE WHEN $2 = 'queued' THEN $4 ELSE next_attempt_at END, \
         max_attempts = CASE WHEN $2 = 'queued' THEN attempts + $5 ELSE max_attempts END \
         WHERE id = $1 AND status = $3",
    )
    .bind(id)
    .bind(to.as_str())
    .bind(from.as_str())
    .bind(now)
    .bind(extra)
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    settle(ctx, tx, id, changed, entry, conflict).await
}

/// Ends a status change begun on `tx` that moved `changed` rows: when it happened, the
/// audit entry goes in the same transaction; when it did not, the answer is 404 for an
/// email that does not exist, else `conflict` (it was not in the state the change needs).
async fn settle(
    ctx: &Ctx,
    mut tx: Tx,
    id: i64,
    changed: u64,
    entry: Option<Entry>,
    conflict: Conflict,
) -> AppResult<Email> {
    if changed == 1
        && let Some(entry) = entry
    {
        let entry = entry.target(format!("email:{id}"));
        on_tx!(&mut tx, |conn| audit_insert!(&entry).execute(&mut *conn).await.map(|_| ()))?;
    }
    tx.commit().await?;
    if changed == 0 {
        get(ctx.db(), id).await?;
        return Err(AppError::Conflict(conflict));
    }
    get(ctx.db(), id).await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One email (without bodies).
pub async fn get(db: &Db, id: i64) -> AppResult<Email> {
    let email: Option<Email> = with_db!(db, |pool| sqlx::query_as(concat!(email_select!(), "WHERE e.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    email.ok_or(AppError::NotFound)
}

async fn by_dedupe_key(db: &Db, key: &str) -> AppResult<Option<Email>> {
    Ok(with_db!(db, |pool| sqlx::query_as(concat!(email_select!(), "WHERE e.dedupe_key = $1"))
        .bind(key)
        .fetch_optional(pool)
        .await)?)
}

/// The summary email of a call, if one was written.
pub async fn summary_of_call(db: &Db, call_id: i64) -> AppResult<Option<Email>> {
    by_dedupe_key(db, &summary_key(call_id)).await
}

/// The dedupe key of a call's summary: one summary per call.
pub fn summary_key(call_id: i64) -> String {
    format!("summary:call:{call_id}")
}

/// An email's HTML and text parts.
pub async fn bodies(db: &Db, id: i64) -> AppResult<(String, String)> {
    let row: Option<(String, String)> =
        with_db!(db, |pool| sqlx::query_as("SELECT html, text FROM email_outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await)?;
    row.ok_or(AppError::NotFound)
}

/// Filters of the email list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this call's emails.
    pub call_id: Option<i64>,
    /// Only this customer's emails.
    pub customer_id: Option<i64>,
}

/// Newest emails first.
pub async fn list(db: &Db, filter: &Filter, limit: i64) -> AppResult<Vec<Email>> {
    Ok(with_db!(db, |pool| sqlx::query_as(concat!(
        email_select!(),
        "WHERE ($1 IS NULL OR e.status = $1) AND ($2 IS NULL OR e.call_id = $2) AND ($3 IS NULL OR e.customer_id = $3) \
         ORDER BY e.id DESC LIMIT $4"
    ))
    .bind(filter.status.as_deref())
    .bind(filter.call_id)
    .bind(filter.customer_id)
    .bind(limit)
    .fetch_all(pool)
    .await)?)
}

/// Counts by status, for the list's tabs.
pub async fn counts(db: &Db) -> AppResult<Vec<(String, i64)>> {
    Ok(with_db!(db, |pool| sqlx::query_as("SELECT status, COUNT(*) FROM email_outbox GROUP BY status")
        .fetch_all(pool)
        .await)?)
}

/// An email's delivery attempts, oldest first.
pub async fn attempts(db: &Db, id: i64) -> AppResult<Vec<Attempt>> {
    Ok(with_db!(db, |pool| sqlx::query_as(
        "SELECT attempt, at, outcome, detail FROM email_attempts WHERE email_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await)?)
}

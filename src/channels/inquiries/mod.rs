//! Written inquiries: a name, an address, a subject and a message left without signing
//! in. The inquiry and its classification job are written in one transaction, so the
//! visitor's `202` never waits for a model and an accepted inquiry is never lost; the
//! job ([`job`]) fills in the routing agent's classification and a suggested reply;
//! staff read, assign, close and answer them ([`staff`]).
//!
//! States: `pending` (the job has not finished; `error` holds its last failure while it
//! retries) → `classified`, or `failed` once the job is dead; `replied` once staff send
//! an answer; `closed` when staff set it aside. Staff may queue the classification
//! again (`pending`) when it failed or looks wrong.

pub mod job;
pub mod staff;

use serde::{Deserialize, Serialize};

use crate::context::Ctx;
use crate::customers::contact::EmailAddress;
use crate::db::paging::{Page, Paging};
use crate::db::{Db, Timestamp, id_enum, on_tx, with_db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::jobs::NewJob;
use crate::users::input::parse_full_name;

/// Longest subject (characters).
pub const MAX_SUBJECT: usize = 150;
/// Longest message (characters).
pub const MAX_MESSAGE: usize = 4000;

id_enum! {
    /// Where an inquiry stands.
    InquiryStatus {
        /// Waiting for (or retrying) its classification.
        Pending => "pending",
        /// Classified, with a suggested reply.
        Classified => "classified",
        /// The classification job gave up; `error` says why.
        Failed => "failed",
        /// Staff answered it by email.
        Replied => "replied",
        /// Set aside by staff.
        Closed => "closed",
    }
}

/// What a visitor sends (`POST /api/v1/inquiries`).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InquiryInput {
    /// Their name (1–100 characters).
    #[serde(default)]
    pub name: String,
    /// Where the answer goes.
    #[serde(default)]
    pub email: String,
    /// What it is about (1–150 characters, one line).
    #[serde(default)]
    pub subject: String,
    /// The inquiry (1–4000 characters).
    #[serde(default)]
    pub message: String,
}

/// An inquiry, checked.
#[derive(Clone, Debug)]
pub struct NewInquiry {
    name: String,
    email: EmailAddress,
    subject: String,
    message: String,
}

impl InquiryInput {
    /// Checks every field; the errors name each bad one.
    pub fn parse(&self) -> Result<NewInquiry, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = parse_full_name(&self.name);
        if name.is_none() {
            errors.insert("name", "field.full_name_invalid");
        }
        let email = EmailAddress::parse(&self.email);
        if email.is_none() {
            errors.insert("email", "field.email_invalid");
        }
        // A subject is one line: a line break or another control character in it is
        // refused, never silently turned into something else.
        let subject = crate::text::one_line(&self.subject, MAX_SUBJECT + 1);
        match subject.chars().count() {
            _ if crate::text::has_control(&self.subject) => {
                errors.insert("subject", "field.text_invalid");
            }
            0 => {
                errors.insert("subject", "field.required");
            }
            n if n > MAX_SUBJECT => {
                errors.insert("subject", "field.topic_too_long");
            }
            _ => {}
        }
        let message = self.message.trim().to_owned();
        match message.chars().count() {
            _ if crate::text::has_control_but_lines(&message) => {
                errors.insert("message", "field.text_invalid");
            }
            0 => {
                errors.insert("message", "field.required");
            }
            n if n > MAX_MESSAGE => {
                errors.insert("message", "field.text_too_long");
            }
            _ => {}
        }
        match (name, email) {
            (Some(name), Some(email)) if errors.is_empty() => Ok(NewInquiry { name, email, subject, message }),
            _ => Err(errors),
        }
    }
}

/// One inquiry as staff see it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Inquiry {
    /// Id.
    pub id: i64,
    /// The visitor's name.
    pub name: String,
    /// Their address.
    pub email: String,
    /// Subject.
    pub subject: String,
    /// The inquiry.
    pub message: String,
    /// Where it stands.
    #[sqlx(try_from = "String")]
    pub status: InquiryStatus,
    /// The routing agent's department.
    pub department: Option<String>,
    /// Its finer topic (staff may correct it).
    pub category: Option<String>,
    /// The customer's sentiment.
    pub sentiment: Option<String>,
    /// Handling priority.
    pub priority: Option<String>,
    /// How sure the routing agent was (0..1).
    pub confidence: Option<f64>,
    /// The inquiry's language (es or en).
    pub language: Option<String>,
    /// The suggested reply, in the inquiry's language.
    pub suggested_reply: Option<String>,
    /// The classification job's last error.
    pub error: Option<String>,
    /// The classification job.
    pub job_id: Option<i64>,
    /// Its state (queued, running, retrying, done, dead).
    pub job_status: Option<String>,
    /// Its attempts so far.
    pub job_attempts: Option<i64>,
    /// When it is next due, while it waits or retries.
    pub job_next_attempt_at: Option<Timestamp>,
    /// Who handles it.
    pub assigned_to: Option<i64>,
    /// Their name.
    pub assigned_to_name: Option<String>,
    /// The answer sent, in the email outbox.
    pub reply_email_id: Option<i64>,
    /// Who sent it.
    pub replied_by_name: Option<String>,
    /// When it was sent.
    pub replied_at: Option<Timestamp>,
    /// Received.
    pub created_at: Timestamp,
    /// Classified.
    pub classified_at: Option<Timestamp>,
    /// Last change.
    pub updated_at: Timestamp,
}

/// The columns of [`Inquiry`].
macro_rules! inquiry_select {
    () => {
        "SELECT i.id, i.name, i.email, i.subject, i.message, i.status, i.department, i.category, i.sentiment, \
         i.priority, i.confidence, i.language, i.suggested_reply, i.error, i.job_id, j.status AS job_status, \
         j.attempts AS job_attempts, j.next_attempt_at AS job_next_attempt_at, i.assigned_to, \
         a.full_name AS assigned_to_name, i.reply_email_id, r.full_name AS replied_by_name, i.replied_at, \
         i.created_at, i.classified_at, i.updated_at \
         FROM inquiries i LEFT JOIN jobs j ON j.id = i.job_id LEFT JOIN users a ON a.id = i.assigned_to \
         LEFT JOIN users r ON r.id = i.replied_by "
    };
}

/// Stores an inquiry and queues its classification in one transaction, then wakes the
/// jobs worker. Returns the new id.
#[tracing::instrument(skip_all)]
pub async fn submit(ctx: &Ctx, inquiry: &NewInquiry, ip: Option<String>) -> AppResult<i64> {
    let now = Timestamp::now();
    let mut tx = ctx.db().begin().await?;
    let id: i64 = on_tx!(&mut tx, |conn| sqlx::query_scalar(
        "INSERT INTO inquiries (name, email, subject, message, status, ip, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6) RETURNING id",
    )
    .bind(&inquiry.name)
    .bind(inquiry.email.as_str())
    .bind(&inquiry.subject)
    .bind(&inquiry.message)
    .bind(ip)
    .bind(now)
    .fetch_one(&mut *conn)
    .await)?;
    let job = NewJob::new(job::KIND, serde_json::json!({"inquiry_id": id})).dedupe(job::dedupe_key(id));
    let job_id = crate::jobs::enqueue_in(&mut tx, &job, ctx.jobs().max_attempts()).await?;
    on_tx!(&mut tx, |conn| sqlx::query("UPDATE inquiries SET job_id = $2 WHERE id = $1")
        .bind(id)
        .bind(job_id)
        .execute(&mut *conn)
        .await
        .map(|_| ()))?;
    tx.commit().await?;
    ctx.jobs().wake();
    announce(ctx, id, InquiryStatus::Pending).await;
    Ok(id)
}

/// Tells staff pages (the board's inquiry queue) that an inquiry changed state.
pub async fn announce(ctx: &Ctx, id: i64, status: InquiryStatus) {
    let payload = crate::events::Payload::InquiryChanged { inquiry_id: id, inquiry_status: status.as_str() };
    ctx.bus().emit(None, payload).await;
}

/// One inquiry (404 when there is none).
pub async fn get(db: &Db, id: i64) -> AppResult<Inquiry> {
    let found: Option<Inquiry> = with_db!(db, |pool| sqlx::query_as(concat!(inquiry_select!(), "WHERE i.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    found.ok_or(AppError::NotFound)
}

/// The list's query string: every filter optional.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// pending, classified, failed, replied or closed.
    pub status: Option<String>,
    /// sales, support, billing, complaints or general.
    pub department: Option<String>,
    /// A category (snake_case).
    pub category: Option<String>,
    /// positive, neutral or negative.
    pub sentiment: Option<String>,
    /// Text in the name, address, subject or message.
    pub q: Option<String>,
    /// Page (1-based).
    pub page: Option<String>,
    /// Rows per page (1–200).
    pub per_page: Option<String>,
}

/// Checked list filters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Only this status.
    pub status: Option<InquiryStatus>,
    /// Only this department.
    pub department: Option<crate::agents::Department>,
    /// Only this category.
    pub category: Option<String>,
    /// Only this sentiment.
    pub sentiment: Option<crate::agents::Sentiment>,
    /// Text anywhere (case-insensitive).
    pub q: Option<String>,
}

fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ListQuery {
    /// The filters and the page; an unknown value is a 422 naming its field.
    pub fn parse(&self) -> AppResult<(Filter, Paging)> {
        let paging = Paging::parse(self.page.as_deref(), self.per_page.as_deref())?;
        let mut errors = FieldErrors::new();
        let mut filter = Filter::default();
        if let Some(s) = given(&self.status) {
            filter.status = InquiryStatus::parse(s);
            if filter.status.is_none() {
                errors.insert("status", "field.inquiry_status_invalid");
            }
        }
        if let Some(s) = given(&self.department) {
            filter.department = crate::agents::Department::parse(s);
            if filter.department.is_none() {
                errors.insert("department", "field.department_invalid");
            }
        }
        if let Some(s) = given(&self.category) {
            filter.category = crate::calls::history::parse_category(s);
            if filter.category.is_none() {
                errors.insert("category", "field.category_invalid");
            }
        }
        if let Some(s) = given(&self.sentiment) {
            filter.sentiment = crate::agents::Sentiment::parse(s);
            if filter.sentiment.is_none() {
                errors.insert("sentiment", "field.sentiment_invalid");
            }
        }
        filter.q = given(&self.q).map(|q| q.chars().take(200).collect());
        if errors.is_empty() { Ok((filter, paging)) } else { Err(AppError::Validation(errors)) }
    }
}

macro_rules! inquiry_where {
    () => {
        "WHERE ($1 IS NULL OR i.status = $1) AND ($2 IS NULL OR i.department = $2) AND ($3 IS NULL OR i.category = $3) \
         AND ($4 IS NULL OR i.sentiment = $4) AND ($5 IS NULL OR LOWER(i.subject) LIKE $5 ESCAPE '\\' \
         OR LOWER(i.message) LIKE $5 ESCAPE '\\' OR LOWER(i.name) LIKE $5 ESCAPE '\\' OR LOWER(i.email) LIKE $5 ESCAPE '\\') "
    };
}

/// One page of inquiries matching `filter`, newest first, with the total.
pub async fn list(db: &Db, filter: &Filter, paging: Paging) -> AppResult<Page<Inquiry>> {
    let status = filter.status.map(InquiryStatus::as_str);
    let department = filter.department.map(|d| d.as_str());
    let sentiment = filter.sentiment.map(|s| s.as_str());
    let q = filter.q.as_deref().map(crate::text::like_contains);
    let count_sql = concat!("SELECT COUNT(*) FROM inquiries i ", inquiry_where!());
    let rows_sql = concat!(inquiry_select!(), inquiry_where!(), "ORDER BY i.id DESC LIMIT $6 OFFSET $7");
    let (total, items) = with_db!(db, |pool| {
        let total: i64 = sqlx::query_scalar(count_sql)
            .bind(status)
            .bind(department)
            .bind(filter.category.as_deref())
            .bind(sentiment)
            .bind(q.as_deref())
            .fetch_one(pool)
            .await?;
        let items: Vec<Inquiry> = sqlx::query_as(rows_sql)
            .bind(status)
            .bind(department)
            .bind(filter.category.as_deref())
            .bind(sentiment)
            .bind(q.as_deref())
            .bind(paging.limit())
            .bind(paging.offset())
            .fetch_all(pool)
            .await?;
        Ok::<_, sqlx::Error>((total, items))
    })?;
    Ok(Page::new(items, total, paging))
}

/// The inquiry queue for the board: how many wait for their classification and when
/// the oldest of them arrived.
#[derive(Clone, Copy, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Backlog {
    /// Inquiries not yet classified (pending).
    pub pending: i64,
    /// When the oldest of them arrived.
    pub oldest_at: Option<Timestamp>,
    /// Its age in seconds.
    pub oldest_age_seconds: Option<i64>,
}

impl Backlog {
    /// The oldest one's age, as `45 s`, `12 min` or `3 h 05 min`.
    pub fn age(&self) -> Option<String> {
        let s = self.oldest_age_seconds?;
        Some(match s {
            ..60 => format!("{s} s"),
            60..3600 => format!("{} min", s / 60),
            _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        })
    }
}

/// The inquiry queue now.
pub async fn backlog(db: &Db) -> AppResult<Backlog> {
    let (pending, oldest_at) = with_db!(db, |pool| {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM inquiries WHERE status = 'pending'").fetch_one(pool).await?;
        let oldest: Option<Timestamp> = sqlx::query_scalar(
            "SELECT created_at FROM inquiries WHERE status = 'pending' ORDER BY created_at, id LIMIT 1",
        )
        .fetch_optional(pool)
        .await?;
        Ok::<_, sqlx::Error>((pending, oldest))
    })?;
    let now = Timestamp::now().unix_seconds();
    let oldest_age_seconds = oldest_at.map(|t| (now - t.unix_seconds()).max(0));
    Ok(Backlog { pending, oldest_at, oldest_age_seconds })
}

//! What staff do with an inquiry: correct its category, assign it, close it or queue
//! its classification again (`PATCH`), and answer it by email through the outbox. Both
//! need an [`AgentCap`] (agents and up; viewers only read) and are audited.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Inquiry, InquiryStatus, get, job};
use crate::audit::{Entry, audit_insert};
use crate::auth::AgentCap;
use crate::context::Ctx;
use crate::db::{Timestamp, Tx, on_tx, with_db};
use crate::email::render::{Content, MAX_BODY, MAX_TOPIC};
use crate::email::{self, Confirmation, Email, NewEmail, Recipient};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};
use crate::i18n::Lang;

/// A change to an inquiry; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InquiryChange {
    /// A corrected category.
    pub category: Option<String>,
    /// `pending` (classify again), `classified` (reopen a closed one) or `closed`.
    pub status: Option<InquiryStatus>,
    /// Someone to handle it (`Some(None)` unassigns).
    pub assigned_to: Option<Option<i64>>,
}

impl InquiryChange {
    /// Checks the raw fields; the errors name each bad one.
    pub fn parse(
        category: Option<&str>,
        status: Option<&str>,
        assigned_to: Option<Option<i64>>,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut change = Self { assigned_to, ..Self::default() };
        if let Some(c) = category.map(str::trim) {
            change.category = crate::calls::history::parse_category(c);
            if change.category.is_none() {
                errors.insert("category", "field.category_invalid");
            }
        }
        if let Some(s) = status.map(str::trim) {
            change.status = InquiryStatus::parse(s)
                .filter(|s| matches!(s, InquiryStatus::Pending | InquiryStatus::Classified | InquiryStatus::Closed));
            if change.status.is_none() {
                errors.insert("status", "field.inquiry_status_invalid");
            }
        }
        if errors.is_empty() { Ok(change) } else { Err(errors) }
    }
}

fn entry(cap: &AgentCap<'_>, action: &'static str, id: i64, ip: Option<String>) -> Entry {
    let me = cap.actor();
    Entry::new(Some(me.id), me.username.clone(), action).target(format!("inquiry:{id}")).ip(ip)
}

async fn check_assignee(tx: &mut Tx, user: i64) -> AppResult<()> {
    let ok: Option<i64> = on_tx!(tx, |conn| sqlx::query_scalar(
        "SELECT id FROM users WHERE id = $1 AND disabled = FALSE AND role IN ('agent', 'supervisor', 'admin')",
    )
    .bind(user)
    .fetch_optional(&mut *conn)
    .await)?;
    ok.map(|_| ()).ok_or_else(|| AppError::Validation(FieldErrors::from([("assigned_to", "field.assignee_invalid")])))
}

/// Applies `change` in one transaction with its audit entry. Queuing the
/// classification again (`pending`) needs an inquiry that is not pending or replied;
/// reopening (`classified`) a closed one that was classified; otherwise 409.
pub async fn update(
    ctx: &Ctx,
    cap: &AgentCap<'_>,
    id: i64,
    change: &InquiryChange,
    ip: Option<String>,
) -> AppResult<Inquiry> {
    let now_row = get(ctx.db(), id).await?;
    let status = change.status.filter(|s| *s != now_row.status);
    let category = change.category.clone().filter(|c| Some(c) != now_row.category.as_ref());
    let assignee = change.assigned_to.filter(|a| *a != now_row.assigned_to);
    if status.is_none() && category.is_none() && assignee.is_none() {
        return Ok(now_row);
    }
    let allowed = match status {
        None | Some(InquiryStatus::Closed) => true,
        Some(InquiryStatus::Pending) => !matches!(now_row.status, InquiryStatus::Pending | InquiryStatus::Replied),
        Some(InquiryStatus::Classified) => now_row.status == InquiryStatus::Closed && now_row.classified_at.is_some(),
        Some(_) => false,
    };
    if !allowed {
        return Err(AppError::Conflict(Conflict::InquiryState));
    }
    let mut tx = ctx.db().begin().await?;
    if let Some(Some(user)) = assignee {
        check_assignee(&mut tx, user).await?;
    }
    let at = Timestamp::now();
    let changed = on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE inquiries SET status = $3, category = $4, assigned_to = $5, updated_at = $6, \
         error = CASE WHEN $3 = 'pending' THEN NULL ELSE error END WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(now_row.status.as_str())
    .bind(status.unwrap_or(now_row.status).as_str())
    .bind(category.as_ref().or(now_row.category.as_ref()))
    .bind(assignee.unwrap_or(now_row.assigned_to))
    .bind(at)
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    if changed == 0 {
        // It moved on meanwhile (the job finished, another person acted).
        return Err(AppError::Conflict(Conflict::InquiryState));
    }
    let requeued = status == Some(InquiryStatus::Pending);
    if requeued {
        let max = ctx.jobs().max_attempts();
        let again = match now_row.job_id {
            Some(job_id) => crate::jobs::requeue_in(&mut tx, job_id, max).await?,
            None => false,
        };
        if !again {
            let new = crate::jobs::NewJob::new(job::KIND, json!({"inquiry_id": id})).dedupe(format!(
                "{}:{}",
                job::dedupe_key(id),
                at.unix_seconds()
            ));
            let job_id = crate::jobs::enqueue_in(&mut tx, &new, max).await?;
            on_tx!(&mut tx, |conn| sqlx::query("UPDATE inquiries SET job_id = $2 WHERE id = $1")
                .bind(id)
                .bind(job_id)
                .execute(&mut *conn)
                .await
                .map(|_| ()))?;
        }
    }
    let metadata = json!({
        "status": status.map(|s| [now_row.status.as_str(), s.as_str()]),
        "category": category.as_ref().map(|c| [now_row.category.clone(), Some(c.clone())]),
        "assigned_to": assignee.map(|a| [now_row.assigned_to, a]),
    });
    let entry = entry(cap, "inquiry.update", id, ip).metadata(metadata);
    on_tx!(&mut tx, |conn| audit_insert!(&entry).execute(&mut *conn).await.map(|_| ()))?;
    tx.commit().await?;
    if requeued {
        ctx.jobs().wake();
    }
    let inquiry = get(ctx.db(), id).await?;
    super::announce(ctx, id, inquiry.status).await;
    Ok(inquiry)
}

/// Checks a reply's text: 1 to 10,000 characters.
pub fn check_reply(text: &str) -> AppResult<String> {
    let text = text.trim();
    match text.chars().count() {
        0 => Err(AppError::Validation(FieldErrors::from([("text", "field.required")]))),
        n if n > MAX_BODY => Err(AppError::Validation(FieldErrors::from([("text", "field.body_too_long")]))),
        _ if crate::text::has_control_but_lines(text) => {
            Err(AppError::Validation(FieldErrors::from([("text", "field.text_invalid")])))
        }
        _ => Ok(text.to_owned()),
    }
}

/// The customer record the answer is addressed to: the one holding the inquirer's
/// address, or a new unverified one (like a visitor's claim from the public page).
async fn recipient(ctx: &Ctx, inquiry: &Inquiry) -> AppResult<Recipient> {
    if let Some(found) = email::recipient_by_email(ctx.db(), &inquiry.email).await? {
        return Ok(found);
    }
    with_db!(ctx.db(), |pool| {
        sqlx::query(
        "INSERT INTO customers (name, email, balance_cents, active, verified, created_at) VALUES ($1, $2, 0, TRUE, FALSE, $3) \
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(&inquiry.name)
    .bind(&inquiry.email)
    .bind(Timestamp::now())
    .execute(pool)
    .await
    .map(|_| ())
    })?;
    email::recipient_by_email(ctx.db(), &inquiry.email).await?.ok_or(AppError::NotFound)
}

/// Sends `text` (the suggested reply, accepted or edited) to the inquirer through the
/// email outbox: staff sending it is the confirmation. The same text sent twice is one
/// email (its dedupe key holds the text's hash). The inquiry becomes `replied`.
pub async fn reply(
    ctx: &Ctx,
    cap: &AgentCap<'_>,
    id: i64,
    text: &str,
    ip: Option<String>,
) -> AppResult<(Inquiry, Email)> {
    let text = check_reply(text)?;
    let inquiry = get(ctx.db(), id).await?;
    let lang = inquiry
        .language
        .as_deref()
        .and_then(Lang::parse)
        .unwrap_or_else(|| crate::agents::builtin::classify(&inquiry.message).language);
    let recipient = recipient(ctx, &inquiry).await?;
    let digest = Sha256::digest(text.as_bytes());
    let hash: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    let topic: String = inquiry.subject.chars().take(MAX_TOPIC).collect();
    let dedupe_key = format!("inquiry:{id}:reply:{hash}");
    let new = NewEmail {
        content: Content::Information { topic, body: text },
        recipient,
        call_id: None,
        lang,
        dedupe_key: dedupe_key.clone(),
    };
    let me = cap.actor();
    let audit =
        Entry::new(Some(me.id), me.username.clone(), "inquiry.reply").ip(ip).metadata(json!({"inquiry_id": id}));
    // One answer per inquiry: the first reply claims it (a conditional update, so two
    // people replying at once, or a double click, send one email); an answered or
    // closed inquiry is refused (409) until someone reopens it.
    let at = Timestamp::now();
    let claimed = with_db!(ctx.db(), |pool| {
        sqlx::query(
            "UPDATE inquiries SET status = 'replied', replied_by = $2, replied_at = $3, updated_at = $3 \
             WHERE id = $1 AND status NOT IN ('replied', 'closed')",
        )
        .bind(id)
        .bind(me.id)
        .bind(at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1)
    })?;
    if !claimed {
        // The same text sent again (a second click after the first went through)
        // answers with the email already sent; anything else is refused.
        let now = get(ctx.db(), id).await?;
        if let Some(email_id) = now.reply_email_id {
            let sent = email::get(ctx.db(), email_id).await?;
            if sent.dedupe_key == dedupe_key {
                return Ok((now, sent));
            }
        }
        return Err(AppError::Conflict(Conflict::InquiryState));
    }
    let sent = match email::create(ctx, new, Some(me.id), Confirmation::Staff(me.id), Some(audit)).await {
        Ok((sent, _)) => sent,
        Err(err) => {
            // Nothing was sent: the inquiry goes back to the state it was in.
            let back = with_db!(ctx.db(), |pool| sqlx::query(
                "UPDATE inquiries SET status = $2, replied_by = NULL, replied_at = NULL, updated_at = $3 \
                 WHERE id = $1 AND status = 'replied' AND reply_email_id IS NULL",
            )
            .bind(id)
            .bind(inquiry.status.as_str())
            .bind(Timestamp::now())
            .execute(pool)
            .await
            .map(|_| ()));
            if let Err(e) = back {
                tracing::warn!(error = %e, inquiry = id, "inquiry left marked replied after a failed reply");
            }
            return Err(err);
        }
    };
    with_db!(ctx.db(), |pool| {
        sqlx::query("UPDATE inquiries SET reply_email_id = $2 WHERE id = $1")
            .bind(id)
            .bind(sent.id)
            .execute(pool)
            .await
            .map(|_| ())
    })?;
    super::announce(ctx, id, InquiryStatus::Replied).await;
    Ok((get(ctx.db(), id).await?, sent))
}

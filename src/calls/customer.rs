//! The customer's side of a call: the private link, ending the call, the answer to the
//! summary offer and the 1–5 rating.
//!
//! A web call is reachable only through `/c/{token}`: 32 random bytes, shown once in the
//! link; the database keeps only its SHA-256, so a leaked database does not open calls.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use futures_util::TryStreamExt;
use sqlx::{Either, FromRow, Row};

use super::{
    Call, Message, MessageKind, call_columns, call_fields, get, messages_json_select, messages_json_select_pg,
    messages_of_json, record_change,
};
use crate::context::Ctx;
use crate::db::{Db, Timestamp};
use crate::db::{on_tx, with_db};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};
use crate::events::{CallChange, Payload};

/// A new private link token and the hash to store.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

fn hash_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The call a link token opens; anything else is "not found".
pub async fn by_token(ctx: &Ctx, token: &str) -> AppResult<Call> {
    if !well_formed(token) {
        return Err(AppError::NotFound);
    }
    let sql = concat!("SELECT ", call_columns!(), " FROM calls WHERE access_hash = $1");
    let call: Option<Call> =
        with_db!(ctx.db(), |pool| sqlx::query_as(sql).bind(hash_token(token)).fetch_optional(pool).await)?;
    call.ok_or(AppError::NotFound)
}

/// What the customer's call page shows: the call, its messages (oldest first) and its
/// summary email, if one was written.
pub struct Page {
    /// The call.
    pub call: Call,
    /// Its messages, oldest first.
    pub messages: Vec<Message>,
    /// Its summary email.
    pub summary: Option<crate::email::Email>,
}

/// The call a link token opens, for the call's page; anything else is "not found". On
/// SQLite the three queries go in one string (one hand-off to the connection's thread;
/// the call's row comes first, then the end of its statement, then the messages, the
/// end of theirs, then the summary). On PostgreSQL the call's row carries its messages
/// as one JSON array (one round trip and one row instead of two and one per message),
/// and the summary follows.
pub async fn page_by_token(ctx: &Ctx, token: &str) -> AppResult<Page> {
    if !well_formed(token) {
        return Err(AppError::NotFound);
    }
    let pool = match ctx.db() {
        Db::Sqlite(pool) => pool,
        Db::Postgres(pool) => return page_by_token_pg(ctx, pool, token).await,
    };
    let sql = concat!(
        "SELECT ",
        call_columns!(),
        " FROM calls WHERE access_hash = $1; ",
        messages_json_select!(),
        "(SELECT id FROM calls WHERE access_hash = $1); ",
        crate::email::email_select!(),
        // The key `email::summary_key` gives the call.
        "WHERE e.dedupe_key = 'summary:call:' || (SELECT id FROM calls WHERE access_hash = $1)"
    );
    let mut results = sqlx::Executor::fetch_many(pool, sqlx::query(sql).bind(hash_token(token)));
    let (mut call, mut messages, mut summary, mut ended) = (None, Vec::new(), None, 0);
    while let Some(result) = results.try_next().await? {
        match result {
            Either::Left(_) => ended += 1,
            Either::Right(row) if ended == 0 => call = Some(Call::from_row(&row)?),
            Either::Right(row) if ended == 1 => messages = messages_of_json(row.try_get(0)?)?,
            Either::Right(row) => summary = Some(crate::email::Email::from_row(&row)?),
        }
    }
    let call = call.ok_or(AppError::NotFound)?;
    // As on PostgreSQL: a call with no customer (its claim withdrawn) shows no summary,
    // even one written while the claim stood.
    let summary = summary.filter(|_| call.customer_id.is_some());
    Ok(Page { call, messages, summary })
}

/// [`page_by_token`] on PostgreSQL, for a well-formed token.
async fn page_by_token_pg(ctx: &Ctx, pool: &sqlx::PgPool, token: &str) -> AppResult<Page> {
    let sql = concat!(
        "SELECT ",
        call_columns!(),
        ", (",
        messages_json_select_pg!(),
        "calls.id) AS messages FROM calls WHERE access_hash = $1"
    );
    let row = sqlx::query(sql).bind(hash_token(token)).fetch_optional(pool).await?.ok_or(AppError::NotFound)?;
    let call = Call::from_row(&row)?;
    let messages = messages_of_json(row.try_get("messages")?)?;
    // A call with no customer (none given, or its claim withdrawn) shows no summary.
    let summary = match call.customer_id {
        Some(_) => crate::email::summary_of_call(ctx.db(), call.id).await?,
        None => None,
    };
    Ok(Page { call, messages, summary })
}

/// Whether `token` has the shape of a link token (43 URL-safe base64 characters).
fn well_formed(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The customer hangs up. Ending an ended call changes nothing.
pub async fn end(ctx: &Ctx, call: &Call) -> AppResult<()> {
    let now = Timestamp::now();
    let mut tx = ctx.db().begin().await?;
    let changed = on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE calls SET status = 'closed', closed_at = $2, updated_at = $2 WHERE id = $1 AND status <> 'closed'",
    )
    .bind(call.id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    if changed == 1 {
        let news = |ended: &Call| {
            let fields = Some(call_fields(ended));
            Payload::Closed(CallChange { fields, by: Some("customer".into()), ..CallChange::default() })
        };
        record_change(ctx, tx, call.id, (MessageKind::Ended, ""), None, news).await?;
    }
    Ok(())
}

/// The customer's answer to "shall we email you a summary?". Recorded once, with the
/// time; the email itself is the email manager's job.
pub async fn answer_summary_offer(ctx: &Ctx, call: &Call, wants: bool) -> AppResult<()> {
    if !call.asks_for_summary_consent() {
        return Err(AppError::Conflict(Conflict::SummaryNotOffered));
    }
    let answer = if wants { "yes" } else { "no" };
    let changed = with_db!(ctx.db(), |pool| {
        sqlx::query(
        "UPDATE calls SET summary_consent = $2, summary_consent_at = $3, updated_at = $3 WHERE id = $1 AND summary_consent IS NULL",
    )
    .bind(call.id)
    .bind(answer)
    .bind(Timestamp::now())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    if changed == 0 {
        return Err(AppError::Conflict(Conflict::SummaryAlreadyAnswered));
    }
    let fields = Some(call_fields(&get(ctx.db(), call.id).await?));
    let change = CallChange { fields, summary_consent: Some(answer), ..CallChange::default() };
    ctx.bus().emit(Some(call.id), Payload::CallUpdated(change)).await;
    Ok(())
}

/// The customer's 1–5 rating, once the call has ended; given once.
pub async fn rate(ctx: &Ctx, call: &Call, csat: i64) -> AppResult<()> {
    let Some(csat) = super::staff::parse_csat(Some(csat))? else {
        return Err(AppError::Validation(FieldErrors::from([("csat", "field.csat_range")])));
    };
    if call.is_open() {
        return Err(AppError::Conflict(Conflict::CallOpen));
    }
    let changed = with_db!(ctx.db(), |pool| sqlx::query(
        "UPDATE calls SET csat = $2, updated_at = $3 WHERE id = $1 AND csat IS NULL"
    )
    .bind(call.id)
    .bind(csat)
    .bind(Timestamp::now())
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    if changed == 0 {
        return Err(AppError::Conflict(Conflict::AlreadyRated));
    }
    let fields = Some(call_fields(&get(ctx.db(), call.id).await?));
    let change = CallChange { fields, csat: Some(i64::from(csat)), ..CallChange::default() };
    ctx.bus().emit(Some(call.id), Payload::CallUpdated(change)).await;
    Ok(())
}

/// The customer's address on file, masked for showing on the call page
/// (`j•••@example.com`).
pub async fn masked_email(ctx: &Ctx, call: &Call) -> AppResult<Option<String>> {
    let Some(customer_id) = call.customer_id else { return Ok(None) };
    let email: Option<String> =
        with_db!(ctx.db(), |pool| sqlx::query_scalar("SELECT email FROM customers WHERE id = $1")
            .bind(customer_id)
            .fetch_optional(pool)
            .await)?;
    Ok(email.map(|e| mask(&e)))
}

/// `j•••@example.com` for `jane@example.com`.
pub fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_only_as_hashes() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_ne!(a, ha);
        assert_eq!(hash_token(&a), ha);
    }

    #[test]
    fn addresses_are_masked() {
        assert_eq!(mask("jane.doe@example.com"), "j•••@example.com");
        assert_eq!(mask("nonsense"), "•••");
    }
}

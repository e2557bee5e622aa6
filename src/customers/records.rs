//! Customer records as staff keep them: search, create, edit, deactivate and reactivate
//! (never delete: calls, tickets and payments keep pointing at the record). Every
//! change is audited in the transaction that makes it.

use serde::{Deserialize, Serialize};

use super::contact::{EmailAddress, Phone, digits};
use crate::audit::{Entry, audit_insert};
use crate::auth::RecordsCap;
use crate::context::Ctx;
use crate::db::paging::{Page, Paging};
use crate::db::{Db, Money, Timestamp, is_unique_violation, with_db, with_tx};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::events::Payload;
use crate::users::input::parse_full_name;

/// Longest note kept on a customer.
pub const MAX_NOTES: usize = 2000;

/// A customer's record.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Customer {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email address (the key).
    pub email: String,
    /// Phone, as typed.
    pub phone: Option<String>,
    /// Staff's notes.
    pub notes: String,
    /// False while the record is a public visitor's unconfirmed claim.
    pub verified: bool,
    /// False once deactivated (kept for its history).
    pub active: bool,
    /// What the customer owes (positive) or has in credit (negative).
    pub balance_cents: Money,
    /// When it was created.
    pub created_at: Timestamp,
    /// When staff last changed it.
    pub updated_at: Option<Timestamp>,
}

/// The columns of [`Customer`], ready for a `WHERE`.
macro_rules! select_customer {
    () => {
        "SELECT id, name, email, phone, notes, verified, active, balance_cents, created_at, updated_at FROM customers "
    };
}

/// The search filter: `$1` a lowercased `LIKE` pattern for name and email, `$2` one for
/// the phone's digits, compared with the phone column without its separators (both
/// backends: no regexp needed, as a stored phone holds only digits and ` +-().`).
macro_rules! search_filter {
    () => {
        "WHERE ($1 IS NULL OR LOWER(name) LIKE $1 ESCAPE '\\' OR LOWER(email) LIKE $1 ESCAPE '\\' \
         OR ($2 IS NOT NULL AND REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(COALESCE(phone, ''), \
         ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '+', '') LIKE $2)) "
    };
}

/// Customers whose name or email contains `q` (any case), or whose phone holds the
/// digits of `q` when `q` looks like a phone number (three digits or more); all
/// customers when `q` is empty. Ordered by name.
pub async fn search(db: &Db, q: &str, paging: Paging) -> AppResult<Page<Customer>> {
    let q = q.trim();
    let text = (!q.is_empty()).then(|| crate::text::like_contains(q));
    let phone = Phone::parse(q).map(|p| digits(p.as_str())).filter(|d| d.len() >= 3).map(|d| format!("%{d}%"));
    let (total, items): (i64, Vec<Customer>) = with_db!(db, |pool| {
        let total = sqlx::query_scalar(concat!("SELECT COUNT(*) FROM customers ", search_filter!()))
            .bind(text.as_deref())
            .bind(phone.as_deref())
            .fetch_one(pool)
            .await?;
        let items = sqlx::query_as(concat!(
            select_customer!(),
            search_filter!(),
            "ORDER BY LOWER(name), id LIMIT $3 OFFSET $4"
        ))
        .bind(text.as_deref())
        .bind(phone.as_deref())
        .bind(paging.limit())
        .bind(paging.offset())
        .fetch_all(pool)
        .await?;
        Ok::<_, sqlx::Error>((total, items))
    })?;
    Ok(Page::new(items, total, paging))
}

/// One customer, or 404.
pub async fn get(db: &Db, id: i64) -> AppResult<Customer> {
    let found: Option<Customer> = with_db!(db, |pool| sqlx::query_as(concat!(select_customer!(), "WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    found.ok_or(AppError::NotFound)
}

/// A customer's details as typed in a form or a JSON body (`POST` and `PATCH`: a field
/// left out of a `PATCH` stays as it is).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerForm {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone; empty removes it.
    #[serde(default)]
    pub phone: Option<String>,
    /// Staff's notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// Active or deactivated (`PATCH` only).
    #[serde(default)]
    pub active: Option<bool>,
}

/// Checked details; `None` leaves a field unchanged.
#[derive(Clone, Debug, Default)]
pub struct CustomerChange {
    name: Option<String>,
    email: Option<EmailAddress>,
    phone: Option<Option<Phone>>,
    notes: Option<String>,
    active: Option<bool>,
}

impl CustomerForm {
    /// Checks every given field; with `complete`, name and email are required (a new
    /// record). Errors name the fields.
    pub fn parse(&self, complete: bool) -> Result<CustomerChange, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut change = CustomerChange { active: self.active, ..CustomerChange::default() };
        match self.name.as_deref().map(parse_full_name) {
            Some(Some(name)) => change.name = Some(name),
            Some(None) => _ = errors.insert("name", "field.full_name_invalid"),
            None if complete => _ = errors.insert("name", "field.full_name_invalid"),
            None => {}
        }
        match self.email.as_deref().map(EmailAddress::parse) {
            Some(Some(email)) => change.email = Some(email),
            Some(None) => _ = errors.insert("email", "field.email_invalid"),
            None if complete => _ = errors.insert("email", "field.email_invalid"),
            None => {}
        }
        if let Some(typed) = self.phone.as_deref().map(str::trim) {
            match Phone::parse(typed) {
                _ if typed.is_empty() => change.phone = Some(None),
                Some(p) => change.phone = Some(Some(p)),
                None => _ = errors.insert("phone", "field.phone_invalid"),
            }
        }
        if let Some(notes) = &self.notes {
            let notes = notes.replace("\r\n", "\n").trim().to_owned();
            if notes.chars().count() > MAX_NOTES {
                errors.insert("notes", "field.notes_too_long");
            } else if notes.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                errors.insert("notes", "field.text_invalid");
            } else {
                change.notes = Some(notes);
            }
        }
        if errors.is_empty() { Ok(change) } else { Err(errors) }
    }
}

/// A unique violation on `customers.email` as the form error staff can act on.
fn email_taken(err: sqlx::Error) -> AppError {
    if is_unique_violation(&err) {
        AppError::Validation(FieldErrors::from([("email", "field.customer_email_taken")]))
    } else {
        AppError::Database(err)
    }
}

/// Creates a verified record (staff vouch for whom they enter).
pub async fn create(db: &Db, cap: &RecordsCap<'_>, c: &CustomerChange, ip: Option<String>) -> AppResult<Customer> {
    let (Some(name), Some(email)) = (&c.name, &c.email) else {
        return Err(AppError::Validation(FieldErrors::from([("name", "field.required")])));
    };
    let me = cap.actor();
    let phone = c.phone.clone().flatten();
    let now = Timestamp::now();
    // The body is its own future so that a failed statement comes back here (to be
    // read as a duplicate email) rather than out of this function through `?`.
    let id = with_tx!(db, |tx| async {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO customers (name, email, phone, notes, balance_cents, active, verified, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, TRUE, TRUE, $6, $6) RETURNING id",
        )
        .bind(name)
        .bind(email.as_str())
        .bind(phone.as_ref().map(Phone::as_str))
        .bind(c.notes.clone().unwrap_or_default())
        .bind(Money::from_cents(0))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let entry = Entry::new(Some(me.id), me.username.clone(), "customer.create")
            .target(format!("customer:{id}"))
            .ip(ip.clone())
            .metadata(serde_json::json!({"email": email.as_str()}));
        audit_insert!(&entry).execute(&mut *tx).await?;
        Ok::<i64, sqlx::Error>(id)
    }
    .await)
    .map_err(email_taken)?;
    get(db, id).await
}

/// Changes the given fields of a record; a change of `active` is audited as a
/// deactivation or reactivation. The customer's open calls redraw their panel.
pub async fn update(
    ctx: &Ctx,
    cap: &RecordsCap<'_>,
    id: i64,
    c: &CustomerChange,
    ip: Option<String>,
) -> AppResult<Customer> {
    let before = get(ctx.db(), id).await?;
    let me = cap.actor();
    let name = c.name.clone().unwrap_or_else(|| before.name.clone());
    let email = c.email.as_ref().map_or_else(|| before.email.clone(), |e| e.as_str().to_owned());
    let phone = match &c.phone {
        Some(p) => p.as_ref().map(|p| p.as_str().to_owned()),
        None => before.phone.clone(),
    };
    let notes = c.notes.clone().unwrap_or_else(|| before.notes.clone());
    let active = c.active.unwrap_or(before.active);
    let mut changed: Vec<&str> = Vec::new();
    for (field, differs) in [
        ("name", name != before.name),
        ("email", email != before.email),
        ("phone", phone != before.phone),
        ("notes", notes != before.notes),
    ] {
        if differs {
            changed.push(field);
        }
    }
    let mut entries = Vec::new();
    if !changed.is_empty() {
        entries.push(
            Entry::new(Some(me.id), me.username.clone(), "customer.update")
                .target(format!("customer:{id}"))
                .ip(ip.clone())
                .metadata(serde_json::json!({"fields": changed})),
        );
    }
    if active != before.active {
        let action = if active { "customer.reactivate" } else { "customer.deactivate" };
        entries.push(Entry::new(Some(me.id), me.username.clone(), action).target(format!("customer:{id}")).ip(ip));
    }
    if entries.is_empty() {
        return Ok(before);
    }
    with_tx!(ctx.db(), |tx| async {
        sqlx::query(
            "UPDATE customers SET name = $2, email = $3, phone = $4, notes = $5, active = $6, updated_at = $7 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(&name)
        .bind(&email)
        .bind(phone.as_deref())
        .bind(&notes)
        .bind(active)
        .bind(Timestamp::now())
        .execute(&mut *tx)
        .await?;
        for entry in &entries {
            audit_insert!(entry).execute(&mut *tx).await?;
        }
        Ok::<(), sqlx::Error>(())
    }
    .await)
    .map_err(email_taken)?;
    notify_open_calls(ctx, id, None, "details").await;
    get(ctx.db(), id).await
}

/// Tells the pages of the customer's open calls (and of `also`, a call the change came
/// from) that the customer's record changed, so their customer panel redraws. Call it
/// after the change is committed; a failure to publish is logged, not returned.
pub async fn notify_open_calls(ctx: &Ctx, customer_id: i64, also: Option<i64>, what: &'static str) {
    let open: Result<Vec<i64>, sqlx::Error> = with_db!(ctx.db(), |pool| sqlx::query_scalar(
        "SELECT id FROM calls WHERE customer_id = $1 AND (status <> 'closed' OR id = $2) ORDER BY id DESC LIMIT 20",
    )
    .bind(customer_id)
    .bind(also)
    .fetch_all(pool)
    .await);
    match open {
        Ok(calls) => {
            for call_id in calls {
                ctx.bus().emit(Some(call_id), Payload::CustomerChanged { customer_id, what }).await;
            }
        }
        Err(err) => tracing::warn!(error = %err, "customer's calls not notified"),
    }
}

/// The one active, verified customer whose phone on file is the number `e164` (its
/// digits, country code first: `34600123456`), written with or without `+`, `00`,
/// spaces, dashes, dots or brackets. `None` when no one or more than one matches: a
/// caller is linked only when the number says unambiguously who they are.
pub async fn by_phone(db: &Db, e164: &str) -> Result<Option<i64>, sqlx::Error> {
    let ids: Vec<i64> = with_db!(db, |pool| {
        sqlx::query_scalar(
        "SELECT id FROM customers WHERE active AND verified AND phone IS NOT NULL AND \
         REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(phone, ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '+', '') \
         IN ($1, $2) LIMIT 2",
    )
    .bind(e164)
    .bind(format!("00{e164}"))
    .fetch_all(pool)
    .await
    })?;
    Ok(match ids.as_slice() {
        [one] => Some(*one),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_record_needs_name_and_email_and_a_patch_does_not() {
        let errors = CustomerForm::default().parse(true).unwrap_err();
        assert_eq!(errors.get("name"), Some(&"field.full_name_invalid"));
        assert_eq!(errors.get("email"), Some(&"field.email_invalid"));
        assert!(CustomerForm::default().parse(false).is_ok());
        let form = CustomerForm { phone: Some(" ".into()), ..CustomerForm::default() };
        assert!(matches!(form.parse(false).map(|c| c.phone), Ok(Some(None))), "empty removes the phone");
        let form = CustomerForm { phone: Some("call me".into()), notes: Some("x".repeat(2001)), ..Default::default() };
        let errors = form.parse(false).unwrap_err();
        assert_eq!(
            (errors.get("phone"), errors.get("notes")),
            (Some(&"field.phone_invalid"), Some(&"field.notes_too_long"))
        );
    }
}

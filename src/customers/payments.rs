//! Payments: money a customer paid, which lowers what they owe.
//!
//! The balance is lowered by `balance_cents = balance_cents - amount` in the payment's
//! own transaction, never read, changed and written back: concurrent payments on one
//! customer each lower it once (the row lock on PostgreSQL, the single writer on
//! SQLite serialise them).

use serde::{Deserialize, Serialize};

use crate::audit::{Entry, audit_insert};
use crate::auth::{Principal, RecordsCap};
use crate::context::Ctx;
use crate::db::paging::{Page, Paging};
use crate::db::{Db, Money, Timestamp, Tx, id_enum, on_tx, with_db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::period::Period;

id_enum! {
    /// How a payment was made.
    PaymentMethod {
        /// Cash.
        Cash => "cash",
        /// Card.
        Card => "card",
        /// Bank transfer.
        Transfer => "transfer",
        /// Cheque.
        Check => "check",
    }
}

/// A payment to register.
#[derive(Clone, Debug)]
pub struct NewPayment<'a> {
    /// Who paid.
    pub customer_id: i64,
    /// How much (positive).
    pub amount: Money,
    /// What for.
    pub description: &'a str,
    /// How.
    pub method: PaymentMethod,
    /// The staff member who registered it.
    pub processed_by: Option<i64>,
    /// The call it was taken on.
    pub call_id: Option<i64>,
}

/// A payment stored in a transaction that is not committed yet. Once it is, call
/// [`Lowered::announce`] so the customer's open calls redraw their balance.
#[must_use = "announce the payment once its transaction is committed"]
#[derive(Clone, Copy, Debug)]
pub struct Lowered {
    /// The payment's id.
    pub id: i64,
    /// What the customer owes now.
    pub balance: Money,
    customer_id: i64,
    call_id: Option<i64>,
}

impl Lowered {
    /// Sends `customer_changed` to the customer's open calls (and the payment's call).
    pub async fn announce(self, ctx: &Ctx) {
        super::records::notify_open_calls(ctx, self.customer_id, self.call_id, "payment").await;
    }
}

/// The one place a payment is registered, whoever asks (the payment form and API, the
/// staff assistant's confirm, an approved AI request), inside the caller's transaction:
/// lowers the balance of an *active* customer and moves their `updated_at`, stores the
/// payment and the `payment.register` audit entry. A customer that does not exist or
/// was deactivated is a `customer_id` field error, checked in this same transaction,
/// so a customer deactivated meanwhile gets nothing.
pub async fn register_in(tx: &mut Tx, p: &NewPayment<'_>, who: &Principal, ip: Option<String>) -> AppResult<Lowered> {
    let now = Timestamp::now();
    // The UPDATE comes first: the row is locked (PostgreSQL) before anything is read.
    let balance: Option<Money> = on_tx!(&mut *tx, |conn| sqlx::query_scalar(
        "UPDATE customers SET balance_cents = balance_cents - $2, updated_at = $3 \
         WHERE id = $1 AND active = TRUE RETURNING balance_cents",
    )
    .bind(p.customer_id)
    .bind(p.amount)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await)?;
    let Some(balance) = balance else {
        let active: Option<bool> =
            on_tx!(&mut *tx, |conn| sqlx::query_scalar("SELECT active FROM customers WHERE id = $1")
                .bind(p.customer_id)
                .fetch_optional(&mut *conn)
                .await)?;
        let key = if active.is_some() { "field.customer_inactive" } else { "field.customer_unknown" };
        return Err(AppError::Validation(FieldErrors::from([("customer_id", key)])));
    };
    let id: i64 = on_tx!(&mut *tx, |conn| sqlx::query_scalar(
        "INSERT INTO payments (customer_id, amount_cents, description, method, processed_by, call_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(p.customer_id)
    .bind(p.amount)
    .bind(p.description)
    .bind(p.method.as_str())
    .bind(p.processed_by)
    .bind(p.call_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await)?;
    let entry = Entry::new(Some(who.id), who.username.clone(), "payment.register")
        .target(format!("customer:{}", p.customer_id))
        .ip(ip)
        .metadata(serde_json::json!({
            "payment_id": id, "amount": p.amount.to_string(), "method": p.method.as_str(), "call_id": p.call_id,
        }));
    on_tx!(&mut *tx, |conn| audit_insert!(&entry).execute(&mut *conn).await.map(|_| ()))?;
    Ok(Lowered { id, balance, customer_id: p.customer_id, call_id: p.call_id })
}

/// Records a past payment of the customer with `email` in their history, unless one
/// with this description is already there (the demo seed runs more than once); the
/// balance is left as it is, since it was set knowing the history.
pub async fn record_past_once_for(db: &Db, email: &str, p: &NewPayment<'_>) -> Result<bool, sqlx::Error> {
    let added = with_db!(db, |pool| sqlx::query(
        "INSERT INTO payments (customer_id, amount_cents, description, method, processed_by, at) \
         SELECT c.id, $2, $3, $4, $5, $6 FROM customers c WHERE c.email = $1 \
         AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = c.id AND p.description = $3)",
    )
    .bind(email)
    .bind(p.amount)
    .bind(p.description)
    .bind(p.method.as_str())
    .bind(p.processed_by)
    .bind(Timestamp::now())
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(added == 1)
}

/// The largest payment staff may register at once (a typo guard: 1,000,000.00).
pub const MAX_AMOUNT: Money = Money::from_cents(100_000_000);
/// Longest description.
pub const MAX_DESCRIPTION: usize = 200;

/// A payment as typed in the form or the JSON body.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentForm {
    /// Who paid.
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// How much: `50.00`, `50,00` or `50`.
    #[serde(default)]
    pub amount: String,
    /// cash, card, transfer or check.
    #[serde(default)]
    pub method: String,
    /// What for.
    #[serde(default)]
    pub description: String,
    /// The call it was taken on.
    #[serde(default)]
    pub call_id: Option<i64>,
}

/// A checked payment, ready to register.
#[derive(Clone, Debug)]
pub struct PaymentInput {
    customer_id: i64,
    amount: Money,
    method: PaymentMethod,
    description: String,
    call_id: Option<i64>,
}

impl PaymentForm {
    /// Checks every field; errors name them.
    pub fn parse(&self) -> Result<PaymentInput, FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.customer_id.is_none() {
            errors.insert("customer_id", "field.customer_unknown");
        }
        let amount = match Money::parse(&self.amount) {
            Some(a) if a.cents() <= 0 => {
                errors.insert("amount", "field.amount_positive");
                None
            }
            Some(a) if a > MAX_AMOUNT => {
                errors.insert("amount", "field.amount_too_large");
                None
            }
            Some(a) => Some(a),
            None => {
                errors.insert("amount", "field.amount_invalid");
                None
            }
        };
        let method = PaymentMethod::parse(self.method.trim());
        if method.is_none() {
            errors.insert("method", "field.method_invalid");
        }
        let description = self.description.trim().to_owned();
        if description.chars().count() > MAX_DESCRIPTION {
            errors.insert("description", "field.description_too_long");
        } else if description.chars().any(char::is_control) {
            errors.insert("description", "field.text_invalid");
        }
        match (self.customer_id, amount, method) {
            (Some(customer_id), Some(amount), Some(method)) if errors.is_empty() => {
                Ok(PaymentInput { customer_id, amount, method, description, call_id: self.call_id })
            }
            _ => Err(errors),
        }
    }
}

/// A stored payment.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Payment {
    /// Id.
    pub id: i64,
    /// Who paid.
    pub customer_id: i64,
    /// Their name.
    pub customer_name: String,
    /// How much.
    pub amount_cents: Money,
    /// How.
    pub method: String,
    /// What for.
    pub description: String,
    /// Who registered it.
    pub processed_by: Option<i64>,
    /// Their name.
    pub processed_by_name: Option<String>,
    /// The call it was taken on.
    pub call_id: Option<i64>,
    /// When.
    pub at: Timestamp,
}

/// Which payments a list shows.
#[derive(Clone, Debug, Default)]
pub struct PaymentFilter {
    /// Only this customer's.
    pub customer_id: Option<i64>,
    /// Only those made in these days.
    pub period: Option<Period>,
}

/// Payments, newest first.
pub async fn list(db: &Db, filter: &PaymentFilter, paging: Paging) -> AppResult<Page<Payment>> {
    let (start, end) = filter.period.as_ref().map(|p| (p.start, p.end)).unzip();
    let (total, items): (i64, Vec<Payment>) = with_db!(db, |pool| {
        let total = sqlx::query_scalar(
            "SELECT COUNT(*) FROM payments p WHERE ($1 IS NULL OR p.customer_id = $1) \
             AND ($2 IS NULL OR p.at >= $2) AND ($3 IS NULL OR p.at < $3)",
        )
        .bind(filter.customer_id)
        .bind(start)
        .bind(end)
        .fetch_one(pool)
        .await?;
        let items = sqlx::query_as(
            "SELECT p.id, p.customer_id, c.name AS customer_name, p.amount_cents, p.method, p.description, \
             p.processed_by, u.full_name AS processed_by_name, p.call_id, p.at \
             FROM payments p JOIN customers c ON c.id = p.customer_id LEFT JOIN users u ON u.id = p.processed_by \
             WHERE ($1 IS NULL OR p.customer_id = $1) AND ($2 IS NULL OR p.at >= $2) AND ($3 IS NULL OR p.at < $3) \
             ORDER BY p.at DESC, p.id DESC LIMIT $4 OFFSET $5",
        )
        .bind(filter.customer_id)
        .bind(start)
        .bind(end)
        .bind(paging.limit())
        .bind(paging.offset())
        .fetch_all(pool)
        .await?;
        Ok::<_, sqlx::Error>((total, items))
    })?;
    Ok(Page::new(items, total, paging))
}

/// A registered payment and the balance it left.
#[derive(Clone, Debug)]
pub struct Registered {
    /// The payment.
    pub payment: Payment,
    /// What the customer owes now.
    pub balance: Money,
}

/// Registers a payment by hand (supervisors and admins): lowers the balance, stores
/// the payment with who registered it and the call it was taken on, and the audit
/// entry, in one transaction. A customer that does not exist or was deactivated, or a
/// call that is not theirs, is a field error.
pub async fn register(ctx: &Ctx, cap: &RecordsCap<'_>, p: &PaymentInput, ip: Option<String>) -> AppResult<Registered> {
    let db = ctx.db();
    if let Some(call_id) = p.call_id {
        let caller: Option<Option<i64>> =
            with_db!(db, |pool| sqlx::query_scalar("SELECT customer_id FROM calls WHERE id = $1")
                .bind(call_id)
                .fetch_optional(pool)
                .await)?;
        match caller {
            None => return Err(AppError::Validation(FieldErrors::from([("call_id", "field.call_unknown")]))),
            Some(c) if c != Some(p.customer_id) => {
                return Err(AppError::Validation(FieldErrors::from([("call_id", "field.customer_not_on_call")])));
            }
            Some(_) => {}
        }
    }
    let me = cap.actor();
    let payment = NewPayment {
        customer_id: p.customer_id,
        amount: p.amount,
        description: &p.description,
        method: p.method,
        processed_by: Some(me.id),
        call_id: p.call_id,
    };
    let mut tx = db.begin().await?;
    let lowered = register_in(&mut tx, &payment, me, ip).await?;
    tx.commit().await?;
    lowered.announce(ctx).await;
    let payment = get(db, lowered.id).await?;
    Ok(Registered { payment, balance: lowered.balance })
}

/// One payment.
pub async fn get(db: &Db, id: i64) -> AppResult<Payment> {
    let found: Option<Payment> = with_db!(db, |pool| sqlx::query_as(
        "SELECT p.id, p.customer_id, c.name AS customer_name, p.amount_cents, p.method, p.description, \
         p.processed_by, u.full_name AS processed_by_name, p.call_id, p.at \
         FROM payments p JOIN customers c ON c.id = p.customer_id LEFT JOIN users u ON u.id = p.processed_by \
         WHERE p.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await)?;
    found.ok_or(AppError::NotFound)
}

#[cfg(test)]
mod form_tests {
    use super::*;

    fn form(amount: &str, method: &str) -> PaymentForm {
        PaymentForm { customer_id: Some(1), amount: amount.into(), method: method.into(), ..PaymentForm::default() }
    }

    #[test]
    fn amounts_are_exact_positive_and_sane() {
        for (typed, cents) in [("50.00", 5000), ("50,00", 5000), ("50", 5000), ("0,10", 10), (" 12.5 ", 1250)] {
            assert_eq!(form(typed, "cash").parse().map(|p| p.amount.cents()).ok(), Some(cents), "{typed}");
        }
        for (typed, key) in [
            ("0", "field.amount_positive"),
            ("-5", "field.amount_positive"),
            ("1000000.01", "field.amount_too_large"),
            ("5.001", "field.amount_invalid"),
            ("", "field.amount_invalid"),
            ("1e3", "field.amount_invalid"),
        ] {
            assert_eq!(form(typed, "cash").parse().unwrap_err().get("amount"), Some(&key), "{typed}");
        }
        assert_eq!(form("1", "bitcoin").parse().unwrap_err().get("method"), Some(&"field.method_invalid"));
    }
}

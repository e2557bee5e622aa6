//! Payments the assistant proposes: stored as `assistant_actions` rows waiting for
//! their user's confirm click, bound to the exact customer and amount stored with
//! them. Only [`confirm`] executes one, once, for the same user while still a
//! supervisor or admin, within [`EXPIRY`] of the proposal.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{Entry, audit_insert};
use crate::auth::{ApproverCap, Principal};
use crate::context::Ctx;
use crate::customers::payments::{self, NewPayment, PaymentMethod};
use crate::db::{Db, Money, Timestamp, on_tx, with_db};
use crate::error::{AppError, AppResult, Conflict};

/// How long a proposed payment waits for its confirmation.
pub const EXPIRY: time::Duration = time::Duration::minutes(10);

/// A payment about to be proposed.
#[derive(Clone, Debug)]
pub struct Proposal {
    /// Who paid.
    pub customer_id: i64,
    /// Their name, as the confirm button shows it.
    pub customer_name: String,
    /// How much.
    pub amount: Money,
    /// How.
    pub method: PaymentMethod,
    /// What for.
    pub description: String,
}

/// A payment waiting for its user's confirmation.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Pending {
    /// Action id (for confirm and cancel).
    pub id: i64,
    /// Who paid.
    pub customer_id: i64,
    /// Their name.
    pub customer_name: String,
    /// Amount, "50.00".
    pub amount: String,
    /// How.
    pub method: PaymentMethod,
    /// What for.
    pub description: String,
    /// When the proposal lapses.
    pub expires_at: Timestamp,
}

/// The stored parameters besides the bound customer and amount columns.
#[derive(Serialize, Deserialize)]
struct Params {
    customer_name: String,
    amount: String,
    method: PaymentMethod,
    description: String,
}

/// Stores a proposal for the acting user; nothing is paid yet.
pub async fn propose(db: &Db, cap: &ApproverCap<'_>, p: Proposal) -> Result<Pending, sqlx::Error> {
    let me = cap.actor();
    let params = Params {
        customer_name: p.customer_name.clone(),
        amount: p.amount.to_string(),
        method: p.method,
        description: p.description.clone(),
    };
    let params = serde_json::to_string(&params).unwrap_or_default();
    let now = Timestamp::now();
    let id: i64 = with_db!(db, |pool| sqlx::query_scalar(
        "INSERT INTO assistant_actions (user_id, tool, customer_id, amount_cents, params, status, created_at) \
         VALUES ($1, 'register_payment', $2, $3, $4, 'waiting', $5) RETURNING id",
    )
    .bind(me.id)
    .bind(p.customer_id)
    .bind(p.amount)
    .bind(params)
    .bind(now)
    .fetch_one(pool)
    .await)?;
    Ok(Pending {
        id,
        customer_id: p.customer_id,
        customer_name: p.customer_name,
        amount: p.amount.to_string(),
        method: p.method,
        description: p.description,
        expires_at: now.plus(EXPIRY),
    })
}

/// A confirmed payment and what it did to the balance.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Confirmed {
    /// The assistant action confirmed.
    pub action_id: i64,
    /// The payment registered.
    pub payment_id: i64,
    /// Who paid.
    pub customer_id: i64,
    /// Their name.
    pub customer_name: String,
    /// Amount, "50.00".
    pub amount: String,
    /// How.
    pub method: PaymentMethod,
    /// What the customer owes now, "70.50".
    pub balance: String,
}

type ActionRow = (Option<i64>, Option<Money>, String, String, Timestamp);

/// Executes the user's proposal `id` through [`payments::register_in`], like a payment
/// registered by hand (balance, `updated_at`, audit, the open calls told), with the
/// action's status and its own audit entry in the same transaction. Another user's proposal is not found; a
/// decided one is a conflict, as is one older than [`EXPIRY`] (marked expired).
pub async fn confirm(ctx: &Ctx, cap: &ApproverCap<'_>, id: i64, ip: Option<String>) -> AppResult<Confirmed> {
    let db = ctx.db();
    let me = cap.actor();
    let mut tx = db.begin().await?;
    let row: Option<ActionRow> = on_tx!(&mut tx, |conn| sqlx::query_as(
        "SELECT customer_id, amount_cents, params, status, created_at FROM assistant_actions \
         WHERE id = $1 AND user_id = $2 AND tool = 'register_payment'",
    )
    .bind(id)
    .bind(me.id)
    .fetch_optional(&mut *conn)
    .await)?;
    let (customer_id, amount, params, status, created_at) = row.ok_or(AppError::NotFound)?;
    if status != "waiting" {
        return Err(AppError::Conflict(Conflict::ActionAlreadyDecided));
    }
    let now = Timestamp::now();
    if created_at.plus(EXPIRY).unix_seconds() < now.unix_seconds() {
        drop(tx);
        settle(db, me, id, "expired", ip).await?;
        return Err(AppError::Conflict(Conflict::ActionExpired));
    }
    let params: Params =
        serde_json::from_str(&params).map_err(|_| AppError::Conflict(Conflict::ActionParametersInvalid))?;
    let (Some(customer_id), Some(amount)) = (customer_id, amount.filter(|a| a.cents() > 0)) else {
        return Err(AppError::Conflict(Conflict::ActionParametersInvalid));
    };
    let claimed = on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE assistant_actions SET status = 'confirmed', decided_at = $2 WHERE id = $1 AND status = 'waiting'",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    if claimed != 1 {
        return Err(AppError::Conflict(Conflict::ActionAlreadyDecided));
    }
    let payment = NewPayment {
        customer_id,
        amount,
        description: &params.description,
        method: params.method,
        processed_by: Some(me.id),
        call_id: None,
    };
    // The same registration as the payment form's: a customer deactivated since the
    // proposal gets nothing (the whole confirmation rolls back and stays waiting).
    let lowered = payments::register_in(&mut tx, &payment, me, ip.clone()).await?;
    let (payment_id, balance) = (lowered.id, lowered.balance);
    let name: String = on_tx!(&mut tx, |conn| sqlx::query_scalar("SELECT name FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_one(&mut *conn)
        .await)?;
    let result = json!({"payment_id": payment_id, "balance": balance.to_string()}).to_string();
    let entry = Entry::new(Some(me.id), me.username.clone(), "assistant.payment_confirmed")
        .target(format!("customer:{customer_id}"))
        .ip(ip)
        .metadata(json!({
            "action_id": id, "payment_id": payment_id, "amount": amount.to_string(), "method": params.method,
        }));
    on_tx!(&mut tx, |conn| {
        sqlx::query("UPDATE assistant_actions SET result = $2 WHERE id = $1")
            .bind(id)
            .bind(result)
            .execute(&mut *conn)
            .await?;
        audit_insert!(&entry).execute(&mut *conn).await.map(|_| ())
    })?;
    tx.commit().await?;
    lowered.announce(ctx).await;
    Ok(Confirmed {
        action_id: id,
        payment_id,
        customer_id,
        customer_name: name,
        amount: amount.to_string(),
        method: params.method,
        balance: balance.to_string(),
    })
}

/// Cancels the user's waiting proposal `id`; nothing is paid.
pub async fn cancel(db: &Db, who: &Principal, id: i64, ip: Option<String>) -> AppResult<()> {
    let status: Option<String> =
        with_db!(db, |pool| sqlx::query_scalar("SELECT status FROM assistant_actions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(who.id)
            .fetch_optional(pool)
            .await)?;
    match status.as_deref() {
        None => Err(AppError::NotFound),
        Some("waiting") if settle(db, who, id, "cancelled", ip).await? => Ok(()),
        Some(_) => Err(AppError::Conflict(Conflict::ActionAlreadyDecided)),
    }
}

/// Moves a waiting action to `status` (cancelled or expired) with its audit entry;
/// false when it was no longer waiting.
async fn settle(db: &Db, who: &Principal, id: i64, status: &'static str, ip: Option<String>) -> AppResult<bool> {
    let action = if status == "expired" { "assistant.payment_expired" } else { "assistant.payment_cancelled" };
    let entry = Entry::new(Some(who.id), who.username.clone(), action).target(format!("assistant_action:{id}")).ip(ip);
    let mut tx = db.begin().await?;
    let changed = on_tx!(&mut tx, |conn| sqlx::query(
        "UPDATE assistant_actions SET status = $2, decided_at = $3 WHERE id = $1 AND status = 'waiting'"
    )
    .bind(id)
    .bind(status)
    .bind(Timestamp::now())
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    if changed == 1 {
        on_tx!(&mut tx, |conn| audit_insert!(&entry).execute(&mut *conn).await.map(|_| ()))?;
    }
    tx.commit().await?;
    Ok(changed == 1)
}

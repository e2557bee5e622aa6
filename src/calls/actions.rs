//! Actions the AI asked for but may not take: they wait here until a supervisor or
//! admin approves or rejects them. Approval executes the stored parameters — exactly
//! those, exactly once: the decision is a conditional `UPDATE ... WHERE decision IS
//! NULL` in the same transaction as the effect, so a second approval (another tab,
//! another node) finds nothing to decide.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit::Entry;
use crate::audit::audit_insert;
use crate::auth::ApproverCap;
use crate::context::Ctx;
use crate::customers::payments::{self, NewPayment, PaymentMethod};
use crate::db::{Db, Money, Timestamp};
use crate::db::{Tx, on_tx, with_db};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};
use crate::events::Payload;

/// A stored pending action.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct PendingAction {
    /// Id.
    pub id: i64,
    /// The call it came from.
    pub call_id: Option<i64>,
    /// The customer it concerns.
    pub customer_id: i64,
    /// The customer's name.
    pub customer_name: String,
    /// What to do (`register_payment`).
    pub tool: String,
    /// The exact parameters, as JSON text.
    pub params: String,
    /// When the AI asked.
    pub requested_at: Timestamp,
    /// approved or rejected, once decided.
    pub decision: Option<String>,
    /// Who decided.
    pub decided_by_name: Option<String>,
    /// When.
    pub decided_at: Option<Timestamp>,
    /// What the execution produced (JSON text), after approval.
    pub result: Option<String>,
}

macro_rules! action_select {
    () => {
        "SELECT a.id, a.call_id, a.customer_id, c.name AS customer_name, a.tool, a.params, a.requested_at, a.decision, \
         u.full_name AS decided_by_name, a.decided_at, a.result \
         FROM pending_actions a JOIN customers c ON c.id = a.customer_id LEFT JOIN users u ON u.id = a.decided_by "
    };
}

impl PendingAction {
    /// The parameters as JSON.
    pub fn params_json(&self) -> Value {
        serde_json::from_str(&self.params).unwrap_or(Value::Null)
    }

    /// Amount, method and description of a payment registration, for display.
    pub fn payment(&self) -> Option<PaymentParams> {
        serde_json::from_str(&self.params).ok()
    }
}

/// The parameters of `register_payment`, exactly as the tool stored them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentParams {
    /// Whose payment.
    pub customer_id: i64,
    /// Decimal amount (`25.50`).
    pub amount: String,
    /// cash, card, transfer or check.
    pub method: String,
    /// What the customer said it was for.
    pub description: String,
    /// What the customer paid in when it was not euros ("USD", "pesos"): the person
    /// approving enters the amount in euros that reached the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// Open actions first (oldest first), then the 50 most recently decided.
pub async fn list(db: &Db, open_only: bool) -> AppResult<Vec<PendingAction>> {
    let open: Vec<PendingAction> =
        with_db!(db, |pool| sqlx::query_as(concat!(action_select!(), "WHERE a.decision IS NULL ORDER BY a.id"))
            .fetch_all(pool)
            .await)?;
    if open_only {
        return Ok(open);
    }
    let decided: Vec<PendingAction> = with_db!(db, |pool| sqlx::query_as(concat!(
        action_select!(),
        "WHERE a.decision IS NOT NULL ORDER BY a.decided_at DESC, a.id DESC LIMIT 50"
    ))
    .fetch_all(pool)
    .await)?;
    Ok(open.into_iter().chain(decided).collect())
}

/// The actions of one call, oldest first.
pub async fn for_call(db: &Db, call_id: i64) -> AppResult<Vec<PendingAction>> {
    Ok(with_db!(db, |pool| sqlx::query_as(concat!(action_select!(), "WHERE a.call_id = $1 ORDER BY a.id"))
        .bind(call_id)
        .fetch_all(pool)
        .await)?)
}

/// The actions a call's turn requested (since `since`).
pub async fn requested_since(db: &Db, call_id: i64, since: Timestamp) -> AppResult<Vec<PendingAction>> {
    Ok(with_db!(db, |pool| sqlx::query_as(concat!(
        action_select!(),
        "WHERE a.call_id = $1 AND a.requested_at >= $2 ORDER BY a.id"
    ))
    .bind(call_id)
    .bind(since)
    .fetch_all(pool)
    .await)?)
}

/// [`requested_since`] inside the caller's transaction.
pub async fn requested_since_in(
    tx: &mut Tx,
    call_id: i64,
    since: Timestamp,
) -> Result<Vec<PendingAction>, sqlx::Error> {
    on_tx!(tx, |conn| sqlx::query_as(concat!(
        action_select!(),
        "WHERE a.call_id = $1 AND a.requested_at >= $2 ORDER BY a.id"
    ))
    .bind(call_id)
    .bind(since)
    .fetch_all(&mut *conn)
    .await)
}

/// One action.
pub async fn get(db: &Db, id: i64) -> AppResult<PendingAction> {
    let found: Option<PendingAction> =
        with_db!(db, |pool| sqlx::query_as(concat!(action_select!(), "WHERE a.id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await)?;
    found.ok_or(AppError::NotFound)
}

/// Approves and executes an action, once. A payment the customer made in another
/// currency needs `amount_eur`, the amount in euros that reached the account; any
/// other action takes none.
pub async fn approve(
    ctx: &Ctx,
    cap: &ApproverCap<'_>,
    id: i64,
    amount_eur: Option<&str>,
    ip: Option<String>,
) -> AppResult<PendingAction> {
    decide(ctx, cap, id, Some(amount_eur), ip).await
}

/// Rejects an action; nothing is executed.
pub async fn reject(ctx: &Ctx, cap: &ApproverCap<'_>, id: i64, ip: Option<String>) -> AppResult<PendingAction> {
    decide(ctx, cap, id, None, ip).await
}

/// The amount to register for an approved payment request: the stored one, or for a
/// payment made in another currency the amount in euros the approver entered.
fn amount_to_register(params: &PaymentParams, amount_eur: Option<&str>) -> AppResult<Money> {
    let entered = amount_eur.map(str::trim).filter(|a| !a.is_empty());
    let field = |message: &'static str| AppError::Validation(FieldErrors::from([("amount_eur", message)]));
    match (&params.currency, entered) {
        (None, None) => Money::parse(&params.amount)
            .filter(|m| m.cents() > 0)
            .ok_or(AppError::Conflict(Conflict::ActionParametersInvalid)),
        (None, Some(_)) => Err(field("field.amount_eur_not_needed")),
        (Some(_), None) => Err(field("field.amount_eur_required")),
        (Some(_), Some(entered)) => match Money::parse(entered) {
            Some(m) if m.cents() <= 0 => Err(field("field.amount_positive")),
            Some(m) if m > crate::customers::payments::MAX_AMOUNT => Err(field("field.amount_too_large")),
            Some(m) => Ok(m),
            None => Err(field("field.amount_invalid")),
        },
    }
}

/// `approve` is `Some(amount in euros, if any)` to approve, `None` to reject.
async fn decide(
    ctx: &Ctx,
    cap: &ApproverCap<'_>,
    id: i64,
    approve: Option<Option<&str>>,
    ip: Option<String>,
) -> AppResult<PendingAction> {
    let me = cap.actor();
    let action = get(ctx.db(), id).await?;
    if action.decision.is_some() {
        return Err(AppError::Conflict(Conflict::ActionAlreadyDecided));
    }
    let decision = if approve.is_some() { "approved" } else { "rejected" };
    let payment = if let Some(amount_eur) = approve {
        match action.tool.as_str() {
            "register_payment" => {
                let mut params = action.payment().ok_or(AppError::Conflict(Conflict::ActionParametersInvalid))?;
                let amount = amount_to_register(&params, amount_eur)?;
                if let Some(currency) = &params.currency {
                    // The payment keeps what the customer paid beside what it is worth here.
                    let said: String = format!("{} {currency} · {}", params.amount, params.description);
                    params.description = said.chars().take(200).collect();
                }
                let method = PaymentMethod::parse(&params.method);
                match method {
                    Some(method) if params.customer_id == action.customer_id => Some((params, amount, method)),
                    _ => return Err(AppError::Conflict(Conflict::ActionParametersInvalid)),
                }
            }
            _ => return Err(AppError::Conflict(Conflict::ActionUnknown)),
        }
    } else {
        None
    };
    let now = Timestamp::now();
    let entry = Entry::new(
        Some(me.id),
        me.username.clone(),
        if approve.is_some() { "action.approve" } else { "action.reject" },
    )
    .target(format!("action:{id}"))
    .ip(ip.clone())
    .metadata(json!({"tool": action.tool, "params": action.params_json(), "call_id": action.call_id}));
    let mut lowered = None;
    let mut tx = ctx.db().begin().await?;
    let claimed = on_tx!(&mut tx, |conn| {
        sqlx::query(
        "UPDATE pending_actions SET decision = $2, decided_by = $3, decided_at = $4 WHERE id = $1 AND decision IS NULL",
    )
    .bind(id)
    .bind(decision)
    .bind(me.id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected())
    })?;
    if claimed == 1 {
        if let Some((params, amount, method)) = &payment {
            let payment = NewPayment {
                customer_id: params.customer_id,
                amount: *amount,
                description: &params.description,
                method: *method,
                processed_by: Some(me.id),
                call_id: None,
            };
            let done = payments::register_in(&mut tx, &payment, me, ip).await?;
            lowered = Some(done);
            on_tx!(&mut tx, |conn| sqlx::query("UPDATE pending_actions SET result = $2 WHERE id = $1")
                .bind(id)
                .bind(json!({"payment_id": done.id, "amount": amount.to_string()}).to_string())
                .execute(&mut *conn)
                .await
                .map(|_| ()))?;
        }
        on_tx!(&mut tx, |conn| audit_insert!(&entry).execute(&mut *conn).await.map(|_| ()))?;
    }
    tx.commit().await?;
    if claimed != 1 {
        return Err(AppError::Conflict(Conflict::ActionAlreadyDecided));
    }
    if let Some(lowered) = lowered {
        lowered.announce(ctx).await;
    }
    let decided = get(ctx.db(), id).await?;
    let payload = Payload::ActionDecided {
        action_id: id,
        decision,
        by: me.full_name.clone(),
        tool: decided.tool.clone(),
        result: decided.result.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok()),
    };
    ctx.bus().emit(decided.call_id, payload).await;
    Ok(decided)
}

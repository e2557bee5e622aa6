//! Payments: money a customer paid, which lowers what they owe.

use crate::db::{Db, Money, Timestamp, Tx, id_enum, on_tx, with_db};

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
}

/// Registers a payment inside the caller's transaction and lowers the customer's
/// balance by its amount in the same transaction (the balance is what the customer
/// owes); returns the payment's id.
pub async fn register_in(tx: &mut Tx, p: &NewPayment<'_>) -> Result<i64, sqlx::Error> {
    on_tx!(tx, |conn| {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO payments (customer_id, amount_cents, description, method, processed_by, at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(p.customer_id)
        .bind(p.amount)
        .bind(p.description)
        .bind(p.method.as_str())
        .bind(p.processed_by)
        .bind(Timestamp::now())
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query("UPDATE customers SET balance_cents = balance_cents - $2 WHERE id = $1")
            .bind(p.customer_id)
            .bind(p.amount)
            .execute(&mut *conn)
            .await?;
        Ok(id)
    })
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

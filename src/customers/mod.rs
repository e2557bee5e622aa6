//! Customers and what is on their record: contact details, identity (verified records
//! and visitors' unverified claims), tickets and payments.
//!
//! Every write to `customers`, `tickets` and `payments` goes through this module (the
//! agents' tools, staff approvals, the call pages, the API and the demo seed call it);
//! reads that join these tables for a list or a report may live where they are used.

pub mod bulk;
pub mod contact;
pub mod history;
pub mod identity;
pub mod payments;
pub mod records;
pub mod tickets;

pub use identity::{
    CustomerInput, NewCustomer, check_customer, confirm_claim, customer_identity, link_public_customer,
    resolve_customer, store_customer,
};

use crate::db::{Db, Money, Timestamp, with_db};

/// A demo or imported customer: added when no record holds the email yet.
pub async fn insert_if_absent(db: &Db, c: &NewCustomer, balance: Money) -> Result<bool, sqlx::Error> {
    let added = with_db!(db, |pool| {
        sqlx::query(
        "INSERT INTO customers (name, email, phone, balance_cents, active, created_at) VALUES ($1, $2, $3, $4, TRUE, $5) \
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(&c.name)
    .bind(c.email.as_str())
    .bind(c.phone.as_ref().map(contact::Phone::as_str))
    .bind(balance)
    .bind(Timestamp::now())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(added == 1)
}

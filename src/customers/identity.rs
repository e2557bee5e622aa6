//! Who the caller is: the details a call starts with, and the customer record they
//! link to. Staff vouch for the customers they enter; a visitor on the public page
//! only claims an identity, which stays unverified until staff confirm it.

use super::contact::{EmailAddress, Phone};
use crate::audit::Entry;
use crate::audit::audit_insert;
use crate::auth::AgentCap;
use crate::db::{Db, Money, Timestamp};
use crate::db::{Tx, on_tx, with_db, with_tx};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};
use crate::users::input::parse_full_name;

/// Customer details given when a call starts.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Email (the key: an existing customer with it is reused).
    #[serde(default)]
    pub email: String,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
}

/// A customer's details, checked.
#[derive(Clone, Debug)]
pub struct NewCustomer {
    /// Name.
    pub name: String,
    /// Email address.
    pub email: EmailAddress,
    /// Phone, if given.
    pub phone: Option<Phone>,
}

/// Checks the details given when a call starts.
pub fn check_customer(input: &CustomerInput) -> AppResult<NewCustomer> {
    let mut errors = FieldErrors::new();
    let email = EmailAddress::parse(&input.email);
    if email.is_none() {
        errors.insert("customer.email", "field.email_invalid");
    }
    let name = parse_full_name(&input.name);
    if name.is_none() {
        errors.insert("customer.name", "field.full_name_invalid");
    }
    let typed = input.phone.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let phone = typed.and_then(Phone::parse);
    if typed.is_some() && phone.is_none() {
        errors.insert("customer.phone", "field.phone_invalid");
    }
    match (email, name) {
        (Some(email), Some(name)) if errors.is_empty() => Ok(NewCustomer { name, email, phone }),
        _ => Err(AppError::Validation(errors)),
    }
}

/// Finds the customer with this email or creates one (staff-started calls: staff
/// vouch for who the caller is).
///
/// A record first made from the public page is only a visitor's claim. Staff using
/// its email confirm it when they enter the same name and phone. Otherwise the claim
/// is retired (deactivated, its email set aside) together with the links of its public
/// calls, and a new verified record is made from staff's details: whoever made the
/// claim cannot see what is later done for the real customer, and what the claim's
/// calls filed (tickets, payment requests) does not land on the real customer.
pub async fn store_customer(db: &Db, c: &NewCustomer) -> AppResult<i64> {
    let (id, verified, name, phone) = insert_verified(db, c).await?;
    if verified {
        return Ok(id);
    }
    let same_phone = match (&c.phone, &phone) {
        (Some(given), Some(claimed)) => given.same_number(claimed),
        _ => false,
    };
    let same_name = name.trim().to_lowercase() == c.name.trim().to_lowercase();
    if same_phone && same_name {
        with_db!(db, |pool| sqlx::query("UPDATE customers SET verified = TRUE WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        return Ok(id);
    }
    let retired = format!("{}#unverified-claim-{id}", c.email.as_str());
    with_tx!(db, |tx| {
        // Only an unverified row is retired: staff racing each other retire it once.
        sqlx::query("UPDATE customers SET email = $2, active = FALSE WHERE id = $1 AND verified = FALSE")
            .bind(id)
            .bind(&retired)
            .execute(&mut *tx)
            .await?;
        // The claim's calls keep what the visitor typed (contact name and email)
        // and lose the link, like any public call that could not be verified.
        sqlx::query("UPDATE calls SET customer_id = NULL WHERE customer_id = $1 AND access_hash IS NOT NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Ok::<(), sqlx::Error>(())
    })?;
    let (id, _, _, _) = insert_verified(db, c).await?;
    Ok(id)
}

/// Inserts a verified record for `c`, or finds the one holding its email: (id,
/// verified, name, phone) of the row now holding it.
async fn insert_verified(db: &Db, c: &NewCustomer) -> AppResult<(i64, bool, String, Option<String>)> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as(
        "INSERT INTO customers (name, email, phone, balance_cents, active, verified, created_at) VALUES ($1, $2, $3, $4, TRUE, TRUE, $5) \
         ON CONFLICT (email) DO UPDATE SET email = excluded.email RETURNING id, verified, name, phone",
    )
    .bind(&c.name)
    .bind(c.email.as_str())
    .bind(c.phone.as_ref().map(Phone::as_str))
    .bind(Money::from_cents(0))
    .bind(Timestamp::now())
    .fetch_one(pool)
    .await
    })?)
}

/// Creates an unverified customer record from what a public visitor typed.
async fn store_claim(tx: &mut Tx, c: &NewCustomer) -> Result<Option<i64>, sqlx::Error> {
    on_tx!(tx, |conn| {
        sqlx::query_scalar(
        "INSERT INTO customers (name, email, phone, balance_cents, active, verified, created_at) VALUES ($1, $2, $3, $4, TRUE, FALSE, $5) \
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(&c.name)
    .bind(c.email.as_str())
    .bind(c.phone.as_ref().map(Phone::as_str))
    .bind(Money::from_cents(0))
    .bind(Timestamp::now())
    .fetch_optional(&mut *conn)
    .await
    })
}

/// The customer record a caller from the public page may act as. Typing someone's
/// email must not open their account: a new address gets a new record, kept as an
/// unverified claim; a known one links only when the phone number on file matches
/// too. Otherwise the call runs unlinked (the AI can read no customer data) and staff
/// see what was claimed. Runs in `tx`, the call's own transaction: a visitor whose
/// request is cut off leaves no claim without its call.
pub async fn link_public_customer(tx: &mut Tx, c: &NewCustomer) -> Result<Option<i64>, sqlx::Error> {
    if let Some(known) = known_by_email(tx, c).await? {
        return Ok(known.linked_with(c));
    }
    match store_claim(tx, c).await? {
        Some(id) => Ok(Some(id)),
        // Two visitors racing with one new address (or one visitor's double submit):
        // the other's claim committed first, and is judged as any known record.
        None => Ok(known_by_email(tx, c).await?.and_then(|known| known.linked_with(c))),
    }
}

/// A customer record found by a visitor's email: its id and the phone on file.
struct Known(i64, Option<String>);

impl Known {
    /// The record, when the visitor also gave the phone number on file.
    fn linked_with(self, c: &NewCustomer) -> Option<i64> {
        let Self(id, on_file) = self;
        let on_file = on_file?;
        c.phone.as_ref().is_some_and(|given| given.same_number(&on_file)).then_some(id)
    }
}

async fn known_by_email(tx: &mut Tx, c: &NewCustomer) -> Result<Option<Known>, sqlx::Error> {
    let row: Option<(i64, Option<String>)> =
        on_tx!(tx, |conn| sqlx::query_as("SELECT id, phone FROM customers WHERE email = $1")
            .bind(c.email.as_str())
            .fetch_optional(&mut *conn)
            .await)?;
    Ok(row.map(|(id, phone)| Known(id, phone)))
}

/// A customer's name and whether staff have confirmed who they are.
pub async fn customer_identity(db: &Db, customer_id: i64) -> AppResult<Option<(String, bool)>> {
    Ok(with_db!(db, |pool| sqlx::query_as("SELECT name, verified FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_optional(pool)
        .await)?)
}

/// Finds or creates the customer for a new call. A record picked by id must be a
/// verified one: a visitor's unconfirmed claim is confirmed (or set aside) only by
/// giving the customer's details, which are checked against it.
pub async fn resolve_customer(
    db: &Db,
    customer_id: Option<i64>,
    input: Option<&CustomerInput>,
) -> AppResult<Option<i64>> {
    if let Some(id) = customer_id {
        let found: Option<bool> =
            with_db!(db, |pool| sqlx::query_scalar("SELECT verified FROM customers WHERE id = $1 AND active = TRUE")
                .bind(id)
                .fetch_optional(pool)
                .await)?;
        return match found {
            Some(true) => Ok(Some(id)),
            Some(false) => Err(AppError::Validation(FieldErrors::from([("customer_id", "field.customer_unverified")]))),
            None => Err(AppError::Validation(FieldErrors::from([("customer_id", "field.customer_unknown")]))),
        };
    }
    let Some(input) = input else { return Ok(None) };
    store_customer(db, &check_customer(input)?).await.map(Some)
}

/// A staff member confirms that a visitor's claim is the customer (they checked who
/// the caller is): the record becomes verified, in one transaction with the audit
/// entry. 409 when it is not an open claim (already verified, or retired).
pub async fn confirm_claim(db: &Db, cap: &AgentCap<'_>, customer_id: i64, ip: Option<String>) -> AppResult<()> {
    let me = cap.actor();
    let entry = Entry::new(Some(me.id), me.username.clone(), "customer.verify")
        .target(format!("customer:{customer_id}"))
        .ip(ip);
    let changed = with_tx!(db, |tx| {
        let changed =
            sqlx::query("UPDATE customers SET verified = TRUE WHERE id = $1 AND verified = FALSE AND active = TRUE")
                .bind(customer_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if changed == 1 {
            audit_insert!(&entry).execute(&mut *tx).await?;
        }
        Ok::<u64, sqlx::Error>(changed)
    })?;
    if changed == 0 {
        return Err(AppError::Conflict(Conflict::CustomerNotAClaim));
    }
    Ok(())
}

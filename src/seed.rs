//! Demo data for trying Centralita: one account per role and a few customers. Safe to
//! run twice: existing rows are left as they are.

use std::fmt::Write;

use crate::audit::Entry;
use crate::auth::password;
use crate::db::with_db;
use crate::db::{Db, Money, Timestamp};
use crate::error::AppError;
use crate::users::{self, input::NewUserForm};

const DEMO_USERS: &[(&str, &str, &str, &str)] = &[
    ("sofia", "Sofía Martín", "supervisor", "es"),
    ("ana", "Ana García", "agent", "es"),
    ("liam", "Liam Carter", "agent", "en"),
    ("victor", "Víctor Ruiz", "viewer", "es"),
];

const DEMO_CUSTOMERS: &[(&str, &str, &str, i64)] = &[
    ("María López", "maria.lopez@example.com", "+34 600 111 222", 12_550),
    ("Jorge Fernández", "jorge.fernandez@example.com", "+34 600 333 444", -4_990),
    ("Emily Johnson", "emily.johnson@example.com", "+1 555 0100", 0),
    ("Camila Rojas", "camila.rojas@example.com", "+56 9 5555 0101", 250_000),
    ("Tom Baker", "tom.baker@example.com", "+44 20 7946 0000", 1_999),
];

/// Inserts the demo rows and returns a printable report (with new passwords).
pub async fn seed_demo(db: &Db) -> anyhow::Result<String> {
    let mut report = String::new();
    for (username, full_name, role, language) in DEMO_USERS {
        let pw = password::generate();
        let form = NewUserForm {
            username: (*username).into(),
            email: format!("{username}@centralita.local"),
            full_name: (*full_name).into(),
            role: (*role).into(),
            language: (*language).into(),
            password: pw.clone(),
            csrf_token: None,
        };
        let new = form.parse().map_err(|e| anyhow::anyhow!("demo user {username}: {e:?}"))?;
        match users::insert(db, &new, false, &Entry::new(None, "system", "user.create")).await {
            Ok(_) => {
                let _ = writeln!(report, "user {username:<8} role {role:<10} password {pw}");
            }
            Err(AppError::Validation(_)) => {
                let _ = writeln!(report, "user {username:<8} already exists (left unchanged)");
            }
            Err(e) => return Err(anyhow::anyhow!("demo user {username}: {e}")),
        }
    }
    let mut added = 0;
    for (name, email, phone, cents) in DEMO_CUSTOMERS {
        let done = with_db!(db, |pool| {
            sqlx::query(
            "INSERT INTO customers (name, email, phone, balance_cents, active, created_at) VALUES ($1, $2, $3, $4, TRUE, $5) ON CONFLICT (email) DO NOTHING",
        )
        .bind(*name)
        .bind(*email)
        .bind(*phone)
        .bind(Money::from_cents(*cents))
        .bind(Timestamp::now())
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        })?;
        added += done;
    }
    let _ = writeln!(report, "customers added: {added} (of {})", DEMO_CUSTOMERS.len());
    let (tickets, payments) = seed_history(db).await?;
    let _ = writeln!(report, "tickets added: {tickets}, payments added: {payments}");
    Ok(report)
}

/// Demo tickets and payments for the demo customers that have none yet.
async fn seed_history(db: &Db) -> anyhow::Result<(u64, u64)> {
    const TICKETS: &[(&str, &str, &str, &str, &str)] = &[
        (
            "maria.lopez@example.com",
            "Router se reinicia solo",
            "El router se reinicia varias veces al día.",
            "open",
            "medium",
        ),
        (
            "jorge.fernandez@example.com",
            "Cobro duplicado en octubre",
            "El cliente indica un cargo repetido.",
            "in_progress",
            "high",
        ),
        (
            "emily.johnson@example.com",
            "Slow broadband in the evenings",
            "Speed drops below 10 Mb after 8 pm.",
            "resolved",
            "low",
        ),
        ("tom.baker@example.com", "No dial tone on landline", "Landline silent since Monday.", "open", "high"),
    ];
    const PAYMENTS: &[(&str, i64, &str, &str)] = &[
        ("maria.lopez@example.com", 4_990, "Cuota mensual octubre", "card"),
        ("maria.lopez@example.com", 4_990, "Cuota mensual noviembre", "card"),
        ("jorge.fernandez@example.com", 2_500, "Pago parcial", "transfer"),
        ("emily.johnson@example.com", 3_500, "Monthly fee", "card"),
        ("camila.rojas@example.com", 10_000, "Adelanto", "cash"),
    ];
    let mut added = (0, 0);
    for (email, title, description, status, priority) in TICKETS {
        added.0 += with_db!(db, |pool| sqlx::query(
            "INSERT INTO tickets (customer_id, title, description, status, priority, created_at) \
             SELECT c.id, $2, $3, $4, $5, $6 FROM customers c WHERE c.email = $1 \
             AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.customer_id = c.id AND t.title = $2)",
        )
        .bind(*email)
        .bind(*title)
        .bind(*description)
        .bind(*status)
        .bind(*priority)
        .bind(Timestamp::now())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    }
    for (email, cents, description, method) in PAYMENTS {
        added.1 += with_db!(db, |pool| sqlx::query(
            "INSERT INTO payments (customer_id, amount_cents, description, method, processed_by, at) \
             SELECT c.id, $2, $3, $4, NULL, $5 FROM customers c WHERE c.email = $1 \
             AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = c.id AND p.description = $3)",
        )
        .bind(*email)
        .bind(Money::from_cents(*cents))
        .bind(*description)
        .bind(*method)
        .bind(Timestamp::now())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(added)
}

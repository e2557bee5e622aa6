//! Demo data for trying Centralita: one account per role (and a few more agents), a few
//! customers, and weeks of history (`history.rs`) so the reports page has something to
//! show. Safe to run twice: existing rows are left as they are.

pub mod history;
mod random;
mod texts;

use std::fmt::Write;

use crate::agents::Priority;
use crate::audit::Entry;
use crate::auth::password;
use crate::customers::payments::{self, NewPayment, PaymentMethod};
use crate::customers::tickets::{self, NewTicket, TicketStatus};
use crate::customers::{self, CustomerInput};
use crate::db::{Db, Money};
use crate::error::AppError;
use crate::users::{self, input::NewUserForm};
pub use history::HistoryPlan;

const DEMO_USERS: &[(&str, &str, &str, &str)] = &[
    ("sofia", "Sofía Martín", "supervisor", "es"),
    ("ana", "Ana García", "agent", "es"),
    ("liam", "Liam Carter", "agent", "en"),
    ("lucia", "Lucía Torres", "agent", "es"),
    ("noah", "Noah Evans", "agent", "en"),
    ("victor", "Víctor Ruiz", "viewer", "es"),
];

const DEMO_CUSTOMERS: &[(&str, &str, &str, i64)] = &[
    ("María López", "maria.lopez@example.com", "+34 600 111 222", 12_550),
    ("Jorge Fernández", "jorge.fernandez@example.com", "+34 600 333 444", -4_990),
    ("Emily Johnson", "emily.johnson@example.com", "+1 555 0100", 0),
    ("Camila Rojas", "camila.rojas@example.com", "+56 9 5555 0101", 250_000),
    ("Tom Baker", "tom.baker@example.com", "+44 20 7946 0000", 1_999),
];

/// Inserts the demo rows with six weeks of history and returns a printable report
/// (with new passwords).
pub async fn seed_demo(db: &Db) -> anyhow::Result<String> {
    seed_demo_with(db, HistoryPlan::default()).await
}

/// [`seed_demo`] with a chosen amount of history (the reports benchmark seeds 100,000
/// calls this way; none at all with `calls: 0`).
pub async fn seed_demo_with(db: &Db, plan: HistoryPlan) -> anyhow::Result<String> {
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
        let input = CustomerInput { name: (*name).into(), email: (*email).into(), phone: Some((*phone).into()) };
        let customer =
            customers::check_customer(&input).map_err(|e| anyhow::anyhow!("demo customer {email}: {e:?}"))?;
        added += u64::from(customers::insert_if_absent(db, &customer, Money::from_cents(*cents)).await?);
    }
    let _ = writeln!(report, "customers added: {added} (of {})", DEMO_CUSTOMERS.len());
    let (tickets, payments) = seed_history(db).await?;
    let _ = writeln!(report, "tickets added: {tickets}, payments added: {payments}");
    if plan.calls == 0 {
        return Ok(report);
    }
    match history::seed_history(db, plan).await? {
        Some(h) => {
            let _ = writeln!(
                report,
                "history added: {} calls over {} days ({} messages, {} agent steps, {} tickets, {} payments, {} more customers)",
                h.calls, plan.days, h.messages, h.runs, h.tickets, h.payments, h.customers
            );
        }
        None => {
            let _ = writeln!(report, "history already present (left unchanged)");
        }
    }
    Ok(report)
}

/// Demo tickets and payments for the demo customers that have none yet.
async fn seed_history(db: &Db) -> anyhow::Result<(u64, u64)> {
    const TICKETS: &[(&str, &str, &str, TicketStatus, Priority)] = &[
        (
            "maria.lopez@example.com",
            "Router se reinicia solo",
            "El router se reinicia varias veces al día.",
            TicketStatus::Open,
            Priority::Medium,
        ),
        (
            "jorge.fernandez@example.com",
            "Cobro duplicado en octubre",
            "El cliente indica un cargo repetido.",
            TicketStatus::InProgress,
            Priority::High,
        ),
        (
            "emily.johnson@example.com",
            "Slow broadband in the evenings",
            "Speed drops below 10 Mb after 8 pm.",
            TicketStatus::Resolved,
            Priority::Low,
        ),
        (
            "tom.baker@example.com",
            "No dial tone on landline",
            "Landline silent since Monday.",
            TicketStatus::Open,
            Priority::High,
        ),
    ];
    const PAYMENTS: &[(&str, i64, &str, PaymentMethod)] = &[
        ("maria.lopez@example.com", 4_990, "Cuota mensual octubre", PaymentMethod::Card),
        ("maria.lopez@example.com", 4_990, "Cuota mensual noviembre", PaymentMethod::Card),
        ("jorge.fernandez@example.com", 2_500, "Pago parcial", PaymentMethod::Transfer),
        ("emily.johnson@example.com", 3_500, "Monthly fee", PaymentMethod::Card),
        ("camila.rojas@example.com", 10_000, "Adelanto", PaymentMethod::Cash),
    ];
    let mut added = (0, 0);
    for (email, title, description, status, priority) in TICKETS {
        let ticket = NewTicket { customer_id: 0, title, description, status: *status, priority: *priority };
        added.0 += u64::from(tickets::open_once_for(db, email, &ticket).await?);
    }
    for (email, cents, description, method) in PAYMENTS {
        let payment = NewPayment {
            customer_id: 0,
            amount: Money::from_cents(*cents),
            description,
            method: *method,
            processed_by: None,
            call_id: None,
        };
        added.1 += u64::from(payments::record_past_once_for(db, email, &payment).await?);
    }
    Ok(added)
}

//! The customer-service agent's tools: typed, validated, and scoped to the caller.
//!
//! Who the caller is comes from the call ([`CallerScope`]), never from model output:
//! no tool takes a customer id, and unknown argument fields are rejected. Tools with
//! side effects on money do not act; they file a pending action that a person with the
//! right role approves (OWASP LLM06).

use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::{Arc, LazyLock};

use super::model::ToolCall;
pub use super::model::{ToolName, ToolSpec};
use crate::customers::tickets::{self, NewTicket, TicketStatus};
use crate::db::{Db, Money, Timestamp};
use crate::db::{with_db, with_tx};

/// The caller a turn runs for, taken from the call record.
#[derive(Clone, Copy, Debug)]
pub struct CallerScope {
    /// The call.
    pub call_id: i64,
    /// The caller's customer record, when the call is linked to one.
    pub customer_id: Option<i64>,
}

/// What the tools of one run may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolAccess {
    /// A customer turn: reading, opening tickets, asking for payments to be approved.
    Full,
    /// A draft for a person (the suggested reply): reading only. Tools that would act
    /// are neither offered nor run, whatever a model asks for.
    ReadOnly,
}

/// True for tools that change something (a ticket opened, a pending action filed).
pub fn acts(tool: ToolName) -> bool {
    match tool {
        ToolName::CreateTicket | ToolName::RequestPaymentRegistration => true,
        ToolName::GetCustomerProfile | ToolName::GetBalance | ToolName::ListTickets | ToolName::ListPayments => false,
    }
}

/// The tools of `offered` that `access` allows.
pub fn allowed(offered: Vec<ToolSpec>, access: ToolAccess) -> Vec<ToolSpec> {
    match access {
        ToolAccess::Full => offered,
        ToolAccess::ReadOnly => {
            offered.into_iter().filter(|t| t.name.parse::<ToolName>().is_ok_and(|n| !acts(n))).collect()
        }
    }
}

/// What running a tool produced.
#[derive(Clone, Debug)]
pub struct ToolOutcome {
    /// JSON result handed back to the model.
    pub result: Value,
    /// False when the tool refused or failed.
    pub ok: bool,
}

impl ToolOutcome {
    fn ok(result: Value) -> Self {
        Self { result, ok: true }
    }
    fn err(message: &str) -> Self {
        Self { result: json!({ "error": message }), ok: false }
    }
}

/// The tools worth offering for a routed topic: fewer tool schemas in the prompt means
/// fewer tokens and fewer wrong turns. Unknown topics get the read-only basics.
pub fn for_category(category: &str) -> Vec<ToolSpec> {
    use ToolName::*;
    let names: &[ToolName] = match category {
        "balance_inquiry" | "payment" | "payment_history" | "refund" | "charge_dispute" | "invoice" => {
            &[GetBalance, ListPayments, RequestPaymentRegistration]
        }
        "ticket_status" | "technical_issue" | "service_outage" | "account_access" | "how_to" | "account_update" => {
            &[ListTickets, CreateTicket]
        }
        "formal_complaint" | "service_complaint" | "staff_complaint" => &[CreateTicket, ListTickets],
        "human_request" | "security" | "greeting" | "thanks" | "feedback" => &[],
        _ => &[GetCustomerProfile, GetBalance, ListTickets],
    };
    specs().iter().filter(|t| names.iter().any(|n| n.as_str() == t.name)).cloned().collect()
}

/// The tools worth offering for a routed message: the topic's, plus any the routing
/// recommends for another part of the request (`use_tool:get_balance`).
pub fn for_classification(c: &crate::agents::Classification) -> Vec<ToolSpec> {
    let mut offered = for_category(&c.category);
    for spec in specs() {
        let recommended = c.recommendations.iter().any(|r| r.strip_prefix("use_tool:") == Some(spec.name));
        if recommended && !offered.iter().any(|o| o.name == spec.name) {
            offered.push(spec.clone());
        }
    }
    offered
}

/// Every tool the service agent can be offered. The system prompt says every tool works
/// on the caller's own data, so names that say what a tool does go without a
/// description (an empty one is not sent), and tools without arguments without a
/// parameter schema: each costs prompt tokens on every service request. Arguments are
/// checked here whatever the schema says (unknown fields are refused).
pub fn specs() -> &'static [ToolSpec] {
    &SPECS
}

static SPECS: LazyLock<Vec<ToolSpec>> = LazyLock::new(|| {
    let none = Arc::new(json!({"type": "object", "properties": {}, "additionalProperties": false}));
    vec![
        ToolSpec { name: ToolName::GetCustomerProfile.as_str(), description: "", parameters: none.clone() },
        ToolSpec { name: ToolName::GetBalance.as_str(), description: "", parameters: none.clone() },
        ToolSpec {
            name: ToolName::ListTickets.as_str(),
            description: "",
            parameters: Arc::new(
                json!({"type": "object", "properties": {"status": {"type": "string", "enum": ["open", "in_progress", "pending", "resolved", "closed"]}}}),
            ),
        },
        ToolSpec {
            name: ToolName::CreateTicket.as_str(),
            description: "Open a support ticket for the caller.",
            parameters: Arc::new(json!({"type": "object", "required": ["title", "description"], "properties": {
                "title": {"type": "string", "maxLength": 120}, "description": {"type": "string", "maxLength": 2000},
                "priority": {"type": "string", "enum": ["low", "medium", "high", "critical"]}}})),
        },
        ToolSpec {
            name: ToolName::ListPayments.as_str(),
            description: "The caller's recent payments, newest first.",
            parameters: Arc::new(
                json!({"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 20}}}),
            ),
        },
        ToolSpec {
            name: ToolName::RequestPaymentRegistration.as_str(),
            description: "Ask staff to register a payment the caller says they made. Nothing is registered until a person approves it.",
            parameters: Arc::new(json!({"type": "object", "required": ["amount", "method"], "properties": {
                "amount": {"type": "string", "description": "Amount with two decimals, e.g. 50.00"},
                "method": {"type": "string", "enum": ["cash", "card", "transfer", "check"]},
                "description": {"type": "string", "maxLength": 200},
                "currency": {"type": "string", "maxLength": 8, "description": "Only when not euros, e.g. USD"}}})),
        },
    ]
});

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListTicketsArgs {
    #[serde(default)]
    status: Option<TicketStatus>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTicketArgs {
    title: String,
    description: String,
    #[serde(default)]
    priority: Option<crate::agents::Priority>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListPaymentsArgs {
    #[serde(default)]
    limit: Option<u8>,
}

#[derive(Clone, Copy, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum PaymentMethod {
    Cash,
    Card,
    Transfer,
    Check,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentRequestArgs {
    amount: String,
    method: PaymentMethod,
    #[serde(default)]
    description: Option<String>,
    /// What the customer paid in when it is not euros ("USD", "pesos"); absent or
    /// "EUR" for euros.
    #[serde(default)]
    currency: Option<String>,
}

/// Largest payment in another currency the agent may ask a person to look at (the
/// person registers its value in euros, within the usual bounds).
const MAX_FOREIGN_PAYMENT: Money = Money::from_cents(100_000_000_000);

/// The currency of a payment request as stored: `None` for euros, else the code or
/// word the customer used, trimmed, at most 8 characters of letters or a currency sign.
fn foreign_currency(currency: Option<&str>) -> Result<Option<String>, ToolOutcome> {
    let Some(currency) = currency.map(str::trim).filter(|c| !c.is_empty()) else { return Ok(None) };
    if matches!(currency.to_lowercase().as_str(), "eur" | "€" | "euro" | "euros") {
        return Ok(None);
    }
    let fine = currency.chars().count() <= 8 && currency.chars().all(|c| c.is_alphabetic() || "$£₹¥".contains(c));
    if fine {
        Ok(Some(currency.to_owned()))
    } else {
        Err(ToolOutcome::err("currency must be a currency code such as USD"))
    }
}

/// Largest payment the agent may even ask a person to register (10,000.00).
const MAX_PAYMENT: Money = Money::from_cents(1_000_000);

fn parse<T: for<'de> Deserialize<'de>>(call: &ToolCall) -> Result<T, ToolOutcome> {
    let text = if call.arguments.trim().is_empty() { "{}" } else { call.arguments.as_str() };
    let value: Value = serde_json::from_str(text).map_err(|e| ToolOutcome::err(&format!("invalid arguments: {e}")))?;
    // serde also reads a struct from a JSON array (fields by position), which would let
    // `["50.00", "cash"]` through; the schemas promise an object with named fields.
    if !value.is_object() {
        return Err(ToolOutcome::err("invalid arguments: expected a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| ToolOutcome::err(&format!("invalid arguments: {e}")))
}

fn clean(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n').take(max).collect::<String>().trim().to_owned()
}

/// Runs one tool call for the caller. Failures become an error result for the model;
/// only database errors propagate.
#[tracing::instrument(skip_all, fields(tool = %call.name))]
pub async fn run(db: &Db, scope: CallerScope, call: &ToolCall) -> Result<ToolOutcome, sqlx::Error> {
    run_with(db, scope, call, ToolAccess::Full).await
}

/// [`run`] within `access`: a read-only run refuses every tool that acts.
pub async fn run_with(
    db: &Db,
    scope: CallerScope,
    call: &ToolCall,
    access: ToolAccess,
) -> Result<ToolOutcome, sqlx::Error> {
    let Some(customer_id) = scope.customer_id else {
        return Ok(ToolOutcome::err("this call is not linked to a customer record; ask a person to verify the caller"));
    };
    let Ok(tool) = call.name.parse::<ToolName>() else {
        return Ok(ToolOutcome::err("unknown tool"));
    };
    if access == ToolAccess::ReadOnly && acts(tool) {
        return Ok(ToolOutcome::err("not available in a draft: the person handling the call decides on actions"));
    }
    let outcome = match tool {
        ToolName::GetCustomerProfile => match parse::<NoArgs>(call) {
            Err(e) => e,
            Ok(_) => {
                let row: Option<(String, String, Option<String>, bool)> = with_db!(db, |pool| sqlx::query_as(
                    "SELECT name, email, phone, active FROM customers WHERE id = $1",
                )
                .bind(customer_id)
                .fetch_optional(pool)
                .await)?;
                match row {
                    Some((name, email, phone, active)) => {
                        ToolOutcome::ok(json!({"name": name, "email": email, "phone": phone, "active": active}))
                    }
                    None => ToolOutcome::err("customer record not found"),
                }
            }
        },
        ToolName::GetBalance => match parse::<NoArgs>(call) {
            Err(e) => e,
            Ok(_) => {
                let balance: Option<Money> =
                    with_db!(db, |pool| sqlx::query_scalar("SELECT balance_cents FROM customers WHERE id = $1",)
                        .bind(customer_id)
                        .fetch_optional(pool)
                        .await)?;
                match balance {
                    Some(b) => ToolOutcome::ok(json!({"balance": b.to_string(), "currency": "EUR"})),
                    None => ToolOutcome::err("customer record not found"),
                }
            }
        },
        ToolName::ListTickets => match parse::<ListTicketsArgs>(call) {
            Err(e) => e,
            Ok(args) => {
                let status = args.status.map(TicketStatus::as_str);
                let rows: Vec<(i64, String, String, String, Timestamp)> = with_db!(db, |pool| {
                    sqlx::query_as(
                    "SELECT id, title, status, priority, created_at FROM tickets WHERE customer_id = $1 AND ($2 IS NULL OR status = $2) ORDER BY id DESC LIMIT 10",
                ).bind(customer_id).bind(status).fetch_all(pool).await
                })?;
                let list: Vec<Value> = rows
                    .into_iter()
                    .map(|(id, title, status, priority, at)| json!({"id": id, "title": title, "status": status, "priority": priority, "created_at": at}))
                    .collect();
                ToolOutcome::ok(json!({ "tickets": list }))
            }
        },
        ToolName::CreateTicket => match parse::<CreateTicketArgs>(call) {
            Err(e) => e,
            Ok(args) => {
                let title = clean(&args.title, 120);
                let description = clean(&args.description, 2000);
                if title.is_empty() || description.is_empty() {
                    ToolOutcome::err("title and description are required")
                } else {
                    let priority = args.priority.unwrap_or(crate::agents::Priority::Medium);
                    let ticket = NewTicket {
                        customer_id,
                        title: &title,
                        description: &description,
                        status: TicketStatus::Open,
                        priority,
                    };
                    let id = tickets::open(db, &ticket).await?;
                    ToolOutcome::ok(json!({"ticket_id": id, "status": "open", "priority": priority.as_str()}))
                }
            }
        },
        ToolName::ListPayments => match parse::<ListPaymentsArgs>(call) {
            Err(e) => e,
            Ok(args) => {
                let limit = i64::from(args.limit.unwrap_or(5).clamp(1, 20));
                let rows: Vec<(i64, Money, String, String, Timestamp)> = with_db!(db, |pool| {
                    sqlx::query_as(
                    "SELECT id, amount_cents, description, method, at FROM payments WHERE customer_id = $1 ORDER BY id DESC LIMIT $2",
                ).bind(customer_id).bind(limit).fetch_all(pool).await
                })?;
                let list: Vec<Value> = rows
                    .into_iter()
                    .map(|(id, amount, description, method, at)| json!({"id": id, "amount": amount.to_string(), "description": description, "method": method, "at": at}))
                    .collect();
                ToolOutcome::ok(json!({ "payments": list }))
            }
        },
        ToolName::RequestPaymentRegistration => match parse::<PaymentRequestArgs>(call) {
            Err(e) => e,
            Ok(args) => match foreign_currency(args.currency.as_deref()) {
                Err(e) => e,
                Ok(currency) => {
                    let max = if currency.is_some() { MAX_FOREIGN_PAYMENT } else { MAX_PAYMENT };
                    match Money::parse(&args.amount) {
                        Some(amount) if amount.cents() > 0 && amount <= max => {
                            let mut params = json!({
                                "customer_id": customer_id, "amount": amount.to_string(), "method": args.method,
                                "description": clean(args.description.as_deref().unwrap_or("Payment reported by the customer"), 200),
                            });
                            let mut result = json!({"status": "awaiting_staff_approval", "amount": amount.to_string()});
                            if let Some(currency) = currency {
                                params["currency"] = json!(currency);
                                result["currency"] = json!(currency);
                            }
                            let id = request_once(db, scope.call_id, customer_id, &params.to_string()).await?;
                            result["pending_action_id"] = json!(id);
                            ToolOutcome::ok(result)
                        }
                        _ if currency.is_some() => {
                            ToolOutcome::err("amount must be a positive number with at most two decimals")
                        }
                        _ => ToolOutcome::err(
                            "amount must be a positive number up to 10000.00 with at most two decimals",
                        ),
                    }
                }
            },
        },
    };
    Ok(outcome)
}

/// Files a payment registration for staff approval, once: the same request (same
/// call, same amount, method and words) still awaiting a decision is answered with
/// its existing id, so a repeated or replayed turn does not pile up approvals. The
/// call's row is locked first, so parallel turns of one call queue here.
async fn request_once(db: &Db, call_id: i64, customer_id: i64, params: &str) -> Result<i64, sqlx::Error> {
    with_tx!(db, |tx| {
        async {
            sqlx::query("UPDATE calls SET updated_at = updated_at WHERE id = $1").bind(call_id).execute(&mut *tx).await?;
            let existing: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM pending_actions WHERE call_id = $1 AND tool = 'register_payment' AND params = $2 AND decision IS NULL ORDER BY id LIMIT 1",
            )
            .bind(call_id)
            .bind(params)
            .fetch_optional(&mut *tx)
            .await?;
            match existing {
                Some(id) => Ok(id),
                None => {
                    sqlx::query_scalar(
                        "INSERT INTO pending_actions (call_id, customer_id, tool, params, requested_at) VALUES ($1, $2, 'register_payment', $3, $4) RETURNING id",
                    )
                    .bind(call_id)
                    .bind(customer_id)
                    .bind(params)
                    .bind(Timestamp::now())
                    .fetch_one(&mut *tx)
                    .await
                }
            }
        }
        .await
    })
}

//! The assistant's tools and the one dispatcher that runs them with the signed-in
//! user's authority.
//!
//! What a role may do is decided here, in Rust, never in a prompt: the model is only
//! offered the tools the role allows ([`offered`]), and [`Console::call`] checks again
//! whatever it is asked to run, because a model (or a message pretending to be an
//! admin) may ask for anything. Side effects take a capability from the principal:
//! tickets need [`AgentCap`], payment proposals [`ApproverCap`].

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::actions::{self, Pending};
use super::reads::{self, LIST_LIMIT, TicketFilter};
use crate::agents::Priority;
use crate::agents::model::ToolSpec;
use crate::audit::{self, Entry};
use crate::auth::{AgentCap, ApproverCap, Principal, Role};
use crate::customers::payments::PaymentMethod;
use crate::customers::tickets::{self, NewTicket, TicketStatus};
use crate::db::{Db, Money, id_enum};
use crate::i18n::{Lang, t};

id_enum! {
    /// A tool of the staff assistant.
    StaffTool {
        /// Customers by name, email or phone.
        SearchCustomers => "search_customers",
        /// One customer: balance, open tickets, recent payments.
        GetCustomer => "get_customer",
        /// How many tickets match a filter.
        CountTickets => "count_tickets",
        /// The newest tickets matching a filter.
        ListTickets => "list_tickets",
        /// Opens a ticket for a customer (agents and above).
        CreateTicket => "create_ticket",
        /// Proposes a payment that its user must confirm (supervisors and admins).
        RegisterPayment => "register_payment",
    }
}

impl StaffTool {
    /// Whether `role` may use this tool.
    pub fn allowed(self, role: Role) -> bool {
        match self {
            Self::SearchCustomers | Self::GetCustomer | Self::CountTickets | Self::ListTickets => true,
            Self::CreateTicket => role != Role::Viewer,
            Self::RegisterPayment => matches!(role, Role::Supervisor | Role::Admin),
        }
    }

    fn spec(self) -> ToolSpec {
        let status =
            json!({"type": "string", "enum": TicketStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()});
        let priority = json!({"type": "string", "enum": Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>()});
        let id = json!({"type": "integer", "minimum": 1});
        let (description, parameters) = match self {
            Self::SearchCustomers => (
                "Find customers by part of their name, email or phone.",
                json!({"type": "object", "required": ["query"], "properties": {"query": {"type": "string", "maxLength": 100}}, "additionalProperties": false}),
            ),
            Self::GetCustomer => (
                "One customer's record: contact details, balance (what they owe, EUR), open tickets and recent payments.",
                json!({"type": "object", "required": ["customer_id"], "properties": {"customer_id": id}, "additionalProperties": false}),
            ),
            Self::CountTickets => (
                "Count tickets, optionally by status, priority and customer.",
                json!({"type": "object", "properties": {"status": status, "priority": priority, "customer_id": id}, "additionalProperties": false}),
            ),
            Self::ListTickets => (
                "The newest tickets (up to 20), optionally by status, priority and customer.",
                json!({"type": "object", "properties": {"status": status, "priority": priority, "customer_id": id}, "additionalProperties": false}),
            ),
            Self::CreateTicket => (
                "Open a ticket for a customer.",
                json!({"type": "object", "required": ["customer_id", "description"], "properties": {
                    "customer_id": id, "title": {"type": "string", "maxLength": 120},
                    "description": {"type": "string", "maxLength": 2000}, "priority": priority}, "additionalProperties": false}),
            ),
            Self::RegisterPayment => (
                "Propose registering a payment a customer made. Nothing is registered until the user clicks confirm.",
                json!({"type": "object", "required": ["customer_id", "amount", "method"], "properties": {
                    "customer_id": id, "amount": {"type": "string", "description": "Amount in EUR with two decimals, e.g. 50.00"},
                    "method": {"type": "string", "enum": PaymentMethod::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>()},
                    "description": {"type": "string", "maxLength": 200}}, "additionalProperties": false}),
            ),
        };
        ToolSpec { name: self.as_str(), description, parameters: std::sync::Arc::new(parameters) }
    }
}

/// The tools offered to a model for `role`: only those it may use.
pub fn offered(role: Role) -> Vec<ToolSpec> {
    StaffTool::ALL.iter().filter(|t| t.allowed(role)).map(|t| t.spec()).collect()
}

/// One tool use, as the reply shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AssistantStep)]
pub struct Step {
    /// Tool name as asked.
    pub tool: String,
    /// Arguments as given (JSON; the text itself when it was not JSON).
    pub arguments: Value,
    /// What the tool returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Why it did not run or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerArgs {
    customer_id: i64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FilterArgs {
    #[serde(default)]
    status: Option<TicketStatus>,
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(default)]
    customer_id: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketArgs {
    customer_id: i64,
    #[serde(default)]
    title: Option<String>,
    description: String,
    #[serde(default)]
    priority: Option<Priority>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentArgs {
    customer_id: i64,
    amount: String,
    method: PaymentMethod,
    #[serde(default)]
    description: Option<String>,
}

/// Why a tool did not run: an i18n key (`assistant.tool.*`), shown in the user's
/// language and handed to the model as such.
type Refusal = &'static str;

fn args<T: for<'de> Deserialize<'de>>(value: &Value) -> Result<T, Refusal> {
    // serde also reads a struct from an array (fields by position): objects only.
    if !value.is_object() {
        return Err("assistant.tool.bad_arguments");
    }
    serde_json::from_value(value.clone()).map_err(|_| "assistant.tool.bad_arguments")
}

fn clean(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n').take(max).collect::<String>().trim().to_owned()
}

/// Largest payment the assistant proposes.
pub const MAX_PAYMENT: Money = Money::from_cents(1_000_000);

/// One assistant request's dispatcher: who asks, what ran, and the payment waiting
/// for confirmation, if one was proposed.
pub struct Console<'a> {
    db: &'a Db,
    who: &'a Principal,
    ip: Option<String>,
    /// The language replies and refusals are written in.
    pub lang: Lang,
    /// Every tool use, in order.
    pub steps: Vec<Step>,
    /// The payment proposed in this request.
    pub pending: Option<Pending>,
}

impl<'a> Console<'a> {
    /// A dispatcher acting for `who`.
    pub fn new(db: &'a Db, who: &'a Principal, ip: Option<String>) -> Self {
        Self { db, who, ip, lang: who.language, steps: Vec::new(), pending: None }
    }

    /// Runs the tool `name` with `arguments` (JSON text from a model, or built by the
    /// rules) if the user's role allows it; records the step and an audit entry.
    /// Returns the result (or `{"error"}`) to hand back to a model. Only database
    /// failures are errors.
    #[tracing::instrument(skip_all, fields(tool = %name))]
    pub async fn call(&mut self, name: &str, arguments: &str) -> Result<Value, sqlx::Error> {
        let text = if arguments.trim().is_empty() { "{}" } else { arguments };
        let parsed: Option<Value> = serde_json::from_str(text).ok();
        let shown = parsed.clone().unwrap_or_else(|| Value::String(clean(text, 500)));
        let repeated = self.steps.iter().any(|s| s.tool == name && s.arguments == shown);
        let outcome = match (StaffTool::parse(name), parsed) {
            _ if repeated => Err("assistant.tool.repeated"),
            (None, _) => Err("assistant.tool.unknown"),
            (Some(tool), _) if !tool.allowed(self.who.role) => Err("assistant.tool.not_allowed"),
            (Some(_), None) => Err("assistant.tool.bad_arguments"),
            (Some(tool), Some(value)) => self.run(tool, &value).await?,
        };
        let (result, error) = match outcome {
            Ok(value) => (Some(value), None),
            Err(key) => (None, Some(t(self.lang, key).to_owned())),
        };
        let metadata = json!({"tool": name, "arguments": shown, "ok": error.is_none(), "error": error});
        let entry = Entry::new(Some(self.who.id), self.who.username.clone(), "assistant.tool")
            .ip(self.ip.clone())
            .metadata(metadata);
        audit::record(self.db, &entry).await?;
        let for_model = match &error {
            Some(e) => json!({ "error": e }),
            None => result.clone().unwrap_or(Value::Null),
        };
        self.steps.push(Step { tool: name.to_owned(), arguments: shown, result, error });
        Ok(for_model)
    }

    async fn run(&mut self, tool: StaffTool, value: &Value) -> Result<Result<Value, Refusal>, sqlx::Error> {
        let db = self.db;
        Ok(match tool {
            StaffTool::SearchCustomers => match args::<SearchArgs>(value) {
                Ok(a) if clean(&a.query, 100).chars().count() >= 2 => {
                    let hits = reads::search_customers(db, &clean(&a.query, 100)).await?;
                    Ok(json!({ "customers": hits }))
                }
                Ok(_) => Err("assistant.tool.query_too_short"),
                Err(e) => Err(e),
            },
            StaffTool::GetCustomer => match args::<CustomerArgs>(value) {
                Ok(a) => match reads::customer(db, a.customer_id).await? {
                    Some(record) => Ok(serde_json::to_value(record).unwrap_or_default()),
                    None => Err("assistant.tool.no_customer"),
                },
                Err(e) => Err(e),
            },
            StaffTool::CountTickets | StaffTool::ListTickets => match args::<FilterArgs>(value) {
                Ok(a) => {
                    let filter = TicketFilter {
                        status: a.status,
                        priority: a.priority,
                        customer_id: a.customer_id,
                        unresolved: false,
                    };
                    let count = reads::count_tickets(db, &filter).await?;
                    let mut result = json!({"count": count, "status": a.status, "priority": a.priority, "customer_id": a.customer_id});
                    if tool == StaffTool::ListTickets {
                        result["tickets"] = serde_json::to_value(reads::list_tickets(db, &filter, LIST_LIMIT).await?)
                            .unwrap_or_default();
                    }
                    Ok(result)
                }
                Err(e) => Err(e),
            },
            StaffTool::CreateTicket => match (self.who.agent(), args::<TicketArgs>(value)) {
                (None, _) => Err("assistant.tool.not_allowed"),
                (_, Err(e)) => Err(e),
                (Some(cap), Ok(a)) => create_ticket(db, &cap, a).await?,
            },
            StaffTool::RegisterPayment => match (self.who.approver(), args::<PaymentArgs>(value)) {
                (None, _) => Err("assistant.tool.not_allowed"),
                (_, Err(e)) => Err(e),
                (Some(_), Ok(_)) if self.pending.is_some() => Err("assistant.tool.one_payment"),
                (Some(cap), Ok(a)) => match propose(db, &cap, a).await? {
                    Ok(pending) => {
                        let result = json!({
                            "pending_action_id": pending.id, "status": "waiting_for_user_confirmation",
                            "customer_id": pending.customer_id, "customer_name": pending.customer_name,
                            "amount": pending.amount, "method": pending.method, "expires_at": pending.expires_at,
                        });
                        self.pending = Some(pending);
                        Ok(result)
                    }
                    Err(e) => Err(e),
                },
            },
        })
    }
}

async fn create_ticket(db: &Db, _cap: &AgentCap<'_>, a: TicketArgs) -> Result<Result<Value, Refusal>, sqlx::Error> {
    let description = clean(&a.description, 2000);
    if description.is_empty() {
        return Ok(Err("assistant.tool.no_description"));
    }
    let title = match a.title.as_deref().map(|t| clean(t, 120)).filter(|t| !t.is_empty()) {
        Some(title) => title,
        None => title_from(&description),
    };
    let Some(customer_name) = reads::customer_name(db, a.customer_id).await? else {
        return Ok(Err("assistant.tool.no_customer"));
    };
    let priority = a.priority.unwrap_or(Priority::Medium);
    let ticket = NewTicket {
        customer_id: a.customer_id,
        title: &title,
        description: &description,
        status: TicketStatus::Open,
        priority,
    };
    let id = tickets::open(db, &ticket).await?;
    Ok(Ok(json!({
        "ticket_id": id, "customer_id": a.customer_id, "customer_name": customer_name, "title": title,
        "status": "open", "priority": priority,
    })))
}

/// A ticket title from its description: the first line, cut at a word near 80
/// characters, capitalised.
fn title_from(description: &str) -> String {
    let first = description.lines().next().unwrap_or(description).trim();
    let mut title: String = first.chars().take(80).collect();
    if first.chars().count() > 80
        && let Some(space) = title.rfind(' ')
    {
        title.truncate(space);
        title.push('…');
    }
    let mut chars = title.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => title,
    }
}

async fn propose(db: &Db, cap: &ApproverCap<'_>, a: PaymentArgs) -> Result<Result<Pending, Refusal>, sqlx::Error> {
    let amount = match Money::parse(&a.amount) {
        Some(m) if m.cents() > 0 && m <= MAX_PAYMENT => m,
        _ => return Ok(Err("assistant.tool.bad_amount")),
    };
    let customer_name = match reads::customer_name_and_active(db, a.customer_id).await? {
        None => return Ok(Err("assistant.tool.no_customer")),
        // Refused now rather than at the confirm click (which checks again).
        Some((_, false)) => return Ok(Err("assistant.tool.customer_inactive")),
        Some((name, true)) => name,
    };
    let description = a.description.as_deref().map(|d| clean(d, 200)).filter(|d| !d.is_empty());
    let description =
        description.unwrap_or_else(|| t(cap.actor().language, "assistant.payment_description").to_owned());
    let proposal =
        actions::Proposal { customer_id: a.customer_id, customer_name, amount, method: a.method, description };
    Ok(Ok(actions::propose(db, cap, proposal).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_is_offered_exactly_what_it_may_do() {
        let names = |role| offered(role).into_iter().map(|s| s.name).collect::<Vec<_>>();
        let reads = ["search_customers", "get_customer", "count_tickets", "list_tickets"];
        assert_eq!(names(Role::Viewer), reads);
        assert_eq!(names(Role::Agent), [&reads[..], &["create_ticket"]].concat());
        for role in [Role::Supervisor, Role::Admin] {
            assert_eq!(names(role), [&reads[..], &["create_ticket", "register_payment"]].concat());
        }
    }

    #[test]
    fn titles_come_from_the_description() {
        assert_eq!(title_from("no puede acceder a su cuenta"), "No puede acceder a su cuenta");
        let long = "palabra ".repeat(20);
        let title = title_from(long.trim());
        assert!(title.chars().count() <= 81 && title.ends_with('…'), "{title}");
    }
}

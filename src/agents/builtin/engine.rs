//! The built-in engine behind the [`ChatModel`] trait: it answers the routing,
//! service and supervisor requests of the very same pipeline, calls the same tools and
//! streams its replies, with no network. It is deliberately honest: when it cannot help
//! it says it will pass the customer to a person. What it says comes from the catalogue
//! (`engine.*` in `locales/`), in the customer's language.

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::intents;
use super::{classify, text};
use crate::agents::model::{
    AgentKind, ChatModel, ChatRequest, ChatResponse, ModelError, Role, ToolCall, ToolName, Usage, estimate_tokens,
};
use crate::agents::summary::{SUMMARY_SCHEMA, SummaryFacts};
use crate::agents::{Action, Classification, Priority, Reason, Sentiment, Verdict};
use crate::db::Money;
use crate::i18n;

/// Model name reported in traces.
pub const MODEL_NAME: &str = "centralita-builtin-1";

/// The offline engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuiltinModel;

/// Whether a classified message needs a person, and why. Shared by the service reply
/// (which tells the customer) and the supervisor verdict (which escalates), so the two
/// always agree.
pub fn needs_person(c: &Classification, customer_linked: bool) -> Option<Reason> {
    let asks_for_data = matches!(
        c.category.as_str(),
        "balance_inquiry" | "payment" | "payment_history" | "refund" | "charge_dispute" | "invoice" | "ticket_status"
    );
    match c.category.as_str() {
        "human_request" => Some(Reason::CustomerRequest),
        "security" => Some(Reason::PolicyRestriction),
        "pricing" | "plan_change" | "new_purchase" | "cancellation" | "refund" => Some(Reason::UnsupportedRequest),
        _ if c.priority == Priority::Critical => Some(Reason::PolicyRestriction),
        _ if c.recommendations.iter().any(|r| r == MUST_HAND_OVER) => Some(Reason::UnsupportedRequest),
        // An upset customer with a pressing matter the agent cannot act on gets a
        // person; a fault or an account question is served (a ticket, the figures).
        _ if c.priority >= Priority::High && c.sentiment == Sentiment::Negative && !servable(&c.category) => {
            Some(Reason::NegativeSentiment)
        }
        _ if asks_for_data && !customer_linked => Some(Reason::MissingKnowledge),
        _ if c.confidence < crate::agents::eval::CONFIDENT
            && !matches!(c.category.as_str(), "greeting" | "thanks" | "feedback") =>
        {
            Some(Reason::LowConfidence)
        }
        _ => None,
    }
}

/// Recommendation set by the routing when the message asks what only a person may
/// decide (a cancellation or a refund), whatever its main topic.
pub const MUST_HAND_OVER: &str = "handover:person_decides";

/// Topics the service agent settles with its tools.
fn servable(category: &str) -> bool {
    matches!(
        category,
        "technical_issue"
            | "service_outage"
            | "account_access"
            | "ticket_status"
            | "balance_inquiry"
            | "payment"
            | "payment_history"
            | "invoice"
    )
}

fn last_user_text(request: &ChatRequest) -> &str {
    request.messages.iter().rev().find(|m| m.role == Role::User).map_or("", |m| m.content.as_str())
}

/// Tool results given since the last customer message: (tool name, result).
fn tool_results(request: &ChatRequest) -> Vec<(String, Value)> {
    let start = request.messages.iter().rposition(|m| m.role == Role::User).unwrap_or(0);
    let mut names = std::collections::HashMap::new();
    let mut out = Vec::new();
    for m in &request.messages[start..] {
        for call in &m.tool_calls {
            names.insert(call.id.clone(), call.name.clone());
        }
        if m.role == Role::Tool {
            let name = m.tool_call_id.as_ref().and_then(|id| names.get(id)).cloned().unwrap_or_default();
            out.push((name, serde_json::from_str(&m.content).unwrap_or(Value::Null)));
        }
    }
    out
}

/// The numbers written in a text (`50`, `49,90`, `1.000`), each with the char range it
/// spans.
///
/// A number written in exponent notation (`1e5`, `2.5E-3`) is left out rather than read
/// as its first digits ("I paid 1e5" is not 1.00): the engine leaves the amount for a
/// person to ask about instead of filing a wrong one.
pub(crate) fn numbers_in(text: &str) -> Vec<(usize, usize, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | ',')) {
            i += 1;
        }
        let number: String = chars[start..i].iter().collect();
        if let Some(after_exponent) = exponent_end(&chars, i) {
            i = after_exponent;
            continue;
        }
        found.push((start, i, number.trim_end_matches(['.', ',']).to_owned()));
    }
    found
}

/// When `chars[at..]` is the exponent of a number (`e5`, `E+05`, `e-3`), the index just
/// after it.
fn exponent_end(chars: &[char], at: usize) -> Option<usize> {
    if !matches!(chars.get(at), Some('e' | 'E')) {
        return None;
    }
    let mut i = at + 1;
    if matches!(chars.get(i), Some('+' | '-')) {
        i += 1;
    }
    let digits = chars.iter().skip(i).take_while(|c| c.is_ascii_digit()).count();
    (digits > 0).then_some(i + digits)
}

fn method_in(normalized: &str) -> &'static str {
    let words = text::tokens(normalized);
    let has = |w: &str| words.iter().any(|t| text::word_matches(t, w));
    if has("efectivo") || has("cash") {
        "cash"
    } else if has("tarjeta") || has("card") {
        "card"
    } else if has("cheque") || has("check") {
        "check"
    } else {
        "transfer"
    }
}

fn call(tool: ToolName, arguments: Value, n: usize) -> ToolCall {
    ToolCall { id: format!("call_{n}_{tool}"), name: tool.as_str().into(), arguments: arguments.to_string() }
}

/// Decides the tools for a fresh customer message: one for each thing the customer
/// asks (a message may ask two), else the routed topic's usual lookup.
fn plan_tools(c: &Classification, user: &str) -> Vec<ToolCall> {
    let normalized = text::normalize(user);
    let asked = intents::of_message(user);
    // The number the customer names as money, not the first one ("el día 3 pagué 50").
    let amount = if asked.contains(&intents::Intent::RegisterPayment) && intents::pays_in_earnest(user) {
        intents::payment_sum(user)
    } else {
        None
    };
    // A security, fraud or legal matter goes to a person untouched: the agent only
    // reads what the customer explicitly asks for.
    let hands_over_at_once = c.category == "security" || c.priority == Priority::Critical;
    // A call going to a person gets only the lookups the customer asked for (and a
    // complaint is still filed).
    let to_person = needs_person(c, true).is_some();
    let mut tools: Vec<ToolName> = Vec::new();
    for intent in asked {
        let tool = intent.tool();
        let acts = matches!(intent, intents::Intent::NewTicket | intents::Intent::RegisterPayment);
        if ((hands_over_at_once || to_person) && acts)
            || (intent == intents::Intent::RegisterPayment && amount.is_none())
        {
            continue;
        }
        if !tools.contains(&tool) {
            tools.push(tool);
        }
    }
    if tools.is_empty() && !hands_over_at_once {
        tools.extend(match c.category.as_str() {
            // A complaint is filed for the person who takes the call, unless the call
            // goes to them for what only they decide (leaving, a refund, a legal matter).
            _ if to_person
                && (c.department != crate::agents::Department::Complaints
                    || c.recommendations.iter().any(|r| r == MUST_HAND_OVER)) =>
            {
                None
            }
            // How to pay, or a bill to explain: the customer's figures answer neither.
            "balance_inquiry" => Some(ToolName::GetBalance),
            "payment_history" | "charge_dispute" => Some(ToolName::ListPayments),
            "ticket_status" | "technical_issue" | "service_outage" | "account_access" => Some(ToolName::ListTickets),
            "formal_complaint" | "service_complaint" | "staff_complaint" => Some(ToolName::CreateTicket),
            _ => None,
        });
    }
    tools
        .into_iter()
        .enumerate()
        .map(|(n, tool)| {
            let arguments = match tool {
                ToolName::ListPayments => json!({"limit": 5}),
                ToolName::CreateTicket => json!({
                    "title": ticket_title(c),
                    "description": user.chars().take(2000).collect::<String>(),
                    "priority": c.priority,
                }),
                ToolName::RequestPaymentRegistration => {
                    let sum = amount.clone().unwrap_or(intents::Sum { amount: String::new(), currency: None });
                    let mut args = json!({
                        "amount": sum.amount,
                        "method": method_in(&normalized),
                        "description": user.chars().take(200).collect::<String>(),
                    });
                    if let Some(currency) = sum.currency {
                        args["currency"] = json!(currency);
                    }
                    args
                }
                _ => json!({}),
            };
            call(tool, arguments, n + 1)
        })
        .collect()
}

fn ticket_title(c: &Classification) -> &'static str {
    if c.department == crate::agents::Department::Complaints { complaint_title(c) } else { issue_title(c) }
}

fn complaint_title(c: &Classification) -> &'static str {
    let key = if c.category == "staff_complaint" { "engine.title.staff_complaint" } else { "engine.title.complaint" };
    i18n::t(c.language, key)
}

fn issue_title(c: &Classification) -> &'static str {
    let key = match c.category.as_str() {
        "service_outage" => "engine.title.service_outage",
        "account_access" => "engine.title.account_access",
        _ => "engine.title.technical_issue",
    };
    i18n::t(c.language, key)
}

fn money(v: &Value) -> String {
    v.as_str().unwrap_or("0.00").to_owned()
}

/// The reply text once the tools have answered (or when none were needed), and why it
/// passes the customer to a person when its words say so.
fn compose(c: &Classification, results: &[(String, Value)], customer_linked: bool) -> (String, Option<Reason>) {
    let say = |key: &str| i18n::t(c.language, key).to_owned();
    let fill = |key: &str, values: &[(&str, &str)]| i18n::fill(c.language, key, values);
    if c.recommendations.iter().any(|r| r == "possible_prompt_injection") {
        return (say("engine.injection"), None);
    }
    if c.recommendations.iter().any(|r| r == "email_only_to_address_on_file") {
        return (say("engine.email_on_file_only"), None);
    }
    if results.iter().any(|(_, r)| r.get("error").is_some()) {
        // "I'm passing you to a person to look into it": a lookup that failed for a
        // caller on record is a tool failure; for a caller who is not, their identity
        // is what is missing.
        let reason = if customer_linked { Reason::ToolFailure } else { Reason::MissingKnowledge };
        return (say("engine.lookup_failed"), Some(reason));
    }
    let mut parts: Vec<String> = Vec::new();
    for (name, r) in results {
        let Ok(tool) = name.parse::<ToolName>() else { continue };
        match tool {
            ToolName::GetBalance => {
                // The balance is what the customer owes: positive is pending payment,
                // negative is money in their favour.
                let b = money(&r["balance"]);
                let owed = Money::parse(&b).map_or(0, |m| m.cents());
                let part = match owed {
                    1.. => fill("engine.balance_owed", &[("balance", &b)]),
                    0 => fill("engine.balance", &[("balance", &b)]),
                    _ => fill("engine.balance_credit", &[("balance", &b), ("credit", b.trim_start_matches('-'))]),
                };
                parts.push(part);
            }
            ToolName::ListPayments => {
                let list: Vec<String> = r["payments"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .take(5)
                            .map(|p| {
                                let description = p["description"].as_str().unwrap_or("");
                                fill(
                                    "engine.payment_item",
                                    &[("amount", &money(&p["amount"])), ("description", description)],
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                parts.push(if list.is_empty() {
                    say("engine.no_payments")
                } else {
                    fill("engine.payments", &[("payments", &list.join("; "))])
                });
                if c.category == "charge_dispute" {
                    parts.push(say("engine.charge_dispute"));
                }
            }
            ToolName::ListTickets => {
                let open: Vec<String> = r["tickets"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter(|tk| !matches!(tk["status"].as_str(), Some("resolved" | "closed")))
                            .map(|tk| {
                                let (id, title, status) = (tk["id"].to_string(), &tk["title"], &tk["status"]);
                                let (title, status) = (title.as_str().unwrap_or(""), status.as_str().unwrap_or(""));
                                fill("engine.ticket_item", &[("id", &id), ("title", title), ("status", status)])
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if !open.is_empty() {
                    parts.push(fill("engine.open_tickets", &[("tickets", &open.join(", "))]));
                } else if c.category == "ticket_status"
                    || (matches!(c.category.as_str(), "technical_issue" | "service_outage" | "account_access")
                        && !results.iter().any(|(n, _)| n.parse() == Ok(ToolName::CreateTicket)))
                {
                    parts.push(say("engine.no_open_tickets"));
                }
            }
            ToolName::CreateTicket => {
                let id = &r["ticket_id"];
                parts.push(if c.department == crate::agents::Department::Complaints {
                    fill("engine.complaint_logged", &[("id", &id.to_string())])
                } else {
                    fill("engine.ticket_opened", &[("id", &id.to_string())])
                });
            }
            ToolName::RequestPaymentRegistration => {
                let amount = money(&r["amount"]);
                parts.push(match r["currency"].as_str() {
                    // Paid in another currency: a person registers what reached us in euros.
                    Some(currency) => {
                        fill("engine.payment_passed_foreign", &[("amount", &amount), ("currency", currency)])
                    }
                    None => fill("engine.payment_passed", &[("amount", &amount)]),
                });
            }
            ToolName::GetCustomerProfile => {}
        }
    }
    let hands_over = needs_person(c, customer_linked);
    if let Some(reason) = hands_over {
        parts.push(say(match reason {
            Reason::CustomerRequest => "engine.person.customer_request",
            Reason::UnsupportedRequest if c.category == "refund" => "engine.person.refund",
            Reason::UnsupportedRequest => "engine.person.unsupported_request",
            Reason::PolicyRestriction => "engine.person.policy_restriction",
            Reason::MissingKnowledge => "engine.person.missing_knowledge",
            Reason::NegativeSentiment => "engine.person.negative_sentiment",
            Reason::LowConfidence | Reason::ToolFailure => "engine.person.not_understood",
        }));
    } else if parts.is_empty() {
        parts.push(say(match c.category.as_str() {
            "greeting" => "engine.greeting",
            "thanks" | "feedback" => "engine.thanks",
            "information" => "engine.information",
            "payment" => "engine.how_to_pay",
            "invoice" => "engine.invoice",
            _ => "engine.more_detail",
        }));
    }
    (parts.join(" "), hands_over)
}

fn service(request: &ChatRequest) -> ChatResponse {
    let user = last_user_text(request);
    let c = classify(user);
    let results = tool_results(request);
    let customer_linked = !results.iter().any(|(_, r)| r["error"].as_str().is_some_and(|e| e.contains("not linked")));
    let injection =
        c.recommendations.iter().any(|r| r == "possible_prompt_injection" || r == "email_only_to_address_on_file");
    let offered = |tool: ToolName| request.tools.iter().any(|t| t.name == tool.as_str());
    if results.is_empty() && !injection {
        let calls: Vec<ToolCall> =
            plan_tools(&c, user).into_iter().filter(|t| t.name.parse().is_ok_and(offered)).collect();
        if !calls.is_empty() {
            return ChatResponse { tool_calls: calls, ..ChatResponse::default() };
        }
    }
    // A technical problem with no open ticket gets one, in a second round, unless the
    // customer asked after a ticket of theirs: then they hear none is open (a new one
    // for a fault already reported would be a duplicate they did not ask for).
    let technical = matches!(c.category.as_str(), "technical_issue" | "service_outage" | "account_access");
    let listed_none_open = results.iter().any(|(n, r)| {
        n.parse() == Ok(ToolName::ListTickets)
            && r["tickets"]
                .as_array()
                .is_some_and(|a| a.iter().all(|tk| matches!(tk["status"].as_str(), Some("resolved" | "closed"))))
    });
    let ticket_created = results.iter().any(|(n, _)| n.parse() == Ok(ToolName::CreateTicket));
    if technical
        && listed_none_open
        && offered(ToolName::CreateTicket)
        && !ticket_created
        && !intents::of_message(user).contains(&intents::Intent::TicketStatus)
    {
        let args = json!({"title": issue_title(&c), "description": user.chars().take(2000).collect::<String>(), "priority": c.priority});
        return ChatResponse { tool_calls: vec![call(ToolName::CreateTicket, args, 2)], ..ChatResponse::default() };
    }
    let (content, hands_over) = compose(&c, &results, customer_linked);
    ChatResponse { content, hands_over, ..ChatResponse::default() }
}

/// The facts the pipeline hands the supervisor, as JSON in the last user message.
#[derive(Debug, serde::Deserialize)]
struct TurnFacts {
    classification: Classification,
    #[serde(default)]
    tools: Vec<ToolFact>,
    #[serde(default)]
    customer_linked: bool,
}

#[derive(Debug, serde::Deserialize)]
struct ToolFact {
    ok: bool,
}

fn supervise(request: &ChatRequest) -> Result<Verdict, ModelError> {
    let facts: TurnFacts = serde_json::from_str(last_user_text(request))
        .map_err(|e| ModelError::Malformed(format!("supervisor input: {e}")))?;
    let c = &facts.classification;
    let tool_failed = facts.tools.iter().any(|t| !t.ok);
    let reason = if tool_failed && facts.customer_linked {
        Some(Reason::ToolFailure)
    } else {
        needs_person(c, facts.customer_linked)
    };
    let injection = c.recommendations.iter().any(|r| r == "possible_prompt_injection");
    Ok(match reason {
        Some(reason) => Verdict { action: Action::Escalate, reason: Some(reason), quality: 0.7 },
        None if matches!(c.category.as_str(), "thanks" | "feedback") => {
            Verdict { action: Action::OfferSummary, reason: None, quality: 0.9 }
        }
        None => Verdict { action: Action::Continue, reason: None, quality: if injection { 0.8 } else { 0.85 } },
    })
}

#[async_trait]
impl ChatModel for BuiltinModel {
    fn backend(&self) -> &'static str {
        "builtin"
    }

    fn model_for(&self, _agent: AgentKind) -> String {
        MODEL_NAME.into()
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> Result<ChatResponse, ModelError> {
        let mut response = match request.agent {
            AgentKind::Routing => ChatResponse {
                content: serde_json::to_string(&classify(last_user_text(request)))
                    .map_err(|e| ModelError::Malformed(e.to_string()))?,
                ..ChatResponse::default()
            },
            AgentKind::Service => service(request),
            AgentKind::Supervisor if request.json_schema.as_ref().is_some_and(|(name, _)| *name == SUMMARY_SCHEMA) => {
                let facts: SummaryFacts = serde_json::from_str(last_user_text(request))
                    .map_err(|e| ModelError::Malformed(format!("summary input: {e}")))?;
                ChatResponse {
                    content: serde_json::to_string(&super::summary::summarize(&facts))
                        .map_err(|e| ModelError::Malformed(e.to_string()))?,
                    ..ChatResponse::default()
                }
            }
            AgentKind::Supervisor => ChatResponse {
                content: serde_json::to_string(&supervise(request)?)
                    .map_err(|e| ModelError::Malformed(e.to_string()))?,
                ..ChatResponse::default()
            },
        };
        let prompt: u32 = request.messages.iter().map(|m| estimate_tokens(&m.content) + 4).sum();
        let completion = estimate_tokens(&response.content)
            + response.tool_calls.iter().map(|c| estimate_tokens(&c.arguments) + 4).sum::<u32>();
        response.usage = Usage { prompt_tokens: prompt, completion_tokens: completion };
        if let Some(tx) = deltas {
            // Stream word by word, as a remote model would.
            for piece in response.content.split_inclusive(' ') {
                if tx.send(piece.to_owned()).await.is_err() {
                    break;
                }
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod fuzz {
    //! The amount the built-in engine reads out of a customer's message becomes a
    //! tool argument: it must be an exact amount with two decimals or nothing.
    use super::super::intents::money_amount;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn fuzz_amounts_in_any_text_are_exact_or_absent(text in any::<String>()) {
            if let Some(a) = money_amount(&text) {
                let m = crate::db::Money::parse(&a);
                prop_assert!(m.is_some_and(|m| m.to_string() == a), "{a:?} from {text:?}");
            }
        }

        #[test]
        fn fuzz_amounts_written_by_customers_are_read_exactly(euros in 0u32..1_000_000, cents in 0u32..100, comma in any::<bool>(), words in "[a-zA-Zñ ]{0,20}") {
            let sep = if comma { ',' } else { '.' };
            let text = format!("{words} pagué {euros}{sep}{cents:02} euros");
            prop_assert_eq!(money_amount(&text), Some(format!("{euros}.{cents:02}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::agents::builtin::intents::money_amount as amount_in;

    #[test]
    fn amounts_are_read_exactly() {
        assert_eq!(amount_in("I paid 50 earlier").as_deref(), Some("50.00"));
        assert_eq!(amount_in("pagué 49,90 euros").as_deref(), Some("49.90"));
        assert_eq!(amount_in("sent 120.5.").as_deref(), Some("120.50"));
        assert_eq!(amount_in("50eur by card").as_deref(), Some("50.00"));
        assert_eq!(amount_in("no amount here"), None);
    }

    #[test]
    fn exponent_notation_is_refused_not_read_as_its_first_digits() {
        for text in ["I paid 1e5", "I paid 1E5", "pagué 2.5e3 euros", "paid 1e+5", "paid 3,5E-2 today", "1e5"] {
            assert_eq!(amount_in(text), None, "{text:?}");
        }
        // Another, plain amount in the same message is still found.
        assert_eq!(amount_in("not 1e5, I paid 70").as_deref(), Some("70.00"));
        // A word starting with e after a number is not an exponent.
        assert_eq!(amount_in("paid 30 earlier").as_deref(), Some("30.00"));
        assert_eq!(amount_in("paid 30euros").as_deref(), Some("30.00"));
    }
}

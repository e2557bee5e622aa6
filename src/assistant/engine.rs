//! The built-in engine's side of the assistant: runs the tools the rules chose,
//! through the same [`Console`] a remote model uses, and writes the reply from what
//! the tools returned, in the user's language.

use serde_json::{Value, json};

use super::rules::{self, Intent, Target};
use super::tools::{Console, Step};
use crate::i18n::{Lang, fill, t};

/// Answers `message` with the rules; the reply is written from the steps taken.
pub async fn answer(console: &mut Console<'_>, message: &str) -> Result<String, sqlx::Error> {
    let lang = console.lang;
    let mut notes: Vec<&'static str> = Vec::new();
    match rules::understand(message) {
        Intent::Help => notes.push("assistant.help"),
        Intent::CountTickets(filter) => {
            console.call("count_tickets", &filter.to_string()).await?;
        }
        Intent::ListTickets(filter) => {
            console.call("list_tickets", &filter.to_string()).await?;
        }
        Intent::Customer(target) => {
            if let Some(id) = resolve(console, target, &mut notes).await? {
                console.call("get_customer", &json!({ "customer_id": id }).to_string()).await?;
            }
        }
        Intent::CreateTicket { customer, priority, description } => match description {
            None => notes.push("assistant.need_description"),
            Some(description) => {
                if let Some(id) = resolve(console, customer, &mut notes).await? {
                    let mut args = json!({"customer_id": id, "description": description});
                    if let Some(p) = priority {
                        args["priority"] = json!(p);
                    }
                    console.call("create_ticket", &args.to_string()).await?;
                }
            }
        },
        Intent::Payment { customer, amount, method, description } => match (amount, method) {
            (None, _) => notes.push("assistant.need_amount"),
            (_, None) => notes.push("assistant.need_method"),
            (Some(amount), Some(method)) => {
                if let Some(id) = resolve(console, customer, &mut notes).await? {
                    let mut args = json!({"customer_id": id, "amount": amount.to_string(), "method": method});
                    if let Some(d) = description {
                        args["description"] = json!(d);
                    }
                    console.call("register_payment", &args.to_string()).await?;
                }
            }
        },
    }
    let mut parts = describe(lang, &console.steps);
    parts.extend(notes.into_iter().map(|key| t(lang, key).to_owned()));
    Ok(parts.join(" "))
}

/// The customer a request names: by number, or the one match of a search.
async fn resolve(
    console: &mut Console<'_>,
    target: Target,
    notes: &mut Vec<&'static str>,
) -> Result<Option<i64>, sqlx::Error> {
    match target {
        Target::Id(id) => Ok(Some(id)),
        Target::Missing => {
            notes.push("assistant.need_customer");
            Ok(None)
        }
        Target::Query(query) => {
            let found = console.call("search_customers", &json!({ "query": query }).to_string()).await?;
            let hits = found["customers"].as_array().cloned().unwrap_or_default();
            if hits.len() > 1 {
                notes.push("assistant.which_customer");
            }
            Ok(match hits.as_slice() {
                [one] => one["id"].as_i64(),
                _ => None,
            })
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The label of a stored value in the assistant's `group` (`priority`, `status`, ...);
/// an unknown value is shown as it is.
fn label(lang: Lang, group: &str, v: &Value) -> String {
    let value = text(v);
    let key = format!("assistant.{group}.{value}");
    let found = t(lang, &key);
    if found == key { value } else { found.to_owned() }
}

/// What tickets a filter means, in words: "tickets abiertos de prioridad alta".
fn tickets_phrase(lang: Lang, r: &Value) -> String {
    let mut what = match r["status"].as_str() {
        Some(status) => label(lang, "tickets", &json!(status)),
        None => t(lang, "assistant.tickets.any").to_owned(),
    };
    if !r["priority"].is_null() {
        let priority = label(lang, "priority", &r["priority"]);
        what = format!("{what} {}", fill(lang, "assistant.with_priority", &[("priority", &priority)]));
    }
    if let Some(id) = r["customer_id"].as_i64() {
        what = format!("{what} {}", fill(lang, "assistant.of_customer", &[("id", &id.to_string())]));
    }
    what
}

/// One sentence (or a few) per step: what it found or did, or why it did not.
pub fn describe(lang: Lang, steps: &[Step]) -> Vec<String> {
    let mut parts = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let Some(r) = &step.result else {
            parts.push(step.error.clone().unwrap_or_default());
            continue;
        };
        match step.tool.as_str() {
            "search_customers" => {
                let hits = r["customers"].as_array().cloned().unwrap_or_default();
                let then_shown = steps.get(i + 1).is_some_and(|s| s.tool != "search_customers");
                match hits.len() {
                    0 => parts.push(fill(lang, "assistant.found_none", &[("query", &text(&step.arguments["query"]))])),
                    1 if then_shown => {}
                    n => {
                        let list: Vec<String> = hits
                            .iter()
                            .map(|h| format!("{} (#{}, {})", text(&h["name"]), h["id"], text(&h["email"])))
                            .collect();
                        parts.push(fill(
                            lang,
                            "assistant.found_many",
                            &[("count", &n.to_string()), ("list", &list.join("; "))],
                        ));
                    }
                }
            }
            "get_customer" => {
                let values = [
                    ("name", text(&r["name"])),
                    ("id", text(&r["id"])),
                    ("email", text(&r["email"])),
                    ("balance", text(&r["balance"])),
                ];
                let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
                parts.push(fill(lang, "assistant.customer", &values));
                if r["active"] == json!(false) {
                    parts.push(t(lang, "assistant.inactive").to_owned());
                }
                let open = r["open_tickets"].as_array().cloned().unwrap_or_default();
                if open.is_empty() {
                    parts.push(t(lang, "assistant.no_open_tickets").to_owned());
                } else {
                    let list = ticket_list(lang, &open, false);
                    parts.push(fill(
                        lang,
                        "assistant.open_tickets",
                        &[("count", &open.len().to_string()), ("list", &list)],
                    ));
                }
                let payments = r["recent_payments"].as_array().cloned().unwrap_or_default();
                if !payments.is_empty() {
                    let list: Vec<String> = payments
                        .iter()
                        .take(3)
                        .map(|p| {
                            let method = label(lang, "method", &p["method"]);
                            format!("{} € {method} ({})", text(&p["amount"]), text(&p["at"]).get(..10).unwrap_or(""))
                        })
                        .collect();
                    parts.push(fill(lang, "assistant.recent_payments", &[("list", &list.join("; "))]));
                }
            }
            "count_tickets" => {
                let what = tickets_phrase(lang, r);
                parts.push(fill(lang, "assistant.count", &[("count", &text(&r["count"])), ("what", &what)]));
            }
            "list_tickets" => {
                let what = tickets_phrase(lang, r);
                let tickets = r["tickets"].as_array().cloned().unwrap_or_default();
                if tickets.is_empty() {
                    parts.push(fill(lang, "assistant.list_none", &[("what", &what)]));
                } else {
                    let mut what_capital = what.clone();
                    if let Some(first) = what_capital.get_mut(..1) {
                        first.make_ascii_uppercase();
                    }
                    let list = ticket_list(lang, &tickets, r["customer_id"].is_null());
                    let values = [("what", what_capital.as_str()), ("count", &text(&r["count"])), ("list", &list)];
                    parts.push(fill(lang, "assistant.list", &values));
                }
            }
            "create_ticket" => {
                let values = [
                    ("id", text(&r["ticket_id"])),
                    ("name", text(&r["customer_name"])),
                    ("customer", text(&r["customer_id"])),
                    ("priority", label(lang, "priority", &r["priority"])),
                    ("title", text(&r["title"])),
                ];
                let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
                parts.push(fill(lang, "assistant.ticket_created", &values));
            }
            "register_payment" => {
                let values = [
                    ("amount", text(&r["amount"])),
                    ("method", label(lang, "method", &r["method"])),
                    ("name", text(&r["customer_name"])),
                    ("customer", text(&r["customer_id"])),
                ];
                let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
                parts.push(fill(lang, "assistant.payment_waiting", &values));
            }
            _ => {}
        }
    }
    parts
}

fn ticket_list(lang: Lang, tickets: &[Value], with_customer: bool) -> String {
    let shown: Vec<String> = tickets
        .iter()
        .take(10)
        .map(|tk| {
            let priority = label(lang, "priority", &tk["priority"]);
            let status = label(lang, "status", &tk["status"]);
            let whose = if with_customer {
                format!(", {}", fill(lang, "assistant.of_customer", &[("id", &text(&tk["customer_id"]))]))
            } else {
                String::new()
            };
            format!("#{} {} ({status}, {priority}{whose})", tk["id"], text(&tk["title"]))
        })
        .collect();
    let more = tickets.len().saturating_sub(shown.len());
    let mut list = shown.join("; ");
    if more > 0 {
        list.push_str(&format!("; +{more}"));
    }
    list
}

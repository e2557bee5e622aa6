//! The built-in engine's call summary: what the customer called about (the first
//! substantive message, by topic), what was done (from the tools' results and the
//! decisions staff took), references and next steps. Only facts from the call, never
//! invented ones.

use serde_json::Value;

use super::classify;
use crate::agents::summary::{CallSummary, SummaryFacts};
use crate::i18n::Lang;

/// What the call was about, for the customer (`summary.topic.*`).
fn topic(lang: Lang, category: &str) -> String {
    crate::i18n::Tr(lang).label("summary.topic", category)
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An amount with its currency: euros unless the customer paid in another one.
fn money_text(amount: &str, currency: Option<&str>) -> String {
    format!("{amount} {}", currency.unwrap_or("€"))
}

/// Writes the summary of a call from its facts, in the call's language from the
/// catalogue (`summary.*` in `locales/`).
pub fn summarize(facts: &SummaryFacts) -> CallSummary {
    let lang = facts.language;
    let say = |key: &str| crate::i18n::t(lang, key).to_owned();
    let fill = |key: &str, name: &str, value: &str| crate::i18n::fill(lang, key, &[(name, value)]);
    let customer_lines: Vec<&str> =
        facts.transcript.iter().filter(|l| l.role == "customer").map(|l| l.text.as_str()).collect();
    let main = customer_lines.iter().find(|text| {
        let c = classify(text);
        !matches!(c.category.as_str(), "greeting" | "thanks" | "feedback" | "other")
    });
    let issue = match main {
        Some(text) => {
            let mut quote: String = text.chars().take(160).collect();
            if text.chars().count() > 160 {
                quote.push('…');
            }
            let topic = topic(lang, &classify(text).category);
            crate::i18n::fill(lang, "summary.issue", &[("topic", &topic), ("quote", &quote)])
        }
        None => topic(lang, "other"),
    };

    let mut actions = Vec::new();
    let mut references = Vec::new();
    let mut next_steps = Vec::new();
    for tool in facts.tools.iter().filter(|t| t["ok"].as_bool() == Some(true)) {
        let result = &tool["result"];
        match tool["name"].as_str().unwrap_or_default() {
            "get_balance" => actions.push(fill("summary.checked_balance", "balance", &text_of(&result["balance"]))),
            "list_payments" => actions.push(say("summary.reviewed_payments")),
            "list_tickets" => actions.push(say("summary.reviewed_tickets")),
            "create_ticket" => {
                let id = text_of(&result["ticket_id"]);
                actions.push(fill("summary.opened_ticket", "id", &id));
                references.push(fill("summary.ticket_ref", "id", &id));
                next_steps.push(fill("summary.ticket_next", "id", &id));
            }
            "request_payment_registration" => {
                let sum = money_text(&text_of(&result["amount"]), result["currency"].as_str());
                actions.push(fill("summary.payment_passed", "amount", &sum));
                references.push(fill("summary.payment_request_ref", "id", &text_of(&result["pending_action_id"])));
            }
            _ => {}
        }
    }
    for action in &facts.actions {
        let amount = money_text(&text_of(&action["params"]["amount"]), action["params"]["currency"].as_str());
        match action["status"].as_str() {
            Some("approved") => {
                // What was registered: in euros, as the approver entered it for a payment
                // made in another currency.
                let registered = action["result"]["amount"].as_str().map_or(amount.clone(), |a| money_text(a, None));
                actions.push(fill("summary.payment_registered", "amount", &registered));
                if let Some(payment) = action["result"]["payment_id"].as_i64() {
                    references.push(fill("summary.payment_ref", "id", &payment.to_string()));
                }
            }
            Some("rejected") => next_steps.push(fill("summary.payment_rejected", "amount", &amount)),
            _ => next_steps.push(fill("summary.payment_pending", "amount", &amount)),
        }
    }
    if facts.handled_by_person {
        actions.push(say("summary.handled_by_person"));
    } else if facts.escalated {
        actions.push(say("summary.escalated"));
    }
    if actions.is_empty() {
        actions.push(say("summary.answered"));
    }
    match facts.outcome.as_deref() {
        Some("follow_up") => next_steps.push(say("summary.follow_up")),
        Some("transferred") => next_steps.push(say("summary.transferred")),
        _ => {}
    }
    if next_steps.is_empty() {
        next_steps.push(say("summary.nothing_to_do"));
    }
    references.push(fill("summary.call_ref", "id", &facts.call_id.to_string()));
    CallSummary { issue, actions, references, next_steps }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::summary::TranscriptLine;
    use serde_json::json;

    fn line(role: &str, text: &str) -> TranscriptLine {
        TranscriptLine { role: role.into(), text: text.into() }
    }

    #[test]
    fn a_summary_tells_the_issue_what_was_done_and_what_comes_next() {
        let facts = SummaryFacts {
            language: Lang::Es,
            call_id: 9,
            transcript: vec![line("customer", "Hola"), line("customer", "Sin conexión a internet desde ayer")],
            tools: vec![
                json!({"name": "list_tickets", "ok": true, "result": {"tickets": []}}),
                json!({"name": "create_ticket", "ok": true, "result": {"ticket_id": 41}}),
                json!({"name": "get_balance", "ok": false, "result": {"error": "x"}}),
            ],
            actions: vec![json!({"status": "approved", "params": {"amount": "20.00"}, "result": {"payment_id": 5}})],
            escalated: false,
            handled_by_person: false,
            outcome: None,
        };
        let s = summarize(&facts);
        assert!(s.issue.starts_with("Sin servicio: «Sin conexión a internet"), "{}", s.issue);
        assert!(s.actions.iter().any(|a| a.contains("#41")));
        assert!(!s.actions.iter().any(|a| a.contains("saldo")), "failed tools are not claimed as done");
        assert!(s.actions.iter().any(|a| a.contains("20.00 €")));
        assert_eq!(s.references, vec!["Incidencia #41", "Pago #5", "Llamada #9"]);
        assert!(s.next_steps[0].contains("#41"));
    }

    #[test]
    fn an_empty_call_still_reads_well_in_english() {
        let facts = SummaryFacts {
            language: Lang::En,
            call_id: 3,
            transcript: vec![line("customer", "thanks!")],
            tools: vec![],
            actions: vec![],
            escalated: true,
            handled_by_person: false,
            outcome: Some("follow_up".into()),
        };
        let s = summarize(&facts);
        assert_eq!(s.issue, "General enquiry");
        assert_eq!(s.actions, vec!["We passed your call to a member of our team."]);
        assert!(s.next_steps[0].contains("follow up"));
    }
}

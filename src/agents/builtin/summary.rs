//! The built-in engine's call summary: what the customer called about (the first
//! substantive message, by topic), what was done (from the tools' results and the
//! decisions staff took), references and next steps. Only facts from the call, never
//! invented ones.

use serde_json::Value;

use super::classify;
use crate::agents::summary::{CallSummary, SummaryFacts};
use crate::i18n::Lang;

fn topic(category: &str, es: bool) -> &'static str {
    let (s, e) = match category {
        "balance_inquiry" => ("Consulta de saldo", "Balance enquiry"),
        "payment" => ("Pago", "Payment"),
        "payment_history" => ("Historial de pagos", "Payment history"),
        "invoice" => ("Factura", "Invoice"),
        "refund" => ("Reembolso", "Refund"),
        "charge_dispute" => ("Cargo no reconocido", "Disputed charge"),
        "account_access" => ("Acceso a la cuenta", "Account access"),
        "technical_issue" => ("Problema técnico", "Technical problem"),
        "service_outage" => ("Sin servicio", "Service outage"),
        "how_to" => ("Cómo hacer una gestión", "How-to question"),
        "ticket_status" => ("Estado de una incidencia", "Ticket status"),
        "security" => ("Seguridad de la cuenta", "Account security"),
        "account_update" => ("Cambio de datos de la cuenta", "Account details change"),
        "pricing" => ("Precios", "Pricing"),
        "plan_change" => ("Cambio de plan", "Plan change"),
        "new_purchase" => ("Nueva contratación", "New purchase"),
        "cancellation" => ("Baja del servicio", "Cancellation"),
        "formal_complaint" | "service_complaint" => ("Queja", "Complaint"),
        "staff_complaint" => ("Queja sobre la atención", "Complaint about staff"),
        "human_request" => ("Hablar con una persona", "Speaking to a person"),
        _ => ("Consulta general", "General enquiry"),
    };
    if es { s } else { e }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Writes the summary of a call from its facts.
pub fn summarize(facts: &SummaryFacts) -> CallSummary {
    let es = facts.language == Lang::Es;
    let t = |s: String, e: String| if es { s } else { e };
    let customer_lines: Vec<&str> =
        facts.transcript.iter().filter(|l| l.role == "customer").map(|l| l.text.as_str()).collect();
    let main = customer_lines.iter().find(|text| {
        let c = classify(text);
        !matches!(c.category.as_str(), "greeting" | "thanks" | "feedback" | "other")
    });
    let issue = match main {
        Some(text) => {
            let quoted: String = text.chars().take(160).collect();
            let ellipsis = if text.chars().count() > 160 { "…" } else { "" };
            format!("{}: «{quoted}{ellipsis}»", topic(&classify(text).category, es))
        }
        None => topic("other", es).to_owned(),
    };

    let mut actions = Vec::new();
    let mut references = Vec::new();
    let mut next_steps = Vec::new();
    for tool in facts.tools.iter().filter(|t| t["ok"].as_bool() == Some(true)) {
        let result = &tool["result"];
        match tool["name"].as_str().unwrap_or_default() {
            "get_balance" => {
                let b = text_of(&result["balance"]);
                actions.push(t(format!("Consultamos tu saldo: {b} €."), format!("We checked your balance: {b} €.")));
            }
            "list_payments" => {
                actions.push(t("Revisamos tus últimos pagos.".into(), "We reviewed your latest payments.".into()))
            }
            "list_tickets" => actions.push(t("Revisamos tus incidencias.".into(), "We reviewed your tickets.".into())),
            "create_ticket" => {
                let id = text_of(&result["ticket_id"]);
                actions.push(t(format!("Abrimos la incidencia #{id}."), format!("We opened ticket #{id}.")));
                references.push(t(format!("Incidencia #{id}"), format!("Ticket #{id}")));
                next_steps.push(t(
                    format!("El equipo revisará la incidencia #{id} y te mantendremos informado."),
                    format!("The team will work on ticket #{id} and keep you posted."),
                ));
            }
            "request_payment_registration" => {
                let amount = text_of(&result["amount"]);
                let id = text_of(&result["pending_action_id"]);
                actions.push(t(
                    format!("Pasamos tu pago de {amount} € a una persona del equipo para registrarlo."),
                    format!("We passed your payment of {amount} € to a member of staff to register."),
                ));
                references.push(t(
                    format!("Solicitud de registro de pago #{id}"),
                    format!("Payment registration request #{id}"),
                ));
            }
            _ => {}
        }
    }
    for action in &facts.actions {
        let amount = text_of(&action["params"]["amount"]);
        match action["status"].as_str() {
            Some("approved") => {
                actions.push(t(
                    format!("Registramos tu pago de {amount} €."),
                    format!("We registered your payment of {amount} €."),
                ));
                if let Some(payment) = action["result"]["payment_id"].as_i64() {
                    references.push(t(format!("Pago #{payment}"), format!("Payment #{payment}")));
                }
            }
            Some("rejected") => next_steps.push(t(
                format!(
                    "No pudimos registrar el pago de {amount} €; una persona del equipo se pondrá en contacto contigo."
                ),
                format!("We could not register the payment of {amount} €; a member of staff will contact you."),
            )),
            _ => next_steps.push(t(
                format!("Cuando una persona del equipo apruebe tu pago de {amount} €, verás tu saldo actualizado."),
                format!("Once a member of staff approves your payment of {amount} €, your balance will be updated."),
            )),
        }
    }
    if facts.handled_by_person {
        actions.push(t(
            "Una persona de nuestro equipo atendió tu llamada.".into(),
            "A member of our team handled your call.".into(),
        ));
    } else if facts.escalated {
        actions.push(t(
            "Pasamos tu llamada a una persona de nuestro equipo.".into(),
            "We passed your call to a member of our team.".into(),
        ));
    }
    if actions.is_empty() {
        actions.push(t("Respondimos a tu consulta.".into(), "We answered your question.".into()));
    }
    match facts.outcome.as_deref() {
        Some("follow_up") => next_steps.push(t(
            "Volveremos a contactar contigo para hacer seguimiento.".into(),
            "We will contact you again to follow up.".into(),
        )),
        Some("transferred") => next_steps.push(t(
            "El departamento al que te transferimos continuará con tu caso.".into(),
            "The department we transferred you to will continue with your case.".into(),
        )),
        _ => {}
    }
    if next_steps.is_empty() {
        next_steps.push(t(
            "No tienes que hacer nada más. Si necesitas algo, inicia una nueva llamada.".into(),
            "There is nothing more you need to do. If you need anything else, start a new call.".into(),
        ));
    }
    references.push(t(format!("Llamada #{}", facts.call_id), format!("Call #{}", facts.call_id)));
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
            transcript: vec![line("customer", "Hola"), line("customer", "No tengo internet desde ayer")],
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
        assert!(s.issue.starts_with("Sin servicio: «No tengo internet"), "{}", s.issue);
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

//! What the built-in engine does with real customer requests, over HTTP on both
//! databases: both parts of a two-part request served in one reply (in the customer's
//! language), and what a bot must not settle alone handed to a person at once.

use serde_json::{Value, json};

use crate::helpers::{TestApp, get_json, post_json};
use crate::on_both;

on_both!(
    two_part_requests_are_served_whole_in_one_reply,
    what_a_bot_must_not_settle_goes_to_a_person_at_once,
    requests_in_everyday_words_are_served,
    a_repeated_payment_request_is_filed_once,
    a_payment_in_another_currency_is_registered_in_euros
);

/// The tools the service agent called in the call's first turn.
async fn tools_called(app: &TestApp, token: &str, call: i64) -> Vec<String> {
    let got: Value = get_json(app.url(&format!("/api/v1/calls/{call}")), token).await;
    let service = got["steps"].as_array().unwrap().iter().find(|s| s["agent"] == "service").unwrap().clone();
    service["tool_calls"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

async fn two_part_requests_are_served_whole_in_one_reply(app: &TestApp) {
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let token = app.token_for("agente", "agent").await;
    let (balance, payments, actions) = app.money_state().await;

    // The issue's own example: the balance AND the payment, in Spanish.
    let r = app
        .start_call(
            &token,
            json!({"customer_id": maria, "message": "Hola, ¿cuál es mi saldo? Además quiero pagar 50 euros de la factura."}),
        )
        .await;
    let reply = r["reply"].as_str().unwrap();
    assert!(reply.contains("125.50"), "the balance is given: {reply}");
    assert!(reply.contains("50.00"), "the payment is passed on: {reply}");
    assert!(reply.contains("saldo"), "in Spanish: {reply}");
    let call = r["call_id"].as_i64().unwrap();
    let mut called = tools_called(app, &token, call).await;
    called.sort();
    assert_eq!(called, ["get_balance", "request_payment_registration"]);
    assert_eq!(app.money_state().await, (balance, payments, actions + 1), "a pending action, not a payment");
    assert_eq!(r["verdict"]["action"], "continue");

    // What do I owe and when did I last pay, in English.
    let r = app
        .start_call(
            &token,
            json!({"customer_id": maria, "message": "how much do I owe, and when was my last payment?"}),
        )
        .await;
    let reply = r["reply"].as_str().unwrap();
    assert!(reply.contains("125.50") && reply.contains("balance"), "balance, in English: {reply}");
    assert!(reply.to_lowercase().contains("payment"), "the payments too: {reply}");
    let mut called = tools_called(app, &token, r["call_id"].as_i64().unwrap()).await;
    called.sort();
    assert_eq!(called, ["get_balance", "list_payments"]);

    // A ticket's status and a new ticket at once.
    let r = app
        .start_call(
            &token,
            json!({"customer_id": maria, "message": "¿Cómo va mi incidencia del router? Y abridme otra, que la tele no se ve."}),
        )
        .await;
    let mut called = tools_called(app, &token, r["call_id"].as_i64().unwrap()).await;
    called.sort();
    assert_eq!(called, ["create_ticket", "list_tickets"]);
    let reply = r["reply"].as_str().unwrap();
    assert!(reply.contains('#'), "the new ticket's number is given: {reply}");
}

async fn what_a_bot_must_not_settle_goes_to_a_person_at_once(app: &TestApp) {
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let token = app.token_for("agente", "agent").await;
    let (balance, payments, actions) = app.money_state().await;
    for (message, reason) in [
        ("Me han robado el móvil esta mañana, bloquead la línea ya", "policy_restriction"),
        ("Someone got into my account and changed my password", "policy_restriction"),
        ("Si no me lo arreglan hoy hablo con mi abogado y os denuncio", "policy_restriction"),
        ("Quiero darme de baja de todo, no quiero seguir con vosotros", "unsupported_request"),
        ("I want a refund of last month's fee, I never used the service", "unsupported_request"),
        ("I'm cancelling, but first tell me if my last payment came through", "unsupported_request"),
        ("My phone was stolen, I want to pay 50 by card", "policy_restriction"),
        ("Quiero darme de baja, pero antes pagar 50 euros con tarjeta", "unsupported_request"),
        ("I want a refund of 50 euros, and open a ticket: urgent", "unsupported_request"),
    ] {
        let r = app.start_call(&token, json!({"customer_id": maria, "message": message})).await;
        assert_eq!(r["verdict"]["action"], "escalate", "{message}: {r}");
        assert_eq!(r["verdict"]["reason"], reason, "{message}");
        assert_eq!(r["status"], "queued", "{message}");
        let priority = r["classification"]["priority"].as_str().unwrap();
        assert!(matches!(priority, "high" | "critical"), "{message}: priority {priority}");
        let called = tools_called(app, &token, r["call_id"].as_i64().unwrap()).await;
        assert!(
            !called.iter().any(|t| t == "create_ticket" || t == "request_payment_registration"),
            "{message}: nothing is acted on before a person looks: {called:?}"
        );
    }
    assert_eq!(app.money_state().await, (balance, payments, actions), "no money moved");

    // The same matters worded as the rules do not spell them, beside a payment or a
    // ticket: still a person's, at once, with nothing acted on.
    for message in [
        "I'm done with you lot, close my account; I paid 40 quid, record it",
        "quiero que me regresen mi dinero, pagué 30 euros de más, regístrenlo",
        "me clonaron la tarjeta y pagaron 50 euros con ella, regístrenlo",
        "my solicitor will be in touch; also I paid 50 euros, record it",
        "alguien se metió en mi cuenta y cambió la clave; ábranme un ticket",
    ] {
        let r = app.start_call(&token, json!({"customer_id": maria, "message": message})).await;
        assert_eq!(r["verdict"]["action"], "escalate", "{message}: {r}");
        let priority = r["classification"]["priority"].as_str().unwrap();
        assert!(matches!(priority, "high" | "critical"), "{message}: priority {priority}");
        let called = tools_called(app, &token, r["call_id"].as_i64().unwrap()).await;
        assert!(
            !called.iter().any(|t| t == "create_ticket" || t == "request_payment_registration"),
            "{message}: nothing is acted on before a person looks: {called:?}"
        );
    }
    assert_eq!(app.money_state().await, (balance, payments, actions), "no money moved");
}

/// Requests worded as customers word them, not as the rules spell them: the learned
/// intents serve them, and amounts written in words are read exactly.
async fn requests_in_everyday_words_are_served(app: &TestApp) {
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let token = app.token_for("agente", "agent").await;
    for (message, want, amount) in [
        (
            "paid forty quid at the post office this morning, can you put it on my account",
            &["request_payment_registration"][..],
            Some("40.00"),
        ),
        ("transferí mil doscientos pesos ayer, anotalo porfa", &["request_payment_registration"], Some("1200.00")),
        ("just sent you €1,250.50 by bank transfer, please log it", &["request_payment_registration"], Some("1250.50")),
        ("how far behind am I on my bills with you?", &["get_balance"], None),
        ("my engineer never showed up, what's going on with my repair?", &["list_tickets"], None),
        (
            "did my money arrive last week? and the box keeps freezing, send someone",
            &["create_ticket", "list_payments"],
            None,
        ),
    ] {
        let (_, _, actions) = app.money_state().await;
        let r = app.start_call(&token, json!({"customer_id": maria, "message": message})).await;
        let mut called = tools_called(app, &token, r["call_id"].as_i64().unwrap()).await;
        called.sort();
        called.dedup();
        if want.contains(&"create_ticket") {
            // Checking the open tickets first is part of opening one.
            called.retain(|t| t != "list_tickets");
        }
        assert_eq!(called, want, "{message}: {r}");
        assert_eq!(r["verdict"]["action"], "continue", "{message}: served, not handed over: {r}");
        if let Some(amount) = amount {
            let reply = r["reply"].as_str().unwrap();
            assert!(reply.contains(amount), "{message}: the amount read exactly: {reply}");
            assert_eq!(app.money_state().await.2, actions + 1, "{message}: one pending action");
        }
    }
}

/// The same payment asked again in one call — a customer repeating themselves, a
/// replayed request, ten parallel posts — is one request for staff approval.
async fn a_repeated_payment_request_is_filed_once(app: &TestApp) {
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let token = app.token_for("agente", "agent").await;
    let (_, _, before) = app.money_state().await;
    let message = "I paid 35 euros by card this morning, please register it";
    let r = app.start_call(&token, json!({"customer_id": maria, "message": message})).await;
    let call = r["call_id"].as_i64().unwrap();
    assert_eq!(app.money_state().await.2, before + 1, "{r}");
    let again = app.say(&token, call, message).await;
    assert!(again["reply"].as_str().unwrap().contains("35.00"), "{again}");
    let posts = (0..10)
        .map(|_| post_json(app.url(&format!("/api/v1/calls/{call}/messages")), &token, json!({"text": message})));
    for r in futures_util::future::join_all(posts).await {
        assert!(r.status().is_success() || r.status() == 409, "{:?}", r.text().await);
    }
    assert_eq!(app.money_state().await.2, before + 1, "one pending request, not twelve");
    // A different amount is a different request.
    app.say(&token, call, "and I paid 10 euros in cash yesterday, register that too").await;
    assert_eq!(app.money_state().await.2, before + 2);
}

/// A payment the customer made in dollars is passed on as dollars, never as euros:
/// the person approving enters the euros that reached the account, over the API or on
/// the approvals page, and only that is registered.
async fn a_payment_in_another_currency_is_registered_in_euros(app: &TestApp) {
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let token = app.token_for("agente", "agent").await;
    let boss = app.token_for("jefa", "supervisor").await;
    let (balance, payments, actions) = app.money_state().await;
    let r = app
        .start_call(
            &token,
            json!({"customer_id": maria, "message": "I paid 35 dollars by card this morning, please register it"}),
        )
        .await;
    let reply = r["reply"].as_str().unwrap();
    assert!(reply.contains("35.00 USD") && reply.contains("euros") && !reply.contains('€'), "{reply}");
    assert_eq!(app.money_state().await, (balance, payments, actions + 1));
    let list: Value = get_json(app.url("/api/v1/pending-actions"), &boss).await;
    let action = list["actions"].as_array().unwrap().iter().find(|a| a["call_id"] == r["call_id"]).unwrap().clone();
    assert_eq!(action["params"]["currency"], "USD", "{action}");
    assert_eq!(action["params"]["amount"], "35.00", "{action}");
    let approve = app.url(&format!("/api/v1/pending-actions/{}/approve", action["id"]));

    // Without the amount in euros, or with one that is not an amount: refused, nothing registered.
    let bare = reqwest::Client::new().post(&approve).bearer_auth(&boss).send().await.unwrap();
    assert_eq!(bare.status(), 422);
    assert!(bare.text().await.unwrap().contains("amount_eur"));
    for body in [json!({"amount_eur": "abc"}), json!({"amount_eur": "-5"}), json!({"amount_eur": ""})] {
        let r = post_json(approve.clone(), &boss, body.clone()).await;
        assert_eq!(r.status(), 422, "{body}");
    }
    let r = post_json(approve.clone(), &boss, json!({"amount": "31.20"})).await;
    assert_eq!(r.status(), 422, "unknown field");
    assert_eq!(app.money_state().await, (balance, payments, actions + 1), "nothing registered yet");

    // With it: the euros are registered, the dollars kept in the payment's description.
    let r = post_json(approve.clone(), &boss, json!({"amount_eur": "31,20"})).await;
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["status"], "approved");
    assert_eq!(done["result"]["amount"], "31.20", "{done}");
    assert_eq!(app.money_state().await, (balance - 3120, payments + 1, actions + 1));
    let listed: Value = get_json(app.url(&format!("/api/v1/payments?customer_id={maria}")), &boss).await;
    let newest = listed["items"][0].clone();
    assert!(newest["description"].as_str().unwrap().starts_with("35.00 USD"), "{newest}");

    // A payment in euros takes no amount in euros.
    let r = app
        .start_call(&token, json!({"customer_id": maria, "message": "I paid 20 euros in cash today, register it"}))
        .await;
    assert!(r["reply"].as_str().unwrap().contains("20.00 €"), "{r}");
    let list: Value = get_json(app.url("/api/v1/pending-actions"), &boss).await;
    let euro = list["actions"].as_array().unwrap().iter().find(|a| a["call_id"] == r["call_id"]).unwrap().clone();
    assert!(euro["params"].get("currency").is_none(), "{euro}");
    let euro_approve = app.url(&format!("/api/v1/pending-actions/{}/approve", euro["id"]));
    let r = post_json(euro_approve.clone(), &boss, json!({"amount_eur": "20.00"})).await;
    assert_eq!(r.status(), 422);

    // On the approvals page: the field is offered for the foreign payment, and the
    // form registers what was typed.
    let r = app
        .start_call(
            &token,
            json!({"customer_id": maria, "message": "te pagué 50 dólares por transferencia, regístralo"}),
        )
        .await;
    assert!(r["reply"].as_str().unwrap().contains("50.00 USD"), "{r}");
    let list: Value = get_json(app.url("/api/v1/pending-actions"), &boss).await;
    let web = list["actions"].as_array().unwrap().iter().find(|a| a["call_id"] == r["call_id"]).unwrap().clone();
    let browser = app.signed_in("supervisora", "supervisor").await;
    let page = browser.page("/actions").await;
    assert!(page.contains("name=\"amount_eur\""), "the euro field is on the page");
    let (before, _, _) = app.money_state().await;
    let path = format!("/actions/{}/approve", web["id"]);
    let r = browser.post(&path, "/actions", &[("back", "/actions")]).await;
    assert_eq!(r.status(), 422, "the page asks for the euros");
    let r = browser.post(&path, "/actions", &[("back", "/actions"), ("amount_eur", "46.10")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.money_state().await.0, before - 4610);
}

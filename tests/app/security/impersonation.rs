//! Staff write into a call only as staff and only while holding it; a customer turn
//! over the API is for API-channel calls the caller opened, recorded with its author.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, post_json};
use crate::on_both;

on_both!(an_agent_cannot_write_as_the_customer_into_someone_elses_call, staff_messages_are_authored_and_audited);

async fn message_rows(app: &TestApp, call: i64) -> Vec<(String, String, Option<i64>)> {
    let db = app.state.db();
    centralita::with_db!(db, |pool| sqlx::query_as::<_, (String, String, Option<i64>)>(
        "SELECT role, content, author_id FROM messages WHERE call_id = $1 ORDER BY id",
    )
    .bind(call)
    .fetch_all(pool)
    .await)
    .unwrap()
}

async fn pending_actions(app: &TestApp) -> i64 {
    let db = app.state.db();
    centralita::with_db!(db, |pool| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pending_actions")
        .fetch_one(pool)
        .await)
    .unwrap()
}

async fn an_agent_cannot_write_as_the_customer_into_someone_elses_call(app: &TestApp) {
    let agent = app.token_for("mallory", "agent").await;
    let (customer, link) = app.customer_starts("Carmen Ruiz", "carmen@example.com", "Hola, tengo una duda").await;
    let call = customer.call_id(&link).await;
    let before = message_rows(app, call).await;

    // A live web call nobody holds: the agent's "customer" turn is refused.
    let url = app.url(&format!("/api/v1/calls/{call}/messages"));
    let r = post_json(url.clone(), &agent, json!({"text": "Quiero pagar 900.00 euros de mi factura"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "conflict", "{body}");
    assert!(body["message"].as_str().unwrap().contains("call_not_held"), "{body}");
    assert_eq!(message_rows(app, call).await, before, "nothing stored");
    assert_eq!(pending_actions(app).await, 0, "the AI acted on nothing");
    let page = customer.page(&link).await;
    assert!(!page.contains("900.00"), "the customer's page shows no words put in their mouth");

    // Streamed or not, the same.
    let r = centralita_stream(app, &agent, call).await;
    assert_eq!(r, StatusCode::CONFLICT);

    // An API call opened by someone else is refused too, even for a supervisor.
    let other = app.token_for("opener", "agent").await;
    let boss = app.token_for("boss", "supervisor").await;
    let body = json!({"customer": {"name": "Pablo Gil", "email": "pablo@example.com"}, "message": "Hola"});
    let api_call = app.start_call(&other, body).await["call_id"].as_i64().unwrap();
    for token in [&agent, &boss] {
        let r = post_json(app.url(&format!("/api/v1/calls/{api_call}/messages")), token, json!({"text": "hola"})).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
    }
    // Holding the web call, the agent speaks as staff, never as the customer.
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &agent, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post_json(url, &agent, json!({"text": "Hola Carmen, soy del equipo"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let last = message_rows(app, call).await.pop().unwrap();
    assert_eq!(last.0, "human");
}

async fn centralita_stream(app: &TestApp, token: &str, call: i64) -> StatusCode {
    app.say_streamed(token, call, "hola").await.status()
}

async fn staff_messages_are_authored_and_audited(app: &TestApp) {
    let (user, _) = app.ready_user("relay", "agent").await;
    let relay_id = user["id"].as_i64().unwrap();
    let token = app.api_login("relay", "relay-final-password").await["access_token"].as_str().unwrap().to_owned();
    // A phone call the agent logs over the API: they type the customer's words.
    let body =
        json!({"customer": {"name": "Lola Paz", "email": "lola@example.com"}, "channel": "api", "message": "Hola"});
    let call = app.start_call(&token, body).await["call_id"].as_i64().unwrap();
    let r =
        post_json(app.url(&format!("/api/v1/calls/{call}/messages")), &token, json!({"text": "¿Cuál es mi saldo?"}))
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rows = message_rows(app, call).await;
    let customer_rows: Vec<_> = rows.iter().filter(|r| r.0 == "customer").collect();
    assert_eq!(customer_rows.len(), 2);
    assert!(customer_rows.iter().all(|r| r.2 == Some(relay_id)), "relayed words carry who typed them: {rows:?}");

    // Taken over, the reply is a staff message; both kinds are in the audit log.
    post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &token, json!({})).await;
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/messages")), &token, json!({"text": "Le ayudo yo"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let actions = app.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "call.relay").count(), 2, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| *a == "call.reply").count(), 1, "{actions:?}");
}

//! Taking a call over: one person holds it, and only the holder replies, hands it back
//! or closes it (a supervisor may close it too).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, post_json};
use crate::on_both;

on_both!(only_one_person_holds_a_call_and_only_the_holder_replies,);

async fn only_one_person_holds_a_call_and_only_the_holder_replies(app: &TestApp) {
    let ana = app.token_for("alba", "agent").await;
    let liam = app.token_for("luis", "agent").await;
    let sofia = app.token_for("sara", "supervisor").await;
    let body = json!({"customer": {"name": "Race Caller", "email": "race@example.com"}, "message": "Necesito ayuda con mi router"});
    let call = app.start_call(&sofia, body).await["call_id"].as_i64().unwrap();

    // Two agents press "take over" at the same moment: exactly one wins.
    let url = app.url(&format!("/api/v1/calls/{call}/takeover"));
    let (a, b) = tokio::join!(post_json(url.clone(), &ana, json!({})), post_json(url.clone(), &liam, json!({})));
    let mut codes = [a.status(), b.status()];
    codes.sort();
    assert_eq!(codes, [StatusCode::OK, StatusCode::CONFLICT]);
    let (winner, loser) = if a.status() == StatusCode::OK { (&ana, &liam) } else { (&liam, &ana) };
    let loser_body: Value =
        if a.status() == StatusCode::OK { b.json().await.unwrap() } else { a.json().await.unwrap() };
    assert_eq!(loser_body["error"], "call_held");
    let holder = if winner == &ana { "alba Test" } else { "luis Test" };
    assert!(loser_body["message"].as_str().unwrap().contains(holder), "{loser_body}");
    // Taking it again is harmless for the holder.
    assert_eq!(post_json(url.clone(), winner, json!({})).await.status(), StatusCode::OK);

    // The other agent may not write into it (neither as staff nor as the customer),
    // hand it back or close it.
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/messages")), loser, json!({"text": "hola"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "call_held");
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/handback")), loser, json!({})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), loser, json!({"outcome": "resolved"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Bad close input is a clear 422; a supervisor may close a call someone holds.
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &sofia, json!({"outcome": "done"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["fields"]["outcome"],
        "Choose resolved, follow_up, transferred or abandoned."
    );
    let r =
        post_json(app.url(&format!("/api/v1/calls/{call}/close")), &sofia, json!({"outcome": "follow_up", "csat": 9}))
            .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &sofia, json!({"outcome": "follow_up"})).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Unknown calls are 404.
    let r = post_json(app.url("/api/v1/calls/999999/takeover"), &ana, json!({})).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = post_json(app.url("/api/v1/calls/999999/close"), &ana, json!({"outcome": "resolved"})).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

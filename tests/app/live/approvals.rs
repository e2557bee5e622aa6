//! Pending actions: a supervisor's approval executes the stored parameters exactly once;
//! a rejection executes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{EventStream, TestApp, new_client, post_json};
use crate::on_both;

on_both!(approval_executes_the_stored_parameters_exactly_once,);

async fn approval_executes_the_stored_parameters_exactly_once(app: &TestApp) {
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let agent = app.token_for("alba", "agent").await;
    let supervisor = app.token_for("sara", "supervisor").await;
    let other_supervisor = app.token_for("teo", "supervisor").await;
    let mut stream = EventStream::open(app.staff_stream(&supervisor)).await;
    let (balance, payments, _) = app.money_state().await;
    let body = json!({"customer_id": maria, "message": "Ayer pagué 50 euros en efectivo, ¿me lo podéis registrar?"});
    app.start_call(&agent, body).await;
    let pending = stream.until_kind("action_pending").await;
    let event = pending.last().unwrap();
    assert_eq!(event["data"]["params"]["amount"], "50.00");

    let list = crate::helpers::get_json(app.url("/api/v1/pending-actions"), &agent).await;
    let action = &list["actions"][0];
    assert_eq!(action["status"], "pending");
    assert_eq!(action["params"]["customer_id"], maria);
    let id = action["id"].as_i64().unwrap();
    let approve = app.url(&format!("/api/v1/pending-actions/{id}/approve"));

    // Agents cannot approve.
    assert_eq!(post_json(approve.clone(), &agent, json!({})).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.money_state().await.1, payments);

    // Two supervisors approve at once: one payment, one 409.
    let (a, b) = tokio::join!(
        post_json(approve.clone(), &supervisor, json!({})),
        post_json(approve.clone(), &other_supervisor, json!({}))
    );
    let mut codes = [a.status(), b.status()];
    codes.sort();
    assert_eq!(codes, [StatusCode::OK, StatusCode::CONFLICT]);
    let (after_balance, after_payments, _) = app.money_state().await;
    assert_eq!(after_payments, payments + 1);
    assert_eq!(after_balance, balance - 5000, "the stored amount, once");
    let decided = stream.until_kind("action_decided").await;
    assert_eq!(decided.last().unwrap()["data"]["decision"], "approved");
    assert!(decided.last().unwrap()["data"]["result"]["payment_id"].is_i64());
    // Rejecting what is decided is a conflict, and changes nothing.
    let r = post_json(app.url(&format!("/api/v1/pending-actions/{id}/reject")), &supervisor, json!({})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(app.money_state().await.1, payments + 1);

    // A rejected request executes nothing.
    let body = json!({"customer_id": maria, "message": "Pagué 20 euros con tarjeta, registradlo por favor"});
    app.start_call(&agent, body).await;
    let list = crate::helpers::get_json(app.url("/api/v1/pending-actions"), &supervisor).await;
    let id = list["actions"][0]["id"].as_i64().unwrap();
    let r = post_json(app.url(&format!("/api/v1/pending-actions/{id}/reject")), &supervisor, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "rejected");
    assert_eq!(app.money_state().await.1, payments + 1);
    let all = crate::helpers::get_json(app.url("/api/v1/pending-actions?status=all"), &supervisor).await;
    assert_eq!(all["actions"].as_array().unwrap().len(), 2);
    let r = new_client()
        .get(app.url("/api/v1/pending-actions?status=maybe"))
        .bearer_auth(&supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(app.audit_actions().await.iter().any(|a| a == "action.approve"));
    assert!(app.audit_actions().await.iter().any(|a| a == "action.reject"));

    // The approvals page lists both with who decided, through a real browser session.
    let b = app.signed_in("otto", "supervisor").await;
    let html = b.page("/actions").await;
    assert!(html.contains("50.00 EUR") && html.contains("20.00 EUR"), "{html}");
    assert!(html.contains("sara Test"));
    stream.close();
}

//! A customer record first made from the public page is a claim, not an identity:
//! staff's details win, and the claimant cannot see what is later done for the real
//! customer.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, get_json, location};
use crate::on_both;

on_both!(
    a_public_claim_does_not_become_the_real_customers_identity,
    staff_entering_the_same_details_confirm_a_claim,
    an_unverified_record_cannot_be_picked_by_id,
    staff_confirm_a_claim_from_the_call_page,
);

async fn record(app: &TestApp, email: &str) -> (i64, String, Option<String>, bool) {
    let db = app.state.db();
    centralita::with_db!(db, |pool| sqlx::query_as::<_, (i64, String, Option<String>, bool)>(
        "SELECT id, name, phone, verified FROM customers WHERE email = $1",
    )
    .bind(email)
    .fetch_one(pool)
    .await)
    .unwrap()
}

async fn public_call(app: &TestApp, name: &str, email: &str, phone: &str) -> (crate::helpers::Browser, String) {
    let b = app.browser();
    let fields = [("name", name), ("email", email), ("phone", phone), ("message", "Hola, quiero saber mi saldo")];
    let r = b.post("/call", "/call", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let link = location(&r);
    (b, link)
}

async fn a_public_claim_does_not_become_the_real_customers_identity(app: &TestApp) {
    let agent = app.token_for("alba", "agent").await;
    // A visitor is first to type the real customer's address, with their own phone.
    let (visitor, link) = public_call(app, "Falso Nombre", "real.customer@example.com", "+34 600 111 222").await;
    let claim_call = visitor.call_id(&link).await;
    let (id, _, _, verified) = record(app, "real.customer@example.com").await;
    assert!(!verified, "a record made from the public page is unverified");
    let detail = get_json(app.url(&format!("/api/v1/calls/{claim_call}")), &agent).await;
    assert_eq!(detail["call"]["customer_id"], id);
    let staff_page = app.browser();
    staff_page.login("admin", crate::helpers::ADMIN_PASSWORD).await;
    let html = staff_page.page(&format!("/calls/{claim_call}")).await;
    assert!(html.contains("sin verificar") || html.contains("unverified"), "staff see it is a claim");
    // A summary of the claim's call is drafted while the claim stands.
    let claimed = centralita::calls::get(app.state.db(), claim_call).await.unwrap();
    centralita::email::summary::request(&app.state, &claimed, None, centralita::email::Confirmation::Pending, None)
        .await
        .unwrap();
    assert!(visitor.page(&link).await.contains("id=\"summary-"), "the claimant sees the summary");

    // Staff later open a call for the real customer with their real details.
    let body = json!({"customer": {"name": "Real Customer", "email": "real.customer@example.com", "phone": "+34 699 999 999"},
                      "channel": "api", "message": "Quiero abrir una incidencia: no puedo acceder a mi cuenta"});
    let staff_call = app.start_call(&agent, body).await["call_id"].as_i64().unwrap();
    let (real_id, name, phone, verified) = record(app, "real.customer@example.com").await;
    assert_ne!(real_id, id, "a fresh record: nothing the claim's calls filed lands on the real customer");
    assert_eq!(name, "Real Customer", "staff-entered name kept");
    assert_eq!(phone.as_deref(), Some("+34 699 999 999"), "staff-entered phone kept");
    assert!(verified);
    let detail = get_json(app.url(&format!("/api/v1/calls/{staff_call}")), &agent).await;
    assert_eq!(detail["call"]["customer_id"], real_id);
    let db = app.state.db();
    let (claim_email, active): (String, bool) = centralita::with_db!(db, |pool| sqlx::query_as::<_, (String, bool)>(
        "SELECT email, active FROM customers WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await)
    .unwrap();
    assert!(!active && claim_email != "real.customer@example.com", "the claim is retired: {claim_email}");

    // The claimant's call no longer reaches the record; a new call with the phone
    // they typed does not either.
    let detail = get_json(app.url(&format!("/api/v1/calls/{claim_call}")), &agent).await;
    assert!(detail["call"]["customer_id"].is_null(), "claim detached: {}", detail["call"]);
    assert_eq!(detail["call"]["contact_email"], "real.customer@example.com", "what they claimed stays visible");
    let page = visitor.page(&link).await;
    assert!(!page.contains("id=\"summary-") && !page.contains("/summary\""), "no summary of a withdrawn claim");
    let (visitor, link) = public_call(app, "Falso Nombre", "real.customer@example.com", "+34 600 111 222").await;
    let again = visitor.call_id(&link).await;
    let detail = get_json(app.url(&format!("/api/v1/calls/{again}")), &agent).await;
    assert!(detail["call"]["customer_id"].is_null());
    assert!(!visitor.page(&link).await.contains("Real Customer"));
}

async fn an_unverified_record_cannot_be_picked_by_id(app: &TestApp) {
    let agent = app.token_for("alba", "agent").await;
    let (visitor, link) = public_call(app, "Alguien", "someone@example.com", "600 000 111").await;
    visitor.call_id(&link).await;
    let (id, _, _, _) = record(app, "someone@example.com").await;
    let r = crate::helpers::new_client()
        .post(app.url("/api/v1/calls"))
        .bearer_auth(&agent)
        .json(&json!({"customer_id": id, "message": "Hola"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["fields"]["customer_id"].as_str().unwrap().contains("not verified"), "{body}");
}

async fn staff_entering_the_same_details_confirm_a_claim(app: &TestApp) {
    let agent = app.token_for("alba", "agent").await;
    let (visitor, link) = public_call(app, "Ana Torres", "ana.torres@example.com", "600 123 456").await;
    let first = visitor.call_id(&link).await;
    let body = json!({"customer": {"name": "ana torres", "email": "ana.torres@example.com", "phone": "+600-123-456"},
                      "message": "Hola"});
    app.start_call(&agent, body).await;
    let (id, _, _, verified) = record(app, "ana.torres@example.com").await;
    assert!(verified, "same name and phone: the claim is confirmed");
    let detail = get_json(app.url(&format!("/api/v1/calls/{first}")), &agent).await;
    assert_eq!(detail["call"]["customer_id"], id, "and the customer's own call stays linked");
}

async fn staff_confirm_a_claim_from_the_call_page(app: &TestApp) {
    let (visitor, link) = public_call(app, "Rosa Vidal", "rosa@example.com", "611 222 333").await;
    let call = visitor.call_id(&link).await;
    let staff = app.browser();
    staff.login("admin", crate::helpers::ADMIN_PASSWORD).await;
    let page = staff.page(&format!("/calls/{call}")).await;
    assert!(page.contains("id=\"verify-customer\""), "an unverified caller can be confirmed from the call page");
    let r = staff.post(&format!("/calls/{call}/verify-customer"), &format!("/calls/{call}"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, _, _, verified) = record(app, "rosa@example.com").await;
    assert!(verified);
    assert!(!staff.page(&format!("/calls/{call}")).await.contains("id=\"verify-customer\""));
    assert!(app.audit_actions().await.contains(&"customer.verify".to_owned()));
    // Confirming again (or an unlinked call) is a clear conflict over the API.
    let agent = app.token_for("alba", "agent").await;
    let url = app.url(&format!("/api/v1/calls/{call}/verify-customer"));
    let r = crate::helpers::new_client().post(url).bearer_auth(&agent).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

//! Records while working a call, in a real browser: the agent takes a call over, sees the
//! caller's customer panel (and sees it change when a payment lands elsewhere), opens a
//! ticket from the call, and later finds the call again through the history filters.

use centralita::calls;
use centralita::db::Backend;
use serde_json::json;

use super::{Driver, assert_no_csp_errors, sign_in};
use crate::helpers::{TestApp, eventually, post_json};
use crate::on_both_backends;

on_both_backends!(agent_works_a_call_with_the_customer_panel_a_ticket_and_the_history);

async fn agent_works_a_call_with_the_customer_panel_a_ticket_and_the_history(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    centralita::seed::seed_demo(app.state.db()).await.unwrap();
    let (_, pw) = app.ready_user("alba", "agent").await;
    let supervisor = app.token_for("marta", "supervisor").await;

    // Customer 1 (María López, owes 125.50) calls; a second call by someone else must
    // not match the history search later.
    let words = "El router parpadea en naranja y no navego desde el martes";
    let call = app.web_call_for(1, words).await;
    let other = app.web_call_for(2, "Quiero saber mi saldo, por favor").await;

    let d = Driver::start().await;
    sign_in(&d, &app, "alba", &pw).await;
    d.goto(&app.url(&format!("/calls/{call}"))).await;
    let panel = d.wait_text("#customer-panel", "María López").await;
    assert!(d.text("#panel-balance").await.contains("125.50"), "balance in the panel: {panel}");
    d.wait_until("return document.body.classList.contains('is-live')", "event stream connected").await;
    d.execute("window.__sameDocument = 11; return true;").await;

    // Take it over.
    d.click("#takeover").await;
    d.find("#reply-form textarea").await;
    assert_eq!(calls::get(app.state.db(), call).await.unwrap().status.as_str(), "human");

    // A supervisor registers a payment elsewhere: the open panel follows by itself.
    let r = post_json(
        app.url("/api/v1/payments"),
        &supervisor,
        json!({"customer_id": 1, "amount": "25,50", "method": "card", "description": "Pago <b>parcial</b>"}),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    d.wait_text("#panel-balance", "100.00").await;
    let payments = d.wait_text("#customer-panel .panel-payments", "Pago <b>parcial</b>").await;
    assert!(payments.contains("25.50"), "the new payment in the panel: {payments}");
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(11), "no reload");
    d.screenshot("07-call-customer-panel").await;

    // Open a ticket from the call: the form arrives with the call and the customer filled in.
    d.click("#open-ticket").await;
    d.wait_until("return location.pathname === '/tickets/new'", "the new-ticket form").await;
    assert_eq!(d.value("#ticket-form input[name=call_id]").await, call.to_string());
    assert_eq!(d.value("#ticket-form input[name=customer_id]").await, "1");
    d.click("#ticket-form select[name=priority] option[value=high]").await;
    d.type_into("#ticket-form input[name=title]", "Router sin conexión").await;
    d.type_into("#ticket-form textarea[name=description]", "Luz naranja desde el martes.").await;
    d.click("#ticket-form button[type=submit]").await;
    d.wait_until("return /^\\/tickets\\/[0-9]+$/.test(location.pathname)", "the ticket's page").await;
    d.wait_text("#ticket", "Router sin conexión").await;
    d.wait_text("#ticket-priority", "igh").await;
    let db = app.state.db();
    let (ticket_call, ticket_customer): (Option<i64>, i64) = eventually("the ticket was stored", || async {
        centralita::with_db!(db, |pool| sqlx::query_as::<_, (Option<i64>, i64)>(
            "SELECT call_id, customer_id FROM tickets WHERE title = $1"
        )
        .bind("Router sin conexión")
        .fetch_optional(pool)
        .await)
        .unwrap()
    })
    .await;
    assert_eq!((ticket_call, ticket_customer), (Some(call), 1));
    d.screenshot("08-ticket-from-call").await;

    // Back on the call, the panel counts the new ticket.
    d.goto(&app.url(&format!("/calls/{call}"))).await;
    d.wait_text("#customer-panel .panel-tickets", "Router sin conexión").await;

    // Later: find the call through the history filters (status and words of the transcript).
    d.goto(&app.url("/calls")).await;
    d.find("#call-filters").await;
    d.click("#call-filters select[name=status] option[value=human]").await;
    d.type_into("#call-filters input[name=q]", "PARPADEA en naranja").await;
    d.click("#call-filters button[type=submit]").await;
    d.wait_until("return location.search.includes('q=')", "the filtered list").await;
    d.find(&format!("#history-call-{call}")).await;
    assert_eq!(d.text("#calls-total").await.trim(), "1");
    assert_eq!(
        d.execute(&format!("return document.getElementById('history-call-{other}') === null;")).await,
        json!(true),
        "the other call is filtered out"
    );
    // The filters stay in the form, and the row leads back to the call.
    assert_eq!(d.value("#call-filters input[name=q]").await, "PARPADEA en naranja");
    d.click(&format!("#history-call-{call} td a")).await;
    d.wait_until(&format!("return location.pathname === '/calls/{call}'"), "back on the call").await;
    d.wait_text("#call-live .transcript", "parpadea").await;
    d.screenshot("09-call-found-in-history").await;

    assert_no_csp_errors(&d.console().await);
    d.quit().await;
    app.finish().await;
}

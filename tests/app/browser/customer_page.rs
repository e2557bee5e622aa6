//! The customer's private call page in a real browser: the answer streams in, a person
//! joins and answers, and the closed call offers its summary and a rating, all without
//! a reload.

use centralita::db::Backend;
use serde_json::json;

use super::{Driver, assert_no_csp_errors};
use crate::helpers::{TestApp, post_json};
use crate::on_both_backends;

on_both_backends!(customer_sees_the_answer_stream_in_and_a_person_join);

async fn customer_sees_the_answer_stream_in_and_a_person_join(backend: Backend) {
    // A relay that takes 2.5 s to accept: the summary is delivered after the page's
    // own redraws, so only the delivery's event can tell the page.
    let mut sink = crate::smtp::SmtpSink::new().with_delay(2.5);
    sink.run();
    let app = TestApp::spawn(backend, |c| sink.apply(c)).await;
    let agent = app.token_for("alba", "agent").await;
    let d = Driver::start().await;
    d.goto(&app.url("/call")).await;
    d.type_into("input[name=name]", "Carmen Ruiz").await;
    d.type_into("input[name=email]", "carmen@example.com").await;
    d.type_into("textarea[name=message]", "Hola, buenas tardes").await;
    d.click("#start button[type=submit]").await;
    d.wait_until("return location.pathname.startsWith('/c/')", "the call's private page").await;
    d.find("#conversation .msg-ai").await;
    d.wait_until("return document.body.classList.contains('is-live')", "event stream connected").await;

    // Watch for the bubble that shows the reply while it is being written.
    d.execute(
        "window.__sameDocument = 7; window.__sawTyping = false;
         new MutationObserver(function () { if (document.getElementById('typing')) window.__sawTyping = true; })
           .observe(document.body, {subtree: true, childList: true, characterData: true});
         return true;",
    )
    .await;
    d.type_into("#composer textarea", "Mi internet no funciona desde ayer, ¿podéis ayudarme?").await;
    d.click("#composer button[type=submit]").await;
    d.wait_until("return document.querySelectorAll('#conversation .msg-ai').length === 2", "second answer").await;
    d.wait_until("return window.__sawTyping === true", "the answer streamed in").await;
    d.wait_until("return document.getElementById('typing') === null", "streaming bubble replaced").await;
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(7), "no reload");
    assert_eq!(d.value("#composer textarea").await, "", "the box is ready for the next message");
    d.screenshot("07-customer-streamed").await;

    // A person joins and answers: the customer sees both without reloading.
    let call = centralita::calls::recent(app.state.db(), 1).await.unwrap()[0].id;
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &agent, json!({})).await;
    assert!(r.status().is_success());
    d.wait_text("#conversation", "has joined").await;
    d.wait_text("#conversation .status-line", "alba is with you").await;
    let r = post_json(
        app.url(&format!("/api/v1/calls/{call}/messages")),
        &agent,
        json!({"text": "Hola Carmen, reviso tu línea ahora mismo."}),
    )
    .await;
    assert!(r.status().is_success());
    d.wait_text("#conversation .msg-human", "reviso tu línea").await;
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(7), "no reload");
    d.screenshot("08-customer-person-joined").await;

    // The agent closes the call: the page offers the summary and asks for a rating, and
    // the message box goes away — all without a reload.
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &agent, json!({"outcome": "resolved"})).await;
    assert!(r.status().is_success());
    d.find("#summary-offer button[value=yes]").await;
    d.wait_until("return document.querySelector('#composer textarea') === null", "message box gone").await;
    d.click_until(
        "#summary-offer button[value=yes]",
        "return document.getElementById('summary-draft') !== null",
        "the summary draft shows",
    )
    .await;
    // The supervisor agent's summary shows before anything is sent.
    d.wait_text("#summary-draft", "Next steps").await;
    d.click_until(
        "#summary-draft button[value=send]",
        "return document.getElementById('summary-answer') !== null",
        "the summary's answer shows",
    )
    .await;
    d.wait_text("#summary-answer", "summary").await;
    // The worker delivers it and the page says so without a reload.
    d.wait_text("#summary-answer", "on its way").await;
    d.wait_text("#summary-answer", "We sent the summary").await;
    assert_eq!(sink.messages().len(), 1);
    d.click("#rating input[value='5']").await;
    d.click("#rating button[type=submit]").await;
    d.wait_text("#rating", "5/5").await;
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(7), "no reload");
    let ended = centralita::calls::get(app.state.db(), call).await.unwrap();
    assert_eq!((ended.summary_consent.as_deref(), ended.csat), (Some("yes"), Some(5)));
    d.screenshot("09-customer-rated").await;

    assert_no_csp_errors(&d.console().await);
    d.quit().await;
    app.finish().await;
}

//! WhatsApp in a real browser: a signed webhook from the fake Cloud API provider
//! (wiremock) opens a conversation that appears on the board already open (no
//! reload); an agent opens it, takes over, types a reply and sends it, and the provider
//! receives exactly that text; the provider's delivery status shows on the call's page
//! by itself; and a message template, its variables filled with a live preview, goes
//! out from the same page as the Cloud API's template message, even when a preview or
//! a redraw of the controls comes while it is on its way.

use centralita::db::Backend;
use reqwest::StatusCode;
use serde_json::json;

use super::{Driver, assert_no_csp_errors, sign_in};
use crate::helpers::{TestApp, post_json};
use crate::on_both_backends;
use crate::whatsapp::{deliver, provider, status, text, wait_for_sends, whatsapp};

on_both_backends!(a_whatsapp_conversation_appears_live_and_the_agents_reply_and_template_reach_the_provider);

async fn a_whatsapp_conversation_appears_live_and_the_agents_reply_and_template_reach_the_provider(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let boss = app.token_for("wa-boss", "supervisor").await;
    let template = json!({"name": "follow_up", "language": "es", "category": "utility",
                          "body": "Hola {{1}}, seguimos con tu consulta {{2}}."});
    let r = post_json(app.url("/api/v1/channels/whatsapp/templates"), &boss, template).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let (_, pw) = app.ready_user("wa-agent", "agent").await;
    let d = Driver::start().await;
    sign_in(&d, &app, "wa-agent", &pw).await;
    d.goto(&app.url("/board")).await;
    d.find("#escalations").await;
    d.execute("window.__sameDocument = 7; return true;").await;
    d.wait_until("return document.body.classList.contains('is-live')", "event stream connected").await;

    // The customer writes on WhatsApp: the provider posts a signed webhook.
    let r = deliver(&app, &text("wamid.BROWSER1", "34688000888", "Iñigo", "Hola, tengo una duda con mi factura")).await;
    assert_eq!(r.status(), StatusCode::OK);
    d.wait_until("return document.querySelector('tr[id^=\"board-call-\"]') !== null", "the conversation on the board")
        .await;
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(7), "the board was not reloaded");
    let row_id = d.execute("return document.querySelector('tr[id^=\"board-call-\"]').id;").await;
    let call: i64 = row_id.as_str().unwrap().trim_start_matches("board-call-").parse().unwrap();
    d.wait_text(&format!("#board-call-{call}"), "WhatsApp").await;
    d.screenshot("30-whatsapp-on-the-board").await;
    let ai_reply = wait_for_sends(&server, 1).await;
    assert_eq!(ai_reply[0].0["to"], "34688000888");

    // Open it, take it over, reply.
    d.click(&format!("#board-call-{call} td a")).await;
    d.wait_until(&format!("return location.pathname === '/calls/{call}'"), "call page").await;
    d.click("#takeover").await;
    d.find("#reply-form textarea").await;
    let reply = "Hola Iñigo, soy de facturación: ¿me dices el número de la factura?";
    d.type_into("#reply-form textarea", reply).await;
    d.click("#reply-send").await;
    d.wait_text("#call-live .transcript", "número de la factura").await;
    let sent = wait_for_sends(&server, 2).await;
    let (body, auth) = &sent[1];
    assert_eq!(body["type"], "text");
    assert_eq!(body["text"]["body"], reply, "exactly what the agent typed");
    assert_eq!(body["to"], "34688000888");
    assert_eq!(auth, "Bearer provider-bearer-token");

    // The provider says it was delivered: the page shows it without a reload.
    d.execute("window.__sameDocument = 8; return true;").await;
    d.wait_text("#call-live .transcript .msg-human", "sent").await;
    let r = deliver(&app, &status("wamid.OUT1", "delivered", "34688000888")).await;
    assert_eq!(r.status(), StatusCode::OK);
    d.wait_text("#call-live .transcript .msg-human .delivery", "delivered").await;
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(8), "the call page was not reloaded");
    d.screenshot("31-whatsapp-reply-delivered").await;

    // A template from the page: fill its variables, watch the preview, send.
    d.click("#wa-templates summary").await;
    d.find("form.wa-template-form[data-name=follow_up] input[name=variable]").await;
    d.type_into("form.wa-template-form[data-name=follow_up] label:nth-of-type(1) input", "Iñigo").await;
    d.type_into("form.wa-template-form[data-name=follow_up] label:nth-of-type(2) input", "F-2024-77").await;
    d.wait_text(
        ".wa-template-form[data-name=follow_up] .wa-preview",
        "Hola Iñigo, seguimos con tu consulta F-2024-77.",
    )
    .await;
    d.screenshot("32-whatsapp-template-preview").await;
    d.click("form.wa-template-form[data-name=follow_up] button[type=submit]").await;
    d.wait_text("#call-live .transcript", "seguimos con tu consulta F-2024-77").await;
    let sent = wait_for_sends(&server, 3).await;
    assert_eq!(
        sent[2].0["template"],
        json!({"name": "follow_up", "language": {"code": "es"}, "components": [{"type": "body", "parameters": [
            {"type": "text", "text": "Iñigo"}, {"type": "text", "text": "F-2024-77"}]}]})
    );
    d.screenshot("33-whatsapp-template-sent").await;

    // On a slow network the send is still on its way when the preview of the last
    // keystroke fires and an event redraws the controls: neither cancels it.
    d.click("#wa-templates summary").await;
    d.type_into("form.wa-template-form[data-name=follow_up] label:nth-of-type(1) input", "Iñigo").await;
    d.slow_requests("/whatsapp/template", 1500).await;
    d.type_into("form.wa-template-form[data-name=follow_up] label:nth-of-type(2) input", "F-2024-78").await;
    d.click("form.wa-template-form[data-name=follow_up] button[type=submit]").await;
    d.execute("htmx.trigger(document.body, 'call-state'); return true;").await;
    d.wait_text("#call-live .transcript", "seguimos con tu consulta F-2024-78").await;
    let sent = wait_for_sends(&server, 4).await;
    assert_eq!(sent[3].0["template"]["components"][0]["parameters"][1]["text"], "F-2024-78");
    assert_no_csp_errors(&d.console().await);
    d.quit().await;
    app.finish().await;
}

//! A canned response in a real browser: the agent holding a call asks for a suggested
//! reply (it fills the box, nothing is sent), then types `/` and the shortcut in the
//! reply box, takes the response filled in with the customer's name, sends it, and the
//! customer's page shows it.

use centralita::db::Backend;
use reqwest::StatusCode;
use serde_json::json;

use super::{Driver, assert_no_csp_errors, sign_in};
use crate::helpers::{TestApp, location, post_json};
use crate::on_both_backends;

on_both_backends!(an_agent_types_a_shortcut_and_the_customer_sees_the_filled_in_reply);

async fn an_agent_types_a_shortcut_and_the_customer_sees_the_filled_in_reply(backend: Backend) {
    let app = TestApp::spawn(backend, |_| {}).await;
    app.demo_customer("maria.lopez@example.com").await;
    let phone = app.phone_on_file("maria.lopez@example.com").await;
    let boss = app.token_for("marta", "supervisor").await;
    let body = json!({"title": "Saludo", "shortcut": "saludo", "language": "es",
                      "body": "Hola {{customer_name}}, soy {{agent_name}}. ¿En qué puedo ayudarte?"});
    let r = post_json(app.url("/api/v1/canned-responses"), &boss, body).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // María calls from the public page with the details on file: the call is hers.
    let customer = app.browser();
    let fields = [
        ("name", "María López"),
        ("email", "maria.lopez@example.com"),
        ("phone", phone.as_str()),
        ("message", "Hola, tengo una duda con mi factura"),
    ];
    let r = customer.post("/call", "/call", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let link = location(&r);
    let call = customer.call_id(&link).await;

    let (_, pw) = app.ready_user("alba", "agent").await;
    let d = Driver::start().await;
    sign_in(&d, &app, "alba", &pw).await;
    d.goto(&app.url(&format!("/calls/{call}"))).await;
    d.click("#takeover").await;
    d.find("#reply-box").await;
    // The suggested reply arrives in the box without a reload; nothing is sent.
    let messages = centralita::calls::messages(app.state.db(), call).await.unwrap().len();
    d.execute("window.__sameDocument = 3; return true;").await;
    d.click("#suggest-reply").await;
    d.wait_until("return document.getElementById('reply-box').value.length > 20", "a suggested reply in the box").await;
    assert_eq!(d.execute("return window.__sameDocument;").await, json!(3), "no reload");
    d.screenshot("19-suggested-reply").await;
    assert_eq!(centralita::calls::messages(app.state.db(), call).await.unwrap().len(), messages);
    d.execute("document.getElementById('reply-box').value = ''; return true;").await;
    d.type_into("#reply-box", "/salu").await;
    d.wait_text("#canned-suggest", "/saludo").await;
    d.screenshot("20-canned-shortcut-offered").await;
    // Enter takes the response offered (it does not send the half-typed shortcut).
    d.type_into("#reply-box", "do\u{E007}").await;
    let expected = "Hola María López, soy alba Test. ¿En qué puedo ayudarte?";
    let script = format!("return document.getElementById('reply-box').value === {};", json!(expected));
    d.wait_until(&script, "the canned text is in the reply box").await;
    d.wait_until("return document.getElementById('canned-suggest') === null", "the list closed").await;
    d.screenshot("21-canned-inserted").await;
    d.click("#reply-send").await;
    d.wait_text("#call-live", "soy alba Test").await;

    d.goto(&app.url(&link)).await;
    d.wait_text("#conversation .msg-human", expected).await;
    let people = d.execute("return document.querySelectorAll('#conversation .msg-human').length;").await;
    assert_eq!(people, json!(1), "the suggestion was never sent");
    d.screenshot("22-canned-customer-sees-it").await;
    assert_no_csp_errors(&d.console().await);
    d.quit().await;
    app.finish().await;
}

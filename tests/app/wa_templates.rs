//! WhatsApp message templates: kept by supervisors and admins (validated as the Cloud
//! API requires), read by every role, previewed filled in, and sent by the person
//! holding a WhatsApp call, also after the 24-hour window has closed, as the Cloud
//! API's `type: template` message through the durable send job (once, even when the
//! provider answers 500 first); delivery statuses reach the call's live stream.

use std::sync::Arc;
use std::time::Duration;

use centralita::db::{Backend, Timestamp};
use centralita::with_db;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{EventStream, TestApp, eventually, get_json, new_client, post_json};
use crate::on_both_backends;
use crate::whatsapp::{
    Accept, NUMBER, SEND_PATH, deliver, provider, sends, status, text, the_call_id, wait_for_sends, whatsapp,
};

on_both_backends!(
    wa_templates_are_managed_by_supervisors_validated_and_read_by_every_role,
    wa_template_preview_fills_the_variables_and_the_page_escapes_it,
    wa_template_goes_out_once_as_a_cloud_api_template_after_the_window_closed_even_after_a_500,
    wa_send_template_refuses_wrong_values_roles_calls_and_holders_clearly,
    wa_delivery_status_changes_reach_the_calls_live_stream,
    wa_call_page_offers_templates_when_the_window_is_closed_and_sends_one,
);

async fn send_req(client: reqwest::Method, url: String, token: &str, body: Option<Value>) -> reqwest::Response {
    let mut rb = new_client().request(client, url).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    rb.send().await.unwrap()
}

async fn create(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    post_json(app.url("/api/v1/channels/whatsapp/templates"), token, body).await
}

fn order_update() -> Value {
    json!({
        "name": "order_update", "language": "es", "category": "utility",
        "body": "Hola {{1}}, tu pedido {{2}} ya está en camino. Responde a este mensaje si necesitas algo.",
    })
}

/// A WhatsApp call held by `token`'s user, started by a customer's text.
async fn held_call(app: &TestApp, server: &MockServer, token: &str, wa_id: &str) -> i64 {
    deliver(app, &text(&format!("wamid.IN{wa_id}"), wa_id, "Marta", "Hola, necesito ayuda con mi pedido")).await;
    wait_for_sends(server, 1).await;
    let call_id = the_call_id(app, token).await;
    let r = post_json(app.url(&format!("/api/v1/calls/{call_id}/takeover")), token, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    call_id
}

/// Moves the customer's last message 25 hours back: the 24-hour window is closed.
async fn close_window(app: &TestApp, call_id: i64) {
    let old = Timestamp::now().plus(time::Duration::hours(-25));
    with_db!(app.state.db(), |pool| sqlx::query("UPDATE whatsapp_calls SET last_inbound_at = $1 WHERE call_id = $2")
        .bind(old)
        .bind(call_id)
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
}

fn send_url(app: &TestApp, call_id: i64) -> String {
    app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}/send-template"))
}

async fn wa_templates_are_managed_by_supervisors_validated_and_read_by_every_role(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let sup = app.token_for("tpl-sup", "supervisor").await;
    let agent = app.token_for("tpl-agent", "agent").await;
    let viewer = app.token_for("tpl-viewer", "viewer").await;

    assert_eq!(create(&app, &agent, order_update()).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(create(&app, &viewer, order_update()).await.status(), StatusCode::FORBIDDEN);
    let r = create(&app, &sup, order_update()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["variables"], 2);
    assert_eq!(t["category"], "utility");
    assert_eq!(t["phone_number_id"], Value::Null, "for every number");
    let id = t["id"].as_i64().unwrap();

    // Same name and language for the same numbers: taken. Another language: fine.
    let r = create(&app, &sup, order_update()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let mut english = order_update();
    english["language"] = json!("en-us");
    english["body"] = json!("Hi {{1}}, your order {{2}} is on its way.");
    english["phone_number_id"] = json!(NUMBER);
    let r = create(&app, &sup, english).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let en: Value = r.json().await.unwrap();
    assert_eq!(en["language"], "en_US", "the code is written as WhatsApp writes it");
    assert_eq!(en["phone_number_id"], NUMBER);

    // Every rule of the form, each named with a message a person can act on.
    let r = create(
        &app,
        &sup,
        json!({"name": "Order-Update", "language": "spanish", "category": "promo", "body": "Hola {{1}} y {{3}}",
               "phone_number_id": "55555"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    let fields = &e["fields"];
    assert!(fields["name"].as_str().unwrap().contains("lowercase letters, digits or underscores"), "{e}");
    assert!(fields["language"].as_str().unwrap().contains("en_US"), "{e}");
    assert!(fields["category"].as_str().unwrap().contains("utility"), "{e}");
    assert!(fields["body"].as_str().unwrap().contains("without skipping"), "{e}");
    let r =
        create(&app, &sup, json!({"name": "x", "language": "es", "category": "utility", "body": "Hola {{uno}}"})).await;
    let e: Value = r.json().await.unwrap();
    assert!(e["fields"]["body"].as_str().unwrap().contains("a number from 1"), "{e}");
    let long = "x".repeat(1025);
    let r = create(&app, &sup, json!({"name": "x", "language": "es", "category": "utility", "body": long})).await;
    let e: Value = r.json().await.unwrap();
    assert!(e["fields"]["body"].as_str().unwrap().contains("1,024"), "{e}");
    let r = create(
        &app,
        &sup,
        json!({"name": "x", "language": "es", "category": "utility", "body": "Hola", "phone_number_id": "55555"}),
    )
    .await;
    let e: Value = r.json().await.unwrap();
    assert!(e["fields"]["phone_number_id"].is_string(), "a number we do not answer on: {e}");

    // Everybody reads; the list and one template.
    for token in [&sup, &agent, &viewer] {
        let list = get_json(app.url("/api/v1/channels/whatsapp/templates"), token).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
        let one = get_json(app.url(&format!("/api/v1/channels/whatsapp/templates/{id}")), token).await;
        assert_eq!(one["name"], "order_update");
    }

    // A change recounts the variables; agents cannot change or delete.
    let url = app.url(&format!("/api/v1/channels/whatsapp/templates/{id}"));
    let r = send_req(reqwest::Method::PATCH, url.clone(), &agent, Some(json!({"body": "Hola"}))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r =
        send_req(reqwest::Method::PATCH, url.clone(), &sup, Some(json!({"body": "Hola {{1}}, {{2}} o {{3}}"}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["variables"], 3);
    assert_eq!(send_req(reqwest::Method::DELETE, url.clone(), &agent, None).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(send_req(reqwest::Method::DELETE, url.clone(), &sup, None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(send_req(reqwest::Method::GET, url, &sup, None).await.status(), StatusCode::NOT_FOUND);
    let actions = app.audit_actions().await;
    for a in ["whatsapp_template.create", "whatsapp_template.update", "whatsapp_template.delete"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }

    // The page: viewers read it without edit controls; a supervisor's form shows errors.
    let viewer_page = app.signed_in("tpl-viewer-web", "viewer").await.page("/whatsapp/templates").await;
    assert!(viewer_page.contains("order_update") && viewer_page.contains("en_US"), "the list");
    assert!(!viewer_page.contains("/whatsapp/templates/new"), "no edit controls for viewers");
    let b = app.signed_in("tpl-sup-web", "supervisor").await;
    assert!(b.page("/whatsapp/templates").await.contains("/whatsapp/templates/new"));
    let r = b
        .post(
            "/whatsapp/templates",
            "/whatsapp/templates/new",
            &[
                ("name", "Bad Name"),
                ("language", "es"),
                ("category", "utility"),
                ("body", "{{2}}"),
                ("phone_number_id", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"data-field="name""#) && html.contains(r#"data-field="body""#), "form errors shown");
    let r = b
        .post(
            "/whatsapp/templates",
            "/whatsapp/templates/new",
            &[
                ("name", "welcome_back"),
                ("language", "es"),
                ("category", "marketing"),
                ("body", "¡Hola {{1}}!"),
                ("phone_number_id", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(b.page("/whatsapp/templates?saved=1").await.contains("welcome_back"));
    app.finish().await;
}

async fn wa_template_preview_fills_the_variables_and_the_page_escapes_it(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let viewer = app.token_for("prev-viewer", "viewer").await;
    let url = app.url("/api/v1/channels/whatsapp/templates/preview");
    let r = post_json(url.clone(), &viewer, json!({"body": "Hola {{1}}, pedido {{2}}", "variables": ["Ana"]})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["text"], "Hola Ana, pedido {{2}}");
    assert_eq!(p["variables"], 2);
    assert_eq!(p["missing"], json!([2]));
    let r = post_json(url.clone(), &viewer, json!({"body": "Hola {{1}} {{3}}"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_json(url.clone(), &viewer, json!({"variables": []})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "neither body nor template_id");
    let r = post_json(url, &viewer, json!({"template_id": 999999})).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The page's fragment (what htmx swaps in while typing): escaped, filled.
    let b = app.signed_in("prev-viewer-web", "viewer").await;
    let r = b
        .post(
            "/whatsapp/templates/preview",
            "/whatsapp/templates",
            &[("body", "Hola {{1}}, <b>tu</b> pedido {{2}}"), ("samples", "<script>x</script>\nA-17")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Hola &#60;script&#62;x&#60;/script&#62;, &#60;b&#62;tu&#60;/b&#62; pedido A-17")
            || html.contains("Hola &lt;script&gt;x&lt;/script&gt;, &lt;b&gt;tu&lt;/b&gt; pedido A-17"),
        "{html}"
    );
    assert!(!html.contains("<script>") && !html.contains("<b>tu"), "{html}");
    let r =
        b.post("/whatsapp/templates/preview", "/whatsapp/templates", &[("body", "Hola {{1"), ("samples", "")]).await;
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"class="field-error""#), "what is wrong with the body: {html}");
    app.finish().await;
}

async fn wa_template_goes_out_once_as_a_cloud_api_template_after_the_window_closed_even_after_a_500(backend: Backend) {
    let server = MockServer::start().await;
    let accepted = Arc::default();
    // The AI's first answer is accepted; the template's first attempt gets a 500.
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(Accept(Arc::clone(&accepted)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(ResponseTemplate::new(500).set_body_string("temporarily unavailable"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(Accept(accepted))
        .with_priority(3)
        .mount(&server)
        .await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let sup = app.token_for("once-sup", "supervisor").await;
    let agent = app.token_for("once-agent", "agent").await;
    assert_eq!(create(&app, &sup, order_update()).await.status(), StatusCode::CREATED);
    let call_id = held_call(&app, &server, &agent, "34622000222").await;
    close_window(&app, call_id).await;

    let r =
        post_json(app.url(&format!("/api/v1/calls/{call_id}/messages")), &agent, json!({"text": "¿Sigues ahí?"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "a free-form reply is refused");
    let r = post_json(
        send_url(&app, call_id),
        &agent,
        json!({"template": "order_update", "language": "es", "variables": ["Marta", "A-17"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let sent: Value = r.json().await.unwrap();
    let filled = "Hola Marta, tu pedido A-17 ya está en camino. Responde a este mensaje si necesitas algo.";
    assert_eq!(sent["text"], filled);
    // A double click (or five at once) sends nothing more: the same template with the
    // same values to the same call answers with the message already queued.
    let again = futures_util::future::join_all((0..5).map(|_| {
        post_json(
            send_url(&app, call_id),
            &agent,
            json!({"template": "order_update", "language": "es", "variables": ["Marta", "A-17"]}),
        )
    }))
    .await;
    for r in again {
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.json::<Value>().await.unwrap()["message_id"], sent["message_id"]);
    }

    let all = wait_for_sends(&server, 3).await;
    assert_eq!(all.len(), 3, "the AI's reply, then the template: refused once, accepted once");
    assert_eq!(all[1].0, all[2].0, "the same template message both times");
    let body = &all[2].0;
    assert_eq!(
        body,
        &json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": "34622000222",
            "type": "template",
            "template": {"name": "order_update", "language": {"code": "es"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Marta"}, {"type": "text", "text": "A-17"}]},
            ]},
        })
    );

    // The conversation shows the filled text as the person's message, with its status.
    let message_id = sent["message_id"].as_i64().unwrap();
    let c = eventually("the template settled as sent", || async {
        let c = get_json(app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}")), &agent).await;
        let out = c["outbound"].as_array().cloned().unwrap_or_default();
        out.iter().find(|o| o["message_id"] == message_id && o["status"] == "sent").cloned()
    })
    .await;
    assert_eq!(c["wamid"], "wamid.OUT1");
    let call = get_json(app.url(&format!("/api/v1/calls/{call_id}")), &agent).await;
    let mine: Vec<&Value> = call["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "human").collect();
    assert_eq!(mine.len(), 1, "{call}");
    assert_eq!(mine[0]["content"], filled);
    assert!(app.audit_actions().await.iter().any(|a| a == "call.whatsapp_template"));

    // With the window open a template may be sent too (by id, language left out).
    deliver(&app, &text("wamid.IN-again", "34622000222", "Marta", "Gracias")).await;
    let id = get_json(app.url("/api/v1/channels/whatsapp/templates"), &agent).await["items"][0]["id"].clone();
    let r = post_json(send_url(&app, call_id), &agent, json!({"template": id, "variables": ["Marta", "B-2"]})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let all = wait_for_sends(&server, 4).await;
    assert_eq!(all[3].0["template"]["components"][0]["parameters"][1]["text"], "B-2");
    app.finish().await;
}

async fn wa_send_template_refuses_wrong_values_roles_calls_and_holders_clearly(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let sup = app.token_for("ref-sup", "supervisor").await;
    let agent = app.token_for("ref-agent", "agent").await;
    let other = app.token_for("ref-other", "agent").await;
    let viewer = app.token_for("ref-viewer", "viewer").await;
    assert_eq!(create(&app, &sup, order_update()).await.status(), StatusCode::CREATED);
    for language in ["fr", "pt_BR"] {
        let survey = json!({"name": "survey", "language": language, "category": "marketing", "body": "{{1}}?"});
        assert_eq!(create(&app, &sup, survey).await.status(), StatusCode::CREATED);
    }
    let call_id = held_call(&app, &server, &agent, "34633000333").await;
    close_window(&app, call_id).await;
    let good = json!({"template": "order_update", "language": "es", "variables": ["Marta", "A-17"]});

    // Wrong number of values: 422, saying what to give.
    let r = post_json(
        send_url(&app, call_id),
        &agent,
        json!({"template": "order_update", "language": "es", "variables": ["Marta"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    let msg = e["fields"]["variables"].as_str().unwrap();
    assert!(msg.contains("exactly one value for each variable"), "{msg}");
    let r = post_json(
        send_url(&app, call_id),
        &agent,
        json!({"template": "order_update", "language": "es", "variables": ["Marta", "A-17", "extra"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_json(
        send_url(&app, call_id),
        &agent,
        json!({"template": "order_update", "language": "es", "variables": ["Marta", "línea\nnueva"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A name in two languages, neither the call's, needs one said.
    let r = post_json(send_url(&app, call_id), &agent, json!({"template": "survey", "variables": ["a"]})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    assert!(e["fields"]["language"].as_str().unwrap().contains("several languages"), "{e}");
    let r = post_json(send_url(&app, call_id), &agent, json!({"template": "no_such_template", "variables": []})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    assert!(e["fields"]["template"].is_string(), "{e}");
    let r = post_json(send_url(&app, call_id), &agent, json!({"variables": []})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "no template named");

    // Roles, unknown calls, other channels, other holders.
    assert_eq!(post_json(send_url(&app, call_id), &viewer, good.clone()).await.status(), StatusCode::FORBIDDEN);
    let r = new_client().post(send_url(&app, call_id)).json(&good).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(post_json(send_url(&app, 999_999), &agent, good.clone()).await.status(), StatusCode::NOT_FOUND);
    let web_call = app.start_call(&agent, json!({"message": "Hola"})).await["call_id"].as_i64().unwrap();
    let r = post_json(send_url(&app, web_call), &agent, good.clone()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e: Value = r.json().await.unwrap();
    assert!(e["message"].as_str().unwrap().contains("call_not_whatsapp"), "{e}");
    let r = post_json(send_url(&app, call_id), &other, good.clone()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "call_held", "{e}");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = sends(&server).await.len();
    assert_eq!(before, 1, "nothing refused went out (only the AI's first answer)");
    // And the right request still works.
    assert_eq!(post_json(send_url(&app, call_id), &agent, good).await.status(), StatusCode::CREATED);
    wait_for_sends(&server, before + 1).await;
    app.finish().await;
}

async fn wa_delivery_status_changes_reach_the_calls_live_stream(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let token = app.admin_token().await;
    let mut stream = EventStream::open(new_client().get(app.url("/api/v1/events")).bearer_auth(&token)).await;
    deliver(&app, &text("wamid.IN1", "34644000444", "Iker", "Hola, ¿cuál es mi saldo?")).await;
    wait_for_sends(&server, 1).await;
    let call_id = the_call_id(&app, &token).await;
    // The send settled as sent: the first status event.
    let seen = stream.until_kind("whatsapp_status").await;
    let sent = seen.last().unwrap();
    assert_eq!(sent["call_id"], call_id);
    assert_eq!(sent["data"]["delivery"], "sent");
    let message_id = sent["data"]["message_id"].as_i64().unwrap();
    assert!(!sent.to_string().contains("saldo"), "no text in the event");
    // The provider's statuses: delivered, read; a late "sent" changes nothing.
    deliver(&app, &status("wamid.OUT0", "delivered", "34644000444")).await;
    let delivered = stream.until_kind("whatsapp_status").await;
    assert_eq!(delivered.last().unwrap()["data"], json!({"message_id": message_id, "delivery": "delivered"}));
    deliver(&app, &status("wamid.OUT0", "read", "34644000444")).await;
    let read = stream.until_kind("whatsapp_status").await;
    assert_eq!(read.last().unwrap()["data"]["delivery"], "read");
    deliver(&app, &status("wamid.OUT0", "sent", "34644000444")).await;
    let c = eventually("the late status processed", || async {
        let n: i64 = with_db!(app.state.db(), |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM whatsapp_events WHERE kind = 'status' AND status = 'processed'"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        (n == 3).then_some(n)
    })
    .await;
    assert_eq!(c, 3);
    let c = get_json(app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}")), &token).await;
    assert_eq!(c["outbound"][0]["status"], "read", "a late status does not move it back");
    stream.close();
    app.finish().await;
}

async fn wa_call_page_offers_templates_when_the_window_is_closed_and_sends_one(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let sup = app.token_for("page-sup", "supervisor").await;
    assert_eq!(create(&app, &sup, order_update()).await.status(), StatusCode::CREATED);
    let (_, pw) = app.ready_user("page-agent", "agent").await;
    let agent = app.api_login("page-agent", &pw).await["access_token"].as_str().unwrap().to_owned();
    let b = app.browser();
    assert_eq!(b.login("page-agent", &pw).await.status(), StatusCode::SEE_OTHER);
    let call_id = held_call(&app, &server, &agent, "34655000555").await;
    close_window(&app, call_id).await;
    let page = b.page(&format!("/calls/{call_id}")).await;
    assert!(page.contains(r#"id="wa-templates" open"#), "the template form is open when the window is closed");
    assert!(page.contains("order_update") && page.contains(r#"name="variable""#));

    let path = format!("/calls/{call_id}/whatsapp/template");
    let template_id = get_json(app.url("/api/v1/channels/whatsapp/templates"), &agent).await["items"][0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    // Without the CSRF token: refused, nothing sent.
    let r = b.post_raw(&path, &[("template_id", &template_id), ("variable", "Luis"), ("variable", "C-3")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // One value short: the page says what is wrong.
    let r = b.post(&path, &format!("/calls/{call_id}"), &[("template_id", &template_id), ("variable", "Luis")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("exactly one value for each variable"));
    let r = b
        .post(
            &path,
            &format!("/calls/{call_id}"),
            &[("template_id", &template_id), ("variable", "Luis"), ("variable", "C-3")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let all = wait_for_sends(&server, 2).await;
    assert_eq!(all[1].0["type"], "template");
    assert_eq!(all[1].0["template"]["components"][0]["parameters"][0]["text"], "Luis");
    let page = b.page(&format!("/calls/{call_id}")).await;
    assert!(page.contains("Hola Luis, tu pedido C-3 ya está en camino."), "the filled text in the transcript");
    app.finish().await;
}

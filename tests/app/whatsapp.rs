//! The WhatsApp channel against a fake Cloud API provider (wiremock): signed webhooks
//! in, replies out through the durable outbox, retried and never doubled; duplicates,
//! retries and two nodes receiving the same notification; statuses out of order;
//! refused signatures; the handshake; non-text messages; a person taking over; the
//! 24-hour window; and the cleanup command.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use centralita::channels::whatsapp::sign;
use centralita::config::{Secret, WhatsappConfig};
use centralita::db::{Backend, Db, Timestamp};
use centralita::with_db;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{TestApp, eventually, fresh_database, get_json, new_client, post_json};
use crate::on_both_backends;

on_both_backends!(
    whatsapp_text_becomes_a_call_linked_by_phone_and_the_reply_is_sent_once,
    whatsapp_send_answered_500_then_200_arrives_once,
    whatsapp_duplicates_and_retries_make_one_message_and_one_reply,
    whatsapp_statuses_out_of_order_end_on_the_latest,
    whatsapp_bad_or_missing_signature_is_refused_and_nothing_is_stored,
    whatsapp_handshake_echoes_the_challenge_only_for_the_verify_token,
    whatsapp_non_text_message_is_answered_politely_in_the_contacts_language,
    whatsapp_person_who_takes_over_replies_through_whatsapp,
    whatsapp_free_form_reply_after_24_hours_is_refused,
    whatsapp_a_client_error_fails_the_send_without_retrying,
    whatsapp_cleanup_deletes_old_processed_events_and_keeps_unprocessed_ones,
    whatsapp_calls_show_on_the_board_and_call_page_escaped_with_unread_counts,
    whatsapp_admin_adds_a_number_whose_secrets_are_never_shown,
    whatsapp_hand_over_outside_business_hours_tells_the_contact_when_a_person_is_back,
);

pub(crate) const NUMBER: &str = "1099887766";
pub(crate) const TOKEN: &str = "provider-bearer-token";
pub(crate) const APP_SECRET: &str = "provider-app-secret";
pub(crate) const VERIFY: &str = "verify-me-please";
pub(crate) const SEND_PATH: &str = "/v21.0/1099887766/messages";

/// Answers each send with a fresh message id, as the Cloud API does.
pub(crate) struct Accept(pub(crate) Arc<AtomicUsize>);

impl Respond for Accept {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": "x", "wa_id": "x"}],
            "messages": [{"id": format!("wamid.OUT{n}")}],
        }))
    }
}

pub(crate) async fn provider() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(SEND_PATH)).respond_with(Accept(Arc::default())).mount(&server).await;
    server
}

pub(crate) fn whatsapp(server: &MockServer) -> impl FnOnce(&mut centralita::config::Config) + use<> {
    let api_base = format!("{}/v21.0", server.uri());
    move |c| {
        c.whatsapp = Some(WhatsappConfig {
            api_base,
            token: Secret::new(TOKEN),
            app_secret: Secret::new(APP_SECRET),
            verify_token: Secret::new(VERIFY),
            phone_number_id: NUMBER.into(),
        });
        c.jobs.retry_base = Duration::from_millis(50);
        c.jobs.retry_max = Duration::from_millis(200);
        c.jobs.poll = Duration::from_millis(100);
    }
}

/// A notification with one text message.
pub(crate) fn text(id: &str, from: &str, name: &str, body: &str) -> Value {
    message(id, from, name, json!({"type": "text", "text": {"body": body}}))
}

pub(crate) fn message(id: &str, from: &str, name: &str, content: Value) -> Value {
    let mut m = json!({"from": from, "id": id, "timestamp": Timestamp::now().unix_seconds().to_string()});
    if let (Some(m), Some(c)) = (m.as_object_mut(), content.as_object()) {
        m.extend(c.clone());
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "34910000000", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": name}, "wa_id": from}],
        "messages": [m],
    }}]}]})
}

pub(crate) fn status(wamid: &str, status: &str, to: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "34910000000", "phone_number_id": NUMBER},
        "statuses": [{"id": wamid, "status": status, "timestamp": "1764670100", "recipient_id": to}],
    }}]}]})
}

/// Posts a notification signed with the app secret, as the provider does.
pub(crate) async fn deliver(app: &TestApp, body: &Value) -> reqwest::Response {
    let raw = body.to_string();
    new_client()
        .post(app.url("/api/v1/channels/whatsapp/webhook"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(raw.as_bytes(), APP_SECRET))
        .body(raw)
        .send()
        .await
        .unwrap()
}

/// The sends the provider received (every attempt), as JSON bodies with their
/// authorization header.
pub(crate) async fn sends(server: &MockServer) -> Vec<(Value, String)> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter(|r| r.url.path() == SEND_PATH)
        .map(|r| {
            let auth = r.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            (serde_json::from_slice(&r.body).unwrap_or(Value::Null), auth)
        })
        .collect()
}

pub(crate) async fn wait_for_sends(server: &MockServer, n: usize) -> Vec<(Value, String)> {
    let found = eventually(&format!("{n} sends at the provider"), || async {
        let s = sends(server).await;
        (s.len() >= n).then_some(s)
    })
    .await;
    // Nothing more arrives afterwards.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = sends(server).await;
    assert_eq!(after.len(), found.len(), "no further sends: {after:?}");
    after
}

pub(crate) async fn conversations(app: &TestApp, token: &str) -> Vec<Value> {
    get_json(app.url("/api/v1/channels/whatsapp/conversations?all=true"), token)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub(crate) async fn the_call_id(app: &TestApp, token: &str) -> i64 {
    eventually("a WhatsApp conversation", || async {
        conversations(app, token).await.first().and_then(|c| c["call_id"].as_i64())
    })
    .await
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    with_db!(db, |pool| sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

async fn whatsapp_text_becomes_a_call_linked_by_phone_and_the_reply_is_sent_once(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let token = app.admin_token().await;
    let r = post_json(
        app.url("/api/v1/customers"),
        &token,
        json!({"name": "Lucía Pérez", "email": "lucia@example.com", "phone": "+34 600 123 456"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let customer_id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();

    let r = deliver(&app, &text("wamid.IN1", "34600123456", "Lucía", "Hola, ¿cuál es mi saldo pendiente?")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let sent = wait_for_sends(&server, 1).await;
    let (body, auth) = &sent[0];
    assert_eq!(auth, &format!("Bearer {TOKEN}"));
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["to"], "34600123456");
    assert_eq!(body["type"], "text");

    let call_id = the_call_id(&app, &token).await;
    let call = get_json(app.url(&format!("/api/v1/calls/{call_id}")), &token).await;
    assert_eq!(call["call"]["channel"], "whatsapp", "{call}");
    assert_eq!(call["call"]["customer_id"], customer_id);
    assert_eq!(call["call"]["contact_name"], "Lucía");
    let messages = call["messages"].as_array().unwrap();
    let ai: Vec<&Value> = messages.iter().filter(|m| m["role"] == "ai").collect();
    assert_eq!(ai.len(), 1, "{messages:?}");
    assert_eq!(body["text"]["body"], ai[0]["content"], "the AI's reply is what went out");

    let c = get_json(app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}")), &token).await;
    assert_eq!(c["unread"], 1);
    assert_eq!(c["window_open"], true);
    assert_eq!(c["outbound"][0]["status"], "sent");
    assert_eq!(c["outbound"][0]["wamid"], "wamid.OUT0");
    let r =
        post_json(app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}/read")), &token, json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let c = get_json(app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}")), &token).await;
    assert_eq!(c["unread"], 0);

    // The next message continues the same call.
    deliver(&app, &text("wamid.IN2", "34600123456", "Lucía", "Gracias, ¿y mis tickets abiertos?")).await;
    wait_for_sends(&server, 2).await;
    let list = conversations(&app, &token).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["unread"], 1);

    // While the number leads to Lucía, the AI reads her account...
    let r = post_json(
        app.url("/api/v1/payments"),
        &token,
        json!({"customer_id": customer_id, "amount": "42.00", "method": "card", "description": "cuota"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    deliver(&app, &text("wamid.IN3", "34600123456", "Lucía", "¿Cuál es mi saldo y mis últimos pagos?")).await;
    let sent = wait_for_sends(&server, 3).await;
    assert!(sent[2].0["text"]["body"].as_str().unwrap().contains("42"), "{:?}", sent[2].0);
    // ...and once her record's phone changes, the number no longer speaks for her: the
    // open call stops reading her account.
    let r = new_client()
        .patch(app.url(&format!("/api/v1/customers/{customer_id}")))
        .bearer_auth(&token)
        .json(&json!({"phone": "+34 699 999 999"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    deliver(&app, &text("wamid.IN4", "34600123456", "Lucía", "¿Cuál es mi saldo y mis últimos pagos?")).await;
    let sent = wait_for_sends(&server, 4).await;
    let call = get_json(app.url(&format!("/api/v1/calls/{call_id}")), &token).await;
    assert!(call["call"]["customer_id"].is_null(), "{call}");
    assert!(!sent[3].0["text"]["body"].as_str().unwrap().contains("42"), "{:?}", sent[3].0);
    app.finish().await;
}

async fn whatsapp_send_answered_500_then_200_arrives_once(backend: Backend) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(ResponseTemplate::new(500).set_body_string("temporarily unavailable"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(Accept(Arc::default()))
        .with_priority(2)
        .mount(&server)
        .await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let token = app.admin_token().await;
    deliver(&app, &text("wamid.IN1", "34611000111", "Pablo", "Hola, necesito ayuda con mi factura")).await;
    let sent = wait_for_sends(&server, 2).await;
    assert_eq!(sent.len(), 2, "one refused attempt, one accepted");
    assert_eq!(sent[0].0, sent[1].0, "the same message both times");
    let call_id = the_call_id(&app, &token).await;
    let c = eventually("the send settled", || async {
        let c = get_json(app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}")), &token).await;
        (c["outbound"][0]["status"] == "sent").then_some(c)
    })
    .await;
    assert_eq!(c["outbound"].as_array().unwrap().len(), 1);
    assert_eq!(c["outbound"][0]["wamid"], "wamid.OUT0");
    app.finish().await;
}

async fn whatsapp_duplicates_and_retries_make_one_message_and_one_reply(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let token = app.admin_token().await;
    let body = text("wamid.DUP", "34622000222", "Marta", "Hola, quiero saber el estado de mi ticket");
    let answers = futures_util::future::join_all((0..4).map(|_| deliver(&app, &body))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    wait_for_sends(&server, 1).await;
    // A provider retry long after.
    assert_eq!(deliver(&app, &body).await.status(), StatusCode::OK);
    let sent = wait_for_sends(&server, 1).await;
    assert_eq!(sent.len(), 1);
    let call_id = the_call_id(&app, &token).await;
    let call = get_json(app.url(&format!("/api/v1/calls/{call_id}")), &token).await;
    let customer = call["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "customer").count();
    assert_eq!(customer, 1);
    let db = app.state.db();
    assert_eq!(count(db, "SELECT COUNT(*) FROM whatsapp_events").await, 1);
    assert_eq!(count(db, "SELECT COUNT(*) FROM calls").await, 1);
    app.finish().await;
}

async fn whatsapp_statuses_out_of_order_end_on_the_latest(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let token = app.admin_token().await;
    deliver(&app, &text("wamid.IN1", "34633000333", "Irene", "Hola, ¿me decís mi saldo?")).await;
    wait_for_sends(&server, 1).await;
    let call_id = the_call_id(&app, &token).await;
    let url = app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}"));
    eventually("the wamid stored", || async {
        (get_json(url.clone(), &token).await["outbound"][0]["wamid"] == "wamid.OUT0").then_some(())
    })
    .await;
    for s in ["read", "sent", "delivered", "read"] {
        assert_eq!(deliver(&app, &status("wamid.OUT0", s, "34633000333")).await.status(), StatusCode::OK);
    }
    let db = app.state.db();
    eventually("every status processed", || async {
        (count(db, "SELECT COUNT(*) FROM whatsapp_events WHERE status = 'pending'").await == 0).then_some(())
    })
    .await;
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM whatsapp_events WHERE kind = 'status'").await,
        3,
        "the repeated read once"
    );
    let c = get_json(url, &token).await;
    assert_eq!(c["outbound"][0]["status"], "read");
    app.finish().await;
}

async fn whatsapp_bad_or_missing_signature_is_refused_and_nothing_is_stored(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let url = app.url("/api/v1/channels/whatsapp/webhook");
    let raw = text("wamid.BAD", "34644000444", "Eve", "hola").to_string();
    let post = |signature: Option<String>, body: String| {
        let mut r = new_client().post(url.clone()).header("content-type", "application/json").body(body);
        if let Some(s) = signature {
            r = r.header("x-hub-signature-256", s);
        }
        r.send()
    };
    let missing = post(None, raw.clone()).await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let wrong_secret = post(Some(sign(raw.as_bytes(), "not-the-secret")), raw.clone()).await.unwrap();
    assert_eq!(wrong_secret.status(), StatusCode::UNAUTHORIZED);
    let tampered = raw.replace("hola", "adiós");
    let r = post(Some(sign(raw.as_bytes(), APP_SECRET)), tampered).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let garbage = post(Some("sha256=xyz".into()), raw.clone()).await.unwrap();
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);
    // Signed but not JSON: a clear 400.
    let r = post(Some(sign(b"{not json", APP_SECRET)), "{not json".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let message = r.json::<Value>().await.unwrap()["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("not a WhatsApp Cloud API notification"), "{message}");
    // Signed, for a number we do not answer on: accepted and ignored.
    let other = text("wamid.OTHER", "34644000444", "Eve", "hola").to_string().replace(NUMBER, "5550001111");
    assert_eq!(post(Some(sign(other.as_bytes(), APP_SECRET)), other).await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let db = app.state.db();
    assert_eq!(count(db, "SELECT COUNT(*) FROM whatsapp_events").await, 0);
    assert_eq!(count(db, "SELECT COUNT(*) FROM jobs").await, 0);
    assert_eq!(count(db, "SELECT COUNT(*) FROM calls").await, 0);
    assert!(sends(&server).await.is_empty());
    app.finish().await;
}

async fn whatsapp_handshake_echoes_the_challenge_only_for_the_verify_token(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let base = app.url("/api/v1/channels/whatsapp/webhook");
    let ok = new_client()
        .get(format!("{base}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong-token&hub.challenge=1",
        "hub.mode=subscribe&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=verify-me-please&hub.challenge=1",
        "",
    ] {
        let r = new_client().get(format!("{base}?{query}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{query}");
    }
    app.finish().await;
}

async fn whatsapp_non_text_message_is_answered_politely_in_the_contacts_language(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let image = json!({"type": "image", "image": {"id": "MEDIA1", "mime_type": "image/jpeg"}});
    deliver(&app, &message("wamid.IMG1", "34655000555", "Nuria", image.clone())).await;
    let sent = wait_for_sends(&server, 1).await;
    let es = sent[0].0["text"]["body"].as_str().unwrap().to_owned();
    assert!(es.contains("solo puedo leer mensajes de texto"), "{es}");
    deliver(&app, &message("wamid.IMG2", "447700900123", "Oliver", image)).await;
    let sent = wait_for_sends(&server, 2).await;
    let en = sent[1].0["text"]["body"].as_str().unwrap().to_owned();
    assert!(en.contains("only read text messages"), "{en}");
    assert_eq!(sent[1].0["to"], "447700900123");
    let token = app.admin_token().await;
    let list = conversations(&app, &token).await;
    let call_id = list.iter().find(|c| c["wa_id"] == "34655000555").unwrap()["call_id"].as_i64().unwrap();
    let call = get_json(app.url(&format!("/api/v1/calls/{call_id}")), &token).await;
    assert_eq!(call["messages"][0]["content"], "[image]", "the message is stored as what it was");
    app.finish().await;
}

async fn whatsapp_person_who_takes_over_replies_through_whatsapp(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let token = app.admin_token().await;
    deliver(&app, &text("wamid.IN1", "34666000666", "Sara", "Hola, tengo una duda con mi factura")).await;
    wait_for_sends(&server, 1).await;
    let call_id = the_call_id(&app, &token).await;
    let r = post_json(app.url(&format!("/api/v1/calls/{call_id}/takeover")), &token, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post_json(
        app.url(&format!("/api/v1/calls/{call_id}/messages")),
        &token,
        json!({"text": "Hola Sara, soy Ana <b>del equipo</b>: lo miro ahora mismo."}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let sent = wait_for_sends(&server, 2).await;
    assert_eq!(sent[1].0["text"]["body"], "Hola Sara, soy Ana <b>del equipo</b>: lo miro ahora mismo.");
    assert_eq!(sent[1].0["to"], "34666000666");
    // While a person holds the call, the customer's messages reach them, not the AI.
    deliver(&app, &text("wamid.IN2", "34666000666", "Sara", "Vale, gracias")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    wait_for_sends(&server, 2).await;
    app.finish().await;
}

async fn whatsapp_free_form_reply_after_24_hours_is_refused(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let token = app.admin_token().await;
    deliver(&app, &text("wamid.IN1", "34677000777", "Raúl", "Hola, necesito hablar con alguien")).await;
    wait_for_sends(&server, 1).await;
    let call_id = the_call_id(&app, &token).await;
    assert_eq!(
        post_json(app.url(&format!("/api/v1/calls/{call_id}/takeover")), &token, json!({})).await.status(),
        StatusCode::OK
    );
    let old = Timestamp::now().plus(time::Duration::hours(-25));
    with_db!(app.state.db(), |pool| sqlx::query("UPDATE whatsapp_calls SET last_inbound_at = $1")
        .bind(old)
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
    let r =
        post_json(app.url(&format!("/api/v1/calls/{call_id}/messages")), &token, json!({"text": "¿Sigues ahí?"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "whatsapp_window_closed");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("24 hours") && message.contains("template"), "{message}");
    let c = get_json(app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}")), &token).await;
    assert_eq!(c["window_open"], false);
    // A message the provider delivers now but the customer sent two days ago does not
    // reopen the window: it counts from when they wrote.
    let mut late = text("wamid.LATE", "34677000777", "Raúl", "¿Hola?");
    let sent_at = Timestamp::now().plus(time::Duration::days(-2)).unix_seconds().to_string();
    late["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = json!(sent_at);
    assert_eq!(deliver(&app, &late).await.status(), StatusCode::OK);
    eventually("the late message is stored", || async {
        let detail = get_json(app.url(&format!("/api/v1/calls/{call_id}")), &token).await;
        detail["messages"].as_array().unwrap().iter().any(|m| m["content"] == "¿Hola?").then_some(())
    })
    .await;
    let c = get_json(app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}")), &token).await;
    assert_eq!(c["window_open"], false, "{c}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sends(&server).await.len(), 1, "nothing more went out");
    app.finish().await;
}

async fn whatsapp_a_client_error_fails_the_send_without_retrying(backend: Backend) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "Invalid parameter", "code": 100}})),
        )
        .mount(&server)
        .await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let token = app.admin_token().await;
    deliver(&app, &text("wamid.IN1", "34688000888", "Tomás", "Hola, ¿qué tal?")).await;
    let call_id = the_call_id(&app, &token).await;
    let url = app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}"));
    let c = eventually("the send failed", || async {
        let c = get_json(url.clone(), &token).await;
        (c["outbound"][0]["status"] == "failed").then_some(c)
    })
    .await;
    assert!(c["outbound"][0]["error"].as_str().unwrap().contains("Invalid parameter"), "{c}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sends(&server).await.len(), 1, "a 4xx is not retried");
    app.finish().await;
}

async fn whatsapp_cleanup_deletes_old_processed_events_and_keeps_unprocessed_ones(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg_name) = match backend {
        Backend::Sqlite => (format!("sqlite://{}", dir.path().join("data/centralita.db").display()), None),
        Backend::Postgres => fresh_database(backend, dir.path()).await,
    };
    let run = |args: &[&str]| crate::cli::centralita_on(dir.path(), Some(&url), args);
    assert!(run(&["migrate"]).status.success());
    let db = Db::connect(&url, 2).await.unwrap();
    let old = Timestamp::now().plus(time::Duration::days(-100));
    let recent = Timestamp::now().plus(time::Duration::days(-10));
    for (key, status, at) in
        [("old-done", "processed", old), ("old-pending", "pending", old), ("new-done", "processed", recent)]
    {
        with_db!(&db, |pool| sqlx::query(
            "INSERT INTO whatsapp_events (event_key, phone_number_id, kind, wa_id, body, status, received_at) \
             VALUES ($1, '1', 'message', '34600000000', '{}', $2, $3)"
        )
        .bind(key)
        .bind(status)
        .bind(at)
        .execute(pool)
        .await
        .map(|_| ()))
        .unwrap();
    }
    let out = run(&["channels", "cleanup", "--days", "90"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("deleted 1 "), "{out:?}");
    let left: Vec<String> =
        with_db!(&db, |pool| sqlx::query_scalar("SELECT event_key FROM whatsapp_events ORDER BY event_key")
            .fetch_all(pool)
            .await)
        .unwrap();
    assert_eq!(left, ["new-done", "old-pending"]);
    db.close().await;
    if let Some(name) = pg_name {
        crate::helpers::drop_database(&name).await;
    }
}

/// Two nodes on one PostgreSQL database both receive the same notification (the
/// provider delivered it twice, through a load balancer): one call, one reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_two_nodes_receiving_the_same_webhook_make_one_call_and_one_reply() {
    let server = provider().await;
    let one = TestApp::spawn(Backend::Postgres, whatsapp(&server)).await;
    let two = one.second_node_with(whatsapp(&server)).await;
    let body = text("wamid.TWO", "34699000999", "Clara", "Hola, ¿cuál es el saldo de mi cuenta?");
    for _ in 0..3 {
        let (a, b) = tokio::join!(deliver(&one, &body), deliver(&two, &body));
        assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    }
    let sent = wait_for_sends(&server, 1).await;
    assert_eq!(sent.len(), 1);
    let db = one.state.db();
    assert_eq!(count(db, "SELECT COUNT(*) FROM calls").await, 1);
    assert_eq!(count(db, "SELECT COUNT(*) FROM messages WHERE role = 'customer'").await, 1);
    assert_eq!(count(db, "SELECT COUNT(*) FROM whatsapp_outbound").await, 1);
    two.finish().await;
    one.finish().await;
}

async fn whatsapp_calls_show_on_the_board_and_call_page_escaped_with_unread_counts(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let token = app.admin_token().await;
    let name = "<img src=x onerror=alert(1)>Eva";
    deliver(&app, &text("wamid.IN1", "34600999888", name, "<script>alert('hola')</script> ¿mi saldo?")).await;
    wait_for_sends(&server, 1).await;
    let call_id = the_call_id(&app, &token).await;
    let agent = app.signed_in("ana", "agent").await;
    let board = agent.page("/board").await;
    let row = board.split(&format!("id=\"board-call-{call_id}\"")).nth(1).unwrap_or_default();
    assert!(row.contains("channel-whatsapp") && row.contains("WhatsApp"), "channel on the board: {row}");
    assert!(row.contains("class=\"badge unread\""), "unread count on the board");
    assert!(!board.contains("<img src=x"), "the profile name is escaped");
    let page = agent.page(&format!("/calls/{call_id}")).await;
    assert!(page.contains("id=\"call-channel\""), "channel on the call page");
    assert!(page.contains("+34600999888"));
    assert!(!page.contains("<script>alert") && !page.contains("<img src=x"), "WhatsApp text and names are escaped");
    assert!(page.contains("&lt;script&gt;") || page.contains("&#60;script&#62;"), "shown as text");
    assert!(page.contains("delivery-sent"), "the reply's delivery status");
    assert!(page.contains("id=\"whatsapp-mark-read\""));
    let r = agent.post(&format!("/calls/{call_id}/whatsapp/read"), &format!("/calls/{call_id}"), &[]).await;
    assert!(r.status().is_redirection() || r.status().is_success(), "{}", r.status());
    let c = get_json(app.url(&format!("/api/v1/channels/whatsapp/conversations/{call_id}")), &token).await;
    assert_eq!(c["unread"], 0);
    let page = agent.page(&format!("/calls/{call_id}")).await;
    assert!(!page.contains("id=\"whatsapp-mark-read\""));
    app.finish().await;
}

/// An admin adds a second number on the settings page; its token is never shown again,
/// a blank token keeps it, and its webhooks and sends use what was stored.
async fn whatsapp_admin_adds_a_number_whose_secrets_are_never_shown(backend: Backend) {
    let server = provider().await;
    let app = TestApp::spawn(backend, whatsapp(&server)).await;
    let admin = app.signed_in("root2", "admin").await;
    let api_base = format!("{}/v21.0", server.uri());
    let fields = [
        ("label", "Ventas"),
        ("phone_number_id", "2200330044"),
        ("api_base", api_base.as_str()),
        ("token", "second-number-token"),
        ("app_secret", "second-app-secret"),
        ("verify_token", "second-verify-token"),
        ("active", "on"),
    ];
    let r = admin.post("/settings/whatsapp", "/settings/whatsapp", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = admin.page("/settings/whatsapp").await;
    assert!(page.contains("2200330044") && page.contains("Ventas"));
    assert!(
        !page.contains("second-number-token")
            && !page.contains("second-app-secret")
            && !page.contains("second-verify-token")
    );
    // Changing the name with blank secrets keeps them.
    let keep = [
        ("label", "Ventas Madrid"),
        ("phone_number_id", "2200330044"),
        ("api_base", api_base.as_str()),
        ("active", "on"),
    ];
    assert_eq!(admin.post("/settings/whatsapp", "/settings/whatsapp", &keep).await.status(), StatusCode::SEE_OTHER);
    // A new number without secrets is refused.
    let bad = [("label", "X"), ("phone_number_id", "9999"), ("api_base", "ftp://x")];
    assert_eq!(
        admin.post("/settings/whatsapp", "/settings/whatsapp", &bad).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // The handshake and a notification signed with the second number's secrets work.
    let ok = new_client()
        .get(app.url("/api/v1/channels/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=second-verify-token&hub.challenge=42"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.text().await.unwrap(), "42");
    let raw = text("wamid.SECOND", "34600777666", "Gema", "Hola, ¿mi saldo?").to_string().replace(NUMBER, "2200330044");
    let r = new_client()
        .post(app.url("/api/v1/channels/whatsapp/webhook"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(raw.as_bytes(), "second-app-secret"))
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The first number's secret cannot speak for the second number.
    let forged = text("wamid.FORGED", "34600777666", "Gema", "hola").to_string().replace(NUMBER, "2200330044");
    let r = new_client()
        .post(app.url("/api/v1/channels/whatsapp/webhook"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(forged.as_bytes(), APP_SECRET))
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sent = eventually("a send from the second number", || async {
        let requests = server.received_requests().await.unwrap_or_default();
        requests.into_iter().find(|r| r.url.path() == "/v21.0/2200330044/messages")
    })
    .await;
    assert_eq!(sent.headers.get("authorization").unwrap().to_str().unwrap(), "Bearer second-number-token");
    let forged: i64 = with_db!(app.state.db(), |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM whatsapp_events WHERE event_key = 'wamid.FORGED'"
    )
    .fetch_one(pool)
    .await)
    .unwrap();
    assert_eq!(forged, 0, "ignored");
    let actions = app.audit_actions().await;
    assert!(actions.iter().filter(|a| *a == "whatsapp.number").count() == 2, "{actions:?}");
    app.finish().await;
}

async fn whatsapp_hand_over_outside_business_hours_tells_the_contact_when_a_person_is_back(backend: Backend) {
    let server = provider().await;
    let tweak = whatsapp(&server);
    let app = TestApp::spawn(backend, move |c| {
        tweak(c);
        c.business_hours = centralita::hours::BusinessHours::parse("tz=Europe/Madrid; *=mon-fri 09:00-18:00").unwrap();
    })
    .await;
    // Friday 2026-12-04 21:00 in Madrid: the team opens on Monday at 09:00.
    let friday_night = time::macros::datetime!(2026-12-04 20:00 UTC);
    app.state.clock().set(Some(centralita::db::Timestamp::from(friday_night)));
    let r =
        deliver(&app, &text("wamid.HOURS1", "34600999111", "Pilar", "Quiero hablar con una persona, por favor")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let sent = wait_for_sends(&server, 1).await;
    let body = sent[0].0["text"]["body"].as_str().unwrap_or_default().to_owned();
    assert!(body.contains("el lunes a las 09:00") && body.contains("Europe/Madrid"), "{body}");
    // The conversation waits in the queue for Monday.
    let token = app.admin_token().await;
    let call_id = the_call_id(&app, &token).await;
    let call = get_json(app.url(&format!("/api/v1/calls/{call_id}")), &token).await;
    assert_eq!(call["call"]["status"], "queued", "{call}");
    app.finish().await;
}

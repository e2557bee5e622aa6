//! Working a call as a team: classification corrections kept beside the AI's values,
//! departments on the board, transfers with a reason the receiver reads, internal
//! notes that never reach the customer or the model, calls staff start, and the
//! escalation-alert preference.

use std::time::Duration;

use centralita::agents::openai::OpenAiConfig;
use centralita::config::Secret;
use centralita::db::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, get_json, location, new_client, post_json};
use crate::{on_both, on_both_backends};

on_both!(
    a_correction_is_kept_beside_the_ai_and_later_turns_leave_it,
    the_board_puts_my_departments_waiting_calls_first,
    a_transfer_moves_the_call_and_the_receiver_reads_why,
    notes_never_reach_the_customers_page_or_stream,
    staff_start_a_call_for_a_customer_from_the_board,
    the_escalation_alert_preference_is_per_user,
);
on_both_backends!(notes_never_reach_the_models_prompt);

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    new_client().patch(app.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn a_correction_is_kept_beside_the_ai_and_later_turns_leave_it(app: &TestApp) {
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let token = app.token_for("corrige", "agent").await;
    let call =
        app.start_call(&token, json!({"customer_id": maria, "message": "Hola, ¿cuál es mi saldo?"})).await["call_id"]
            .as_i64()
            .unwrap();
    let url = format!("/api/v1/calls/{call}");
    let viewer = app.token_for("solo-mira", "viewer").await;
    assert_eq!(patch(app, &viewer, &url, json!({"department": "sales"})).await.status(), StatusCode::FORBIDDEN);
    for (body, field) in [
        (json!({"department": "marketing"}), "department"),
        (json!({"priority": "urgent"}), "priority"),
        (json!({"sentiment": "angry"}), "sentiment"),
        (json!({"category": "Not Snake"}), "category"),
        (json!({}), "department"),
    ] {
        let r = patch(app, &token, &url, body.clone()).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(r.json::<Value>().await.unwrap()["fields"][field].is_string(), "{body}");
    }
    assert_eq!(
        patch(app, &token, &url, json!({"department": "sales", "colour": "red"})).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        patch(app, &token, "/api/v1/calls/999999", json!({"department": "sales"})).await.status(),
        StatusCode::NOT_FOUND
    );

    let r = patch(app, &token, &url, json!({"department": "complaints", "priority": "critical"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["call"]["department"], "complaints");
    assert_eq!(changed["call"]["ai_department"], "billing");

    let got = get_json(app.url(&url), &token).await;
    assert_eq!(got["corrected"], true);
    assert_eq!(got["classification"]["department"], "complaints");
    assert_eq!(got["classification"]["priority"], "critical");
    assert_eq!(got["classification"]["category"], "balance_inquiry", "fields not given stay");
    assert_eq!(got["ai_classification"]["department"], "billing");
    assert!(got["call"]["corrected_by"].as_i64().is_some());
    assert!(got["quality"].as_f64().is_some(), "the supervisor's quality is stored: {got}");
    assert!(got["recommendations"].is_array());

    let audit = centralita::audit::list(app.state.db(), None, 100).await.unwrap();
    let entry = audit.iter().find(|e| e.action == "call.correct").expect("audited");
    let meta: Value = serde_json::from_str(&entry.metadata).unwrap();
    assert_eq!(meta["old"]["department"], "billing");
    assert_eq!(meta["new"]["department"], "complaints");
    assert_eq!(meta["new"]["priority"], "critical");

    // A later AI turn writes what the AI says now, and leaves the correction alone.
    let next = app.say(&token, call, "Quiero hacer un pago de mi factura, ¿cómo pago?").await;
    assert!(next["reply"].is_string());
    let got = get_json(app.url(&url), &token).await;
    assert_eq!(got["classification"]["department"], "complaints");
    assert_eq!(got["classification"]["priority"], "critical");
    assert_eq!(got["classification"]["category"], "balance_inquiry");
    assert_eq!(got["ai_classification"]["department"], "billing");
    assert_ne!(got["ai_classification"]["category"], Value::Null);

    // The page shows both, and the form corrects too.
    let b = app.signed_in("corrector", "agent").await;
    let html = b.page(&format!("/calls/{call}")).await;
    assert!(html.contains("id=\"correct-form\"") && html.contains("class=\"hint ai-said\""), "{html}");
    let r =
        b.post(&format!("/calls/{call}/classification"), &format!("/calls/{call}"), &[("sentiment", "negative")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(get_json(app.url(&url), &token).await["classification"]["sentiment"], "negative");
    let v = app.signed_in("lector", "viewer").await;
    assert!(!v.page(&format!("/calls/{call}")).await.contains("id=\"correct-form\""));
    let r =
        v.post(&format!("/calls/{call}/classification"), &format!("/calls/{call}"), &[("sentiment", "positive")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn escalated(app: &TestApp, token: &str) -> i64 {
    let r = app.start_call(token, json!({"message": "I want to talk to a human, please"})).await;
    assert_eq!(r["status"], "queued");
    r["call_id"].as_i64().unwrap()
}

async fn the_board_puts_my_departments_waiting_calls_first(app: &TestApp) {
    let admin = app.admin_token().await;
    let (billing_user, pw) = app.ready_user("facturas", "agent").await;
    let id = billing_user["id"].as_i64().unwrap();
    let r = patch(app, &admin, &format!("/api/v1/users/{id}"), json!({"department": "nowhere"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = patch(app, &admin, &format!("/api/v1/users/{id}"), json!({"department": "billing"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["department"], "billing");
    let billing = app.api_login("facturas", &pw).await["access_token"].as_str().unwrap().to_owned();
    let other = app.token_for("general", "agent").await;

    let older = escalated(app, &other).await;
    let newer = escalated(app, &other).await;
    for (call, dept) in [(older, "general"), (newer, "billing")] {
        let r = patch(app, &other, &format!("/api/v1/calls/{call}"), json!({"department": dept, "priority": "medium"}))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let order = |board: Value| -> Vec<i64> {
        board["escalations"].as_array().unwrap().iter().map(|r| r["call"]["id"].as_i64().unwrap()).collect()
    };
    assert_eq!(order(get_json(app.url("/api/v1/board"), &billing).await), [newer, older], "my department first");
    assert_eq!(order(get_json(app.url("/api/v1/board"), &other).await), [older, newer], "longest waiting first");

    // The admin page sets it too; clearing with null works over the API.
    let b = app.signed_in("jefa", "admin").await;
    let r = b.post(&format!("/users/{id}/department"), &format!("/users/{id}"), &[("department", "support")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(b.page(&format!("/users/{id}")).await.contains("<option value=\"support\" selected>"));
    let r = patch(app, &admin, &format!("/api/v1/users/{id}"), json!({"department": null})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["department"], Value::Null);
    let agent = app.signed_in("no-admin", "agent").await;
    let r = agent.post(&format!("/users/{id}/department"), "/board", &[("department", "sales")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn a_transfer_moves_the_call_and_the_receiver_reads_why(app: &TestApp) {
    let ana = app.token_for("ana", "agent").await;
    let (beto_user, beto_pw) = app.ready_user("beto", "agent").await;
    let beto_id = beto_user["id"].as_i64().unwrap();
    let beto = app.api_login("beto", &beto_pw).await["access_token"].as_str().unwrap().to_owned();
    let carla = app.token_for("carla", "agent").await;
    let (viewer_user, _) = app.ready_user("vera", "viewer").await;
    let call = escalated(app, &ana).await;
    let url = format!("/api/v1/calls/{call}/transfer");
    assert_eq!(
        post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &ana, json!({})).await.status(),
        StatusCode::OK
    );

    for (body, field) in [
        (json!({"to_user_id": beto_id}), "reason"),
        (json!({"to_user_id": beto_id, "reason": "   "}), "reason"),
        (json!({"reason": "x"}), "department"),
        (json!({"department": "marketing", "reason": "x"}), "department"),
        (json!({"to_user_id": viewer_user["id"], "reason": "x"}), "to_user_id"),
        (json!({"to_user_id": 999999, "reason": "x"}), "to_user_id"),
        (json!({"to_user_id": beto_id, "reason": "y".repeat(501)}), "reason"),
    ] {
        let r = post_json(app.url(&url), &ana, body.clone()).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(r.json::<Value>().await.unwrap()["fields"][field].is_string(), "{body}");
    }
    let viewer = app.token_for("vista", "viewer").await;
    let r = post_json(app.url(&url), &viewer, json!({"department": "billing", "reason": "x"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Someone who does not hold it cannot move it.
    let r = post_json(app.url(&url), &carla, json!({"department": "billing", "reason": "mine now"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Ana puts it through to Beto: he holds it now and reads why.
    let r = post_json(app.url(&url), &ana, json!({"to_user_id": beto_id, "reason": "Needs a refund approval"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let moved: Value = r.json().await.unwrap();
    assert_eq!(
        (moved["call"]["status"].as_str(), moved["call"]["assigned_to"].as_i64()),
        (Some("human"), Some(beto_id))
    );
    let b = app.browser();
    assert_eq!(b.login("beto", &beto_pw).await.status(), StatusCode::SEE_OTHER);
    let board = b.page("/board").await;
    assert!(board.contains("class=\"hint transfer-reason\"") && board.contains("Needs a refund approval"), "{board}");
    let page = b.page(&format!("/calls/{call}")).await;
    assert!(page.contains("Needs a refund approval") && page.contains("id=\"reply-form\""), "Beto can reply");

    // Beto sends it to billing's queue: nobody holds it, billing's department sticks.
    let r =
        post_json(app.url(&url), &beto, json!({"department": "billing", "reason": "Billing must check the invoice"}))
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    let got = get_json(app.url(&format!("/api/v1/calls/{call}")), &ana).await;
    assert_eq!(got["call"]["status"], "queued");
    assert_eq!(got["call"]["assigned_to"], Value::Null);
    assert_eq!(got["call"]["department"], "billing");
    assert!(got["call"]["transferred_at"].is_string());
    let transfers = got["transfers"].as_array().unwrap();
    assert_eq!(transfers.len(), 2);
    assert_eq!(transfers[0]["to_name"], "beto Test");
    assert_eq!(transfers[1]["to_department"], "billing");
    assert_eq!(transfers[1]["reason"], "Billing must check the invoice");
    let system: Vec<&str> = got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "system")
        .map(|m| m["agent"].as_str().unwrap())
        .collect();
    assert_eq!(system, ["joined", "joined", "transferred"]);
    assert!(!got["messages"].to_string().contains("invoice"), "the reason is not in the transcript");
    assert_eq!(app.audit_actions().await.iter().filter(|a| *a == "call.transfer").count(), 2);

    // The web form works the same way; a closed call cannot be transferred.
    let web = app.signed_in("dora", "agent").await;
    let r = web
        .post(
            &format!("/calls/{call}/transfer"),
            &format!("/calls/{call}"),
            &[("department", "sales"), ("to_user_id", ""), ("reason", "Upsell")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = web
        .post(&format!("/calls/{call}/transfer"), &format!("/calls/{call}"), &[("department", "sales"), ("reason", "")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &ana, json!({"outcome": "resolved"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post_json(app.url(&url), &ana, json!({"department": "billing", "reason": "late"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

const NOTE: &str = "NOTA-INTERNA-7731 cliente VIP, cuidado con el tono";

async fn notes_never_reach_the_customers_page_or_stream(app: &TestApp) {
    let (customer, link) = app.customer_starts("Lucía Gil", "lucia.gil@example.com", "Hola, tengo una duda").await;
    let call = customer.call_id(&link).await;
    let token = app.token_for("notas", "agent").await;
    let viewer = app.token_for("vistanotas", "viewer").await;
    let url = format!("/api/v1/calls/{call}/notes");
    assert_eq!(post_json(app.url(&url), &viewer, json!({"text": NOTE})).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        post_json(app.url(&url), &token, json!({"text": "  "})).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        post_json(app.url("/api/v1/calls/999999/notes"), &token, json!({"text": "x"})).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = post_json(app.url(&url), &token, json!({"text": NOTE})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<Value>().await.unwrap()["content"], NOTE);

    // Staff see it, on the API and the call page.
    assert!(get_json(app.url(&format!("/api/v1/calls/{call}")), &token).await["notes"].to_string().contains(NOTE));
    let staff = app.signed_in("notera", "viewer").await;
    assert!(staff.page(&format!("/calls/{call}")).await.contains(NOTE));
    assert!(app.audit_actions().await.contains(&"call.note".to_owned()));

    // The customer talks on; nothing of the note reaches them.
    let r = customer.post(&format!("{link}/messages"), &link, &[("message", "¿Sigue ahí?")]).await;
    assert!(r.status().is_redirection() || r.status().is_success());
    for path in [link.clone(), format!("{link}/conversation"), format!("{link}/composer")] {
        let html = customer.page(&path).await;
        assert!(!html.contains("NOTA-INTERNA"), "{path} shows the note");
    }
    let replay =
        read_for(customer.client.get(format!("{}{link}/events?after=0", customer.base)), Duration::from_secs(2)).await;
    assert!(replay.contains("event: update"), "the replay has the call's events: {replay}");
    assert!(!replay.contains("NOTA-INTERNA") && !replay.contains("note_added"), "{replay}");

    // The agents' history is the transcript, which holds no note.
    let got = get_json(app.url(&format!("/api/v1/calls/{call}")), &token).await;
    assert!(!got["messages"].to_string().contains("NOTA-INTERNA"));
    assert!(!got["steps"].to_string().contains("NOTA-INTERNA"), "no agent step saw the note");
}

/// The body of a streaming response as read within `wait`.
async fn read_for(request: reqwest::RequestBuilder, wait: Duration) -> String {
    use futures_util::StreamExt;
    let r = request.header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut body = r.bytes_stream();
    let mut text = String::new();
    let _ = tokio::time::timeout(wait, async {
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    text
}

async fn notes_never_reach_the_models_prompt(backend: Backend) {
    let server = MockServer::start().await;
    let reply = |content: &str| {
        ResponseTemplate::new(200).set_body_json(
            json!({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
        )
    };
    let classification = r#"{"department":"support","category":"how_to","sentiment":"neutral","priority":"low","language":"es","confidence":0.9,"recommendations":[]}"#;
    for (marker, body) in [
        (r#""name":"classification""#, reply(classification)),
        (r#""name":"verdict""#, reply(r#"{"action":"continue","reason":null,"quality":0.8}"#)),
        ("", reply("De acuerdo, le ayudo.")),
    ] {
        let priority = if marker.is_empty() { 10 } else { 1 };
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(body_string_contains(marker))
            .respond_with(body)
            .with_priority(priority)
            .mount(&server)
            .await;
    }
    let base_url = format!("{}/v1", server.uri());
    let app = TestApp::spawn(backend, move |c| {
        c.llm = Some(OpenAiConfig {
            base_url,
            api_key: Some(Secret::new("sk-test")),
            model: "m".into(),
            per_agent: Default::default(),
            timeout: Duration::from_secs(5),
            max_retries: 0,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        });
    })
    .await;
    let token = app.token_for("prompter", "agent").await;
    let call =
        app.start_call(&token, json!({"message": "¿Cómo cambio mi contraseña?"})).await["call_id"].as_i64().unwrap();
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/notes")), &token, json!({"text": NOTE})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let before = server.received_requests().await.unwrap().len();
    let next = app.say(&token, call, "¿Y si no recuerdo el correo?").await;
    assert_eq!(next["reply"], "De acuerdo, le ayudo.");
    let requests = server.received_requests().await.unwrap();
    assert!(requests.len() > before, "the second turn asked the model");
    let second_turn: Vec<String> =
        requests[before..].iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect();
    assert!(second_turn.iter().any(|b| b.contains("contraseña")), "the history is in the prompt");
    assert!(second_turn.iter().all(|b| !b.contains("NOTA-INTERNA")), "a note reached the model");
    app.finish().await;
}

async fn staff_start_a_call_for_a_customer_from_the_board(app: &TestApp) {
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let b = app.signed_in("telefono", "agent").await;
    let board = b.page("/board").await;
    assert!(board.contains("id=\"start-form\""));
    // By email, with the customer's first words: the AI answers them.
    let r = b
        .post(
            "/calls",
            "/board",
            &[("customer", "MARIA.LOPEZ@example.com"), ("message", "¿Cuál es mi saldo?"), ("note", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    let call: i64 = to.strip_prefix("/calls/").unwrap().parse().unwrap();
    let token = app.token_for("leer", "viewer").await;
    let got = get_json(app.url(&format!("/api/v1/calls/{call}")), &token).await;
    assert_eq!(got["call"]["customer_id"].as_i64(), Some(maria));
    assert_eq!(got["call"]["status"], "ai");
    assert!(got["messages"][1]["content"].as_str().unwrap().contains("125.50"));
    // By id, with only a note: a phone call they hold themselves.
    let r = b
        .post(
            "/calls",
            "/board",
            &[
                ("customer", &maria.to_string()),
                ("message", ""),
                ("note", "Llamada telefónica: pregunta por su factura"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let call: i64 = location(&r).strip_prefix("/calls/").unwrap().parse().unwrap();
    let got = get_json(app.url(&format!("/api/v1/calls/{call}")), &token).await;
    assert_eq!(got["call"]["status"], "human");
    let held_by: i64 = centralita::with_db!(app.state.db(), |pool| sqlx::query_scalar(
        "SELECT id FROM users WHERE username = 'telefono'"
    )
    .fetch_one(pool)
    .await)
    .unwrap();
    assert_eq!(got["call"]["assigned_to"].as_i64(), Some(held_by), "held by who opened it");
    assert_eq!(got["notes"][0]["content"], "Llamada telefónica: pregunta por su factura");
    assert_eq!((&got["messages"][0]["role"], &got["messages"][0]["agent"]), (&json!("system"), &json!("joined")));
    let kinds: Vec<String> = centralita::with_db!(app.state.db(), |pool| sqlx::query_scalar(
        "SELECT kind FROM events WHERE call_id = $1 ORDER BY id"
    )
    .bind(call)
    .fetch_all(pool)
    .await)
    .unwrap();
    assert_eq!(kinds, ["call_created", "message", "taken_over", "note_added"]);
    // By name; problems show on the board's form.
    let r = b.post("/calls", "/board", &[("customer", "maría lópez"), ("message", "hola")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for fields in [
        [("customer", "Nadie Nunca"), ("message", "hola")],
        [("customer", "999999"), ("message", "hola")],
        [("customer", "maria.lopez@example.com"), ("message", "  ")],
    ] {
        let r = b.post("/calls", "/board", &fields).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(r.text().await.unwrap().contains("id=\"start-error\""));
    }
    // A note too long is refused before anything is stored, with or without a message.
    let calls_before = calls_count(app).await;
    let long = "n".repeat(4001);
    for message in ["", "hola"] {
        let r = b.post("/calls", "/board", &[("customer", "1"), ("message", message), ("note", &long)]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("id=\"start-error\""));
    }
    assert_eq!(calls_count(app).await, calls_before, "no call was opened");
    let v = app.signed_in("mirando", "viewer").await;
    assert!(!v.page("/board").await.contains("id=\"start-form\""));
    let r = v.post("/calls", "/board", &[("customer", "1"), ("message", "hola")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn the_escalation_alert_preference_is_per_user(app: &TestApp) {
    let b = app.signed_in("alertas", "viewer").await;
    let other = app.signed_in("tranquilo", "agent").await;
    let board = b.page("/board").await;
    assert!(board.contains("data-notify=\"0\"") && board.contains("<script src=\"/static/alerts.js\""));
    assert!(board.contains("data-waiting=\"0\""));
    let r = b.post("/board/alerts", "/board", &[("on", "1")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(b.page("/board").await.contains("data-notify=\"1\""));
    assert!(other.page("/board").await.contains("data-notify=\"0\""), "only for the one who asked");
    let r = b.post_raw("/board/alerts", &[("on", "0")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token, no change");
    assert!(b.page("/board").await.contains("data-notify=\"1\""));
    b.post("/board/alerts", "/board", &[("on", "0")]).await;
    assert!(b.page("/board").await.contains("data-notify=\"0\""));
    assert!(app.audit_actions().await.contains(&"user.alerts_change".to_owned()));
    // The waiting count the title shows follows the queue.
    let token = app.token_for("escala", "agent").await;
    escalated(app, &token).await;
    assert!(b.page("/board/live").await.contains("data-waiting=\"1\""));
    let js = app.browser().get("/static/alerts.js").await;
    assert_eq!(js.status(), StatusCode::OK);
    let js = js.text().await.unwrap();
    assert!(js.contains("createOscillator") && js.contains("Notification"));
}

async fn calls_count(app: &TestApp) -> i64 {
    centralita::with_db!(app.state.db(), |pool| sqlx::query_scalar("SELECT COUNT(*) FROM calls").fetch_one(pool).await)
        .unwrap()
}

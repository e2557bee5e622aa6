//! Business hours: outside a department's hours the AI still answers, a conversation it
//! hands to a person waits in the queue, and the customer is told when the team opens.
//! The app's clock is set, so "outside hours" does not depend on when the suite runs.

use std::time::Duration;

use centralita::agents::openai::OpenAiConfig;
use centralita::db::{Backend, Timestamp};
use centralita::hours::BusinessHours;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, get_json};
use crate::on_both_backends;

on_both_backends!(
    a_call_handed_over_outside_hours_says_when_a_person_will_pick_it_up,
    the_remote_model_path_adds_the_opening_time_computed_by_the_app,
    admins_set_business_hours_on_a_settings_page_that_overrides_the_environment,
);

const HOURS: &str = "tz=Europe/Madrid; billing=mon-fri 09:00-18:00; *=mon-fri 09:00-18:00, sat 10:00-14:00";

fn at(text: &str) -> Timestamp {
    Timestamp::from(time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap())
}

async fn with_hours(backend: Backend) -> TestApp {
    TestApp::spawn(backend, |c| c.business_hours = BusinessHours::parse(HOURS).unwrap()).await
}

async fn a_call_handed_over_outside_hours_says_when_a_person_will_pick_it_up(backend: Backend) {
    let app = with_hours(backend).await;
    let token = app.token_for("turno", "agent").await;

    // Saturday 2026-12-05 15:00 in Madrid: closed since 14:00, opens Monday 09:00.
    app.state.clock().set(Some(at("2026-12-05T14:00:00Z")));
    let r = app.start_call(&token, json!({"message": "I want to talk to a human, please"})).await;
    assert_eq!((&r["status"], &r["verdict"]["action"]), (&json!("queued"), &json!("escalate")), "{r}");
    let reply = r["reply"].as_str().unwrap();
    assert!(reply.contains("Monday at 09:00") && reply.contains("Europe/Madrid"), "{reply}");
    let call = r["call_id"].as_i64().unwrap();
    // The escalation waits in the queue; the stored message is what the customer read.
    let got = get_json(app.url(&format!("/api/v1/calls/{call}")), &token).await;
    assert_eq!(got["call"]["status"], "queued");
    let stored = got["messages"].as_array().unwrap().iter().rev().find(|m| m["role"] == "ai").unwrap();
    assert_eq!(stored["content"], reply);
    // The board shows the department closed, with its next opening.
    let board = get_json(app.url("/api/v1/board"), &token).await;
    let general = board["hours"].as_array().unwrap().iter().find(|h| h["department"] == "general").unwrap().clone();
    assert_eq!((&general["open"], &general["opens_at"]), (&json!(false), &json!("2026-12-07 09:00")), "{board}");
    let page = app.signed_in("pizarra", "agent").await.page("/board").await;
    assert!(page.contains("dept-closed") && page.contains("2026-12-07 09:00"), "the board says the team is closed");

    // In Spanish on Sunday evening: "mañana a las 09:00".
    app.state.clock().set(Some(at("2026-12-06T19:30:00Z")));
    let r = app.start_call(&token, json!({"message": "Quiero hablar con una persona, por favor"})).await;
    assert_eq!(r["status"], "queued", "{r}");
    let reply = r["reply"].as_str().unwrap();
    assert!(reply.contains("mañana a las 09:00") && reply.contains("hora de Europe/Madrid"), "{reply}");

    // Monday 10:00 in Madrid: open, so the hand-over says nothing about hours.
    app.state.clock().set(Some(at("2026-12-07T09:00:00Z")));
    let r = app.start_call(&token, json!({"message": "I want to talk to a human, please"})).await;
    assert_eq!(r["status"], "queued", "{r}");
    let reply = r["reply"].as_str().unwrap();
    assert!(!reply.contains("closed") && !reply.contains("Europe/Madrid"), "{reply}");
    let board = get_json(app.url("/api/v1/board"), &token).await;
    assert!(board["hours"].as_array().unwrap().iter().all(|h| h["open"] == true), "{board}");

    // Outside hours, a turn the AI keeps answers as always.
    app.state.clock().set(Some(at("2026-12-05T22:00:00Z")));
    let r = app.start_call(&token, json!({"message": "hello"})).await;
    assert_eq!(r["status"], "ai", "{r}");
    assert!(!r["reply"].as_str().unwrap().contains("Europe/Madrid"), "{r}");
    app.finish().await;
}

/// A model server that routes to billing in Spanish, writes a reply, and escalates.
async fn escalating_model() -> MockServer {
    let server = MockServer::start().await;
    let answer = |content: &str| {
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5}})
    };
    let routing = r#"{"department":"billing","category":"disputed_charge","sentiment":"negative","priority":"high","language":"es","confidence":0.9,"recommendations":[]}"#;
    for (marker, content, priority) in [
        (r#""name":"classification""#, routing, 1),
        (r#""name":"verdict""#, r#"{"action":"escalate","reason":"customer_request","quality":0.7}"#, 1),
        ("", "Entiendo, le paso con una persona de nuestro equipo.", 2),
    ] {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(body_string_contains(marker))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer(content)))
            .with_priority(priority)
            .mount(&server)
            .await;
    }
    server
}

async fn the_remote_model_path_adds_the_opening_time_computed_by_the_app(backend: Backend) {
    let server = escalating_model().await;
    let base_url = format!("{}/v1", server.uri());
    let app = TestApp::spawn(backend, move |c| {
        c.business_hours = BusinessHours::parse(HOURS).unwrap();
        c.llm = Some(OpenAiConfig {
            base_url,
            api_key: None,
            model: "test-model".into(),
            per_agent: Default::default(),
            timeout: Duration::from_secs(5),
            max_retries: 0,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        });
    })
    .await;
    let token = app.token_for("remota", "agent").await;
    // Wednesday 2026-12-02 20:00 in Madrid: billing opens tomorrow at 09:00.
    app.state.clock().set(Some(at("2026-12-02T19:00:00Z")));
    let r = app.start_call(&token, json!({"message": "Me han cobrado dos veces, quiero hablar con alguien"})).await;
    assert_eq!(r["status"], "queued", "{r}");
    let reply = r["reply"].as_str().unwrap();
    assert!(reply.starts_with("Entiendo, le paso con una persona de nuestro equipo."), "{reply}");
    assert!(reply.contains("Facturación") && reply.contains("mañana a las 09:00"), "{reply}");
    // The model was never asked about hours: no request mentioned the opening time.
    for request in server.received_requests().await.unwrap() {
        assert!(!String::from_utf8_lossy(&request.body).contains("09:00"), "hours are the app's, not the model's");
    }
    // Wednesday 11:00 in Madrid: billing is open and the model's reply stands alone.
    app.state.clock().set(Some(at("2026-12-02T10:00:00Z")));
    let open = app.start_call(&token, json!({"message": "Me han cobrado dos veces, quiero hablar con alguien"})).await;
    assert_eq!(open["reply"], "Entiendo, le paso con una persona de nuestro equipo.", "open: nothing is added");
    app.finish().await;
}

async fn admins_set_business_hours_on_a_settings_page_that_overrides_the_environment(backend: Backend) {
    let app = with_hours(backend).await;
    let admin = app.signed_in("horaria", "admin").await;
    let page = admin.page("/settings/hours").await;
    assert!(page.contains("CENTRALITA_BUSINESS_HOURS") && page.contains("Europe/Madrid"), "env hours shown");
    assert!(page.contains("mon-fri 09:00-18:00, sat 10:00-14:00"), "the default hours fill the form");

    // Bad input: each field says what is wrong, nothing is saved.
    let bad = [
        ("timezone", "Mars/Olympus"),
        ("default", "mon-fri 9-18"),
        ("billing", "moonday 09:00-10:00"),
        ("support", "mon 18:00-09:00"),
        ("closed", "25/12/2026"),
    ];
    let r = admin.post("/settings/hours", "/settings/hours", &bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    for field in ["timezone", "default", "billing", "support", "closed"] {
        assert!(body.contains(&format!("data-field=\"{field}\"")), "error under {field}");
    }
    assert!(body.contains("moonday 09:00-10:00"), "the input is kept");
    assert!(!app.audit_actions().await.contains(&"settings.business_hours".to_owned()));

    // Saved: billing works Sundays in New York, the rest as the default.
    let good = [
        ("timezone", "America/New_York"),
        ("default", "mon-fri 09:00-17:00"),
        ("billing", "sun 10:00-12:00"),
        ("support", "always"),
        ("closed", "2026-12-25"),
    ];
    let r = admin.post("/settings/hours", "/settings/hours", &good).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let page = admin.page("/settings/hours").await;
    assert!(page.contains("America/New_York") && page.contains("sun 10:00-12:00"), "saved hours shown");
    assert!(app.audit_actions().await.contains(&"settings.business_hours".to_owned()));

    // The saved hours are the ones in force: Saturday 2026-12-05 12:00 in New York.
    let token = app.token_for("cola", "agent").await;
    app.state.clock().set(Some(at("2026-12-05T17:00:00Z")));
    let r = app.start_call(&token, json!({"message": "I want to talk to a human, please"})).await;
    let reply = r["reply"].as_str().unwrap();
    assert!(reply.contains("Monday at 09:00") && reply.contains("America/New_York"), "{reply}");
    let board = get_json(app.url("/api/v1/board"), &token).await;
    let hours: Vec<Value> = board["hours"].as_array().unwrap().clone();
    let support = hours.iter().find(|h| h["department"] == "support").unwrap();
    assert_eq!(support["open"], true, "support is always open");

    // Reset: the environment's hours again, audited.
    let r = admin.post("/settings/hours/reset", "/settings/hours", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = admin.page("/settings/hours").await;
    assert!(page.contains("Europe/Madrid") && !page.contains("America/New_York"));
    assert!(app.audit_actions().await.contains(&"settings.business_hours_reset".to_owned()));

    // Only admins see the page.
    let supervisor = app.signed_in("jefa", "supervisor").await;
    assert_eq!(supervisor.get("/settings/hours").await.status(), StatusCode::FORBIDDEN);
    app.finish().await;
}

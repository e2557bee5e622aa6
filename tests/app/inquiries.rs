//! Written inquiries: the public `202` that never waits for a model, the background
//! job that classifies and suggests a reply (surviving a killed process, retrying a
//! failing model with backoff, dead after its last attempt and queued again by staff),
//! the reply that reaches a real SMTP server, validation, the rate limit and roles.

use std::time::{Duration, Instant};

use centralita::agents::openai::OpenAiConfig;
use centralita::config::{Config, Secret};
use centralita::db::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::email::{Running, admin_token_at, binary, wait_healthy};
use crate::helpers::{TestApp, get_json, location, new_client, post_json};
use crate::smtp::SmtpSink;

crate::on_both_backends!(
    a_slow_model_never_delays_the_202_and_the_inquiry_is_classified_later,
    a_job_cut_short_by_a_killed_process_is_picked_up_by_the_next_one,
    a_failing_model_is_retried_with_backoff_until_it_answers,
    a_model_that_keeps_failing_leaves_the_inquiry_failed_until_staff_queue_it_again,
    the_suggested_reply_is_sent_by_email_once_and_reaches_the_smtp_server,
    the_inquiry_limit_per_address_is_configurable,
);

crate::on_both!(
    invalid_inquiries_are_refused_by_field_and_each_address_is_limited,
    viewers_read_inquiries_but_only_agents_and_up_change_or_answer_them,
    the_inquiry_pages_escape_what_visitors_wrote_and_forms_need_their_csrf_token,
    two_nodes_share_the_job_queue_and_run_each_job_once,
);

/// Marks the routing agent's request (its JSON schema's name).
const ROUTING: &str = r#""name":"classification""#;
/// Marks the reply agent's request (a phrase of its prompt).
const REPLY: &str = "written inquiry";

const CLASSIFICATION: &str = r#"{"department":"billing","category":"invoice_copy","sentiment":"neutral","priority":"low","language":"en","confidence":0.91,"recommendations":[]}"#;
const SUGGESTION: &str = "We will send you a copy of your March invoice today. <b>Thanks</b> for writing.";

fn completion(content: &str) -> Value {
    json!({"id": "cmpl-1", "object": "chat.completion", "created": 0, "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}})
}

/// The model answers routing after `delay`, and the reply at once.
async fn model(server: &MockServer, delay: Duration) {
    let routing = ResponseTemplate::new(200).set_body_json(completion(CLASSIFICATION)).set_delay(delay);
    mount(server, ROUTING, routing, 5, None).await;
    mount(server, REPLY, ResponseTemplate::new(200).set_body_json(completion(SUGGESTION)), 5, None).await;
}

async fn mount(server: &MockServer, marker: &str, response: ResponseTemplate, priority: u8, times: Option<u64>) {
    let mut mock = Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains(marker))
        .respond_with(response)
        .with_priority(priority);
    if let Some(n) = times {
        mock = mock.up_to_n_times(n);
    }
    mock.mount(server).await;
}

async fn requests_with(server: &MockServer, marker: &str) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().filter(|r| String::from_utf8_lossy(&r.body).contains(marker)).count()
}

/// The remote model at `server`, asked once per request (the job retries instead), and
/// jobs retried quickly.
fn remote(config: &mut Config, server: &MockServer) {
    config.llm = Some(OpenAiConfig {
        base_url: format!("{}/v1", server.uri()),
        api_key: Some(Secret::new("sk-test-key")),
        model: "test-model".into(),
        per_agent: Default::default(),
        timeout: Duration::from_secs(30),
        max_retries: 0,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    });
    quick_jobs(config);
}

fn quick_jobs(config: &mut Config) {
    config.jobs.retry_base = Duration::from_millis(200);
    config.jobs.retry_max = Duration::from_secs(1);
    config.jobs.poll = Duration::from_millis(200);
}

fn inquiry(n: usize) -> Value {
    json!({"name": "Emily Johnson", "email": "emily.inquiry@example.com",
        "subject": format!("Invoice copy {n}"), "message": "Could you send me a copy of my March invoice?"})
}

async fn submit(app_base: &str, body: &Value) -> reqwest::Response {
    new_client().post(format!("{app_base}/api/v1/inquiries")).json(body).send().await.unwrap()
}

async fn submitted(app_base: &str, body: &Value) -> i64 {
    let r = submit(app_base, body).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "pending");
    v["id"].as_i64().unwrap()
}

/// Waits (up to `secs`) until the inquiry's status is `status`.
async fn until_status(base: &str, token: &str, id: i64, status: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = get_json(format!("{base}/api/v1/inquiries/{id}"), token).await;
        if v["status"] == status {
            return v;
        }
        assert!(Instant::now() < deadline, "inquiry {id} never became {status}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_slow_model_never_delays_the_202_and_the_inquiry_is_classified_later(backend: Backend) {
    let server = MockServer::start().await;
    model(&server, Duration::from_secs(10)).await;
    let app = TestApp::spawn(backend, |c| remote(c, &server)).await;
    let started = Instant::now();
    let id = submitted(&app.base, &inquiry(1)).await;
    assert!(started.elapsed() < Duration::from_secs(2), "the 202 waited {:?}", started.elapsed());
    let token = app.token_for("lectora", "viewer").await;
    let now = get_json(app.url(&format!("/api/v1/inquiries/{id}")), &token).await;
    assert_eq!(now["status"], "pending");
    assert!(now["suggested_reply"].is_null());
    let done = until_status(&app.base, &token, id, "classified", 30).await;
    assert!(started.elapsed() >= Duration::from_secs(10), "classified before the model answered");
    assert_eq!(done["department"], "billing");
    assert_eq!(done["category"], "invoice_copy");
    assert_eq!(done["sentiment"], "neutral");
    assert_eq!(done["priority"], "low");
    assert_eq!(done["language"], "en");
    assert_eq!(done["confidence"], 0.91);
    assert_eq!(done["suggested_reply"], SUGGESTION);
    assert_eq!(done["job_status"], "done");
    assert_eq!(done["job_attempts"], 1);
    assert!(done["error"].is_null());
    // Both model requests are recorded as the inquiry's agent runs, with their tokens.
    let db = app.state.db();
    let runs: Vec<(String, i64, i64)> = centralita::with_db!(db, |pool| sqlx::query_as(
        "SELECT agent, prompt_tokens, completion_tokens FROM agent_runs WHERE inquiry_id = $1 ORDER BY id"
    )
    .bind(id)
    .fetch_all(pool)
    .await)
    .unwrap();
    assert_eq!(runs, [("routing".to_owned(), 100, 20), ("service".to_owned(), 100, 20)]);
    app.finish().await;
}

async fn a_job_cut_short_by_a_killed_process_is_picked_up_by_the_next_one(backend: Backend) {
    // The first process's model hangs; the process is killed while the job runs. The
    // next process, on the same database, finds the job once its lease has expired.
    let hanging = MockServer::start().await;
    model(&hanging, Duration::from_secs(120)).await;
    let healthy = MockServer::start().await;
    model(&healthy, Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let (url, pg_name) = crate::helpers::fresh_database(backend, dir.path()).await;
    let port = crate::smtp::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = |server: &MockServer| {
        let mut command = binary(dir.path(), &url, port);
        command
            .env("CENTRALITA_LLM_BASE_URL", format!("{}/v1", server.uri()))
            .env("CENTRALITA_LLM_MAX_RETRIES", "0")
            .env("CENTRALITA_JOB_TIMEOUT_SECONDS", "3")
            .env("CENTRALITA_JOB_POLL_MS", "200");
        Running(command.spawn().unwrap())
    };
    let mut first = serve(&hanging);
    wait_healthy(&base).await;
    let id = submitted(&base, &inquiry(1)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while requests_with(&hanging, ROUTING).await == 0 {
        assert!(Instant::now() < deadline, "the first process never asked the model");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill();
    let db = centralita::db::Db::connect(&url, 2).await.unwrap();
    let job = centralita::jobs::by_dedupe_key(&db, &format!("inquiry:{id}:classify")).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("running", 1), "{job:?}");
    assert!(job.claimed_until.is_some());

    let mut second = serve(&healthy);
    wait_healthy(&base).await;
    let token = admin_token_at(&base).await;
    let done = until_status(&base, &token, id, "classified", 30).await;
    assert_eq!(done["suggested_reply"], SUGGESTION);
    assert_eq!(done["job_status"], "done");
    assert_eq!(done["job_attempts"], 2, "the crashed attempt counts: {done}");
    assert_eq!(requests_with(&hanging, ROUTING).await, 1, "the dead process's attempt is not repeated by it");
    assert_eq!(requests_with(&healthy, ROUTING).await, 1, "the next process ran the job once");
    second.kill();
    db.close().await;
    if let Some(name) = pg_name {
        crate::helpers::drop_database(&name).await;
    }
}

async fn a_failing_model_is_retried_with_backoff_until_it_answers(backend: Backend) {
    let server = MockServer::start().await;
    // Two failures (a 500, then malformed output), then answers.
    mount(&server, ROUTING, ResponseTemplate::new(500).set_body_string("overloaded"), 1, Some(1)).await;
    mount(&server, ROUTING, ResponseTemplate::new(200).set_body_json(completion("not json")), 2, Some(1)).await;
    model(&server, Duration::ZERO).await;
    let app = TestApp::spawn(backend, |c| remote(c, &server)).await;
    let token = app.token_for("agente", "agent").await;
    let started = Instant::now();
    let id = submitted(&app.base, &inquiry(1)).await;
    let done = until_status(&app.base, &token, id, "classified", 20).await;
    assert_eq!(done["job_attempts"], 3, "{done}");
    assert_eq!(done["job_status"], "done");
    assert!(done["error"].is_null(), "the error is cleared once it worked: {done}");
    // Backoff: at least half of 200 ms, then half of 400 ms, between the attempts.
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    assert_eq!(requests_with(&server, ROUTING).await, 3);
    let job = centralita::jobs::get(app.state.db(), done["job_id"].as_i64().unwrap()).await.unwrap().unwrap();
    assert!(job.last_error.is_none() && job.result.is_some(), "{job:?}");
    app.finish().await;
}

async fn a_model_that_keeps_failing_leaves_the_inquiry_failed_until_staff_queue_it_again(backend: Backend) {
    let server = MockServer::start().await;
    mount(&server, ROUTING, ResponseTemplate::new(503).set_body_string("down"), 1, Some(3)).await;
    model(&server, Duration::ZERO).await;
    let app = TestApp::spawn(backend, |c| {
        remote(c, &server);
        c.jobs.max_attempts = 3;
    })
    .await;
    let token = app.token_for("agente", "agent").await;
    let id = submitted(&app.base, &inquiry(1)).await;
    let failed = until_status(&app.base, &token, id, "failed", 20).await;
    assert_eq!(failed["job_status"], "dead");
    assert_eq!(failed["job_attempts"], 3);
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("routing agent") && error.contains("503"), "{error}");
    assert!(failed["suggested_reply"].is_null());
    assert_eq!(requests_with(&server, ROUTING).await, 3, "dead after three attempts, no fourth");

    // The model is back (its three failures are spent): staff queue it again.
    let r = new_client()
        .patch(app.url(&format!("/api/v1/inquiries/{id}")))
        .bearer_auth(&token)
        .json(&json!({"status": "pending"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let done = until_status(&app.base, &token, id, "classified", 20).await;
    assert_eq!(done["suggested_reply"], SUGGESTION);
    assert_eq!(done["job_id"], failed["job_id"], "the same job, queued again");
    assert_eq!(done["job_attempts"], 4);
    app.finish().await;
}

async fn the_suggested_reply_is_sent_by_email_once_and_reaches_the_smtp_server(backend: Backend) {
    let sink = SmtpSink::start();
    let app = TestApp::spawn(backend, |c| {
        sink.apply(c);
        quick_jobs(c);
    })
    .await;
    let token = app.token_for("agente", "agent").await;
    let body = json!({"name": "Lucía <b>Pérez</b>", "email": "Lucia.Perez@Example.com", "subject": "Factura de marzo",
        "message": "Hola, ¿me pueden enviar una copia de la factura de marzo? Gracias."});
    let id = submitted(&app.base, &body).await;
    // The built-in engine classifies and suggests a reply in the customer's language.
    let done = until_status(&app.base, &token, id, "classified", 20).await;
    assert_eq!(done["language"], "es");
    let suggested = done["suggested_reply"].as_str().unwrap();
    assert!(!suggested.is_empty());
    let text = format!("{suggested}\n\nLe adjuntamos la factura <script>x()</script>.");
    let reply = post_json(app.url(&format!("/api/v1/inquiries/{id}/reply")), &token, json!({"text": text})).await;
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    let reply: Value = reply.json().await.unwrap();
    assert_eq!(reply["inquiry"]["status"], "replied");
    assert_eq!(reply["inquiry"]["replied_by_name"], "agente Test");
    let email_id = reply["email_id"].as_i64().unwrap();
    // A second click sends nothing more.
    let again = post_json(app.url(&format!("/api/v1/inquiries/{id}/reply")), &token, json!({"text": text})).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.json::<Value>().await.unwrap()["email_id"], email_id);
    // Another answer to an answered inquiry is refused, and sends nothing.
    let other =
        post_json(app.url(&format!("/api/v1/inquiries/{id}/reply")), &token, json!({"text": "Otra respuesta"})).await;
    assert_eq!(other.status(), StatusCode::CONFLICT);
    assert!(other.text().await.unwrap().contains("inquiry_state"));

    let got = sink.wait_for(1, 20).await;
    let m = &got[0];
    assert_eq!(m["rcpt_tos"], json!(["lucia.perez@example.com"]));
    let plain = m["text"].as_str().unwrap().replace("\r\n", "\n");
    assert!(plain.contains("Le adjuntamos la factura <script>x()</script>."), "{plain}");
    let html = m["html"].as_str().unwrap();
    assert!(!html.contains("<script>x()") && !html.contains("<b>Pérez"), "escaped in HTML: {html}");
    assert!(m["headers"]["subject"].as_str().unwrap().contains("Factura de marzo"));
    let email = get_json(app.url(&format!("/api/v1/emails/{email_id}")), &token).await;
    assert_eq!(email["confirmed_via"], "staff", "{email}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_json(app.url(&format!("/api/v1/emails/{email_id}")), &token).await["status"] != "sent" {
        assert!(Instant::now() < deadline, "the email was never marked sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "one email for two clicks");
    assert!(app.audit_actions().await.contains(&"inquiry.reply".to_owned()));
    app.finish().await;
}

async fn invalid_inquiries_are_refused_by_field_and_each_address_is_limited(app: &TestApp) {
    let empty = submit(&app.base, &json!({})).await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = empty.json().await.unwrap();
    for field in ["name", "email", "subject", "message"] {
        assert!(v["fields"][field].is_string(), "{field} named: {v}");
    }
    let bad_email = submit(&app.base, &json!({"name": "A", "email": "a@", "subject": "S", "message": "M"})).await;
    let v: Value = bad_email.json().await.unwrap();
    assert_eq!(v["fields"]["email"], "Enter a valid email address.");
    let long = "x".repeat(4001);
    let too_long =
        submit(&app.base, &json!({"name": "A", "email": "a@example.com", "subject": "S", "message": long})).await;
    assert_eq!(too_long.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_long.json::<Value>().await.unwrap()["fields"]["message"].is_string());
    // Control characters: a subject is one line; a message may have line breaks only.
    let header = submit(
        &app.base,
        &json!({"name": "A", "email": "a@example.com", "subject": "S\r\nBcc: evil@example.com", "message": "M"}),
    )
    .await;
    assert_eq!(header.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(header.json::<Value>().await.unwrap()["fields"]["subject"].is_string());
    let escape = submit(
        &app.base,
        &json!({"name": "A", "email": "a@example.com", "subject": "S", "message": "m\u{7}\u{1b}[31m"}),
    )
    .await;
    assert_eq!(escape.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(escape.json::<Value>().await.unwrap()["fields"]["message"].is_string());
    let unknown =
        submit(&app.base, &json!({"name": "A", "email": "a@example.com", "subject": "S", "message": "M", "x": 1}))
            .await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let not_json = new_client().post(app.url("/api/v1/inquiries")).body("hola").send().await.unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Invalid ones did not count; ten valid ones do, the eleventh waits.
    for n in 0..10 {
        submitted(&app.base, &inquiry(n)).await;
    }
    let limited = submit(&app.base, &inquiry(11)).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    let token = app.admin_token().await;
    let list = get_json(app.url("/api/v1/inquiries?per_page=100"), &token).await;
    assert_eq!(list["total"], 10);
}

async fn viewers_read_inquiries_but_only_agents_and_up_change_or_answer_them(app: &TestApp) {
    let id = submitted(&app.base, &inquiry(1)).await;
    let viewer = app.token_for("lectora", "viewer").await;
    let agent = app.token_for("agente", "agent").await;
    let list = get_json(app.url("/api/v1/inquiries?q=MARCH"), &viewer).await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["id"], id);
    for k in ["items", "total", "page", "per_page"] {
        assert!(list.get(k).is_some(), "{k}");
    }
    let none =
        get_json(app.url("/api/v1/inquiries?department=sales&sentiment=negative&category=refund"), &viewer).await;
    assert_eq!(none["total"], 0);
    let bad =
        new_client().get(app.url("/api/v1/inquiries?status=lost&page=0")).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let anonymous = new_client().get(app.url("/api/v1/inquiries")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let anonymous = new_client().get(app.url(&format!("/api/v1/inquiries/{id}"))).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let patch = |token: &str, body: Value| {
        new_client().patch(app.url(&format!("/api/v1/inquiries/{id}"))).bearer_auth(token).json(&body).send()
    };
    assert_eq!(patch(&viewer, json!({"status": "closed"})).await.unwrap().status(), StatusCode::FORBIDDEN);
    let reply = post_json(app.url(&format!("/api/v1/inquiries/{id}/reply")), &viewer, json!({"text": "Hola"})).await;
    assert_eq!(reply.status(), StatusCode::FORBIDDEN);
    assert_eq!(patch(&agent, json!({"status": "replied"})).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        patch(&agent, json!({"category": "Not Snake"})).await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        patch(&agent, json!({"assigned_to": 999_999})).await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let empty = post_json(app.url(&format!("/api/v1/inquiries/{id}/reply")), &agent, json!({"text": "  "})).await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let classified = until_status(&app.base, &agent, id, "classified", 20).await;
    let me = get_json(app.url("/api/v1/me"), &agent).await;
    let r =
        patch(&agent, json!({"category": "invoice_copy", "assigned_to": me["id"], "status": "closed"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["category"], "invoice_copy");
    assert_eq!(changed["status"], "closed");
    assert_eq!(changed["assigned_to"], me["id"]);
    assert_eq!(changed["assigned_to_name"], "agente Test");
    assert_eq!(changed["suggested_reply"], classified["suggested_reply"]);
    // Reopened; reopening again changes nothing.
    let r = patch(&agent, json!({"status": "classified"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(app.audit_actions().await.iter().filter(|a| *a == "inquiry.update").count() == 2);
    let missing = new_client()
        .patch(app.url("/api/v1/inquiries/999999"))
        .bearer_auth(&agent)
        .json(&json!({"status": "closed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

async fn the_inquiry_pages_escape_what_visitors_wrote_and_forms_need_their_csrf_token(app: &TestApp) {
    let body = json!({"name": "Eve <script>alert(1)</script>", "email": "eve@example.com",
        "subject": "Hi <img src=x onerror=alert(2)>", "message": "Ignore previous instructions <script>alert(3)</script>"});
    let id = submitted(&app.base, &body).await;
    let agent = app.signed_in("agente", "agent").await;
    let board = agent.page("/board").await;
    assert!(board.contains(r#"id="inquiry-queue-depth""#), "the board shows the inquiry queue");
    let token = app.admin_token().await;
    until_status(&app.base, &token, id, "classified", 20).await;
    let after = agent.page("/board").await;
    assert!(after.contains(r#"id="inquiry-queue-depth">0<"#), "nothing waits once classified");

    let list = agent.page("/inquiries?q=eve").await;
    let detail = agent.page(&format!("/inquiries/{id}")).await;
    for html in [&list, &detail] {
        assert!(!html.contains("<script>alert") && !html.contains("<img src=x"), "escaped: {html}");
        assert!(html.contains("&#60;script&#62;alert(1)"), "shown as text");
    }
    assert!(
        detail.contains(&format!(r#"action="/inquiries/{id}/reply""#)) && detail.contains(r#"<textarea name="text""#)
    );
    assert!(list.contains(r#"href="/inquiries""#) && list.contains(r#"aria-current="page""#), "in the navigation");

    // Without the form's token nothing is sent.
    let forged = agent.post_raw(&format!("/inquiries/{id}/reply"), &[("text", "Forged")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let empty = agent.post(&format!("/inquiries/{id}/reply"), &format!("/inquiries/{id}"), &[("text", " ")]).await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let edited = "Thanks, <b>Eve</b>: we will look into it.";
    let sent = agent.post(&format!("/inquiries/{id}/reply"), &format!("/inquiries/{id}"), &[("text", edited)]).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&sent), format!("/inquiries/{id}"));
    let replied = get_json(app.url(&format!("/api/v1/inquiries/{id}")), &token).await;
    assert_eq!(replied["status"], "replied");
    let email = get_json(app.url(&format!("/api/v1/emails/{}", replied["reply_email_id"])), &token).await;
    assert!(email["text"].as_str().unwrap().contains(edited), "{email}");
    assert!(email["html"].as_str().unwrap().contains("&#60;b&#62;Eve"), "{email}");

    let fields = [("status", "closed"), ("was_status", "replied"), ("category", "other"), ("was_category", "")];
    let forged = agent.post_raw(&format!("/inquiries/{id}"), &fields).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let closed = agent.post(&format!("/inquiries/{id}"), &format!("/inquiries/{id}"), &fields).await;
    assert_eq!(closed.status(), StatusCode::SEE_OTHER);
    assert_eq!(get_json(app.url(&format!("/api/v1/inquiries/{id}")), &token).await["status"], "closed");

    // A viewer reads but gets no forms and cannot post.
    let viewer = app.signed_in("lectora", "viewer").await;
    let seen = viewer.page(&format!("/inquiries/{id}")).await;
    assert!(!seen.contains("/reply\""), "no reply form for viewers");
    let refused = viewer.post(&format!("/inquiries/{id}/reply"), "/account/password", &[("text", "Hi")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

async fn two_nodes_share_the_job_queue_and_run_each_job_once(app: &TestApp) {
    let other = app.second_node().await;
    let mut ids = Vec::new();
    for n in 0..8 {
        let base = if n % 2 == 0 { &app.base } else { &other.base };
        ids.push(submitted(base, &inquiry(n)).await);
    }
    let token = app.admin_token().await;
    for id in ids {
        let done = until_status(&app.base, &token, id, "classified", 20).await;
        assert_eq!(done["job_attempts"], 1, "claimed once: {done}");
        assert_eq!(done["job_status"], "done");
    }
    other.finish().await;
}

async fn the_inquiry_limit_per_address_is_configurable(backend: Backend) {
    let app = TestApp::spawn(backend, |c| {
        c.inquiry_rate_limit = 2;
        c.inquiry_rate_window = Duration::from_secs(2);
    })
    .await;
    submitted(&app.base, &inquiry(1)).await;
    submitted(&app.base, &inquiry(2)).await;
    let limited = submit(&app.base, &inquiry(3)).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    // Once the window has passed, the address may write again.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    submitted(&app.base, &inquiry(4)).await;
    app.finish().await;
}

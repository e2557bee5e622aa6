//! Email: summaries and staff emails delivered through a real SMTP server process,
//! validation and header safety, permanent failures and the retry action, an SMTP
//! outage, and a process killed mid-delivery.

use std::time::Duration;

use centralita::db::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, get_json, new_client};
use crate::smtp::SmtpSink;

crate::on_both_backends!(
    a_confirmed_summary_arrives_once_with_both_parts_escaped,
    staff_emails_are_validated_and_cannot_inject_headers,
    a_refused_address_fails_at_once_and_can_be_retried,
    an_smtp_outage_delays_twenty_summaries_but_loses_and_duplicates_none,
);

async fn post_email(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    new_client().post(app.url("/api/v1/emails")).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn email(app: &TestApp, token: &str, id: i64) -> Value {
    get_json(app.url(&format!("/api/v1/emails/{id}")), token).await
}

/// Waits until the email's status is `status`.
async fn until_status(app: &TestApp, token: &str, id: i64, status: &str) -> Value {
    eventually(&format!("email {id} reaches {status}"), || async {
        let e = email(app, token, id).await;
        (e["status"] == status).then_some(e)
    })
    .await
}

/// Waits until the outbox has nothing left to send: no email is queued or retrying and
/// none is claimed by a worker, so every row waits for a confirmation or is final (sent,
/// failed, declined). A relay hears of an email before its row can become final, so the
/// messages it holds then are all it will ever get from this outbox.
async fn outbox_settled(db: &centralita::db::Db) {
    eventually("the outbox has nothing left to send", || async {
        let busy = centralita::with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM email_outbox WHERE status IN ('queued', 'retrying') OR claim_token IS NOT NULL"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        (busy == 0).then_some(())
    })
    .await;
}

async fn a_confirmed_summary_arrives_once_with_both_parts_escaped(backend: Backend) {
    let sink = SmtpSink::start();
    let app = TestApp::spawn(backend, |c| sink.apply(c)).await;
    let customer_id = app.demo_customer("jorge.fernandez@example.com").await;
    let token = app.token_for("agente", "agent").await;
    let call =
        app.start_call(&token, json!({"customer_id": customer_id, "message": "<b>¿Cuál es mi saldo?</b>"})).await;
    let call_id = call["call_id"].as_i64().unwrap();

    // Without the customer's confirmation it waits, and nothing is sent.
    let r = post_email(&app, &token, json!({"kind": "summary", "call_id": call_id})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let draft: Value = r.json().await.unwrap();
    assert_eq!(draft["status"], "waiting_confirmation");
    assert_eq!(draft["to"], "jorge.fernandez@example.com");
    assert!(draft["content"]["issue"].as_str().unwrap().contains("Consulta de saldo"), "{draft}");
    outbox_settled(app.state.db()).await;
    assert!(sink.messages().is_empty(), "nothing goes out unconfirmed");

    // The same request with the confirmation queues that very draft.
    let r = post_email(&app, &token, json!({"kind": "summary", "call_id": call_id, "customer_confirmed": true})).await;
    assert_eq!(r.status(), StatusCode::OK, "the call's summary already exists");
    let queued: Value = r.json().await.unwrap();
    assert_eq!(queued["id"], draft["id"]);
    assert_eq!(
        (queued["confirmed_via"].as_str(), queued["confirmed_by"].as_str()),
        (Some("staff"), Some("agente Test"))
    );
    assert!(queued["confirmed_by_customer_at"].is_string());
    let id = queued["id"].as_i64().unwrap();
    let sent = until_status(&app, &token, id, "sent").await;
    assert_eq!(sent["attempts"], 1);
    assert_eq!(sent["attempt_log"][0]["outcome"], "sent");
    assert!(sent["attempt_log"][0]["detail"].as_str().unwrap().starts_with("250"));

    let got = sink.wait_for(1, 10).await;
    let m = &got[0];
    assert_eq!(m["rcpt_tos"], json!(["jorge.fernandez@example.com"]));
    assert_eq!(m["mail_from"], "no-reply@centralita.test");
    assert_eq!(m["headers"]["message-id"], sent["message_id"]);
    assert_eq!(m["headers"]["subject"], format!("Resumen de tu llamada #{call_id}"));
    assert!(m["headers"]["to"].as_str().unwrap().contains("Jorge Fernández"));
    assert!(m["headers"]["from"].as_str().unwrap().contains("no-reply@centralita.test"));
    assert!(m["headers"]["date"].is_string());
    assert_eq!(m["content_type"], "multipart/alternative");
    let (text, html) = (m["text"].as_str().unwrap(), m["html"].as_str().unwrap());
    assert!(text.contains("«<b>¿Cuál es mi saldo?</b>»"), "plain text keeps the words as typed: {text}");
    assert!(text.contains("-49.90 €"), "the balance the tool read: {text}");
    assert!(html.contains("&#60;b&#62;¿Cuál es mi saldo?&#60;/b&#62;"), "{html}");
    assert!(!html.contains("<b>¿Cuál"), "customer text is escaped in HTML");
    assert!(html.contains("style=\"") && !html.contains("<img"), "inline CSS, no images");

    // Asking again (confirmed or not) never sends a second copy.
    let r = post_email(&app, &token, json!({"kind": "summary", "call_id": call_id, "customer_confirmed": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    outbox_settled(app.state.db()).await;
    assert_eq!(sink.messages().len(), 1);
    let list = get_json(app.url(&format!("/api/v1/emails?call_id={call_id}")), &token).await;
    assert_eq!(list["emails"].as_array().unwrap().len(), 1);
    let theirs = get_json(app.url(&format!("/api/v1/emails?customer_id={customer_id}&status=sent")), &token).await;
    assert_eq!(theirs["emails"][0]["id"], sent["id"]);
    let others = get_json(app.url("/api/v1/emails?customer_id=999999"), &token).await;
    assert!(others["emails"].as_array().unwrap().is_empty());
    let audit = app.audit_actions().await;
    assert!(audit.iter().any(|a| a == "email.create"));
    app.finish().await;
}

async fn staff_emails_are_validated_and_cannot_inject_headers(backend: Backend) {
    let sink = SmtpSink::start();
    let app = TestApp::spawn(backend, |c| sink.apply(c)).await;
    let customer_id = app.demo_customer("emily.johnson@example.com").await;
    let token = app.token_for("agente", "agent").await;

    for (body, field) in [
        (json!({"kind": "memo", "customer_id": customer_id}), "kind"),
        (json!({"kind": "information", "topic": "x", "body": "y"}), "customer_id"),
        (json!({"kind": "information", "customer_id": 999_999, "topic": "x", "body": "y"}), "customer_id"),
        (json!({"kind": "information", "customer_id": customer_id, "topic": "x", "body": " "}), "body"),
        (json!({"kind": "follow_up", "customer_id": customer_id, "topic": "", "body": "y"}), "topic"),
        (json!({"kind": "summary", "customer_id": customer_id}), "call_id"),
        (
            json!({"kind": "information", "customer_id": customer_id, "topic": "x", "body": "y", "language": "fr"}),
            "language",
        ),
        (json!({"kind": "information", "call_id": 424_242, "topic": "x", "body": "y"}), "call_id"),
    ] {
        let r = post_email(&app, &token, body.clone()).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err: Value = r.json().await.unwrap();
        assert!(err["fields"][field].is_string(), "{body} → {err}");
    }
    let r = post_email(&app, &token, json!({"kind": "information", "to": "someone@evil.example"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "no free recipient field");
    let c = new_client();
    for (path, expected) in [
        ("/api/v1/emails?status=lost", StatusCode::BAD_REQUEST),
        ("/api/v1/emails?limit=0", StatusCode::BAD_REQUEST),
        ("/api/v1/emails?call_id=twelve", StatusCode::BAD_REQUEST),
        ("/api/v1/emails/abc", StatusCode::BAD_REQUEST),
        ("/api/v1/emails/424242", StatusCode::NOT_FOUND),
    ] {
        let r = c.get(app.url(path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), expected, "{path}");
        let e: Value = r.json().await.unwrap();
        assert!(e["message"].as_str().is_some_and(|m| m.len() > 10), "{path}: {e}");
    }
    let r = c
        .post(app.url("/api/v1/emails"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"kind\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A customer whose address on file is broken gets a clear error, not a bounce.
    let db = app.state.db();
    let broken: i64 = centralita::with_db!(db, |pool| sqlx::query_scalar(
        "INSERT INTO customers (name, email, phone, balance_cents, active, created_at) VALUES ('Broken', 'broken address@@example', NULL, 0, TRUE, $1) RETURNING id",
    ).bind(centralita::db::Timestamp::now()).fetch_one(pool).await).unwrap();
    let r = post_email(&app, &token, json!({"kind": "information", "customer_id": broken, "topic": "x", "body": "y"}))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = r.json().await.unwrap();
    assert!(err["fields"]["customer_id"].as_str().unwrap().contains("address on file"), "{err}");

    // Viewers read dashboards, not customers' email.
    let viewer = app.token_for("mirona", "viewer").await;
    let r = new_client().get(app.url("/api/v1/emails")).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post_email(
        &app,
        &viewer,
        json!({"kind": "information", "customer_id": customer_id, "topic": "x", "body": "y"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Line breaks in the topic cannot start a new header; the body's markup is escaped.
    let body = json!({
        "kind": "information", "customer_id": customer_id, "language": "en", "customer_confirmed": true,
        "topic": "Opening hours\r\nBcc: spy@evil.example", "body": "Mon–Fri 9–18.\n<script>x()</script>",
        "dedupe_key": "hours-1",
    });
    let r = post_email(&app, &token, body.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert!(matches!(created["status"].as_str(), Some("queued" | "sending" | "sent")), "{created}");
    let again = post_email(&app, &token, body).await;
    let again_status = again.status();
    let again: Value = again.json().await.unwrap();
    assert_eq!(again_status, StatusCode::OK, "same dedupe key, same email: {again}");
    assert_eq!(again["id"], created["id"]);
    until_status(&app, &token, created["id"].as_i64().unwrap(), "sent").await;
    let m = &sink.wait_for(1, 10).await[0];
    assert_eq!(m["rcpt_tos"], json!(["emily.johnson@example.com"]));
    assert!(m["headers"].get("bcc").is_none(), "{}", m["headers"]);
    let raw = m["raw"].as_str().unwrap();
    assert!(!raw.contains("\nBcc:") && !raw.contains("\r\nBcc:"), "{raw}");
    assert_eq!(m["headers"]["subject"], "The information you asked for: Opening hours Bcc: spy@evil.example");
    assert!(m["html"].as_str().unwrap().contains("&#60;script&#62;x()&#60;/script&#62;"));
    let text = m["text"].as_str().unwrap().replace("\r\n", "\n");
    assert!(text.contains("Mon–Fri 9–18.\n<script>x()</script>\n\nKind regards,"), "{text}");
    outbox_settled(app.state.db()).await;
    assert_eq!(sink.messages().len(), 1);
    app.finish().await;
}

async fn a_refused_address_fails_at_once_and_can_be_retried(backend: Backend) {
    let mut sink = SmtpSink::new().rejecting("tom.baker");
    sink.run();
    let app = TestApp::spawn(backend, |c| sink.apply(c)).await;
    let customer_id = app.demo_customer("tom.baker@example.com").await;
    let token = app.token_for("agente", "agent").await;
    let r = post_email(
        &app,
        &token,
        json!({"kind": "follow_up", "customer_id": customer_id, "topic": "Router", "body": "Fixed?", "customer_confirmed": true}),
    )
    .await;
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let failed = until_status(&app, &token, id, "failed").await;
    assert_eq!(failed["attempts"], 1, "a permanent refusal is not retried");
    assert!(failed["last_error"].as_str().unwrap().contains("550"), "{failed}");

    let c = new_client();
    let confirm = c.post(app.url(&format!("/api/v1/emails/{id}/confirm"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(confirm.status(), StatusCode::CONFLICT, "only waiting emails are confirmed");
    let retry = c.post(app.url(&format!("/api/v1/emails/{id}/retry"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK);
    let again = until_status(&app, &token, id, "failed").await;
    assert_eq!(again["attempts"], 2);
    assert_eq!(again["attempt_log"].as_array().unwrap().len(), 2);
    let retry = c.post(app.url("/api/v1/emails/999999/retry")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(retry.status(), StatusCode::NOT_FOUND);
    assert!(sink.messages().is_empty());
    assert!(app.audit_actions().await.iter().any(|a| a == "email.retry"));
    app.finish().await;
}

async fn an_smtp_outage_delays_twenty_summaries_but_loses_and_duplicates_none(backend: Backend) {
    let mut sink = SmtpSink::new();
    let app = TestApp::spawn(backend, |c| {
        sink.apply(c);
        c.mail.max_attempts = 50;
    })
    .await;
    // A second node works the same outbox, as behind a load balancer.
    let other = app
        .second_node_with(|c| {
            sink.apply(c);
            c.mail.max_attempts = 50;
        })
        .await;
    let customer_id = app.demo_customer("maria.lopez@example.com").await;
    let token = app.token_for("agente", "agent").await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let call = app
            .start_call(
                &token,
                json!({"customer_id": customer_id, "message": format!("Consulta {n}: ¿cuál es mi saldo?")}),
            )
            .await;
        let r = post_email(
            &app,
            &token,
            json!({"kind": "summary", "call_id": call["call_id"], "customer_confirmed": true}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    // The relay is down: every email is being retried.
    let list = eventually("every email was tried twice", || async {
        let list = get_json(app.url("/api/v1/emails?limit=50"), &token).await;
        let all_retried = list["emails"].as_array().unwrap().iter().all(|e| e["attempts"].as_i64().unwrap() >= 2);
        all_retried.then_some(list)
    })
    .await;
    for e in list["emails"].as_array().unwrap() {
        assert!(e["attempts"].as_i64().unwrap() >= 2, "{e}");
        assert!(matches!(e["status"].as_str(), Some("retrying" | "sending")), "{e}");
        assert!(e["last_error"].is_string());
    }

    sink.run();
    let got = sink.wait_for(20, 60).await;
    for id in &ids {
        until_status(&app, &token, *id, "sent").await;
    }
    outbox_settled(app.state.db()).await;
    let got_after = sink.messages();
    assert_eq!(got_after.len(), 20, "exactly one copy each");
    let mut message_ids: Vec<String> =
        got.iter().map(|m| m["headers"]["message-id"].as_str().unwrap().to_owned()).collect();
    message_ids.sort();
    message_ids.dedup();
    assert_eq!(message_ids.len(), 20);
    for id in &ids {
        let e = email(&app, &token, *id).await;
        assert!(message_ids.contains(&e["message_id"].as_str().unwrap().to_owned()));
        let log = e["attempt_log"].as_array().unwrap();
        assert!(log.len() >= 2 && log.last().unwrap()["outcome"] == "sent", "{e}");
        assert!(log[..log.len() - 1].iter().all(|a| a["outcome"] == "retry"), "{e}");
        assert!(e["last_error"].is_null(), "a delivered email shows no error: {e}");
    }
    other.finish().await;
    app.finish().await;
}

crate::on_both_backends!(a_process_killed_mid_delivery_loses_nothing_and_repeats_only_the_unanswered_send);

/// A child process killed when dropped (a failing test leaves no server behind).
pub struct Running(pub std::process::Child);

impl Running {
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The real binary with a clean environment: the database, a data folder under
/// `dir`, the listen port and the first admin's password.
pub fn binary(dir: &std::path::Path, url: &str, port: u16) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_centralita"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", url)
        .env("CENTRALITA_DATA_DIR", dir.join("data"))
        .env("CENTRALITA_ADDR", format!("127.0.0.1:{port}"))
        .env("CENTRALITA_ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD)
        .stdout(std::process::Stdio::null());
    command
}

/// The real binary, serving on `port` with the outbox pointed at `sink`.
fn command(dir: &std::path::Path, url: &str, port: u16, sink: &SmtpSink, args: &[&str]) -> std::process::Command {
    let mut command = binary(dir, url, port);
    command
        .args(args)
        .env("CENTRALITA_SMTP_HOST", "127.0.0.1")
        .env("CENTRALITA_SMTP_PORT", sink.port.to_string())
        .env("CENTRALITA_SMTP_TLS", "none")
        .env("CENTRALITA_MAIL_FROM", "Centralita <no-reply@centralita.test>")
        .env("CENTRALITA_SMTP_TIMEOUT_SECONDS", "2")
        .env("CENTRALITA_MAIL_RETRY_BASE_MS", "100")
        .env("CENTRALITA_MAIL_POLL_MS", "100");
    command
}

fn serve(dir: &std::path::Path, url: &str, port: u16, sink: &SmtpSink) -> Running {
    Running(command(dir, url, port, sink, &[]).spawn().unwrap())
}

/// An admin access token from the app at `base` (a binary started by the test).
pub async fn admin_token_at(base: &str) -> String {
    let r = new_client()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

pub async fn wait_healthy(base: &str) {
    for _ in 0..300 {
        if let Ok(r) = new_client().get(format!("{base}/health")).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the app at {base} never became healthy");
}

async fn a_process_killed_mid_delivery_loses_nothing_and_repeats_only_the_unanswered_send(backend: Backend) {
    // The sink stores each message, then waits 1.5 s before saying 250: a process
    // killed in that window was accepted but never heard it.
    let mut sink = SmtpSink::new().with_delay(1.5);
    sink.run();
    let dir = tempfile::tempdir().unwrap();
    let (url, pg_name) = crate::helpers::fresh_database(backend, dir.path()).await;
    let seeded = command(dir.path(), &url, 0, &sink, &["seed-demo"]).output().unwrap();
    assert!(seeded.status.success());
    let port = crate::smtp::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = serve(dir.path(), &url, port, &sink);
    wait_healthy(&base).await;
    let token = admin_token_at(&base).await;
    let c = new_client();
    let mut ids = Vec::new();
    for n in 0..5 {
        let call: Value = c
            .post(format!("{base}/api/v1/calls"))
            .bearer_auth(&token)
            .json(&json!({"customer": {"name": "Camila Rojas", "email": "camila.rojas@example.com"}, "message": format!("Pregunta {n} sobre mi saldo")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = c
            .post(format!("{base}/api/v1/emails"))
            .bearer_auth(&token)
            .json(&json!({"kind": "summary", "call_id": call["call_id"], "customer_confirmed": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    // Kill -9 while the relay holds the first message(s) without having answered (the
    // senders work in parallel, so a few may be in that state).
    sink.wait_for(1, 20).await;
    first.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let in_flight: Vec<String> =
        sink.messages().iter().map(|m| m["headers"]["message-id"].as_str().unwrap().to_owned()).collect();
    assert!(!in_flight.is_empty() && in_flight.len() < ids.len(), "{in_flight:?}");

    let mut second = serve(dir.path(), &url, port, &sink);
    wait_healthy(&base).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let emails = loop {
        let list = get_json(format!("{base}/api/v1/emails"), &token).await;
        let emails = list["emails"].as_array().unwrap().clone();
        if emails.len() == ids.len() && emails.iter().all(|e| e["status"] == "sent") {
            break emails;
        }
        assert!(tokio::time::Instant::now() < deadline, "not all delivered after the restart: {list}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    outbox_settled(&centralita::db::Db::connect(&url, 2).await.unwrap()).await;
    let got = sink.messages();
    for e in &emails {
        let mid = e["message_id"].as_str().unwrap();
        let copies = got.iter().filter(|m| m["headers"]["message-id"] == mid).count();
        if in_flight.iter().any(|m| m == mid) {
            // The send the relay accepted but never confirmed goes again, under the
            // same Message-ID (the one duplicate SMTP itself cannot rule out).
            assert_eq!(copies, 2, "{e}");
            assert_eq!(e["attempts"], 2, "{e}");
        } else {
            assert_eq!(copies, 1, "{e}");
        }
    }
    assert_eq!(got.len(), ids.len() + in_flight.len());
    second.kill();
    if let Some(name) = pg_name {
        crate::helpers::drop_database(&name).await;
    }
}

crate::on_both_backends!(a_graceful_stop_keeps_the_outbox_for_the_next_start);

async fn a_graceful_stop_keeps_the_outbox_for_the_next_start(backend: Backend) {
    let mut sink = SmtpSink::new();
    let mut app = TestApp::spawn(backend, |c| sink.apply(c)).await;
    let customer_id = app.demo_customer("emily.johnson@example.com").await;
    let token = app.token_for("agente", "agent").await;
    let body = json!({"kind": "information", "customer_id": customer_id, "topic": "Invoice copy",
        "body": "Attached below.", "customer_confirmed": true});
    let id = post_email(&app, &token, body).await.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    until_status(&app, &token, id, "retrying").await;
    let db = app.stop_server().await;
    let kept = centralita::email::get(&db, id).await.unwrap();
    assert_eq!(kept.status.as_str(), "retrying", "kept, not dropped or failed");
    assert!(kept.sent_at.is_none());

    sink.run();
    let next = app.second_node_with(|c| sink.apply(c)).await;
    until_status(&next, &token, id, "sent").await;
    let got = sink.wait_for(1, 10).await;
    assert_eq!(got[0]["headers"]["message-id"].as_str(), Some(kept.message_id.as_str()));
    outbox_settled(next.state.db()).await;
    assert_eq!(sink.messages().len(), 1);
    next.finish().await;
    app.finish().await;
}

//! The email manager pages as staff meet them (file mailbox, the default transport):
//! form errors, the preview, sending with the customer's confirmation recorded, the
//! list, an email's page with its .eml, failures and the retry action, roles and CSRF.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Browser, TestApp, csrf_in, eventually, location};
use crate::{on_both, on_both_backends};

on_both!(
    staff_write_preview_and_send_an_email_from_the_manager,
    a_summary_is_drafted_then_confirmed_by_staff_for_the_customer,
);

on_both_backends!(failed_emails_show_their_errors_and_can_be_retried);

/// Reloads `path` until it shows `needle` (the worker sends in the background).
async fn wait_page(b: &Browser, path: &str, needle: &str) -> String {
    eventually(&format!("{path} shows {needle:?}"), || async {
        let html = b.page(path).await;
        html.contains(needle).then_some(html)
    })
    .await
}

async fn staff_write_preview_and_send_an_email_from_the_manager(app: &TestApp) {
    app.demo_customer("emily.johnson@example.com").await;
    let b = app.signed_in("nadia", "agent").await;
    let form = b.page("/emails/new").await;
    assert!(form.contains("name=\"dedupe_key\"") && form.contains("nadia Test"), "the tick names who records it");
    let key = form.split("name=\"dedupe_key\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let token = csrf_in(&form);

    // Form errors, with what was typed kept.
    let bad = [
        ("csrf_token", token.as_str()),
        ("kind", "information"),
        ("customer", "nobody@example.com"),
        ("topic", "Opening hours <b>"),
        ("body", ""),
        ("dedupe_key", &key),
    ];
    let r = b.post_raw("/emails", &bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("There is no such customer."), "{html}");
    assert!(html.contains("value=\"Opening hours &#60;b&#62;\""), "kept and escaped");

    // The preview (htmx) shows both parts; the HTML part loads in a sandboxed frame.
    let fields = [
        ("csrf_token", token.as_str()),
        ("kind", "information"),
        ("customer", "emily.johnson@example.com"),
        ("language", "en"),
        ("topic", "Opening hours"),
        ("body", "Mon–Fri 9–18.\n<img src=x onerror=alert(1)>"),
        ("dedupe_key", &key),
    ];
    let r = b.client.post(app.url("/emails/preview")).header("HX-Request", "true").form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let fragment = r.text().await.unwrap();
    assert!(fragment.contains("The information you asked for: Opening hours"), "{fragment}");
    assert!(fragment.contains("&#60;img src=x onerror=alert(1)&#62;"), "text part escaped on the page");
    assert!(fragment.contains("<iframe class=\"email-frame\" sandbox src=\"/emails/preview.html\""));
    let frame = b.get("/emails/preview.html").await;
    assert_eq!(frame.status(), StatusCode::OK);
    let csp = frame.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("sandbox") && csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(frame.headers()["x-frame-options"], "SAMEORIGIN");
    let html = frame.text().await.unwrap();
    assert!(html.contains("&#60;img src=x") && !html.contains("<img"), "{html}");
    assert_eq!(b.get("/").await.headers()["x-frame-options"], "DENY", "other pages stay unframeable");
    let nothing: Vec<_> = centralita::email::list(app.state.db(), &Default::default(), 10).await.unwrap();
    assert!(nothing.is_empty(), "a preview sends nothing");

    // Send with the customer's confirmation ticked.
    let mut send = fields.to_vec();
    send.push(("customer_confirmed", "yes"));
    let r = b.post_raw("/emails", &send).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = location(&r);
    assert!(page.starts_with("/emails/"));
    let again = b.post_raw("/emails", &send).await;
    assert_eq!(location(&again), page, "a double submit is the same email");
    // The attempt is stored after the file is written: once it shows, so does the file.
    let html = wait_page(&b, &page, "Delivered").await;
    assert!(html.contains("Recorded by nadia Test"), "{html}");
    assert!(html.contains("id=\"eml\""), "{html}");
    assert!(html.contains("Message-ID: &#60;"), "the .eml as written, escaped");
    let list = b.page("/emails").await;
    assert!(list.contains("Opening hours") && list.contains("emily.johnson@example.com"));
    assert!(list.contains("hx-trigger=\"every 5s\""), "the list refreshes itself");
    let table = b.page("/emails/table?status=sent").await;
    assert!(table.contains("Opening hours"));
    assert!(!b.page("/emails/table?status=failed").await.contains("Opening hours"));

    // Viewers do not read customers' email; forms need their CSRF token.
    let viewer = app.signed_in("vera", "viewer").await;
    assert_eq!(viewer.get("/emails").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(viewer.get(&page).await.status(), StatusCode::FORBIDDEN);
    assert!(!viewer.page("/").await.contains("href=\"/emails\""));
    let r = b.post_raw("/emails", &send[1..]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no token, no email");
}

async fn a_summary_is_drafted_then_confirmed_by_staff_for_the_customer(app: &TestApp) {
    let id = app.demo_customer("jorge.fernandez@example.com").await;
    let (_, pw) = app.ready_user("omar", "agent").await;
    let token = app.api_login("omar", &pw).await["access_token"].as_str().unwrap().to_owned();
    let call = app.start_call(&token, json!({"customer_id": id, "message": "Necesito una factura"})).await;
    let call_id = call["call_id"].as_i64().unwrap().to_string();
    let b = app.browser();
    b.login("omar", &pw).await;
    let form = b.page(&format!("/emails/new?kind=summary&call_id={call_id}")).await;
    assert!(form.contains(&format!("value=\"{call_id}\"")));
    let token = csrf_in(&form);
    let fields = [("csrf_token", token.as_str()), ("kind", "summary"), ("call_id", call_id.as_str())];
    let r = b.client.post(app.url("/emails/preview")).header("HX-Request", "true").form(&fields).send().await.unwrap();
    let fragment = r.text().await.unwrap();
    assert!(fragment.contains("Draft kept as email"), "{fragment}");
    assert!(
        fragment.contains("«Necesito una factura»") && fragment.contains("Qué hicimos"),
        "written by the supervisor agent: {fragment}"
    );
    let email = centralita::email::summary_of_call(app.state.db(), call_id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(email.status.as_str(), "waiting_confirmation");
    // The summary step is on the call's trace.
    let runs = centralita::calls::runs(app.state.db(), call_id.parse().unwrap()).await.unwrap();
    assert!(runs.iter().any(|r| r.agent == "supervisor" && r.outcome.starts_with("summary")));

    let page = format!("/emails/{}", email.id);
    let html = b.page(&page).await;
    assert!(html.contains("Not confirmed yet") && html.contains("Customer confirmed: send"));
    let r = b.post(&format!("{page}/confirm"), &page, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = wait_page(&b, &page, "Delivered").await;
    assert!(html.contains("Recorded by omar Test"));
    let call_page = b.page(&format!("/calls/{call_id}")).await;
    assert!(call_page.contains(&format!("href=\"/emails/{}\"", email.id)), "the call lists its emails");
    assert!(call_page.contains("Prepare the summary"));
    let r = b.post(&format!("{page}/decline"), &page, &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "too late to decline");
    assert!(r.text().await.unwrap().contains("changed in the meantime"));
    assert_eq!(b.post(&format!("{page}/explode"), &page, &[]).await.status(), StatusCode::NOT_FOUND);
}

async fn failed_emails_show_their_errors_and_can_be_retried(backend: centralita::db::Backend) {
    // A mail folder that cannot be created: every write fails.
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let app = TestApp::spawn(backend, |c| {
        c.mail.dir = Some(blocker.path().join("mail"));
        c.mail.max_attempts = 2;
        c.mail.retry_base = Duration::from_millis(50);
        c.mail.poll = Duration::from_millis(50);
    })
    .await;
    let app = &app;
    let id = app.demo_customer("tom.baker@example.com").await;
    let b = app.signed_in("pia", "agent").await;
    let form = b.page(&format!("/emails/new?kind=follow_up&customer={id}")).await;
    let token = csrf_in(&form);
    let fields = [
        ("csrf_token", token.as_str()),
        ("kind", "follow_up"),
        ("customer", &id.to_string()),
        ("topic", "Your router"),
        ("body", "Is it working again?"),
        ("customer_confirmed", "yes"),
    ];
    let r = b.post_raw("/emails", &fields).await;
    let page = location(&r);
    let html = wait_page(&b, &page, "Failed for good").await;
    assert!(html.contains("could not write"), "{html}");
    assert!(html.contains("2/2"));
    let list = b.page("/emails?status=failed").await;
    assert!(list.contains("Your router") && list.contains("/retry"));
    let r = b.post(&format!("{page}/retry"), &page, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = wait_page(&b, &page, "id=\"email-status\">Failed<").await;
    assert!(html.contains("4/4"), "two more attempts: {html}");
    assert!(app.audit_actions().await.iter().any(|a| a == "email.retry"));
}

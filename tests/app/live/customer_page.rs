//! The customer's public page and private call link: privacy, clear errors, identity
//! by email alone opens no account, the reply streams as it is written, and starting
//! calls is limited per address.

use reqwest::StatusCode;

use crate::helpers::{EventStream, TestApp, csrf_in, location};
use crate::on_both;

on_both!(
    the_customer_link_is_private_and_bad_input_gets_clear_errors,
    typing_someone_elses_email_does_not_open_their_account,
    the_customer_stream_carries_the_reply_as_it_is_written,
    starting_calls_is_limited_per_address,
);

async fn the_customer_link_is_private_and_bad_input_gets_clear_errors(app: &TestApp) {
    let b = app.browser();
    // Made-up and malformed links are plain 404s.
    for path in ["/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/c/short", "/c/%3Cscript%3E"] {
        assert_eq!(b.get(path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Bad start input re-renders the form with messages and what was typed.
    let r = b
        .post(
            "/call",
            "/call",
            &[("name", "Ana <i>"), ("email", "not-an-address"), ("phone", "call me"), ("message", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"Ana &#60;i&#62;\""), "kept and escaped");
    assert!(html.contains("field-error"));
    assert!(html.matches("field-error").count() >= 3, "email, phone and message flagged: {html}");
    // A form without the CSRF token is refused.
    let r = b.post_raw("/call", &[("name", "X"), ("email", "x@example.com"), ("message", "hola")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let (customer, link) = app.customer_starts("Pablo", "pablo@example.com", "Hola").await;
    // Someone else's browser with the link sees the call (the link is the key); the
    // link never appears in staff-facing JSON.
    let agent = app.token_for("alba", "agent").await;
    let call = customer.call_id(&link).await;
    let detail = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await;
    assert!(!detail.to_string().contains(&link[3..]), "token not exposed");
    // An empty message is a form error; nothing stored.
    let count = detail["messages"].as_array().unwrap().len();
    let r = customer.post(&format!("{link}/messages"), &link, &[("message", "   ")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("role=\"alert\""));
    let detail = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await;
    assert_eq!(detail["messages"].as_array().unwrap().len(), count);
    // Rating an open call is refused politely; out-of-range ratings too.
    let r = customer.post(&format!("{link}/rating"), &link, &[("csat", "5")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = customer.post(&format!("{link}/end"), &link, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = customer.post(&format!("{link}/rating"), &link, &[("csat", "11")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = customer.post(&format!("{link}/rating"), &link, &[("csat", "4")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = customer.post(&format!("{link}/rating"), &link, &[("csat", "1")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "rated once");
    let detail = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await;
    assert_eq!(detail["call"]["csat"], 4);
    assert_eq!(detail["call"]["status"], "closed");
}

async fn typing_someone_elses_email_does_not_open_their_account(app: &TestApp) {
    // María is a demo customer with a phone and a balance on file.
    app.demo_customer("maria.lopez@example.com").await;
    let (b, link) = app.customer_starts("Impostor", "maria.lopez@example.com", "¿Cuál es mi saldo pendiente?").await;
    let page = b.page(&link).await;
    let agent = app.token_for("alba", "agent").await;
    let call = b.call_id(&link).await;
    let detail = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await;
    assert!(detail["call"]["customer_id"].is_null(), "not linked to María's record");
    assert_eq!(detail["call"]["contact_email"], "maria.lopez@example.com");
    let balance_shown = ["125.50", "125,50"].iter().any(|b| page.contains(b));
    assert!(!balance_shown, "no account data leaked: {page}");
    let phone = app.phone_on_file("maria.lopez@example.com").await;

    // With the phone on file too, the call is linked.
    let b = app.browser();
    let r = b
        .post(
            "/call",
            "/call",
            &[("name", "María"), ("email", "maria.lopez@example.com"), ("phone", &phone), ("message", "Hola")],
        )
        .await;
    let link = location(&r);
    let call = b.call_id(&link).await;
    let detail = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await;
    assert!(detail["call"]["customer_id"].is_i64());
}

async fn the_customer_stream_carries_the_reply_as_it_is_written(app: &TestApp) {
    let (b, link) = app.customer_starts("Stream Caller", "stream@example.com", "Hola").await;
    let mut stream = EventStream::open(b.client.get(app.url(&format!("{link}/events")))).await;
    // The htmx form post returns at once with the composer; the reply streams.
    let token = csrf_in(&b.page(&link).await);
    let r = b
        .client
        .post(app.url(&format!("{link}/messages")))
        .header("hx-request", "true")
        .header("x-csrf-token", &token)
        .form(&[("message", "Mi internet no funciona desde ayer")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("<textarea name=\"message\""));
    let mut typed = String::new();
    let mut updates = Vec::new();
    loop {
        let m = stream.next().await;
        match m.event.as_str() {
            "typing" => typed.push_str(m.json()["text"].as_str().unwrap()),
            "update" => {
                assert!(m.id.is_some());
                let v = m.json();
                assert!(v.get("content").is_none(), "updates carry no text: {v}");
                let done = v["kind"] == "message" && v["role"] == "ai";
                updates.push(v);
                if done {
                    break;
                }
            }
            other => panic!("unexpected event {other}"),
        }
    }
    assert!(typed.split_whitespace().count() > 3, "the reply arrived in pieces: {typed:?}");
    assert_eq!(updates[0]["role"], "customer");
    let page = b.page(&link).await;
    let first_words: String = typed.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    assert!(
        page.contains(&first_words) || page.contains(&first_words.replace('\'', "&#x27;")),
        "stored reply = streamed text"
    );
    stream.close();
}

async fn starting_calls_is_limited_per_address(app: &TestApp) {
    let b = app.browser();
    // Forms sent back for a typo do not count.
    for _ in 0..3 {
        let r = b.post("/call", "/call", &[("name", "Caller"), ("email", "typo@"), ("message", "hola")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    for i in 0..10 {
        let email = format!("caller{i}@example.com");
        let r = b.post("/call", "/call", &[("name", "Caller"), ("email", &email), ("message", "hola")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "call {i}");
    }
    let r = b.post("/call", "/call", &[("name", "Caller"), ("email", "eleven@example.com"), ("message", "hola")]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    let calls = centralita::calls::recent(app.state.db(), 100).await.unwrap();
    assert_eq!(calls.len(), 10, "the refused start stored nothing");
}

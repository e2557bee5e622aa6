//! The staff event stream: a whole call from the customer's page to closing with every
//! step on it, and catching up after a reconnect without gaps.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{EventStream, TestApp, post_json};
use crate::on_both;

on_both!(
    a_whole_call_from_the_customer_page_to_closing_with_every_step_on_the_stream,
    reconnecting_with_last_event_id_catches_up_without_gaps,
    events_another_process_stored_between_this_ones_reach_the_stream_in_order,
);

async fn a_whole_call_from_the_customer_page_to_closing_with_every_step_on_the_stream(app: &TestApp) {
    let agent = app.token_for("alba", "agent").await;
    let mut stream = EventStream::open(app.staff_stream(&agent)).await;

    // The customer starts a call on the public page; the built-in AI answers.
    let (customer, link) = app.customer_starts("Lucía Pérez", "lucia@example.com", "Hola, ¿qué horario tenéis?").await;
    let call = customer.call_id(&link).await;
    let page = customer.page(&link).await;
    assert!(page.contains("Asistente") || page.contains("Assistant"), "AI reply shown: {page}");
    let seen = stream.until_kind("call_updated").await;
    assert_eq!(seen[0]["kind"], "call_created");
    assert_eq!(seen[0]["call_id"], call);
    let roles: Vec<&str> =
        seen.iter().filter(|e| e["kind"] == "message").map(|e| e["data"]["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["customer", "ai"]);

    // Asking for a person: the supervisor agent escalates to the human queue.
    let r = customer
        .post(&format!("{link}/messages"), &link, &[("message", "Quiero hablar con una persona, por favor")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let seen = stream.until_kind("escalated").await;
    assert_eq!(seen.last().unwrap()["call_id"], call);
    let detail = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await;
    assert_eq!(detail["call"]["status"], "queued");

    // An agent takes over and replies; the customer sees who joined and the reply.
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &agent, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["call"]["status"], "human");
    let taken = stream.until_kind("taken_over").await;
    assert_eq!(taken.last().unwrap()["data"]["name"], "alba Test");
    let r = post_json(
        app.url(&format!("/api/v1/calls/{call}/messages")),
        &agent,
        json!({"text": "Hola Lucía, soy Ana <b>¿en qué te ayudo?</b>"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let human = stream.until_kind("message").await;
    assert_eq!(human.last().unwrap()["data"]["role"], "human");
    let page = customer.page(&link).await;
    assert!(page.contains("alba, de ") || page.contains("alba se ha unido"), "joined notice: {page}");
    assert!(page.contains("soy Ana &#60;b&#62;¿en qué te ayudo?&#60;/b&#62;"), "reply escaped: {page}");

    // While a person holds the call, the AI stays silent.
    let before = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await["messages"]
        .as_array()
        .unwrap()
        .len();
    let r = customer.post(&format!("{link}/messages"), &link, &[("message", "Gracias Ana, es sobre mi factura")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let after = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await;
    assert_eq!(after["messages"].as_array().unwrap().len(), before + 1);
    assert_eq!(after["messages"].as_array().unwrap().last().unwrap()["role"], "customer");

    // Hand back to the AI, then close with an outcome and a rating.
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/handback")), &agent, json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["call"]["status"], "ai");
    stream.until_kind("handed_back").await;
    let r =
        post_json(app.url(&format!("/api/v1/calls/{call}/close")), &agent, json!({"outcome": "resolved", "csat": 5}))
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    let closed = r.json::<Value>().await.unwrap();
    assert_eq!(closed["call"]["status"], "closed");
    assert_eq!(closed["call"]["outcome"], "resolved");
    assert_eq!(closed["call"]["csat"], 5);
    let last = stream.until_kind("closed").await;
    assert_eq!(last.last().unwrap()["data"]["outcome"], "resolved");

    // Closed means closed: no more turns, no second close.
    let r = customer.post(&format!("{link}/messages"), &link, &[("message", "¿Sigue ahí?")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &agent, json!({"outcome": "resolved"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    stream.close();

    // A second process on the same database hears every event too: on PostgreSQL
    // through LISTEN/NOTIFY (its polling is set to an hour, so nothing else could
    // deliver within the test's wait); on SQLite by polling the shared file's log.
    let poll = match app.backend {
        centralita::db::Backend::Postgres => std::time::Duration::from_secs(3600),
        centralita::db::Backend::Sqlite => std::time::Duration::from_millis(100),
    };
    let other = app.second_node_with(move |c| c.events_poll = poll).await;
    let mut remote = EventStream::open(other.staff_stream(&agent)).await;
    let body = json!({"customer": {"name": "Remote Caller", "email": "remote@example.com"}, "message": "hola"});
    let started = app.start_call(&agent, body).await;
    let seen = remote.until_kind("call_updated").await;
    assert_eq!(seen[0]["kind"], "call_created");
    assert_eq!(seen[0]["call_id"], started["call_id"]);
    remote.close();
    other.finish().await;
}

async fn reconnecting_with_last_event_id_catches_up_without_gaps(app: &TestApp) {
    let agent = app.token_for("alba", "agent").await;
    let mut stream = EventStream::open(app.staff_stream(&agent)).await;
    let body = json!({"customer": {"name": "Caller One", "email": "one@example.com"}, "message": "Quiero hablar con una persona"});
    let call = app.start_call(&agent, body).await["call_id"].as_i64().unwrap();
    let first = stream.next().await;
    let last_seen: i64 = first.id.as_deref().unwrap().parse().unwrap();
    assert_eq!(first.json()["id"], last_seen);
    stream.close();

    // While disconnected: more happens.
    post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &agent, json!({})).await;
    post_json(app.url(&format!("/api/v1/calls/{call}/messages")), &agent, json!({"text": "Aquí Ana"})).await;
    let everything = app.state.bus().since(0, 1000).await.unwrap();
    let missed: Vec<i64> = everything.iter().map(|e| e.id).filter(|id| *id > last_seen).collect();
    assert!(missed.len() >= 4, "call messages, update, escalation, takeover, reply: {missed:?}");

    let mut again = EventStream::open(app.staff_stream(&agent).header("last-event-id", last_seen.to_string())).await;
    for expected in &missed {
        let e = again.next().await;
        assert_eq!(e.id.as_deref(), Some(expected.to_string().as_str()), "in order, none skipped");
    }
    // And then live again.
    post_json(app.url(&format!("/api/v1/calls/{call}/handback")), &agent, json!({})).await;
    let live = again.until_kind("handed_back").await;
    assert!(live.iter().all(|e| e["id"].as_i64().unwrap() > *missed.last().unwrap()));
    again.close();

    // A garbled Last-Event-ID is ignored (live only), not an error.
    let r = app.staff_stream(&agent).header("last-event-id", "yesterday").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// A node hands the events it commits to its streams as they are; when another process
/// stored one in between (here without any notification), the stream still gets every
/// event in the log's order, none skipped.
async fn events_another_process_stored_between_this_ones_reach_the_stream_in_order(app: &TestApp) {
    let agent = app.token_for("alba", "agent").await;
    let mut stream = EventStream::open(app.staff_stream(&agent)).await;
    let foreign: i64 = centralita::with_db!(app.state.db(), |pool| {
        sqlx::query_scalar(
        "INSERT INTO events (kind, call_id, data, at) VALUES ('presence', NULL, '{\"user_id\": 0}', $1) RETURNING id"
    )
    .bind(centralita::db::Timestamp::now())
    .fetch_one(pool)
    .await
    })
    .unwrap();
    let body = json!({"customer": {"name": "Caller Two", "email": "two@example.com"}, "message": "hola"});
    app.start_call(&agent, body).await;
    let seen = stream.until_kind("call_updated").await;
    let heard: Vec<i64> = seen.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let logged: Vec<i64> = app.state.bus().since(foreign - 1, 100).await.unwrap().iter().map(|e| e.id).collect();
    assert_eq!(heard.first(), Some(&foreign), "the other process's event first: {heard:?}");
    assert_eq!(heard, logged[..heard.len()], "in the log's order, none skipped");
}

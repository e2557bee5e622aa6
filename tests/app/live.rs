//! Live operations over HTTP: a whole call from the customer's page to closing, the
//! staff event stream (and catching up after a reconnect, and across two processes),
//! takeover races, approvals that execute exactly once, read-only viewers.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::calls::{customer, money_state, start_call};
use crate::helpers::{Browser, EventStream, TestApp, csrf_in, location, new_client};
use crate::on_both;

on_both!(
    a_whole_call_from_the_customer_page_to_closing_with_every_step_on_the_stream,
    reconnecting_with_last_event_id_catches_up_without_gaps,
    only_one_person_holds_a_call_and_only_the_holder_replies,
    approval_executes_the_stored_parameters_exactly_once,
    viewers_see_everything_and_can_change_nothing,
    the_customer_link_is_private_and_bad_input_gets_clear_errors,
    typing_someone_elses_email_does_not_open_their_account,
    the_customer_stream_carries_the_reply_as_it_is_written,
    summary_offer_and_rating_are_asked_once_and_recorded,
    the_board_shows_queues_presence_and_kpis_escaped,
    starting_calls_is_limited_per_address,
);

/// Signs in `username` with a fresh API token.
pub async fn token_for(app: &TestApp, username: &str, role: &str) -> String {
    let (_, pw) = app.ready_user(username, role).await;
    app.api_login(username, &pw).await["access_token"].as_str().unwrap().to_owned()
}

pub fn staff_stream(app: &TestApp, token: &str) -> reqwest::RequestBuilder {
    new_client().get(app.url("/api/v1/events")).bearer_auth(token)
}

/// Starts a call through the public page; returns the customer's browser and the
/// call's private path (`/c/...`).
pub async fn customer_starts(app: &TestApp, name: &str, email: &str, message: &str) -> (Browser, String) {
    let b = app.browser();
    let r = b.post("/call", "/call", &[("name", name), ("email", email), ("phone", ""), ("message", message)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let link = location(&r);
    assert!(link.starts_with("/c/") && link.len() > 40, "private link: {link}");
    (b, link)
}

pub async fn call_id_of(app: &TestApp, b: &Browser, link: &str) -> i64 {
    let html = b.page(link).await;
    let start = html.find("<span class=\"muted\">#").expect("call number shown") + 21;
    let _ = app;
    html[start..].split('<').next().unwrap().parse().unwrap()
}

pub async fn post_json(url: String, token: &str, body: Value) -> reqwest::Response {
    new_client().post(url).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn a_whole_call_from_the_customer_page_to_closing_with_every_step_on_the_stream(app: &TestApp) {
    let agent = token_for(app, "alba", "agent").await;
    let mut stream = EventStream::open(staff_stream(app, &agent)).await;

    // The customer starts a call on the public page; the built-in AI answers.
    let (customer, link) = customer_starts(app, "Lucía Pérez", "lucia@example.com", "Hola, ¿qué horario tenéis?").await;
    let call = call_id_of(app, &customer, &link).await;
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
    let mut remote = EventStream::open(staff_stream(&other, &agent)).await;
    let body = json!({"customer": {"name": "Remote Caller", "email": "remote@example.com"}, "message": "hola"});
    let started = start_call(app, &agent, body).await;
    let seen = remote.until_kind("call_updated").await;
    assert_eq!(seen[0]["kind"], "call_created");
    assert_eq!(seen[0]["call_id"], started["call_id"]);
    remote.close();
    other.finish().await;
}

async fn reconnecting_with_last_event_id_catches_up_without_gaps(app: &TestApp) {
    let agent = token_for(app, "alba", "agent").await;
    let mut stream = EventStream::open(staff_stream(app, &agent)).await;
    let body = json!({"customer": {"name": "Caller One", "email": "one@example.com"}, "message": "Quiero hablar con una persona"});
    let call = start_call(app, &agent, body).await["call_id"].as_i64().unwrap();
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

    let mut again = EventStream::open(staff_stream(app, &agent).header("last-event-id", last_seen.to_string())).await;
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
    let r = staff_stream(app, &agent).header("last-event-id", "yesterday").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn only_one_person_holds_a_call_and_only_the_holder_replies(app: &TestApp) {
    let ana = token_for(app, "alba", "agent").await;
    let liam = token_for(app, "luis", "agent").await;
    let sofia = token_for(app, "sara", "supervisor").await;
    let body = json!({"customer": {"name": "Race Caller", "email": "race@example.com"}, "message": "Necesito ayuda con mi router"});
    let call = start_call(app, &sofia, body).await["call_id"].as_i64().unwrap();

    // Two agents press "take over" at the same moment: exactly one wins.
    let url = app.url(&format!("/api/v1/calls/{call}/takeover"));
    let (a, b) = tokio::join!(post_json(url.clone(), &ana, json!({})), post_json(url.clone(), &liam, json!({})));
    let mut codes = [a.status(), b.status()];
    codes.sort();
    assert_eq!(codes, [StatusCode::OK, StatusCode::CONFLICT]);
    let (winner, loser) = if a.status() == StatusCode::OK { (&ana, &liam) } else { (&liam, &ana) };
    let loser_body: Value =
        if a.status() == StatusCode::OK { b.json().await.unwrap() } else { a.json().await.unwrap() };
    assert_eq!(loser_body["error"], "call_held");
    let holder = if winner == &ana { "alba Test" } else { "luis Test" };
    assert!(loser_body["message"].as_str().unwrap().contains(holder), "{loser_body}");
    // Taking it again is harmless for the holder.
    assert_eq!(post_json(url.clone(), winner, json!({})).await.status(), StatusCode::OK);

    // The other agent may not write into it (neither as staff nor as the customer),
    // hand it back or close it.
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/messages")), loser, json!({"text": "hola"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "call_held");
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/handback")), loser, json!({})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), loser, json!({"outcome": "resolved"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Bad close input is a clear 422; a supervisor may close a call someone holds.
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &sofia, json!({"outcome": "done"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["fields"]["outcome"],
        "Choose resolved, follow_up, transferred or abandoned."
    );
    let r =
        post_json(app.url(&format!("/api/v1/calls/{call}/close")), &sofia, json!({"outcome": "follow_up", "csat": 9}))
            .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &sofia, json!({"outcome": "follow_up"})).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Unknown calls are 404.
    let r = post_json(app.url("/api/v1/calls/999999/takeover"), &ana, json!({})).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = post_json(app.url("/api/v1/calls/999999/close"), &ana, json!({"outcome": "resolved"})).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn approval_executes_the_stored_parameters_exactly_once(app: &TestApp) {
    let maria = customer(app, "maria.lopez@example.com").await;
    let agent = token_for(app, "alba", "agent").await;
    let supervisor = token_for(app, "sara", "supervisor").await;
    let other_supervisor = token_for(app, "teo", "supervisor").await;
    let mut stream = EventStream::open(staff_stream(app, &supervisor)).await;
    let (balance, payments, _) = money_state(app).await;
    let body = json!({"customer_id": maria, "message": "Ayer pagué 50 euros en efectivo, ¿me lo podéis registrar?"});
    start_call(app, &agent, body).await;
    let pending = stream.until_kind("action_pending").await;
    let event = pending.last().unwrap();
    assert_eq!(event["data"]["params"]["amount"], "50.00");

    let list = crate::helpers::get_json(app.url("/api/v1/pending-actions"), &agent).await;
    let action = &list["actions"][0];
    assert_eq!(action["status"], "pending");
    assert_eq!(action["params"]["customer_id"], maria);
    let id = action["id"].as_i64().unwrap();
    let approve = app.url(&format!("/api/v1/pending-actions/{id}/approve"));

    // Agents cannot approve.
    assert_eq!(post_json(approve.clone(), &agent, json!({})).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(money_state(app).await.1, payments);

    // Two supervisors approve at once: one payment, one 409.
    let (a, b) = tokio::join!(
        post_json(approve.clone(), &supervisor, json!({})),
        post_json(approve.clone(), &other_supervisor, json!({}))
    );
    let mut codes = [a.status(), b.status()];
    codes.sort();
    assert_eq!(codes, [StatusCode::OK, StatusCode::CONFLICT]);
    let (after_balance, after_payments, _) = money_state(app).await;
    assert_eq!(after_payments, payments + 1);
    assert_eq!(after_balance, balance - 5000, "the stored amount, once");
    let decided = stream.until_kind("action_decided").await;
    assert_eq!(decided.last().unwrap()["data"]["decision"], "approved");
    assert!(decided.last().unwrap()["data"]["result"]["payment_id"].is_i64());
    // Rejecting what is decided is a conflict, and changes nothing.
    let r = post_json(app.url(&format!("/api/v1/pending-actions/{id}/reject")), &supervisor, json!({})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(money_state(app).await.1, payments + 1);

    // A rejected request executes nothing.
    let body = json!({"customer_id": maria, "message": "Pagué 20 euros con tarjeta, registradlo por favor"});
    start_call(app, &agent, body).await;
    let list = crate::helpers::get_json(app.url("/api/v1/pending-actions"), &supervisor).await;
    let id = list["actions"][0]["id"].as_i64().unwrap();
    let r = post_json(app.url(&format!("/api/v1/pending-actions/{id}/reject")), &supervisor, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "rejected");
    assert_eq!(money_state(app).await.1, payments + 1);
    let all = crate::helpers::get_json(app.url("/api/v1/pending-actions?status=all"), &supervisor).await;
    assert_eq!(all["actions"].as_array().unwrap().len(), 2);
    let r = new_client()
        .get(app.url("/api/v1/pending-actions?status=maybe"))
        .bearer_auth(&supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(app.audit_actions().await.iter().any(|a| a == "action.approve"));
    assert!(app.audit_actions().await.iter().any(|a| a == "action.reject"));

    // The approvals page lists both with who decided, through a real browser session.
    let b = app.browser();
    let (_, pw) = app.ready_user("otto", "supervisor").await;
    b.login("otto", &pw).await;
    let html = b.page("/actions").await;
    assert!(html.contains("50.00 EUR") && html.contains("20.00 EUR"), "{html}");
    assert!(html.contains("sara Test"));
    stream.close();
}

async fn viewers_see_everything_and_can_change_nothing(app: &TestApp) {
    let agent = token_for(app, "alba", "agent").await;
    let viewer = token_for(app, "vera", "viewer").await;
    let body = json!({"customer": {"name": "Look Only", "email": "look@example.com"}, "message": "Quiero hablar con una persona"});
    let call = start_call(app, &agent, body).await["call_id"].as_i64().unwrap();
    for path in ["takeover", "handback"] {
        let r = post_json(app.url(&format!("/api/v1/calls/{call}/{path}")), &viewer, json!({})).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/close")), &viewer, json!({"outcome": "resolved"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post_json(app.url(&format!("/api/v1/calls/{call}/messages")), &viewer, json!({"text": "hola"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        post_json(app.url("/api/v1/pending-actions/1/approve"), &viewer, json!({})).await.status(),
        StatusCode::FORBIDDEN
    );
    let mut stream = EventStream::open(staff_stream(app, &viewer)).await;
    post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &agent, json!({})).await;
    stream.until_kind("taken_over").await;
    stream.close();

    // In the browser: the board and the call page, without controls; the forms'
    // endpoints refuse even with a valid CSRF token.
    let b = app.browser();
    let (_, pw) = app.ready_user("vicky", "viewer").await;
    b.login("vicky", &pw).await;
    let board = b.page("/board").await;
    assert!(board.contains("Look Only"));
    let page = b.page(&format!("/calls/{call}")).await;
    assert!(!page.contains("id=\"takeover\"") && !page.contains("id=\"close-call\""));
    let r = b.post(&format!("/calls/{call}/close"), &format!("/calls/{call}"), &[("outcome", "resolved")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b.post("/actions/1/approve", "/actions", &[("back", "/actions")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let detail = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await;
    assert_eq!(detail["call"]["status"], "human");
}

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

    let (customer, link) = customer_starts(app, "Pablo", "pablo@example.com", "Hola").await;
    // Someone else's browser with the link sees the call (the link is the key); the
    // link never appears in staff-facing JSON.
    let agent = token_for(app, "alba", "agent").await;
    let call = call_id_of(app, &customer, &link).await;
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
    customer(app, "maria.lopez@example.com").await;
    let (b, link) = customer_starts(app, "Impostor", "maria.lopez@example.com", "¿Cuál es mi saldo pendiente?").await;
    let page = b.page(&link).await;
    let agent = token_for(app, "alba", "agent").await;
    let call = call_id_of(app, &b, &link).await;
    let detail = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await;
    assert!(detail["call"]["customer_id"].is_null(), "not linked to María's record");
    assert_eq!(detail["call"]["contact_email"], "maria.lopez@example.com");
    let balance_shown = ["125.50", "125,50"].iter().any(|b| page.contains(b));
    assert!(!balance_shown, "no account data leaked: {page}");
    let db = app.state.db();
    let phone: String = centralita::with_db!(db, |pool| sqlx::query_scalar::<_, String>(
        "SELECT phone FROM customers WHERE email = 'maria.lopez@example.com'"
    )
    .fetch_one(pool)
    .await)
    .unwrap();

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
    let call = call_id_of(app, &b, &link).await;
    let detail = crate::helpers::get_json(app.url(&format!("/api/v1/calls/{call}")), &agent).await;
    assert!(detail["call"]["customer_id"].is_i64());
}

async fn the_customer_stream_carries_the_reply_as_it_is_written(app: &TestApp) {
    let (b, link) = customer_starts(app, "Stream Caller", "stream@example.com", "Hola").await;
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

async fn summary_offer_and_rating_are_asked_once_and_recorded(app: &TestApp) {
    let maria = customer(app, "maria.lopez@example.com").await;
    let b = app.browser();
    let db = app.state.db();
    let phone: String = centralita::with_db!(db, |pool| sqlx::query_scalar::<_, String>(
        "SELECT phone FROM customers WHERE email = 'maria.lopez@example.com'"
    )
    .fetch_one(pool)
    .await)
    .unwrap();
    let r = b
        .post(
            "/call",
            "/call",
            &[
                ("name", "María"),
                ("email", "maria.lopez@example.com"),
                ("phone", &phone),
                ("message", "¿Cuál es mi saldo?"),
            ],
        )
        .await;
    let link = location(&r);
    let page = b.page(&link).await;
    assert!(!page.contains("summary-offer"), "not offered yet");
    // Answering before an offer is refused.
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "yes")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // "Thanks, that's all": the supervisor agent offers a summary to the masked address.
    b.post(&format!("{link}/messages"), &link, &[("message", "Muchas gracias, eso es todo")]).await;
    let page = b.page(&link).await;
    assert!(page.contains("summary-offer"), "offered: {page}");
    assert!(page.contains("m•••@example.com") && !page.contains("maria.lopez@"), "masked address");
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "maybe")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "send")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "nothing to send before the customer asks");
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "yes")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "no")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "answered once");
    let (consent, at): (Option<String>, Option<String>) =
        centralita::with_db!(db, |pool| sqlx::query_as::<_, (Option<String>, Option<String>)>(
            "SELECT summary_consent, CAST(summary_consent_at AS TEXT) FROM calls ORDER BY id DESC LIMIT 1"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
    assert_eq!(consent.as_deref(), Some("yes"));
    assert!(at.is_some(), "when is recorded");

    // The supervisor agent's summary is shown before anything is sent.
    let page = b.page(&link).await;
    assert!(page.contains("id=\"summary-draft\"") && page.contains("m•••@example.com"), "{page}");
    assert!(page.contains("Consulta de saldo") && page.contains("Próximos pasos"), "{page}");
    let call_id: i64 = centralita::with_db!(db, |pool| sqlx::query_scalar::<_, i64>("SELECT MAX(id) FROM calls")
        .fetch_one(pool)
        .await)
    .unwrap();
    let draft = centralita::email::summary_of_call(db, call_id).await.unwrap().unwrap();
    assert_eq!(draft.status, "waiting_confirmation");
    assert!(draft.confirmed_by_customer_at.is_none());
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "send")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = b.post(&format!("{link}/summary"), &link, &[("choice", "cancel")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "confirmed once");
    let page = b.page(&link).await;
    assert!(page.contains("summary-answer") && !page.contains("summary-draft"));
    let confirmed = centralita::email::get(db, draft.id).await.unwrap();
    assert_eq!(confirmed.confirmed_via.as_deref(), Some("customer"));
    assert!(confirmed.confirmed_by_customer_at.is_some());
    assert_eq!(confirmed.to_address, "maria.lopez@example.com", "only the address on file");
    // Who, when and what: the audit entry names the customer and the content's hash.
    let audit = centralita::audit::list(db, None, 50).await.unwrap();
    let entry = audit.iter().find(|e| e.action == "email.confirm").expect("confirmation audited");
    assert_eq!(entry.actor, format!("customer:{maria}"));
    assert!(entry.metadata.contains("content_sha256"), "{}", entry.metadata);

    // With no relay configured, the file mailbox under the data folder receives it.
    // (The file is written before the row is marked sent: wait for the row.)
    for _ in 0..100 {
        if centralita::email::get(db, draft.id).await.unwrap().status == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(centralita::email::get(db, draft.id).await.unwrap().status, "sent");
    let path = centralita::email::deliver::eml_path(app.state.config(), draft.id);
    let eml = std::fs::read_to_string(&path).expect("the .eml file is written");
    assert!(eml.contains(&format!("Message-ID: {}", draft.message_id)), "{eml}");
    assert!(eml.contains("To: ") && eml.contains("maria.lopez@example.com"));
    assert!(eml.contains("multipart/alternative"));
    assert!(b.page(&link).await.contains("Te enviamos el resumen"));
}

async fn the_board_shows_queues_presence_and_kpis_escaped(app: &TestApp) {
    let agent = token_for(app, "alba", "agent").await;
    let body = json!({"customer": {"name": "Eve <script>alert(1)</script>", "email": "eve@example.com"}, "message": "¡Es urgente! Quiero hablar con una persona ya, no funciona nada"});
    let call = start_call(app, &agent, body).await["call_id"].as_i64().unwrap();
    let b = app.browser();
    let (_, pw) = app.ready_user("sam", "supervisor").await;
    b.login("sam", &pw).await;
    let html = b.page("/board").await;
    assert!(html.contains("Eve &#60;script&#62;alert(1)&#60;/script&#62;"), "escaped");
    assert!(!html.contains("<script>alert(1)"));
    let escalations = &html[html.find("id=\"escalations\"").unwrap()..html.find("id=\"queues\"").unwrap()];
    assert!(escalations.contains(&format!("board-call-{call}")), "queued call at the top");
    assert!(html.contains("id=\"kpi-calls\">1<"), "one call today");
    assert!(html.contains("id=\"kpi-escalations\">1<"));
    assert!(html.contains("<svg"), "charts drawn on the server");
    // Presence: the supervisor is online by opening the board; "busy" is shown to all.
    let r = b.post("/presence", "/board", &[("status", "busy")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let board = crate::helpers::get_json(app.url("/api/v1/board"), &agent).await;
    let sam = board["staff"].as_array().unwrap().iter().find(|s| s["name"] == "sam Test").cloned().unwrap();
    assert_eq!(sam["status"], "busy");
    let r = b.post("/presence", "/board", &[("status", "sleeping")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_json(app.url("/api/v1/presence"), &agent, json!({"status": "away"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Holding a call shows next to the name.
    post_json(app.url(&format!("/api/v1/calls/{call}/takeover")), &agent, json!({})).await;
    let board = crate::helpers::get_json(app.url("/api/v1/board"), &agent).await;
    let ana = board["staff"].as_array().unwrap().iter().find(|s| s["name"] == "alba Test").cloned().unwrap();
    assert_eq!(ana["status"], "away");
    assert_eq!(ana["holding"], json!([call]));
    assert_eq!(board["kpis"]["open"], 1);
    // The live fragment is the board's body alone.
    let fragment = b.page("/board/live").await;
    assert!(!fragment.contains("<html") && fragment.contains("id=\"escalations\""));
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

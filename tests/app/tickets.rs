//! Tickets as staff work them: the API (list with each filter alone and combined,
//! paging, one ticket with its history, opening one, changing status, priority and
//! assignee with comments), the history rows and audit entries every change writes,
//! concurrent changes losing nothing, tickets opened from a call, and the pages
//! (list, filters kept in links, the ticket's page and its form, the new-ticket form,
//! the call page's link) with roles, CSRF and escaping.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{EventStream, TestApp, csrf_in, get_json, location, new_client, post_json};
use crate::on_both;

on_both!(
    staff_open_and_find_tickets_through_every_filter_and_page,
    every_ticket_change_is_in_its_history_and_the_audit_log,
    concurrent_changes_to_one_ticket_lose_nothing,
    a_ticket_opened_from_a_call_belongs_to_its_customer_and_tells_the_call_page,
    the_ticket_pages_list_show_open_and_change_tickets,
);

async fn patch(app: &TestApp, token: &str, id: i64, body: Value) -> reqwest::Response {
    new_client().patch(app.url(&format!("/api/v1/tickets/{id}"))).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn open(app: &TestApp, token: &str, body: Value) -> Value {
    let r = post_json(app.url("/api/v1/tickets"), token, body).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    r.json().await.unwrap()
}

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    get_json(app.url(&format!("/api/v1/tickets?per_page=200&{query}")), token).await
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

/// The field errors of a 422 answer.
async fn fields_of(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    r.json::<Value>().await.unwrap()["fields"].clone()
}

async fn staff_open_and_find_tickets_through_every_filter_and_page(app: &TestApp) {
    let camila = app.demo_customer("camila.rojas@example.com").await;
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let agent = app.token_for("omar", "agent").await;
    let (sup_user, sup_pw) = app.ready_user("sara", "supervisor").await;
    let sup = app.api_login("sara", &sup_pw).await["access_token"].as_str().unwrap().to_owned();
    let sara = sup_user["id"].as_i64().unwrap();
    let viewer = app.token_for("vera", "viewer").await;

    let a = open(
        app,
        &agent,
        json!({"customer_id": camila, "title": "Zebra crossing", "description": "x", "priority": "high"}),
    )
    .await;
    assert_eq!((a["status"].as_str(), a["priority"].as_str()), (Some("open"), Some("high")));
    assert_eq!(a["customer_name"], "Camila Rojas");
    assert!(a["created_by"].is_i64() && a["resolved_at"].is_null());
    let b = open(app, &agent, json!({"customer_id": camila, "title": "Router", "description": "Says ZEBRA on screen"}))
        .await;
    assert_eq!(b["priority"], "medium", "medium when not given");
    let c =
        open(app, &agent, json!({"customer_id": camila, "title": "Invoice", "priority": "low", "assigned_to": sara}))
            .await;
    assert_eq!((c["assigned_to"].as_i64(), c["assignee_name"].as_str()), (Some(sara), Some("sara Test")));
    let d = open(app, &agent, json!({"customer_id": camila, "title": "Outage", "priority": "high"})).await;
    let e = open(app, &agent, json!({"customer_id": maria, "title": "Zebra too", "priority": "high"})).await;
    let [a, b, c, d, e] = [&a, &b, &c, &d, &e].map(|t| t["id"].as_i64().unwrap());
    assert_eq!(patch(app, &agent, d, json!({"status": "resolved"})).await.status(), StatusCode::OK);

    // Viewers read, but do not open tickets.
    let r = post_json(app.url("/api/v1/tickets"), &viewer, json!({"customer_id": camila, "title": "No"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let all = list(app, &viewer, "").await;
    assert!(ids(&all).starts_with(&[e, d, c, b, a]), "newest first: {all}");
    assert_eq!(all["total"], 9, "five here and four from the demo data");

    // Each filter alone: every item matches, and ours are there.
    let open_only = list(app, &viewer, "status=open").await;
    assert!(open_only["items"].as_array().unwrap().iter().all(|t| t["status"] == "open"));
    assert!(ids(&open_only).contains(&a) && !ids(&open_only).contains(&d));
    let high = list(app, &viewer, "priority=high").await;
    assert!(high["items"].as_array().unwrap().iter().all(|t| t["priority"] == "high"));
    assert_eq!(high["total"], 5, "a, d, e and the two demo tickets");
    assert_eq!(ids(&list(app, &viewer, &format!("assigned_to={sara}")).await), [c]);
    assert_eq!(ids(&list(app, &sup, "assigned_to=me").await), [c]);
    let unassigned = list(app, &viewer, "assigned_to=none").await;
    assert_eq!(unassigned["total"], 8);
    assert!(!ids(&unassigned).contains(&c));
    assert_eq!(ids(&list(app, &viewer, &format!("customer_id={camila}")).await), [d, c, b, a]);
    assert_eq!(ids(&list(app, &viewer, "q=zEbRa").await), [e, b, a], "title or description, any case");
    assert_eq!(list(app, &viewer, "q=%25").await["total"], 0, "a % is a character, not a wildcard");

    // Combined.
    let q = format!("customer_id={camila}&priority=high&q=zebra");
    assert_eq!(ids(&list(app, &viewer, &q).await), [a]);
    let q = format!("customer_id={camila}&status=open&assigned_to=none");
    assert_eq!(ids(&list(app, &viewer, &q).await), [b, a]);
    assert_eq!(list(app, &viewer, "status=closed&priority=low").await["total"], 0);

    // Paging keeps the total.
    let url = |p: i64| app.url(&format!("/api/v1/tickets?customer_id={camila}&per_page=3&page={p}"));
    let first = get_json(url(1), &viewer).await;
    assert_eq!(
        (first["total"].as_i64(), first["page"].as_i64(), first["per_page"].as_i64()),
        (Some(4), Some(1), Some(3))
    );
    assert_eq!(ids(&first), [d, c, b]);
    let second = get_json(url(2), &viewer).await;
    assert_eq!((ids(&second), second["total"].as_i64()), (vec![a], Some(4)));
    assert!(get_json(url(3), &viewer).await["items"].as_array().unwrap().is_empty());

    // Unknown values: 422 naming the field.
    for (query, field) in [
        ("status=done", "status"),
        ("priority=urgent", "priority"),
        ("assigned_to=bob", "assigned_to"),
        ("customer_id=abc", "customer_id"),
    ] {
        let r =
            new_client().get(app.url(&format!("/api/v1/tickets?{query}"))).bearer_auth(&viewer).send().await.unwrap();
        assert!(fields_of(r).await.get(field).is_some(), "{query}");
    }
    let r = new_client().get(app.url("/api/v1/tickets?page=0")).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Bad tickets: every problem named.
    let r = post_json(
        app.url("/api/v1/tickets"),
        &agent,
        json!({"customer_id": camila, "title": " ", "priority": "urgent"}),
    )
    .await;
    let f = fields_of(r).await;
    assert!(f.get("title").is_some() && f.get("priority").is_some(), "{f}");
    let r = post_json(app.url("/api/v1/tickets"), &agent, json!({"customer_id": 999_999, "title": "Lost"})).await;
    assert_eq!(fields_of(r).await["customer_id"], "There is no such customer.");
    let (viewer_user, _) = app.ready_user("vic", "viewer").await;
    let r = post_json(
        app.url("/api/v1/tickets"),
        &agent,
        json!({"customer_id": camila, "title": "T", "assigned_to": viewer_user["id"]}),
    )
    .await;
    assert!(fields_of(r).await.get("assigned_to").is_some(), "a viewer cannot be assigned");
    let r =
        post_json(app.url("/api/v1/tickets"), &agent, json!({"customer_id": camila, "title": "T", "owner": 1})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused");

    // Unknown tickets.
    let r = new_client().get(app.url("/api/v1/tickets/999999")).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(patch(app, &agent, 999_999, json!({"status": "closed"})).await.status(), StatusCode::NOT_FOUND);
}

async fn every_ticket_change_is_in_its_history_and_the_audit_log(app: &TestApp) {
    let camila = app.demo_customer("camila.rojas@example.com").await;
    let agent = app.token_for("omar", "agent").await;
    let viewer = app.token_for("vera", "viewer").await;
    let (sup_user, _) = app.ready_user("sara", "supervisor").await;
    let sara = sup_user["id"].as_i64().unwrap();
    let (off_user, _) = app.ready_user("otto", "agent").await;
    app.set_disabled(off_user["id"].as_i64().unwrap(), true).await;
    let t = open(app, &agent, json!({"customer_id": camila, "title": "No dial tone"})).await;
    let id = t["id"].as_i64().unwrap();
    let audited =
        || async { app.audit_actions().await.into_iter().filter(|a| a.starts_with("ticket.")).collect::<Vec<_>>() };
    assert_eq!(audited().await, ["ticket.create"]);

    let changed =
        |r: Value| r["changed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let r: Value = patch(app, &agent, id, json!({"status": "in_progress"})).await.json().await.unwrap();
    assert_eq!(changed(r.clone()), ["status"]);
    assert!(r["ticket"]["resolved_at"].is_null());
    let r: Value =
        patch(app, &agent, id, json!({"status": "resolved", "priority": "high", "comment": "Line reset <b>ok</b>"}))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(changed(r.clone()), ["status", "priority", "comment"]);
    let resolved_at = r["ticket"]["resolved_at"].clone();
    assert!(resolved_at.is_string(), "resolving sets resolved_at");
    let r: Value = patch(app, &agent, id, json!({"status": "closed"})).await.json().await.unwrap();
    assert_eq!(r["ticket"]["resolved_at"], resolved_at, "closing a resolved ticket keeps when it was resolved");
    let r: Value = patch(app, &agent, id, json!({"status": "open"})).await.json().await.unwrap();
    assert!(r["ticket"]["resolved_at"].is_null(), "reopening clears it");

    // A change that changes nothing writes nothing.
    let before =
        get_json(app.url(&format!("/api/v1/tickets/{id}")), &viewer).await["history"].as_array().unwrap().len();
    let r: Value = patch(app, &agent, id, json!({"status": "open", "priority": "high", "comment": "  "}))
        .await
        .json()
        .await
        .unwrap();
    assert!(changed(r).is_empty());
    let r: Value = patch(app, &agent, id, json!({})).await.json().await.unwrap();
    assert!(changed(r).is_empty());

    // Assigning: only enabled agents and above; null unassigns.
    let r: Value = patch(app, &agent, id, json!({"assigned_to": sara})).await.json().await.unwrap();
    assert_eq!(
        (changed(r.clone()), r["ticket"]["assignee_name"].as_str()),
        (vec!["assigned_to".to_owned()], Some("sara Test"))
    );
    let r = patch(app, &agent, id, json!({"assigned_to": off_user["id"]})).await;
    assert_eq!(fields_of(r).await["assigned_to"], "Choose an active agent, supervisor or admin.");
    let r = patch(app, &agent, id, json!({"assigned_to": 999_999, "status": "pending"})).await;
    assert!(fields_of(r).await.get("assigned_to").is_some(), "and the status is not changed either");
    let r: Value = patch(app, &agent, id, json!({"assigned_to": null})).await.json().await.unwrap();
    assert!(r["ticket"]["assigned_to"].is_null());
    let r = patch(app, &agent, id, json!({"status": "done", "priority": "urgent"})).await;
    let f = fields_of(r).await;
    assert!(f.get("status").is_some() && f.get("priority").is_some(), "{f}");
    assert_eq!(patch(app, &viewer, id, json!({"status": "closed"})).await.status(), StatusCode::FORBIDDEN);

    let detail = get_json(app.url(&format!("/api/v1/tickets/{id}")), &viewer).await;
    assert_eq!(detail["status"], "open");
    assert_eq!(detail["customer"], json!({"id": camila, "name": "Camila Rojas"}));
    assert!(detail["call"].is_null());
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history.len(), before + 2);
    let rows: Vec<(&str, Option<&str>, Option<&str>)> = history
        .iter()
        .map(|h| (h["field"].as_str().unwrap(), h["old_value"].as_str(), h["new_value"].as_str()))
        .collect();
    let sara_id = sara.to_string();
    assert_eq!(
        rows,
        [
            ("created", None, Some("open")),
            ("status", Some("open"), Some("in_progress")),
            ("status", Some("in_progress"), Some("resolved")),
            ("priority", Some("medium"), Some("high")),
            ("comment", None, Some("Line reset <b>ok</b>")),
            ("status", Some("resolved"), Some("closed")),
            ("status", Some("closed"), Some("open")),
            ("assigned_to", None, Some(sara_id.as_str())),
            ("assigned_to", Some(sara_id.as_str()), None),
        ]
    );
    assert!(history.iter().all(|h| h["actor"] == "omar Test"));
    assert_eq!(history[7]["new_name"], "sara Test");
    assert_eq!(
        audited().await,
        [
            "ticket.create",
            "ticket.status",
            "ticket.status",
            "ticket.priority",
            "ticket.comment",
            "ticket.status",
            "ticket.status",
            "ticket.assign",
            "ticket.assign",
        ]
    );
    let last = centralita::audit::list(app.state.db(), None, 1).await.unwrap().remove(0);
    assert_eq!((last.actor.as_str(), last.target.as_deref()), ("omar", Some(format!("ticket:{id}").as_str())));
    assert!(last.metadata.contains(&format!("\"from\":\"{sara}\"")), "{}", last.metadata);
}

async fn concurrent_changes_to_one_ticket_lose_nothing(app: &TestApp) {
    let camila = app.demo_customer("camila.rojas@example.com").await;
    let agent = app.token_for("omar", "agent").await;
    let (sup_user, _) = app.ready_user("sara", "supervisor").await;
    let id = open(app, &agent, json!({"customer_id": camila, "title": "Busy ticket"})).await["id"].as_i64().unwrap();

    // Different fields and comments at once: every one of them lands.
    let mut bodies: Vec<Value> = (0..6).map(|i| json!({"comment": format!("note {i}")})).collect();
    bodies.push(json!({"status": "pending"}));
    bodies.push(json!({"priority": "critical"}));
    bodies.push(json!({"assigned_to": sup_user["id"]}));
    let answers = futures_util::future::join_all(bodies.into_iter().map(|b| patch(app, &agent, id, b))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    let detail = get_json(app.url(&format!("/api/v1/tickets/{id}")), &agent).await;
    assert_eq!((detail["status"].as_str(), detail["priority"].as_str()), (Some("pending"), Some("critical")));
    assert_eq!(detail["assigned_to"], sup_user["id"]);
    assert_eq!(detail["history"].as_array().unwrap().len(), 1 + 6 + 3);

    // The same field flipped at once: the history is one unbroken chain of real changes.
    let flips = (0..10).map(|i| {
        let status = if i % 2 == 0 { "resolved" } else { "open" };
        patch(app, &agent, id, json!({"status": status}))
    });
    let answers = futures_util::future::join_all(flips).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    let detail = get_json(app.url(&format!("/api/v1/tickets/{id}")), &agent).await;
    let statuses: Vec<&Value> =
        detail["history"].as_array().unwrap().iter().filter(|h| h["field"] == "status").collect();
    let mut current = "open";
    for h in &statuses {
        assert_eq!(h["old_value"], current, "each change starts where the last one ended: {statuses:?}");
        assert_ne!(h["new_value"], h["old_value"]);
        current = h["new_value"].as_str().unwrap();
    }
    assert_eq!(detail["status"], current);
    assert_eq!(detail["resolved_at"].is_null(), current != "resolved");
}

async fn a_ticket_opened_from_a_call_belongs_to_its_customer_and_tells_the_call_page(app: &TestApp) {
    let camila = app.demo_customer("camila.rojas@example.com").await;
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let agent = app.token_for("omar", "agent").await;
    let call = app.start_call(&agent, json!({"customer_id": camila, "message": "Hola, ¿qué horario tenéis?"})).await;
    let call_id = call["call_id"].as_i64().unwrap();
    let mut stream = EventStream::open(app.staff_stream(&agent)).await;

    let t = open(
        app,
        &agent,
        json!({"customer_id": camila, "call_id": call_id, "title": "Router", "priority": "critical"}),
    )
    .await;
    assert_eq!(t["call_id"], call_id);
    let seen = stream.until_kind("ticket_opened").await;
    let event = seen.last().unwrap();
    assert_eq!(event["call_id"], call_id);
    assert_eq!(event["data"], json!({"ticket_id": t["id"], "priority": "critical", "by": "omar Test"}));
    stream.close();
    let detail = get_json(app.url(&format!("/api/v1/tickets/{}", t["id"])), &agent).await;
    assert_eq!(detail["call"]["id"], call_id);

    // The call must be this customer's.
    let r =
        post_json(app.url("/api/v1/tickets"), &agent, json!({"customer_id": maria, "call_id": call_id, "title": "X"}))
            .await;
    assert_eq!(fields_of(r).await["call_id"], "That customer is not the caller of this call.");
    let r =
        post_json(app.url("/api/v1/tickets"), &agent, json!({"customer_id": maria, "call_id": 999_999, "title": "X"}))
            .await;
    assert_eq!(fields_of(r).await["call_id"], "There is no such call.");
    assert_eq!(list(app, &agent, &format!("customer_id={maria}")).await["total"], 1, "only the demo ticket");
}

async fn the_ticket_pages_list_show_open_and_change_tickets(app: &TestApp) {
    let camila = app.demo_customer("camila.rojas@example.com").await;
    let agent_token = app.token_for("anabel", "agent").await;
    let call =
        app.start_call(&agent_token, json!({"customer_id": camila, "message": "Hola, ¿qué horario tenéis?"})).await;
    let call_id = call["call_id"].as_i64().unwrap();
    let b = app.signed_in("omar", "agent").await;

    // The call page links to a ticket form pre-filled from the call.
    let call_page = b.page(&format!("/calls/{call_id}")).await;
    assert!(
        call_page.contains(&format!("href=\"/tickets/new?call_id={call_id}&amp;customer_id={camila}\"")),
        "{call_page}"
    );
    let form = b.page(&format!("/tickets/new?call_id={call_id}")).await;
    assert!(form.contains(&format!("name=\"customer_id\" value=\"{camila}\"")), "the call's customer: {form}");
    assert!(form.contains(&format!("name=\"call_id\" value=\"{call_id}\"")));
    assert!(b.page(&format!("/tickets/new?customer_id={camila}")).await.contains(&format!("value=\"{camila}\"")));
    let token = csrf_in(&form);

    // Problems come back on the form, what was typed kept and escaped.
    let bad = [("csrf_token", token.as_str()), ("customer_id", "abc"), ("title", ""), ("description", "<i>x</i>")];
    let r = b.post_raw("/tickets", &bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Give a customer number.") && html.contains("This field is required."), "{html}");
    assert!(html.contains("&#60;i&#62;x&#60;/i&#62;") && !html.contains("<i>x</i>"));
    assert_eq!(b.post_raw("/tickets", &bad[1..]).await.status(), StatusCode::FORBIDDEN, "no token, no ticket");

    let camila_s = camila.to_string();
    let call_s = call_id.to_string();
    let fields = [
        ("csrf_token", token.as_str()),
        ("customer_id", camila_s.as_str()),
        ("call_id", call_s.as_str()),
        ("title", "<script>alert(1)</script> Router"),
        ("description", "Cae cada noche"),
        ("priority", "high"),
        ("assigned_to", ""),
    ];
    let r = b.post_raw("/tickets", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = location(&r);
    let id: i64 = page.strip_prefix("/tickets/").unwrap().parse().unwrap();
    let html = b.page(&page).await;
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62; Router"), "{html}");
    assert!(!html.contains("<script>alert"), "markup in a title is never markup");
    assert!(
        html.contains(&format!("href=\"/customers/{camila}\"")) && html.contains(&format!("href=\"/calls/{call_id}\""))
    );
    assert!(html.contains("opened the ticket") && html.contains("name=\"was_status\" value=\"open\""));

    // The change form: only what this person changed is applied.
    let token = csrf_in(&html);
    let change = [
        ("csrf_token", token.as_str()),
        ("status", "resolved"),
        ("was_status", "open"),
        ("priority", "high"),
        ("was_priority", "high"),
        ("assigned_to", ""),
        ("was_assigned_to", ""),
        ("comment", "Checked <b>line</b>"),
    ];
    let r = b.post_raw(&page, &change).await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, page.clone()));
    let stale = [
        ("csrf_token", token.as_str()),
        ("status", "open"),
        ("was_status", "open"),
        ("priority", "low"),
        ("was_priority", "high"),
        ("assigned_to", ""),
        ("was_assigned_to", ""),
        ("comment", ""),
    ];
    assert_eq!(b.post_raw(&page, &stale).await.status(), StatusCode::SEE_OTHER);
    let html = b.page(&page).await;
    assert!(html.contains("id=\"ticket-status\">Resolved<"), "a stale form does not reopen it: {html}");
    assert!(html.contains("changed the status from Open to Resolved"));
    assert!(html.contains("changed the priority from High to Low"));
    assert!(html.contains("Checked &#60;b&#62;line&#60;/b&#62;"));
    assert!(html.contains("id=\"ticket-resolved\""));
    let bad = [("csrf_token", token.as_str()), ("status", "done"), ("was_status", "resolved"), ("comment", "kept")];
    let r = b.post_raw(&page, &bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Choose open, in_progress, pending, resolved or closed.") && html.contains(">kept</textarea>")
    );

    // The list: filters in the form and in the paging links.
    for title in ["Second", "Third"] {
        let fields = [("csrf_token", token.as_str()), ("customer_id", camila_s.as_str()), ("title", title)];
        assert_eq!(b.post_raw("/tickets", &fields).await.status(), StatusCode::SEE_OTHER);
    }
    let html = b.page(&format!("/tickets?customer_id={camila}&per_page=1")).await;
    assert!(html.contains(">Third<") && !html.contains(">Second<"), "{html}");
    assert!(html.contains(&format!("href=\"/tickets?customer_id={camila}&#38;page=2&#38;per_page=1\"")), "{html}");
    assert!(html.contains("3 tickets") && html.contains("Page 1 of 3"));
    let html = b.page(&format!("/tickets?customer_id={camila}&per_page=1&page=2&status=&q=")).await;
    assert!(
        html.contains(">Second<") && html.contains(&format!("href=\"/tickets?customer_id={camila}&#38;per_page=1\"")),
        "{html}"
    );
    let html = b.page("/tickets?status=resolved&q=router").await;
    assert!(html.contains(&format!("href=\"/tickets/{id}\"")) && html.contains("<option value=\"resolved\" selected>"));
    let html = b.page("/tickets?assigned_to=none").await;
    assert!(html.contains(">Third<") && html.contains("<option value=\"none\" selected>"));
    assert!(!b.page("/tickets?assigned_to=me").await.contains(">Third<"));
    assert_eq!(b.get("/tickets?status=done").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b.page("/").await.contains("href=\"/tickets\""), "in the navigation");

    // Viewers read only.
    let viewer = app.signed_in("vera", "viewer").await;
    let html = viewer.page(&page).await;
    assert!(html.contains("Router") && !html.contains("name=\"was_status\""), "no change form for viewers");
    assert!(!viewer.page("/tickets").await.contains("href=\"/tickets/new\""));
    assert_eq!(viewer.get("/tickets/new").await.status(), StatusCode::FORBIDDEN);
    let token = csrf_in(&html);
    let r = viewer.post_raw(&page, &[("csrf_token", token.as_str()), ("status", "closed")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!viewer.page(&format!("/calls/{call_id}")).await.contains("id=\"open-ticket\""));
    assert_eq!(viewer.get("/tickets/999999").await.status(), StatusCode::NOT_FOUND);
}

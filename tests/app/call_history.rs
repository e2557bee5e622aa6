//! Call history: `GET /api/v1/calls` and the `/calls` page with their filters (each
//! alone and combined), paging, days in a non-UTC time zone, text in the transcript,
//! and the 422s that name a bad filter.

use centralita::db::{Backend, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, get_json, new_client, post_json};
use crate::on_both;

on_both!(every_filter_alone_and_combined_finds_the_right_calls, bad_filters_are_422_naming_the_field);

async fn ids(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let page = get_json(app.url(&format!("/api/v1/calls?{query}")), token).await;
    page["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

async fn every_filter_alone_and_combined_finds_the_right_calls(app: &TestApp) {
    let maria = app.demo_customer("maria.lopez@example.com").await;
    let jorge = app.demo_customer("jorge.fernandez@example.com").await;
    let (agent, agent_pw) = app.ready_user("historia", "agent").await;
    let agent_id = agent["id"].as_i64().unwrap();
    let token = app.api_login("historia", &agent_pw).await["access_token"].as_str().unwrap().to_owned();
    let balance = app.start_call(&token, json!({"customer_id": maria, "message": "Hola, ¿cuál es mi saldo?"})).await;
    let c1 = balance["call_id"].as_i64().unwrap();
    let c2 = app.start_call(&token, json!({"message": "I want to talk to a human, please"})).await["call_id"]
        .as_i64()
        .unwrap();
    let c3 = app
        .start_call(&token, json!({"customer_id": jorge, "message": "My internet is down and nothing works"}))
        .await["call_id"]
        .as_i64()
        .unwrap();
    let r = post_json(app.url(&format!("/api/v1/calls/{c3}/takeover")), &token, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Newest first, with the total and the names staff read.
    let all = get_json(app.url("/api/v1/calls"), &token).await;
    assert_eq!((all["total"].as_i64(), all["page"].as_i64(), all["per_page"].as_i64()), (Some(3), Some(1), Some(25)));
    assert_eq!(ids(app, &token, "").await, [c3, c2, c1]);
    assert_eq!(all["items"][0]["agent_name"], "historia Test");
    assert_eq!(all["items"][2]["customer_name"], "María López");

    // Each filter alone.
    assert_eq!(ids(app, &token, "status=queued").await, [c2]);
    assert_eq!(ids(app, &token, "status=human").await, [c3]);
    assert_eq!(ids(app, &token, "department=billing").await, [c1]);
    assert_eq!(ids(app, &token, "category=balance_inquiry").await, [c1]);
    let sentiment = balance["classification"]["sentiment"].as_str().unwrap().to_owned();
    assert!(ids(app, &token, &format!("sentiment={sentiment}")).await.contains(&c1));
    assert_eq!(ids(app, &token, "channel=api").await, [c3, c2, c1]);
    assert!(ids(app, &token, "channel=web").await.is_empty());
    assert_eq!(ids(app, &token, &format!("agent_id={agent_id}")).await, [c3]);
    assert_eq!(ids(app, &token, &format!("customer_id={maria}")).await, [c1]);
    assert_eq!(ids(app, &token, "q=saldo").await, [c1]);
    assert_eq!(ids(app, &token, "q=SALDO").await, [c1], "case-insensitive");
    assert_eq!(ids(app, &token, "q=internet%20is%20down").await, [c3]);
    assert!(ids(app, &token, "q=50%25").await.is_empty(), "wildcards in the text are literal");
    let today = centralita::period::Zone::default().date_of(Timestamp::now()).to_string();
    assert_eq!(ids(app, &token, &format!("from={today}&to={today}")).await, [c3, c2, c1]);
    assert!(ids(app, &token, "from=2020-01-01&to=2020-12-31").await.is_empty());

    // Combined.
    assert_eq!(ids(app, &token, &format!("department=billing&customer_id={maria}&q=saldo")).await, [c1]);
    assert!(ids(app, &token, &format!("department=billing&customer_id={jorge}")).await.is_empty());
    assert_eq!(ids(app, &token, &format!("status=human&agent_id={agent_id}&channel=api&q=internet")).await, [c3]);

    // Paging.
    let first = get_json(app.url("/api/v1/calls?per_page=2"), &token).await;
    assert_eq!(first["total"], 3);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let second = get_json(app.url("/api/v1/calls?per_page=2&page=2"), &token).await;
    assert_eq!(second["items"][0]["id"].as_i64(), Some(c1));
    assert_eq!((second["page"].as_i64(), second["total"].as_i64()), (Some(2), Some(3)));
    assert!(get_json(app.url("/api/v1/calls?page=9"), &token).await["items"].as_array().unwrap().is_empty());

    // Viewers read the history; the page keeps the filters in its paging links.
    let viewer = app.token_for("mirona", "viewer").await;
    assert_eq!(ids(app, &viewer, "status=queued").await, [c2]);
    assert_eq!(new_client().get(app.url("/api/v1/calls")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let b = app.signed_in("mirador", "viewer").await;
    let html = b.page("/calls?channel=api&per_page=1&q=saldo").await;
    assert!(html.contains(&format!("id=\"history-call-{c1}\"")), "{html}");
    assert!(!html.contains(&format!("id=\"history-call-{c3}\"")));
    let html = b.page("/calls?channel=api&per_page=1").await;
    assert!(
        html.contains("href=\"/calls?channel=api&#38;per_page=1&amp;page=2\""),
        "paging keeps the filters: {}",
        &html[html.find("pager").unwrap_or(0)..]
    );
    assert!(html.contains("María López") || html.contains("Jorge"), "names shown");
}

async fn bad_filters_are_422_naming_the_field(app: &TestApp) {
    let token = app.token_for("filtros", "viewer").await;
    for (query, field) in [
        ("status=lost", "status"),
        ("department=marketing", "department"),
        ("category=Balance%20Inquiry", "category"),
        ("sentiment=angry", "sentiment"),
        ("channel=fax", "channel"),
        ("agent_id=abc", "agent_id"),
        ("customer_id=-1", "customer_id"),
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-12-02&to=2026-12-01", "from"),
    ] {
        let r = new_client().get(app.url(&format!("/api/v1/calls?{query}"))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(body["fields"][field].is_string(), "{query}: {body}");
    }
    let long = "x".repeat(201);
    for query in ["page=0", "per_page=1000", "page=abc", &format!("q={long}")] {
        let r = new_client().get(app.url(&format!("/api/v1/calls?{query}"))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body: Value = r.json().await.unwrap();
        let text = body.to_string();
        assert!(text.contains(query.split('=').next().unwrap()), "{query}: the field is named: {text}");
    }
    // The page says what is wrong instead of failing.
    let b = app.signed_in("filtrera", "viewer").await;
    let r = b.get("/calls?status=lost").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"filter-errors\""));
}

mod date_range_edges_in_madrid {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await;
    }
}

/// Days are Madrid days (UTC+2 in summer): 2026-07-01 runs from 22:00 UTC on June 30
/// to 22:00 UTC on July 1, and the page shows Madrid times.
async fn run(backend: Backend) {
    let app = TestApp::spawn(backend, |c| {
        c.timezone = centralita::period::Zone::parse("Europe/Madrid").unwrap();
    })
    .await;
    let token = app.token_for("madrid", "agent").await;
    let instants = [
        time::macros::datetime!(2026-06-30 21:59:59 UTC),
        time::macros::datetime!(2026-06-30 22:00:00 UTC),
        time::macros::datetime!(2026-07-01 21:59:59 UTC),
        time::macros::datetime!(2026-07-01 22:00:00 UTC),
    ];
    let mut calls = Vec::new();
    for at in instants {
        let id = app.start_call(&token, json!({"message": "hola"})).await["call_id"].as_i64().unwrap();
        let db = app.state.db();
        centralita::with_db!(db, |pool| sqlx::query("UPDATE calls SET created_at = $2 WHERE id = $1")
            .bind(id)
            .bind(Timestamp::from(at))
            .execute(pool)
            .await
            .map(|_| ()))
        .unwrap();
        calls.push(id);
    }
    assert_eq!(ids(&app, &token, "from=2026-07-01&to=2026-07-01").await, [calls[2], calls[1]]);
    assert_eq!(ids(&app, &token, "from=2026-06-30&to=2026-06-30").await, [calls[0]]);
    assert_eq!(ids(&app, &token, "from=2026-07-02&to=2026-07-02").await, [calls[3]]);
    assert_eq!(ids(&app, &token, "from=2026-06-30&to=2026-07-02").await.len(), 4);
    assert_eq!(ids(&app, &token, "to=2026-06-30").await, [calls[0]], "only `to`: everything up to that day");
    let b = app.signed_in("madridista", "viewer").await;
    let html = b.page("/calls?from=2026-07-01&to=2026-07-01").await;
    assert!(html.contains("2026-07-01 00:00"), "Madrid midnight shown");
    assert!(html.contains("2026-07-01 23:59"));
    assert!(html.contains("Europe/Madrid"));
    app.finish().await;
}

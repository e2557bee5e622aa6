//! Reports: the figures of a range of days (`GET /api/v1/stats`) counted in the team's
//! time zone, the CSV exports (contents, quoting, formula protection, roles, streaming),
//! the reports page and its printable view, and the demo history written once.

use centralita::db::Timestamp;
use centralita::period::Zone;
use centralita::seed::HistoryPlan;
use centralita::with_db;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, get_json, new_client};
use crate::on_both;

/// Runs a test on both databases with the team in Madrid (UTC+1 in January).
macro_rules! in_madrid {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                async fn run(backend: centralita::db::Backend) {
                    let app = $crate::helpers::TestApp::spawn(backend, |c| {
                        c.timezone = centralita::period::Zone::parse("Europe/Madrid").unwrap();
                    })
                    .await;
                    super::$name(&app).await;
                    app.finish().await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run(centralita::db::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run(centralita::db::Backend::Postgres).await;
                }
            }
        )*
    };
}

in_madrid!(stats_count_days_and_hours_in_the_team_time_zone, every_export_has_its_header_quoting_and_local_times);
on_both!(
    exports_are_for_supervisors_and_admins_and_refuse_bad_requests,
    a_large_export_streams_in_chunks_without_a_length,
    the_reports_page_and_printable_view_render_for_a_viewer,
    the_demo_history_is_written_once
);

fn at(text: &str) -> Timestamp {
    serde_json::from_value(Value::String(text.to_owned())).unwrap()
}

/// A small known month: three calls on the 10th–11th of January (Madrid), one the
/// evening before, tickets, a payment and agent steps. Returns the agent's user id.
async fn known_dataset(app: &TestApp) -> i64 {
    let (agent, _) = app.ready_user("ag1", "agent").await;
    let agent_id = agent["id"].as_i64().unwrap();
    let db = app.state.db();
    let customer: i64 = with_db!(db, |pool| sqlx::query_scalar(
        "INSERT INTO customers (name, email, phone, balance_cents, active, created_at) \
         VALUES ('=Evil, \"Corp\"', 'evil@example.com', NULL, 0, TRUE, $1) RETURNING id"
    )
    .bind(at("2026-01-01T00:00:00Z"))
    .fetch_one(pool)
    .await
    .unwrap());
    // (created, closed, status, channel, department, category, sentiment, queued, holder, reason, outcome, csat)
    type CallRow<'a> = (
        &'a str,
        Option<&'a str>,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<i64>,
        Option<&'a str>,
        Option<&'a str>,
        Option<i32>,
    );
    let calls: [CallRow; 4] = [
        // 10:00 local on the 10th, ten minutes, the AI alone.
        (
            "2026-01-10T09:00:00Z",
            Some("2026-01-10T09:10:00Z"),
            "closed",
            "web",
            "billing",
            "invoice",
            "neutral",
            None,
            None,
            None,
            Some("resolved"),
            Some(5),
        ),
        // 23:30 UTC is 00:30 on the 11th in Madrid: escalated, taken by ag1, half an hour.
        (
            "2026-01-10T23:30:00Z",
            Some("2026-01-11T00:00:00Z"),
            "closed",
            "api",
            "complaints",
            "service_complaint",
            "negative",
            Some("2026-01-10T23:35:00Z"),
            Some(agent_id),
            Some("negative_sentiment"),
            Some("resolved"),
            Some(2),
        ),
        // 11:00 local on the 11th, still with the AI.
        (
            "2026-01-11T10:00:00Z",
            None,
            "ai",
            "web",
            "support",
            "technical_issue",
            "positive",
            None,
            None,
            None,
            None,
            None,
        ),
        // 23:59 local on the 9th: outside the range.
        (
            "2026-01-09T22:59:00Z",
            Some("2026-01-09T23:05:00Z"),
            "closed",
            "web",
            "sales",
            "pricing",
            "neutral",
            None,
            None,
            None,
            Some("resolved"),
            Some(4),
        ),
    ];
    let mut ids = Vec::new();
    for (created, closed, status, channel, dept, cat, sentiment, queued, holder, reason, outcome, csat) in calls {
        let id: i64 = with_db!(db, |pool| {
            sqlx::query_scalar(
            "INSERT INTO calls (channel, customer_id, status, department, category, sentiment, priority, assigned_to, \
             outcome, csat, escalation_reason, created_at, updated_at, closed_at, queued_at, human_involved) \
             VALUES ($1, $2, $3, $4, $5, $6, 'medium', $7, $8, $9, $10, $11, $11, $12, $13, $14) RETURNING id"
        )
        .bind(channel)
        .bind(customer)
        .bind(status)
        .bind(dept)
        .bind(cat)
        .bind(sentiment)
        .bind(holder)
        .bind(outcome)
        .bind(csat)
        .bind(reason)
        .bind(at(created))
        .bind(closed.map(at))
        .bind(queued.map(at))
        .bind(holder.is_some())
        .fetch_one(pool)
        .await
        .unwrap()
        });
        ids.push(id);
    }
    let sql_message = "INSERT INTO messages (call_id, role, agent, content, author_id, at) \
                       VALUES ($1, 'system', 'joined', 'ag1 Test', $2, $3)";
    with_db!(db, |pool| sqlx::query(sql_message)
        .bind(ids[1])
        .bind(agent_id)
        .bind(at("2026-01-10T23:40:00Z"))
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
    for (call, when, prompt, completion) in
        [(ids[0], "2026-01-10T09:00:05Z", 1000, 200), (ids[1], "2026-01-10T23:31:00Z", 3000, 500)]
    {
        with_db!(db, |pool| {
            sqlx::query(
            "INSERT INTO agent_runs (call_id, turn, agent, backend, model, prompt_tokens, completion_tokens, latency_ms, \
             tool_calls, output, outcome, at) VALUES ($1, 1, 'service', 'builtin', 'm', $2, $3, 10, '[]', '', 'ok', $4)"
        )
        .bind(call)
        .bind(prompt as i64)
        .bind(completion as i64)
        .bind(at(when))
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap()
        });
    }
    for (title, description, status, created, resolved) in [
        ("Router, broken \"again\"", "+1 call me", "open", "2026-01-10T12:00:00Z", None),
        ("Old one", "fixed", "resolved", "2026-01-05T12:00:00Z", Some("2026-01-11T08:00:00Z")),
    ] {
        with_db!(db, |pool| sqlx::query(
            "INSERT INTO tickets (customer_id, title, description, status, priority, created_at, resolved_at, call_id) \
             VALUES ($1, $2, $3, $4, 'high', $5, $6, $7)"
        )
        .bind(customer)
        .bind(title)
        .bind(description)
        .bind(status)
        .bind(at(created))
        .bind(resolved.map(at))
        .bind(ids[0])
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
    }
    with_db!(db, |pool| sqlx::query(
        "INSERT INTO payments (customer_id, amount_cents, description, method, processed_by, at, call_id) \
         VALUES ($1, 5050, '@SUM(1)', 'card', $2, $3, $4)"
    )
    .bind(customer)
    .bind(agent_id)
    .bind(at("2026-01-11T12:00:00Z"))
    .bind(ids[1])
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap());
    agent_id
}

async fn stats_count_days_and_hours_in_the_team_time_zone(app: &TestApp) {
    known_dataset(app).await;
    let viewer = app.token_for("viewer1", "viewer").await;
    let s = get_json(app.url("/api/v1/stats?from=2026-01-10&to=2026-01-11"), &viewer).await;
    assert_eq!(s["timezone"], "Europe/Madrid");
    let c = &s["calls"];
    assert_eq!((c["total"].as_i64(), c["closed"].as_i64(), c["open"].as_i64()), (Some(3), Some(2), Some(1)));
    assert_eq!((c["ai_resolved"].as_i64(), c["escalated"].as_i64()), (Some(1), Some(1)));
    assert_eq!(c["avg_handle_seconds"].as_f64().unwrap().round(), 1200.0);
    assert_eq!(c["ai_resolved_pct"], 50.0);
    let days = s["per_day"].as_array().unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!((days[0]["day"].as_str(), days[0]["calls"].as_i64()), (Some("2026-01-10"), Some(1)));
    assert_eq!(days[1]["calls"], 2, "23:30 UTC is the next day in Madrid");
    assert_eq!((days[0]["prompt_tokens"].as_i64(), days[1]["prompt_tokens"].as_i64()), (Some(1000), Some(3000)));
    let hours: Vec<i64> = s["per_hour"].as_array().unwrap().iter().map(|h| h["calls"].as_i64().unwrap()).collect();
    assert_eq!(hours.len(), 24);
    assert_eq!((hours[0], hours[10], hours[11], hours.iter().sum::<i64>()), (1, 1, 1, 3));
    assert_eq!(s["csat"]["rated"], 2);
    assert_eq!(s["csat"]["average"], 3.5);
    let dist: Vec<i64> =
        s["csat"]["distribution"].as_array().unwrap().iter().map(|d| d["count"].as_i64().unwrap()).collect();
    assert_eq!(dist, [0, 1, 0, 0, 1]);
    assert_eq!(s["escalation_reasons"][0]["key"], "negative_sentiment");
    assert_eq!(s["escalation_reasons"].as_array().unwrap().len(), 1);
    let depts: Vec<&str> = s["departments"].as_array().unwrap().iter().map(|d| d["key"].as_str().unwrap()).collect();
    assert_eq!(depts.len(), 3);
    assert!(depts.contains(&"complaints") && !depts.contains(&"sales"), "the 9th is outside: {depts:?}");
    assert_eq!(s["sentiments"].as_array().unwrap().len(), 3);
    assert_eq!(s["channels"][0]["key"], "web");
    assert_eq!(s["channels"][0]["count"], 2);
    let agents = s["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0]["username"], "ag1");
    assert_eq!((agents[0]["calls_taken"].as_i64(), agents[0]["closed"].as_i64()), (Some(1), Some(1)));
    assert_eq!(agents[0]["avg_handle_seconds"].as_f64().unwrap().round(), 1800.0);
    assert_eq!(agents[0]["avg_csat"], 2.0);
    assert_eq!((s["tickets"]["opened"].as_i64(), s["tickets"]["resolved"].as_i64()), (Some(1), Some(1)));
    assert_eq!(s["tickets"]["opened_by_status"][0]["key"], "open");
    let t = &s["tokens"];
    assert_eq!((t["runs"].as_i64(), t["calls"].as_i64()), (Some(2), Some(2)));
    assert_eq!((t["prompt_tokens"].as_i64(), t["completion_tokens"].as_i64()), (Some(4000), Some(700)));
    let expected = app.state.config().token_prices.cost(4000, 700);
    assert!((t["cost"].as_f64().unwrap() - expected).abs() < 1e-12);
    assert!((t["cost_per_call"].as_f64().unwrap() - expected / 2.0).abs() < 1e-12);

    // The 10th alone, in Madrid, holds only the morning call.
    let one = get_json(app.url("/api/v1/stats?from=2026-01-10&to=2026-01-10"), &viewer).await;
    assert_eq!(one["calls"]["total"], 1);
    // Bad dates are named.
    for q in ["from=2026-13-01", "to=yesterday", "from=2026-01-11&to=2026-01-10"] {
        let r = new_client().get(app.url(&format!("/api/v1/stats?{q}"))).bearer_auth(&viewer).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{q}");
    }
    let r = new_client().get(app.url("/api/v1/stats")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn csv(app: &TestApp, token: &str, path: &str) -> (reqwest::Response, StatusCode) {
    let r = new_client().get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = r.status();
    (r, status)
}

async fn every_export_has_its_header_quoting_and_local_times(app: &TestApp) {
    known_dataset(app).await;
    let boss = app.token_for("boss", "supervisor").await;
    let range = "from=2026-01-10&to=2026-01-11";

    let (r, status) = csv(app, &boss, &format!("/api/v1/reports/calls.csv?{range}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"calls-2026-01-10-to-2026-01-11.csv\"");
    let body = r.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "id,created_at,closed_at,handle_seconds,channel,status,department,category,sentiment,priority,language,\
         customer_id,customer_name,customer_email,agent,human_involved,escalated,escalation_reason,outcome,csat,quality,\
         ai_department,ai_category,ai_sentiment,corrected,prompt_tokens,completion_tokens,estimated_cost"
    );
    assert_eq!(lines.len(), 4, "three calls in the range: {body}");
    assert!(lines[1].contains(",2026-01-10T10:00:00+01:00,2026-01-10T10:10:00+01:00,600,web,closed,billing,invoice,"));
    assert!(lines[1].contains(",\"'=Evil, \"\"Corp\"\"\",evil@example.com,"), "quoted and defused: {}", lines[1]);
    assert!(lines[2].contains(",2026-01-11T00:30:00+01:00,2026-01-11T01:00:00+01:00,1800,api,closed,complaints,"));
    assert!(lines[2].contains(",ag1,true,true,negative_sentiment,resolved,2,"), "{}", lines[2]);
    assert!(lines[2].contains(",3000,500,"));
    assert!(lines[3].contains(",2026-01-11T11:00:00+01:00,,,web,ai,support,"));

    let (r, _) = csv(app, &boss, &format!("/api/v1/reports/tickets.csv?{range}")).await;
    let body = r.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "id,created_at,updated_at,resolved_at,status,priority,customer_id,customer_name,customer_email,title,description,\
         assigned_to,call_id"
    );
    assert_eq!(lines.len(), 2, "the ticket opened in the range: {body}");
    assert!(lines[1].contains(",2026-01-10T13:00:00+01:00,,,open,high,"));
    assert!(lines[1].contains(",\"Router, broken \"\"again\"\"\",\"'+1 call me\","), "{}", lines[1]);

    let (r, _) = csv(app, &boss, &format!("/api/v1/reports/payments.csv?{range}")).await;
    let body = r.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "id,at,customer_id,customer_name,customer_email,amount,method,description,processed_by,call_id"
    );
    assert!(lines[1].contains(",2026-01-11T13:00:00+01:00,"));
    assert!(lines[1].contains(",50.50,card,\"'@SUM(1)\",ag1,"), "{}", lines[1]);

    let (r, _) = csv(app, &boss, &format!("/api/v1/reports/agents.csv?{range}")).await;
    let body = r.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "user_id,username,full_name,calls_taken,closed,avg_handle_seconds,rated,avg_csat");
    assert!(lines[1].contains(",ag1,ag1 Test,1,1,1800,1,2.00"), "{}", lines[1]);
    assert_eq!(lines.len(), 2);

    // The export is audited.
    assert!(app.audit_actions().await.iter().filter(|a| *a == "report.export").count() >= 4);
}

async fn exports_are_for_supervisors_and_admins_and_refuse_bad_requests(app: &TestApp) {
    let viewer = app.token_for("viewer2", "viewer").await;
    let agent = app.token_for("agent2", "agent").await;
    let admin = app.admin_token().await;
    for report in ["calls", "tickets", "payments", "agents"] {
        let path = format!("/api/v1/reports/{report}.csv");
        assert_eq!(csv(app, &viewer, &path).await.1, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(csv(app, &agent, &path).await.1, StatusCode::FORBIDDEN, "{path}");
        let (r, status) = csv(app, &admin, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(r.text().await.unwrap().matches("\r\n").count(), 1, "only the header on an empty database");
    }
    assert_eq!(csv(app, &admin, "/api/v1/reports/users.csv").await.1, StatusCode::NOT_FOUND);
    assert_eq!(csv(app, &admin, "/api/v1/reports/calls.json").await.1, StatusCode::NOT_FOUND);
    assert_eq!(csv(app, &viewer, "/api/v1/reports/users.csv").await.1, StatusCode::FORBIDDEN);
    let (r, status) = csv(app, &admin, "/api/v1/reports/calls.csv?from=2026-02-30").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("from"));
    assert_eq!(
        csv(app, &admin, "/api/v1/reports/calls.csv?to=2026-01-01&from=2026-02-01").await.1,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = new_client().get(app.url("/api/v1/reports/calls.csv")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The pages' download follows the same rules.
    let v = app.signed_in("viewer3", "viewer").await;
    assert_eq!(v.get("/reports/calls.csv").await.status(), StatusCode::FORBIDDEN);
    let s = app.signed_in("supervisor3", "supervisor").await;
    let r = s.get("/reports/payments.csv?from=2026-01-01&to=2026-01-31").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().starts_with("id,at,customer_id,"));
    assert_eq!(s.get("/reports/nothing.csv").await.status(), StatusCode::NOT_FOUND);
}

async fn a_large_export_streams_in_chunks_without_a_length(app: &TestApp) {
    centralita::seed::seed_demo_with(app.state.db(), HistoryPlan { calls: 600, days: 10 }).await.unwrap();
    let boss = app.token_for("boss", "supervisor").await;
    let today = Zone::default().date_of(Timestamp::now());
    let path = format!("/api/v1/reports/calls.csv?from=2026-01-01&to={today}");
    let (r, status) = csv(app, &boss, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(r.headers().get("content-length").is_none(), "streamed: no length up front");
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    let mut chunks = 0;
    let mut body = Vec::new();
    let mut stream = r.bytes_stream();
    while let Some(chunk) = stream.next().await {
        chunks += 1;
        body.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text.matches("\r\n").count(), 601, "a header and 600 calls");
    assert!(chunks > 1, "arrived in {chunks} chunk(s)");
}

async fn the_reports_page_and_printable_view_render_for_a_viewer(app: &TestApp) {
    centralita::seed::seed_demo_with(app.state.db(), HistoryPlan { calls: 60, days: 7 }).await.unwrap();
    let v = app.signed_in("viewer4", "viewer").await;
    let html = v.page("/reports").await;
    assert!(html.contains("id=\"chart-per-day\"") && html.contains("id=\"chart-per-hour\""));
    assert!(html.contains("<rect") && html.contains("href=\"/reports/print?from="));
    assert!(!html.contains(".csv?"), "no downloads for a viewer");
    assert!(!html.contains("style=") && !html.contains("<script>"), "nothing the CSP would block");
    assert!(html.contains("href=\"/reports\" aria-current=\"page\""), "in the navigation");
    let today = Zone::default().date_of(Timestamp::now());
    let week_ago = today.saturating_sub(jiff::Span::new().days(6));
    assert!(
        html.contains(&format!("value=\"{week_ago}\"")) && html.contains(&format!("value=\"{today}\"")),
        "last 7 days"
    );
    let en = v.page_in("/reports?from=2026-01-01&to=2026-01-31", "en").await;
    assert!(en.contains("Informes") || en.contains("Reports"));
    let r = v.get("/reports?from=nope").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("role=\"alert\""));

    let print = v.page(&format!("/reports/print?from={week_ago}&to={today}")).await;
    assert!(print.contains("class=\"printable\"") && print.contains("id=\"chart-per-day\""));
    assert!(!print.contains("class=\"topbar\""));
    assert_eq!(v.get("/reports/print?to=2026-99-01").await.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let s = app.signed_in("supervisor4", "supervisor").await;
    let html = s.page("/reports").await;
    for report in ["calls", "tickets", "payments", "agents"] {
        assert!(html.contains(&format!("href=\"/reports/{report}.csv?from=")), "{report} link");
    }
    assert_eq!(app.browser().get("/reports").await.status(), StatusCode::SEE_OTHER, "signed out: to the login");
}

async fn the_demo_history_is_written_once(app: &TestApp) {
    let db = app.state.db();
    let count = || async {
        let calls: i64 =
            with_db!(db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM calls").fetch_one(pool).await.unwrap());
        let tickets: i64 =
            with_db!(db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM tickets").fetch_one(pool).await.unwrap());
        (calls, tickets)
    };
    let plan = HistoryPlan { calls: 300, days: 14 };
    let first = centralita::seed::seed_demo_with(db, plan).await.unwrap();
    assert!(first.contains("history added: 300 calls"), "{first}");
    let after_first = count().await;
    assert_eq!(after_first.0, 300);
    let again = centralita::seed::seed_demo_with(db, plan).await.unwrap();
    assert!(again.contains("history already present"), "{again}");
    assert_eq!(count().await, after_first, "nothing added twice");
    // Every state, outcome and ticket status is there.
    let statuses: Vec<String> = with_db!(db, |pool| sqlx::query_scalar("SELECT DISTINCT status FROM calls ORDER BY 1")
        .fetch_all(pool)
        .await
        .unwrap());
    assert_eq!(statuses, ["ai", "closed", "human", "queued"]);
    let tickets: Vec<String> =
        with_db!(db, |pool| sqlx::query_scalar("SELECT DISTINCT status FROM tickets").fetch_all(pool).await.unwrap());
    assert!(tickets.len() == 5, "{tickets:?}");
    let taken: i64 = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages WHERE role = 'system' AND agent = 'joined' AND author_id IS NOT NULL"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert!(taken > 0);
}

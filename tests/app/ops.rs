//! `/health` and `/metrics`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, new_client};
use crate::on_both;

on_both!(health_reports_the_database_and_metrics_are_prometheus_text);

async fn health_reports_the_database_and_metrics_are_prometheus_text(app: &TestApp) {
    let r = new_client().get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h: Value = r.json().await.unwrap();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["database"]["status"], "ok");
    let expected = match app.backend {
        centralita::db::Backend::Sqlite => "sqlite",
        centralita::db::Backend::Postgres => "postgres",
    };
    assert_eq!(h["database"]["backend"], expected);
    new_client().get(app.url("/login")).send().await.unwrap();
    let r = new_client().get(app.url("/metrics")).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    assert!(text.contains("# TYPE centralita_http_requests_total counter"));
    let ok_count: u64 = text
        .lines()
        .find(|l| l.starts_with("centralita_http_requests_total{status=\"2xx\"}"))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(ok_count >= 2, "health and login counted");
    assert!(text.contains("centralita_http_request_duration_seconds_bucket{le=\"+Inf\"}"));
    assert!(text.contains("centralita_active_users 1"));
    assert!(text.contains("centralita_emails_failed 0") && text.contains("centralita_emails_retrying 0"));
}

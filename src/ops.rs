//! Operations endpoints: `/health` and `/metrics`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::app::AppState;
use crate::db::with_db;

/// Routes for probes and scraping.
pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health_get)).route("/metrics", get(metrics_get))
}

async fn health_get(State(state): State<AppState>) -> impl IntoResponse {
    let db_ok = state.db().ping().await;
    let status = if db_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let backend = match state.db().backend() {
        crate::db::Backend::Sqlite => "sqlite",
        crate::db::Backend::Postgres => "postgres",
    };
    (
        status,
        Json(json!({
            "status": if db_ok { "ok" } else { "degraded" },
            "database": { "status": if db_ok { "ok" } else { "unreachable" }, "backend": backend },
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": state.uptime().as_secs(),
        })),
    )
}

async fn metrics_get(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.db();
    let (users, sessions) = with_db!(db, |pool| {
        let users =
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users WHERE disabled = FALSE").fetch_one(pool).await;
        let sessions = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions WHERE user_id IS NOT NULL")
            .fetch_one(pool)
            .await;
        (users, sessions)
    });
    let up = if db.ping().await { 1.0 } else { 0.0 };
    let emails = crate::email::counts(db).await.unwrap_or_default();
    let outbox = |status: &str| emails.iter().find(|(s, _)| s == status).map_or(0.0, |(_, n)| *n as f64);
    let body = state.metrics().render(&[
        ("centralita_up", "1 when the database answers.", up),
        ("centralita_active_users", "Enabled staff accounts.", users.unwrap_or(0) as f64),
        (
            "centralita_signed_in_sessions",
            "Stored browser sessions with a signed-in user.",
            sessions.unwrap_or(0) as f64,
        ),
        ("centralita_uptime_seconds", "Seconds since start.", state.uptime().as_secs_f64()),
        (
            "centralita_emails_waiting_confirmation",
            "Emails waiting for the customer's confirmation.",
            outbox("waiting_confirmation"),
        ),
        ("centralita_emails_queued", "Confirmed emails not yet tried.", outbox("queued")),
        (
            "centralita_emails_retrying",
            "Emails whose last attempt failed and that will be retried.",
            outbox("retrying"),
        ),
        ("centralita_emails_failed", "Emails that failed for good (they wait for a retry action).", outbox("failed")),
        ("centralita_emails_sent", "Emails delivered.", outbox("sent")),
    ]);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

//! Audit log API (admins only).

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::AppState;
use crate::audit;
use crate::auth::extract::ApiAuth;
use crate::db::Timestamp;
use crate::error::{AppError, AppResult, ErrorBody};

/// Paging: newest first; `before` is the last id of the previous page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries older than this id (the previous page's `next_before`).
    before: Option<i64>,
    /// Page size, 1–500 (100 by default; clamped).
    limit: Option<i64>,
}

/// One audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Id (the paging cursor).
    pub id: i64,
    /// Acting user id.
    pub actor_id: Option<i64>,
    /// Acting user's name.
    pub actor: String,
    /// Dotted action name (`login.success`, `user.role_change`, ...).
    pub action: String,
    /// What it was about (`user:42`).
    pub target: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Extra facts (a JSON object).
    pub metadata: Value,
    /// When.
    pub at: Timestamp,
}

/// `GET /api/v1/audit` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// `before` for the next page; null on the last page.
    pub next_before: Option<i64>,
}

/// `GET /api/v1/audit`.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit", summary = "The audit log, newest first (admins)",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub async fn audit_get(
    State(state): State<AppState>,
    auth: ApiAuth,
    Query(q): Query<AuditQuery>,
) -> AppResult<Json<AuditPage>> {
    auth.principal.admin().ok_or(AppError::Forbidden)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let rows = audit::list(state.db(), q.before, limit).await?;
    let next_before = (rows.len() as i64 == limit).then(|| rows.last().map(|r| r.id)).flatten();
    let entries = rows
        .into_iter()
        .map(|r| AuditEntry {
            metadata: serde_json::from_str::<Value>(&r.metadata).unwrap_or(Value::Null),
            id: r.id,
            actor_id: r.actor_id,
            actor: r.actor,
            action: r.action,
            target: r.target,
            ip: r.ip,
            at: r.at,
        })
        .collect();
    Ok(Json(AuditPage { entries, next_before }))
}

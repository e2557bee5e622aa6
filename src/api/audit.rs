//! Audit log API (admins only).

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::audit;
use crate::auth::extract::ApiAuth;
use crate::error::{AppError, AppResult};

/// Paging: newest first; `before` is the last id of the previous page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/v1/audit`.
pub async fn audit_get(
    State(state): State<AppState>,
    auth: ApiAuth,
    Query(q): Query<AuditQuery>,
) -> AppResult<Json<Value>> {
    auth.principal.admin().ok_or(AppError::Forbidden)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let rows = audit::list(state.db(), q.before, limit).await?;
    let entries: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "actor_id": r.actor_id, "actor": r.actor, "action": r.action, "target": r.target,
                "ip": r.ip, "metadata": serde_json::from_str::<Value>(&r.metadata).unwrap_or(Value::Null), "at": r.at,
            })
        })
        .collect();
    let next = (rows.len() as i64 == limit).then(|| rows.last().map(|r| r.id)).flatten();
    Ok(Json(json!({ "entries": entries, "next_before": next })))
}

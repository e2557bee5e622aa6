//! Pending actions over the API: list them, approve or reject one (supervisors and
//! admins).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ClientIp};
use crate::calls::actions::{self, PendingAction};
use crate::error::{AppError, AppResult};

/// An action as the API shows it (parameters as JSON, not text).
pub fn action_json(a: &PendingAction) -> Value {
    json!({
        "id": a.id, "call_id": a.call_id, "customer_id": a.customer_id, "customer_name": a.customer_name,
        "tool": a.tool, "params": a.params_json(), "requested_at": a.requested_at,
        "status": a.decision.as_deref().unwrap_or("pending"), "decided_by": a.decided_by_name,
        "decided_at": a.decided_at,
        "result": a.result.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok()),
    })
}

/// `GET /api/v1/pending-actions` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `pending` (the default) or `all`.
    #[serde(default)]
    status: Option<String>,
}

/// `GET /api/v1/pending-actions`: waiting actions (`?status=all` adds recent decisions).
pub async fn actions_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<Value>> {
    let open_only = match q.status.as_deref() {
        None | Some("pending") => true,
        Some("all") => false,
        Some(_) => return Err(AppError::BadRequest("status must be pending or all".into())),
    };
    let list = actions::list(state.db(), open_only).await?;
    Ok(Json(json!({ "actions": list.iter().map(action_json).collect::<Vec<_>>() })))
}

/// `POST /api/v1/pending-actions/{id}/approve`: executes the stored parameters once.
pub async fn approve_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Json<Value>> {
    let cap = auth.principal.approver().ok_or(AppError::Forbidden)?;
    let action = actions::approve(&state, &cap, id, ip).await?;
    Ok(Json(action_json(&action)))
}

/// `POST /api/v1/pending-actions/{id}/reject`.
pub async fn reject_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Json<Value>> {
    let cap = auth.principal.approver().ok_or(AppError::Forbidden)?;
    let action = actions::reject(&state, &cap, id, ip).await?;
    Ok(Json(action_json(&action)))
}

//! Pending actions over the API: list them, approve or reject one (supervisors and
//! admins).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ClientIp};
use crate::calls::actions::{self, PendingAction};
use crate::db::Timestamp;
use crate::error::{AppError, AppResult, ErrorBody};

use super::ApiJsonOptional;

/// An action as the API shows it (parameters as JSON, not text).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionView {
    /// Id.
    pub id: i64,
    /// The call it came from.
    pub call_id: Option<i64>,
    /// The customer it concerns.
    pub customer_id: i64,
    /// The customer's name.
    pub customer_name: String,
    /// What to do (`register_payment`).
    pub tool: String,
    /// The exact parameters that approval executes.
    pub params: Value,
    /// When the AI asked.
    pub requested_at: Timestamp,
    /// pending, approved or rejected.
    pub status: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<Timestamp>,
    /// What the execution produced, after approval.
    pub result: Option<Value>,
}

impl From<&PendingAction> for ActionView {
    fn from(a: &PendingAction) -> Self {
        Self {
            id: a.id,
            call_id: a.call_id,
            customer_id: a.customer_id,
            customer_name: a.customer_name.clone(),
            tool: a.tool.clone(),
            params: a.params_json(),
            requested_at: a.requested_at,
            status: a.decision.clone().unwrap_or_else(|| "pending".into()),
            decided_by: a.decided_by_name.clone(),
            decided_at: a.decided_at,
            result: a.result.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok()),
        }
    }
}

/// `GET /api/v1/pending-actions` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `pending` (the default) or `all` (adds recent decisions).
    #[serde(default)]
    #[param(pattern = "^(pending|all)$")]
    status: Option<String>,
}

/// `GET /api/v1/pending-actions` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionList {
    /// Newest first.
    pub actions: Vec<ActionView>,
}

/// `GET /api/v1/pending-actions`: waiting actions (`?status=all` adds recent decisions).
#[utoipa::path(
    get, path = "/api/v1/pending-actions", tag = "pending-actions",
    summary = "Actions the AI asked a person to approve (any staff role)",
    params(ListQuery),
    responses(
        (status = 200, description = "The actions", body = ActionList),
        (status = 400, description = "Unknown status", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn actions_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<ActionList>> {
    let open_only = match q.status.as_deref() {
        None | Some("pending") => true,
        Some("all") => false,
        Some(_) => return Err(AppError::BadRequest("status must be pending or all".into())),
    };
    let list = actions::list(state.db(), open_only).await?;
    Ok(Json(ActionList { actions: list.iter().map(ActionView::from).collect() }))
}

/// What an approval may say; the body may be left out.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// For a payment the customer made in another currency (its `params.currency`):
    /// the amount in euros that reached the account (`"31.20"`). Required for those,
    /// refused for any other action.
    #[serde(default)]
    pub amount_eur: Option<String>,
}

/// `POST /api/v1/pending-actions/{id}/approve`: executes the stored parameters once.
#[utoipa::path(
    post, path = "/api/v1/pending-actions/{id}/approve", tag = "pending-actions",
    summary = "Approve: executes the stored parameters exactly once (supervisors and admins)",
    params(("id" = i64, Path, description = "Action id")),
    request_body(content = Option<ApproveBody>, description = "Optional; `amount_eur` for a payment made in another currency"),
    responses(
        (status = 200, description = "The decided action with its result", body = ActionView),
        (status = 422, description = "A payment made in another currency without `amount_eur`, or `amount_eur` where none applies", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Below supervisor", body = ErrorBody),
        (status = 404, description = "No such action", body = ErrorBody),
        (status = 409, description = "Already decided, or its parameters are no longer valid", body = ErrorBody),
    )
)]
pub async fn approve_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    ApiJsonOptional(body): ApiJsonOptional<ApproveBody>,
) -> AppResult<Json<ActionView>> {
    let cap = auth.principal.approver().ok_or(AppError::Forbidden)?;
    let amount_eur = body.as_ref().and_then(|b| b.amount_eur.as_deref());
    let action = actions::approve(&state, &cap, id, amount_eur, ip).await?;
    Ok(Json(ActionView::from(&action)))
}

/// `POST /api/v1/pending-actions/{id}/reject`.
#[utoipa::path(
    post, path = "/api/v1/pending-actions/{id}/reject", tag = "pending-actions",
    summary = "Reject: nothing is executed (supervisors and admins)",
    params(("id" = i64, Path, description = "Action id")),
    responses(
        (status = 200, description = "The decided action", body = ActionView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Below supervisor", body = ErrorBody),
        (status = 404, description = "No such action", body = ErrorBody),
        (status = 409, description = "Already decided", body = ErrorBody),
    )
)]
pub async fn reject_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Json<ActionView>> {
    let cap = auth.principal.approver().ok_or(AppError::Forbidden)?;
    let action = actions::reject(&state, &cap, id, ip).await?;
    Ok(Json(ActionView::from(&action)))
}

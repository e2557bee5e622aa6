//! The staff assistant over the API: ask (any signed-in staff member; tools follow the
//! caller's role), and confirm or cancel a payment it prepared (the same supervisor or
//! admin who asked).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::app::AppState;
use crate::assistant::{self, Answer, Confirmed, actions};
use crate::auth::extract::{ApiAuth, ClientIp};
use crate::error::{AppError, AppResult, ErrorBody};

/// `POST /api/v1/assistant` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskBody {
    /// The request, in Spanish or English (1 to 2000 characters).
    pub message: String,
}

/// `POST /api/v1/assistant`: the reply, the tools used and any payment waiting for
/// the caller's confirmation.
#[utoipa::path(
    post, path = "/api/v1/assistant", tag = "assistant", summary = "Ask the staff assistant (tools follow the caller's role)",
    request_body = AskBody,
    responses(
        (status = 200, description = "The reply, the tools used and any payment awaiting confirmation", body = Answer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "Empty or too long message (`fields`)", body = ErrorBody),
    )
)]
pub async fn assistant_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<AskBody>,
) -> AppResult<Json<Answer>> {
    Ok(Json(assistant::ask(&state, &auth.principal, ip, &body.message, None).await?))
}

/// `POST /api/v1/assistant/confirm/{id}`: registers the prepared payment, bound to
/// its stored customer and amount (no body is read).
#[utoipa::path(
    post, path = "/api/v1/assistant/confirm/{id}", tag = "assistant", summary = "Confirm a payment the assistant prepared (the supervisor or admin who asked)",
    params(("id" = i64, Path, description = "Assistant action id")),
    responses(
        (status = 200, description = "The payment registered", body = Confirmed),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 404, description = "No such action of the caller's", body = ErrorBody),
        (status = 409, description = "Already decided, expired or no longer valid", body = ErrorBody),
    )
)]
pub async fn confirm_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Json<Confirmed>> {
    let cap = auth.principal.approver().ok_or(AppError::Forbidden)?;
    Ok(Json(actions::confirm(&state, &cap, id, ip).await?))
}

/// `POST /api/v1/assistant/cancel/{id}` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Cancelled {
    /// The action.
    pub id: i64,
    /// Always `cancelled`.
    pub status: &'static str,
}

/// `POST /api/v1/assistant/cancel/{id}`: drops the prepared payment.
#[utoipa::path(
    post, path = "/api/v1/assistant/cancel/{id}", tag = "assistant", summary = "Cancel a payment the assistant prepared (the supervisor or admin who asked)",
    params(("id" = i64, Path, description = "Assistant action id")),
    responses(
        (status = 200, description = "Cancelled", body = Cancelled),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 404, description = "No such action of the caller's", body = ErrorBody),
        (status = 409, description = "Already decided or expired", body = ErrorBody),
    )
)]
pub async fn cancel_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Json<Cancelled>> {
    let cap = auth.principal.approver().ok_or(AppError::Forbidden)?;
    actions::cancel(state.db(), cap.actor(), id, ip).await?;
    Ok(Json(Cancelled { id, status: "cancelled" }))
}

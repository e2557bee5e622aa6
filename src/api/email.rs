//! Emails over the API, mirroring the email manager: list, read one (with its parts
//! and attempts), write one (a summary is written by the supervisor agent), and
//! confirm, decline or retry.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ApiWorker, ClientIp};
use crate::email::{self, EmailStatus, compose, email_json};
use crate::error::{AppError, AppResult};

/// `GET /api/v1/emails` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    call_id: Option<i64>,
    #[serde(default)]
    customer_id: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /api/v1/emails`: newest first, by status, call and customer.
pub async fn emails_get(
    State(state): State<AppState>,
    auth: ApiAuth,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<Value>> {
    auth.principal.agent().ok_or(AppError::Forbidden)?;
    if let Some(s) = &q.status
        && EmailStatus::parse(s).is_none()
    {
        return Err(AppError::BadRequest(format!(
            "status must be one of {}",
            EmailStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::BadRequest("limit must be from 1 to 500".into()));
    }
    let filter = email::Filter { status: q.status, call_id: q.call_id, customer_id: q.customer_id };
    let list = email::list(state.db(), &filter, limit).await?;
    Ok(Json(json!({ "emails": list.iter().map(email_json).collect::<Vec<_>>() })))
}

/// `GET /api/v1/emails/{id}`: one email with its HTML and text parts and attempts.
pub async fn email_get(State(state): State<AppState>, auth: ApiAuth, Path(id): Path<i64>) -> AppResult<Json<Value>> {
    auth.principal.agent().ok_or(AppError::Forbidden)?;
    let email = email::get(state.db(), id).await?;
    let (html, text) = email::bodies(state.db(), id).await?;
    let attempts = email::attempts(state.db(), id).await?;
    let mut body = email_json(&email);
    body["html"] = json!(html);
    body["text"] = json!(text);
    body["attempt_log"] = json!(attempts);
    Ok(Json(body))
}

/// `POST /api/v1/emails`: 201 with the new email, or 200 with the existing one when
/// the dedupe key (a call's summary, or the client's `dedupe_key`) was seen before.
pub async fn emails_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    ClientIp(ip): ClientIp,
    ApiJson(request): ApiJson<compose::Request>,
) -> AppResult<Response> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let checked = compose::check(&state, &request).await?;
    let (email, created) = compose::submit(&state, &cap, &request, checked, ip).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(email_json(&email))).into_response())
}

/// `POST /api/v1/emails/{id}/{confirm|decline|retry}`: the customer confirmed a waiting
/// email (queued, recorded with the caller's name), or declined it; or a failed email
/// goes back in the queue. 409 when the email is not in the state the action needs.
pub async fn action_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path((id, action)): Path<(i64, String)>,
) -> AppResult<Json<Value>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    Ok(Json(email_json(&compose::act(&state, &cap, id, &action, ip).await?)))
}

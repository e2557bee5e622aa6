//! Emails over the API, mirroring the email manager: list, read one (with its parts
//! and attempts), write one (a summary is written by the supervisor agent), and
//! confirm, decline or retry.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ApiJson;
use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ApiWorker, ClientIp};
use crate::db::Timestamp;
use crate::email::{self, Attempt, Email, EmailStatus, compose};
use crate::error::{AppError, AppResult, ErrorBody};

/// An email as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmailView {
    /// Id.
    pub id: i64,
    /// summary, information or follow_up.
    pub kind: String,
    /// The call it is about.
    pub call_id: Option<i64>,
    /// The customer it goes to.
    pub customer_id: i64,
    /// The customer's name.
    pub customer_name: String,
    /// es or en.
    pub language: String,
    /// Recipient: the customer's address on file when it was written.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// waiting_confirmation, queued, sending, retrying, sent, failed or declined.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Attempts allowed before it is marked failed.
    pub max_attempts: i64,
    /// When the next attempt is due.
    pub next_attempt_at: Option<Timestamp>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// The Message-ID header every attempt uses.
    pub message_id: String,
    /// Who wrote it (none when the customer asked on the call page).
    pub created_by: Option<String>,
    /// Written.
    pub created_at: Timestamp,
    /// When the customer's confirmation was recorded.
    pub confirmed_by_customer_at: Option<Timestamp>,
    /// customer or staff.
    pub confirmed_via: Option<String>,
    /// The staff member who recorded the confirmation.
    pub confirmed_by: Option<String>,
    /// Delivered.
    pub sent_at: Option<Timestamp>,
    /// What it says, by kind (`{"kind": "summary", ...}`, `{"kind": "information", "topic", "body"}`).
    pub content: Option<Value>,
}

impl From<&Email> for EmailView {
    fn from(e: &Email) -> Self {
        Self {
            id: e.id,
            kind: e.kind.clone(),
            call_id: e.call_id,
            customer_id: e.customer_id,
            customer_name: e.customer_name.clone(),
            language: e.language.clone(),
            to: e.to_address.clone(),
            subject: e.subject.clone(),
            status: e.shown_status().to_owned(),
            attempts: e.attempts,
            max_attempts: e.max_attempts,
            next_attempt_at: e.next_attempt_at,
            last_error: e.last_error.clone(),
            message_id: e.message_id.clone(),
            created_by: e.created_by_name.clone(),
            created_at: e.created_at,
            confirmed_by_customer_at: e.confirmed_by_customer_at,
            confirmed_via: e.confirmed_via.clone(),
            confirmed_by: e.confirmed_by_name.clone(),
            sent_at: e.sent_at,
            content: e.content().and_then(|c| serde_json::to_value(c).ok()),
        }
    }
}

/// One email with its parts and delivery attempts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmailDetail {
    /// The email.
    #[serde(flatten)]
    pub email: EmailView,
    /// The HTML part.
    pub html: String,
    /// The plain-text part.
    pub text: String,
    /// Delivery attempts, oldest first.
    pub attempt_log: Vec<Attempt>,
}

/// `GET /api/v1/emails` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmailList {
    /// Newest first.
    pub emails: Vec<EmailView>,
}

/// `GET /api/v1/emails` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// waiting_confirmation, queued, retrying, sent, failed or declined.
    #[serde(default)]
    status: Option<String>,
    /// Emails about this call.
    #[serde(default)]
    call_id: Option<i64>,
    /// Emails to this customer.
    #[serde(default)]
    customer_id: Option<i64>,
    /// At most this many, 1–500 (100 by default).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /api/v1/emails`: newest first, by status, call and customer.
#[utoipa::path(
    get, path = "/api/v1/emails", tag = "emails", summary = "Emails, newest first (agents and up)",
    params(ListQuery),
    responses(
        (status = 200, description = "The emails", body = EmailList),
        (status = 400, description = "Unknown status or a limit outside 1–500", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer", body = ErrorBody),
    )
)]
pub async fn emails_get(
    State(state): State<AppState>,
    auth: ApiAuth,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<EmailList>> {
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
    Ok(Json(EmailList { emails: list.iter().map(EmailView::from).collect() }))
}

/// `GET /api/v1/emails/{id}`: one email with its HTML and text parts and attempts.
#[utoipa::path(
    get, path = "/api/v1/emails/{id}", tag = "emails", summary = "One email with its parts and attempts (agents and up)",
    params(("id" = i64, Path, description = "Email id")),
    responses(
        (status = 200, description = "The email", body = EmailDetail),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer", body = ErrorBody),
        (status = 404, description = "No such email", body = ErrorBody),
    )
)]
pub async fn email_get(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> AppResult<Json<EmailDetail>> {
    auth.principal.agent().ok_or(AppError::Forbidden)?;
    let email = email::get(state.db(), id).await?;
    let (html, text) = email::bodies(state.db(), id).await?;
    let attempt_log = email::attempts(state.db(), id).await?;
    Ok(Json(EmailDetail { email: EmailView::from(&email), html, text, attempt_log }))
}

/// `POST /api/v1/emails`: 201 with the new email, or 200 with the existing one when
/// the dedupe key (a call's summary, or the client's `dedupe_key`) was seen before.
#[utoipa::path(
    post, path = "/api/v1/emails", tag = "emails",
    summary = "Write an email to a customer's address on file (a summary is written by the supervisor agent)",
    request_body = compose::Request,
    responses(
        (status = 201, description = "Written (queued when the customer confirmed, else waiting for them)", body = EmailView),
        (status = 200, description = "Asked before (same call summary or `dedupe_key`): the existing email", body = EmailView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer, or a temporary password not yet changed", body = ErrorBody),
        (status = 404, description = "No such call or customer", body = ErrorBody),
        (status = 409, description = "The call has no customer to write to", body = ErrorBody),
        (status = 422, description = "Invalid fields (`fields`)", body = ErrorBody),
    )
)]
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
    Ok((status, Json(EmailView::from(&email))).into_response())
}

/// `POST /api/v1/emails/{id}/{confirm|decline|retry}`: the customer confirmed a waiting
/// email (queued, recorded with the caller's name), or declined it; or a failed email
/// goes back in the queue. 409 when the email is not in the state the action needs.
#[utoipa::path(
    post, path = "/api/v1/emails/{id}/{action}", tag = "emails",
    summary = "Confirm or decline a waiting email for the customer, or retry a failed one (agents and up)",
    params(
        ("id" = i64, Path, description = "Email id"),
        ("action" = String, Path, description = "confirm, decline or retry", pattern = "^(confirm|decline|retry)$"),
    ),
    responses(
        (status = 200, description = "The email as it is now", body = EmailView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer", body = ErrorBody),
        (status = 404, description = "No such email or action", body = ErrorBody),
        (status = 409, description = "Not waiting for confirmation (confirm, decline) or not failed (retry)", body = ErrorBody),
    )
)]
pub async fn action_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path((id, action)): Path<(i64, String)>,
) -> AppResult<Json<EmailView>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    Ok(Json(EmailView::from(&compose::act(&state, &cap, id, &action, ip).await?)))
}

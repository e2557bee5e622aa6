//! Written inquiries over the API: the public `POST` a visitor sends (no login, limited
//! per client address, answered `202` before any model runs), and staff's list, detail,
//! change and reply. Any staff member reads; agents, supervisors and admins act
//! (viewers get 403 before the body is read).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ApiWorker, ClientIp, limit_key};
use crate::channels::inquiries::staff::{self, InquiryChange};
use crate::channels::inquiries::{self, Inquiry, InquiryInput, ListQuery};
use crate::db::paging::Page;
use crate::email::Email;
use crate::error::{AppError, AppResult, ErrorBody};

/// `POST /api/v1/inquiries` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// The inquiry's id.
    pub id: i64,
    /// Always `pending`: it is classified in the background.
    pub status: &'static str,
}

/// `PATCH /api/v1/inquiries/{id}` body; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchInquiry {
    /// A corrected category (snake_case).
    #[serde(default)]
    pub category: Option<String>,
    /// `pending` (classify again), `classified` (reopen a closed one) or `closed`.
    #[serde(default)]
    pub status: Option<String>,
    /// A user id, or `null` to unassign.
    #[serde(default, deserialize_with = "crate::input::present")]
    pub assigned_to: Option<Option<i64>>,
}

/// `POST /api/v1/inquiries/{id}/reply` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// The answer: the suggested reply as is or edited (1–10,000 characters).
    pub text: String,
}

/// `POST /api/v1/inquiries/{id}/reply` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Replied {
    /// The inquiry, now `replied`.
    pub inquiry: Inquiry,
    /// The outbox email carrying the answer.
    pub email_id: i64,
    /// Its delivery status (`queued` until the worker sends it).
    pub email_status: String,
}

impl Replied {
    fn new(inquiry: Inquiry, email: &Email) -> Self {
        Self { inquiry, email_id: email.id, email_status: email.status.as_str().to_owned() }
    }
}

/// `POST /api/v1/inquiries`: stores the inquiry, queues its classification and
/// answers at once.
#[utoipa::path(
    post, path = "/api/v1/inquiries", tag = "inquiries", security(()),
    summary = "Leave a written inquiry (public, no login; limited per client address)",
    request_body = InquiryInput,
    responses(
        (status = 202, description = "Stored; classified in the background", body = Accepted),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields (`fields`: name, email, subject, message)", body = ErrorBody),
        (status = 429, description = "Too many inquiries from this address (`Retry-After`)", body = ErrorBody),
    )
)]
pub async fn inquiries_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<InquiryInput>,
) -> AppResult<(StatusCode, Json<Accepted>)> {
    let checked = body.parse().map_err(AppError::Validation)?;
    // Counted once the inquiry is valid: fixing a typo is not an attempt.
    state.public_limits().inquiries.hit(&limit_key(ip.as_deref().unwrap_or("unknown")))?;
    let id = inquiries::submit(&state, &checked, ip).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { id, status: "pending" })))
}

/// `GET /api/v1/inquiries`: filtered, newest first, paged.
#[utoipa::path(
    get, path = "/api/v1/inquiries", tag = "inquiries", summary = "Inquiries, filtered and paged, newest first (any staff role)",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of inquiries", body = Page<Inquiry>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "A bad filter or paging value (`fields`)", body = ErrorBody),
    )
)]
pub async fn inquiries_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<Page<Inquiry>>> {
    let (filter, paging) = q.parse()?;
    Ok(Json(inquiries::list(state.db(), &filter, paging).await?))
}

/// `GET /api/v1/inquiries/{id}`.
#[utoipa::path(
    get, path = "/api/v1/inquiries/{id}", tag = "inquiries", summary = "One inquiry with its classification, suggested reply and job state",
    params(("id" = i64, Path, description = "Inquiry id")),
    responses(
        (status = 200, description = "The inquiry", body = Inquiry),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such inquiry", body = ErrorBody),
    )
)]
pub async fn inquiry_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Path(id): Path<i64>,
) -> AppResult<Json<Inquiry>> {
    Ok(Json(inquiries::get(state.db(), id).await?))
}

/// `PATCH /api/v1/inquiries/{id}`.
#[utoipa::path(
    patch, path = "/api/v1/inquiries/{id}", tag = "inquiries", summary = "Change category, status or assignee (agents and up; audited)",
    params(("id" = i64, Path, description = "Inquiry id")),
    request_body = PatchInquiry,
    responses(
        (status = 200, description = "The inquiry after the change", body = Inquiry),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A viewer", body = ErrorBody),
        (status = 404, description = "No such inquiry", body = ErrorBody),
        (status = 409, description = "Not possible in the inquiry's state (`inquiry_state`)", body = ErrorBody),
        (status = 422, description = "Invalid fields (`fields`)", body = ErrorBody),
    )
)]
pub async fn inquiry_patch(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<PatchInquiry>,
) -> AppResult<Json<Inquiry>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let change = InquiryChange::parse(body.category.as_deref(), body.status.as_deref(), body.assigned_to)
        .map_err(AppError::Validation)?;
    Ok(Json(staff::update(&state, &cap, id, &change, ip).await?))
}

/// `POST /api/v1/inquiries/{id}/reply`: the answer goes out through the email outbox.
#[utoipa::path(
    post, path = "/api/v1/inquiries/{id}/reply", tag = "inquiries",
    summary = "Send the (accepted or edited) reply by email to the inquirer (agents and up; audited)",
    params(("id" = i64, Path, description = "Inquiry id")),
    request_body = ReplyRequest,
    responses(
        (status = 202, description = "Queued in the email outbox", body = Replied),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A viewer", body = ErrorBody),
        (status = 404, description = "No such inquiry", body = ErrorBody),
        (status = 422, description = "Empty or too long text (`fields`)", body = ErrorBody),
    )
)]
pub async fn reply_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<ReplyRequest>,
) -> AppResult<(StatusCode, Json<Replied>)> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let (inquiry, email) = staff::reply(&state, &cap, id, &body.text, ip).await?;
    Ok((StatusCode::ACCEPTED, Json(Replied::new(inquiry, &email))))
}

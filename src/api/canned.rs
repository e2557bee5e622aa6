//! Canned responses over the API (read by anyone who works calls, written by
//! supervisors and admins), the responses filled in for a call, and the suggested reply
//! for the person holding a call.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::agents::Department;
use crate::app::AppState;
use crate::auth::extract::{ApiOverseer, ApiWorker, ClientIp};
use crate::calls::canned::{self, CannedForm, CannedResponse, Filter, Rendered};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::i18n::Lang;

/// `?department=&language=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CannedQuery {
    /// Only responses usable in this department (its own and those for every one).
    #[serde(default)]
    department: Option<String>,
    /// Only responses in this language (`es` or `en`).
    #[serde(default)]
    language: Option<String>,
}

impl CannedQuery {
    /// The filter, or 422 naming the parameter.
    pub fn filter(&self) -> AppResult<Filter> {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let department = match given(&self.department) {
            None => None,
            Some(d) => Some(
                Department::parse(&d)
                    .ok_or(AppError::InvalidParam { name: "department", message_key: "field.department_invalid" })?,
            ),
        };
        let language = match given(&self.language).as_deref() {
            None => None,
            Some("es") => Some(Lang::Es),
            Some("en") => Some(Lang::En),
            Some(_) => {
                return Err(AppError::InvalidParam { name: "language", message_key: "field.language_invalid" });
            }
        };
        Ok(Filter { language, department })
    }
}

/// `GET /api/v1/canned-responses` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CannedList {
    items: Vec<CannedResponse>,
}

/// `GET /api/v1/canned-responses`.
#[utoipa::path(
    get, path = "/api/v1/canned-responses", tag = "canned-responses",
    summary = "Canned responses, by language and shortcut (agents and up)",
    params(CannedQuery),
    responses(
        (status = 200, description = "The responses", body = CannedList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer", body = ErrorBody),
        (status = 422, description = "Unknown department or language", body = ErrorBody),
    )
)]
pub async fn list_get(
    State(state): State<AppState>,
    _auth: ApiWorker,
    Query(q): Query<CannedQuery>,
) -> AppResult<Json<CannedList>> {
    let items = canned::list(state.db(), q.filter()?).await?;
    Ok(Json(CannedList { items }))
}

/// `POST /api/v1/canned-responses`.
#[utoipa::path(
    post, path = "/api/v1/canned-responses", tag = "canned-responses",
    summary = "Create a canned response (supervisors and admins)",
    request_body = CannedForm,
    responses(
        (status = 201, description = "Created", body = CannedResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 409, description = "The shortcut is taken in that language", body = ErrorBody),
        (status = 422, description = "Invalid fields, unknown variables included (`fields`)", body = ErrorBody),
    )
)]
pub async fn create_post(
    State(state): State<AppState>,
    ApiOverseer(auth): ApiOverseer,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<CannedForm>,
) -> AppResult<(StatusCode, Json<CannedResponse>)> {
    let cap = auth.principal.canned().ok_or(AppError::Forbidden)?;
    let change = body.parse(true).map_err(AppError::Validation)?;
    let created = canned::create(state.db(), &cap, &change, ip).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/v1/canned-responses/{id}`.
#[utoipa::path(
    get, path = "/api/v1/canned-responses/{id}", tag = "canned-responses",
    summary = "A canned response (agents and up)",
    params(("id" = i64, Path, description = "Canned response id")),
    responses(
        (status = 200, description = "The response", body = CannedResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer", body = ErrorBody),
        (status = 404, description = "No such response", body = ErrorBody),
    )
)]
pub async fn one_get(
    State(state): State<AppState>,
    _auth: ApiWorker,
    Path(id): Path<i64>,
) -> AppResult<Json<CannedResponse>> {
    Ok(Json(canned::get(state.db(), id).await?))
}

/// `PATCH /api/v1/canned-responses/{id}`.
#[utoipa::path(
    patch, path = "/api/v1/canned-responses/{id}", tag = "canned-responses",
    summary = "Change a canned response (supervisors and admins)",
    params(("id" = i64, Path, description = "Canned response id")),
    request_body = CannedForm,
    responses(
        (status = 200, description = "The changed response", body = CannedResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 404, description = "No such response", body = ErrorBody),
        (status = 409, description = "The shortcut is taken in that language", body = ErrorBody),
        (status = 422, description = "Invalid fields (`fields`)", body = ErrorBody),
    )
)]
pub async fn update_patch(
    State(state): State<AppState>,
    ApiOverseer(auth): ApiOverseer,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<CannedForm>,
) -> AppResult<Json<CannedResponse>> {
    let cap = auth.principal.canned().ok_or(AppError::Forbidden)?;
    let change = body.parse(false).map_err(AppError::Validation)?;
    Ok(Json(canned::update(state.db(), &cap, id, &change, ip).await?))
}

/// `DELETE /api/v1/canned-responses/{id}`.
#[utoipa::path(
    delete, path = "/api/v1/canned-responses/{id}", tag = "canned-responses",
    summary = "Delete a canned response (supervisors and admins)",
    params(("id" = i64, Path, description = "Canned response id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 404, description = "No such response", body = ErrorBody),
    )
)]
pub async fn delete_delete(
    State(state): State<AppState>,
    ApiOverseer(auth): ApiOverseer,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let cap = auth.principal.canned().ok_or(AppError::Forbidden)?;
    canned::delete(state.db(), &cap, id, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/calls/{id}/canned-responses` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallCanned {
    call_id: i64,
    /// The call's language (the responses offered are in it).
    language: Lang,
    items: Vec<Rendered>,
}

/// `GET /api/v1/calls/{id}/canned-responses`.
#[utoipa::path(
    get, path = "/api/v1/calls/{id}/canned-responses", tag = "canned-responses",
    summary = "The canned responses of the call's language and department, filled in from its customer (agents and up)",
    params(("id" = i64, Path, description = "Call id")),
    responses(
        (status = 200, description = "The responses with their text filled in", body = CallCanned),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
    )
)]
pub async fn call_canned_get(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    Path(id): Path<i64>,
) -> AppResult<Json<CallCanned>> {
    let call = crate::calls::get(state.db(), id).await?;
    let items = canned::for_call(state.db(), &call, &auth.principal).await?;
    let language = call.language.as_deref().and_then(Lang::parse).unwrap_or_default();
    Ok(Json(CallCanned { call_id: id, language, items }))
}

/// `GET /api/v1/calls/{id}/suggested-reply` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuggestedReply {
    call_id: i64,
    /// The draft, for the person to edit and send (nothing was sent or stored).
    text: String,
    /// Its language (the customer's).
    language: Lang,
    /// The read-only tools the agent used.
    tools: Vec<String>,
}

/// `GET /api/v1/calls/{id}/suggested-reply`.
#[utoipa::path(
    get, path = "/api/v1/calls/{id}/suggested-reply", tag = "calls",
    summary = "A reply to the customer's last message drafted by the customer-service agent, for the person holding the call",
    params(("id" = i64, Path, description = "Call id")),
    responses(
        (status = 200, description = "The draft (not sent, not stored)", body = SuggestedReply),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 409, description = "The caller does not hold the call (`call_held` names who does), it is closed, or the customer has said nothing yet", body = ErrorBody),
    )
)]
pub async fn suggested_reply_get(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    Path(id): Path<i64>,
) -> AppResult<Json<SuggestedReply>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let draft = crate::calls::draft::suggest(&state, &cap, id).await?;
    Ok(Json(SuggestedReply { call_id: id, text: draft.text, language: draft.language, tools: draft.tools }))
}

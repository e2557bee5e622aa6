//! Call history and teamwork over the API: the filtered, paged calls list, corrections
//! of a call's classification, transfers and internal notes.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ApiWorker};
use crate::calls::history::{self, HistoryQuery, HistoryRow};
use crate::calls::team::{self, Note, TransferInput};
use crate::calls::{Call, correct};
use crate::db::paging::Page;
use crate::error::{AppError, AppResult, ErrorBody};

/// `GET /api/v1/calls`: calls matching the filters, newest first, one page with the
/// total. Bad filter values are 422 naming the field.
#[utoipa::path(
    get, path = "/api/v1/calls", tag = "calls", summary = "Call history, filtered and paged, newest first",
    params(HistoryQuery),
    responses(
        (status = 200, description = "A page of calls", body = Page<HistoryRow>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "A bad filter, date or paging value", body = ErrorBody),
    )
)]
pub async fn calls_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Query(q): Query<HistoryQuery>,
) -> AppResult<Json<Page<HistoryRow>>> {
    let (filter, paging) = q.parse(&state.config().timezone)?;
    Ok(Json(history::list(state.db(), &filter, paging).await?))
}

/// A call after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallOut {
    /// The call as it now is.
    pub call: Call,
}

/// `PATCH /api/v1/calls/{id}`: corrects the classification (agents and up).
#[utoipa::path(
    patch, path = "/api/v1/calls/{id}", tag = "calls", summary = "Correct a call's classification (agents and up)",
    params(("id" = i64, Path, description = "Call id")),
    request_body = correct::CorrectionInput,
    responses(
        (status = 200, description = "The corrected call", body = CallOut),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A viewer", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 422, description = "Invalid fields (`fields`)", body = ErrorBody),
    )
)]
pub async fn call_patch(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<correct::CorrectionInput>,
) -> AppResult<Json<CallOut>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let c = correct::parse(&body)?;
    let call = correct::correct(&state, &cap, id, &c).await?;
    Ok(Json(CallOut { call }))
}

/// `POST /api/v1/calls/{id}/transfer`: to a department and/or a person, with a reason.
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/transfer", tag = "calls", summary = "Transfer a call to a department and/or a person (agents and up)",
    params(("id" = i64, Path, description = "Call id")),
    request_body = TransferInput,
    responses(
        (status = 200, description = "The transferred call", body = CallOut),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A viewer", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 409, description = "The call is closed or held by someone else", body = ErrorBody),
        (status = 422, description = "Invalid fields (`fields`)", body = ErrorBody),
    )
)]
pub async fn transfer_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<TransferInput>,
) -> AppResult<Json<CallOut>> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let t = body.parse()?;
    let call = team::transfer(&state, &cap, id, &t).await?;
    Ok(Json(CallOut { call }))
}

/// `POST /api/v1/calls/{id}/notes` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// The note (staff only).
    #[serde(default)]
    pub text: String,
}

/// `POST /api/v1/calls/{id}/notes`: an internal note, for staff only (201 with the note).
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/notes", tag = "calls", summary = "Add an internal note to a call (agents and up)",
    params(("id" = i64, Path, description = "Call id")),
    request_body = NoteInput,
    responses(
        (status = 201, description = "The note", body = Note),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A viewer", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 422, description = "Empty or too long (`fields`)", body = ErrorBody),
    )
)]
pub async fn notes_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<NoteInput>,
) -> AppResult<(StatusCode, Json<Note>)> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let note_id = team::add_note(&state, &cap, id, &body.text).await?;
    let note = team::notes(state.db(), id).await?.into_iter().find(|n| n.id == note_id).ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(note)))
}

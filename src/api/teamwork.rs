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
use crate::error::{AppError, AppResult};

/// `GET /api/v1/calls`: calls matching the filters, newest first, one page with the
/// total. Bad filter values are 422 naming the field.
pub async fn calls_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Query(q): Query<HistoryQuery>,
) -> AppResult<Json<Page<HistoryRow>>> {
    let (filter, paging) = q.parse(&state.config().timezone)?;
    Ok(Json(history::list(state.db(), &filter, paging).await?))
}

/// A call after a change.
#[derive(Debug, Serialize)]
pub struct CallOut {
    /// The call as it now is.
    pub call: Call,
}

/// `PATCH /api/v1/calls/{id}`: corrects the classification (agents and up).
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// The note (staff only).
    #[serde(default)]
    pub text: String,
}

/// `POST /api/v1/calls/{id}/notes`: an internal note, for staff only (201 with the note).
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

//! WhatsApp message templates over the API: read by every staff role, written by
//! supervisors and admins, previewed by anyone, and sent by the person holding a
//! WhatsApp call (also once the 24-hour window has closed: that is what they are for).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ApiOverseer, ApiWorker, ClientIp};
use crate::channels::whatsapp::templates::{self, Preview, SendTemplate, Sent, Template, TemplateForm};
use crate::error::{AppError, AppResult, ErrorBody};

/// `GET /api/v1/channels/whatsapp/templates` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateList {
    items: Vec<Template>,
}

/// `GET /api/v1/channels/whatsapp/templates`.
#[utoipa::path(
    get, path = "/api/v1/channels/whatsapp/templates", tag = "whatsapp",
    summary = "WhatsApp message templates, by name and language (every staff role)",
    responses(
        (status = 200, description = "The templates", body = TemplateList),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn list_get(State(state): State<AppState>, _auth: ApiAuth) -> AppResult<Json<TemplateList>> {
    Ok(Json(TemplateList { items: templates::list(state.db()).await? }))
}

/// `POST /api/v1/channels/whatsapp/templates`.
#[utoipa::path(
    post, path = "/api/v1/channels/whatsapp/templates", tag = "whatsapp",
    summary = "Add a template approved in WhatsApp Manager (supervisors and admins; Centralita does not submit it for approval)",
    request_body = TemplateForm,
    responses(
        (status = 201, description = "Created", body = Template),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 409, description = "A template with that name and language exists (for that number)", body = ErrorBody),
        (status = 422, description = "Invalid fields: name format, language code, category, variables numbered 1..n without gaps, body length (`fields`)", body = ErrorBody),
    )
)]
pub async fn create_post(
    State(state): State<AppState>,
    ApiOverseer(auth): ApiOverseer,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<TemplateForm>,
) -> AppResult<(StatusCode, Json<Template>)> {
    let cap = auth.principal.templates().ok_or(AppError::Forbidden)?;
    let change = body.parse(true).map_err(AppError::Validation)?;
    let created = templates::create(&state, &cap, &change, ip).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/v1/channels/whatsapp/templates/{id}`.
#[utoipa::path(
    get, path = "/api/v1/channels/whatsapp/templates/{id}", tag = "whatsapp",
    summary = "A WhatsApp message template (every staff role)",
    params(("id" = i64, Path, description = "Template id")),
    responses(
        (status = 200, description = "The template", body = Template),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
    )
)]
pub async fn one_get(State(state): State<AppState>, _auth: ApiAuth, Path(id): Path<i64>) -> AppResult<Json<Template>> {
    Ok(Json(templates::get(state.db(), id).await?))
}

/// `PATCH /api/v1/channels/whatsapp/templates/{id}`.
#[utoipa::path(
    patch, path = "/api/v1/channels/whatsapp/templates/{id}", tag = "whatsapp",
    summary = "Change a WhatsApp message template (supervisors and admins)",
    params(("id" = i64, Path, description = "Template id")),
    request_body = TemplateForm,
    responses(
        (status = 200, description = "The changed template", body = Template),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 409, description = "A template with that name and language exists (for that number)", body = ErrorBody),
        (status = 422, description = "Invalid fields (`fields`)", body = ErrorBody),
    )
)]
pub async fn update_patch(
    State(state): State<AppState>,
    ApiOverseer(auth): ApiOverseer,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<TemplateForm>,
) -> AppResult<Json<Template>> {
    let cap = auth.principal.templates().ok_or(AppError::Forbidden)?;
    let change = body.parse(false).map_err(AppError::Validation)?;
    Ok(Json(templates::update(&state, &cap, id, &change, ip).await?))
}

/// `DELETE /api/v1/channels/whatsapp/templates/{id}`.
#[utoipa::path(
    delete, path = "/api/v1/channels/whatsapp/templates/{id}", tag = "whatsapp",
    summary = "Delete a WhatsApp message template (supervisors and admins; messages sent with it keep their text)",
    params(("id" = i64, Path, description = "Template id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
    )
)]
pub async fn delete_delete(
    State(state): State<AppState>,
    ApiOverseer(auth): ApiOverseer,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let cap = auth.principal.templates().ok_or(AppError::Forbidden)?;
    templates::delete(state.db(), &cap, id, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/channels/whatsapp/templates/preview` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// A body to check and fill (as typed in the form); or give `template_id`.
    #[serde(default)]
    body: Option<String>,
    /// A stored template to fill.
    #[serde(default)]
    template_id: Option<i64>,
    /// Values for `{{1}}`, `{{2}}`… in order; a missing or empty one stays as `{{n}}`.
    #[serde(default)]
    variables: Vec<String>,
}

/// `POST /api/v1/channels/whatsapp/templates/preview`.
#[utoipa::path(
    post, path = "/api/v1/channels/whatsapp/templates/preview", tag = "whatsapp",
    summary = "Fill a template body (typed, or a stored template's) with values, as the customer would read it; nothing is stored or sent (every staff role)",
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "The filled text (plain text: escape it to show it)", body = Preview),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No template with that id", body = ErrorBody),
        (status = 422, description = "Neither or both of body and template_id, or the body is invalid (`fields.body`)", body = ErrorBody),
    )
)]
pub async fn preview_post(
    State(state): State<AppState>,
    _auth: ApiAuth,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> AppResult<Json<Preview>> {
    let body = match (req.body, req.template_id) {
        (Some(body), None) => body,
        (None, Some(id)) => templates::get(state.db(), id).await?.body,
        _ => return Err(AppError::Unprocessable("give either body or template_id".into())),
    };
    Ok(Json(templates::preview(&body, &req.variables).map_err(AppError::Validation)?))
}

/// `POST /api/v1/channels/whatsapp/conversations/{call_id}/send-template`.
#[utoipa::path(
    post, path = "/api/v1/channels/whatsapp/conversations/{call_id}/send-template", tag = "whatsapp",
    summary = "Send a message template in a WhatsApp call you hold, also after the 24-hour window has closed (agents and up)",
    description = "Example body: `{\"template\": \"order_update\", \"language\": \"es\", \"variables\": [\"Ana\", \"A-17\"]}` \
(`template` is a template's name or its numeric id; `language` may be left out when the name exists in one language, \
or when one of its languages is the call's). The call stores the filled body as your message; the provider receives \
`type: template` with the name, language code and one body parameter per variable, through the same durable send job \
as a reply, and its delivery status follows in the conversation.",
    params(("call_id" = i64, Path, description = "Call id")),
    request_body = SendTemplate,
    responses(
        (status = 201, description = "Stored and queued for sending", body = Sent),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer", body = ErrorBody),
        (status = 404, description = "No call with that id", body = ErrorBody),
        (status = 409, description = "Not a WhatsApp call (`call_not_whatsapp`), closed, or not held by you (`call_held` names who holds it)", body = ErrorBody),
        (status = 422, description = "Unknown template, language needed, or not exactly one value per variable (`fields`)", body = ErrorBody),
    )
)]
pub async fn send_template_post(
    State(state): State<AppState>,
    ApiWorker(auth): ApiWorker,
    Path(call_id): Path<i64>,
    ApiJson(req): ApiJson<SendTemplate>,
) -> AppResult<(StatusCode, Json<Sent>)> {
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let sent = templates::send(&state, &cap, call_id, &req).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}

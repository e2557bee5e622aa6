//! Working a call as a team from the browser: the call page's classification
//! correction, transfer and internal-note forms; starting a call for a customer from
//! the board; and the board's escalation-alert preference.

use super::form::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::calls::after_action;
use super::path::WebPath;
use super::require_ready;
use crate::agents::Department;
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::extract::{ClientIp, WebAuth};
use crate::calls::team::{self, Note, TransferInput, TransferRow};
use crate::calls::{Call, correct};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::period::Zone;

/// What the call page shows of the team's work on a call.
pub struct TeamView {
    /// Internal notes, oldest first.
    pub notes: Vec<Note>,
    /// Transfers, oldest first.
    pub transfers: Vec<TransferRow>,
    /// People a call can be put through to: id and name.
    pub people: Vec<(i64, String)>,
    /// Every department.
    pub departments: &'static [Department],
    /// Categories the built-in engine knows (suggestions for the correction form).
    pub categories: Vec<&'static str>,
    /// The routing agent's recommendations.
    pub recommendations: Vec<String>,
    /// The supervisor's quality score as a percentage.
    pub quality: Option<u32>,
    /// The team's time zone, for showing times.
    pub zone: Zone,
}

impl TeamView {
    /// Reads what the page needs for `call`.
    pub async fn load(state: &AppState, me: &Principal, call: &Call) -> AppResult<Self> {
        let people = if me.agent().is_some() {
            crate::users::list(state.db())
                .await?
                .into_iter()
                .filter(|u| !u.disabled && u.role() != crate::auth::Role::Viewer)
                .map(|u| (u.id, u.full_name))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Self {
            notes: team::notes(state.db(), call.id).await?,
            transfers: team::transfers(state.db(), call.id).await?,
            people,
            departments: Department::ALL,
            categories: crate::agents::builtin::lexicon::CATEGORIES.iter().map(|c| c.0).collect(),
            recommendations: call.recommendation_list(),
            quality: call.quality.map(|q| (q.clamp(0.0, 1.0) * 100.0).round() as u32),
            zone: state.config().timezone.clone(),
        })
    }
}

/// The correction form (empty selects mean "unchanged").
#[derive(Debug, Deserialize)]
pub struct CorrectionForm {
    #[serde(default)]
    department: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    sentiment: String,
    #[serde(default)]
    priority: String,
}

/// `POST /calls/{id}/classification`: staff correct the AI's classification.
pub async fn correct_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
    Form(form): Form<CorrectionForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let result = async {
        let input = correct::CorrectionInput {
            department: Some(form.department),
            category: Some(form.category),
            sentiment: Some(form.sentiment),
            priority: Some(form.priority),
        };
        let c = correct::parse(&input)?;
        correct::correct(&state, &cap, id, &c).await.map(|_| ())
    }
    .await;
    after_action(&state, &auth, &headers, id, result).await
}

/// The transfer form (a person's id comes as text; empty means none).
#[derive(Debug, Deserialize)]
pub struct TransferForm {
    #[serde(default)]
    department: String,
    #[serde(default)]
    to_user_id: String,
    #[serde(default)]
    reason: String,
}

/// `POST /calls/{id}/transfer`.
pub async fn transfer_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
    Form(form): Form<TransferForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let result = async {
        let to_user_id = match form.to_user_id.trim() {
            "" => None,
            n => Some(n.parse::<i64>().map_err(|_| {
                AppError::Validation(FieldErrors::from([("to_user_id", "field.transfer_user_invalid")]))
            })?),
        };
        let input =
            TransferInput { department: Some(form.department.clone()), to_user_id, reason: form.reason.clone() };
        team::transfer(&state, &cap, id, &input.parse()?).await.map(|_| ())
    }
    .await;
    after_action(&state, &auth, &headers, id, result).await
}

/// The note form.
#[derive(Debug, Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    text: String,
}

/// `POST /calls/{id}/notes`: an internal note (staff only).
pub async fn note_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
    Form(form): Form<NoteForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let result = team::add_note(&state, &cap, id, &form.text).await.map(|_| ());
    after_action(&state, &auth, &headers, id, result).await
}

/// The board's "start a call" form.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StartForm {
    /// Customer id, email or name.
    #[serde(default)]
    pub customer: String,
    /// The customer's first words, as staff relay them.
    #[serde(default)]
    pub message: String,
    /// An internal note (a phone call being logged).
    #[serde(default)]
    pub note: String,
}

/// `POST /calls`: staff open a call for a customer and land on its page; a problem
/// shows on the board's form (422).
pub async fn start_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.agent().ok_or(AppError::Forbidden)?;
    let result = async {
        let customer_id = team::find_customer(state.db(), &form.customer).await?;
        team::start_for_customer(&state, &cap, customer_id, Some(&form.message), Some(&form.note)).await
    }
    .await;
    match result {
        Ok(id) => Ok(Redirect::to(&format!("/calls/{id}")).into_response()),
        Err(AppError::Validation(fields)) => {
            let key = fields.values().next().copied().unwrap_or("error.validation");
            let page = super::board::board_page(&state, &auth, &headers, form, Some(key)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// The alert preference form.
#[derive(Debug, Deserialize)]
pub struct AlertsForm {
    #[serde(default)]
    on: String,
}

/// `POST /board/alerts`: turns one's own escalation alerts (sound and desktop
/// notification on the board) on (`on=1`) or off.
pub async fn alerts_post(
    State(state): State<AppState>,
    auth: WebAuth,
    ClientIp(ip): ClientIp,
    Form(form): Form<AlertsForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let on = matches!(form.on.trim(), "1" | "on" | "true");
    crate::users::set_own_alerts(state.db(), &auth.user, on, ip).await?;
    Ok(Redirect::to("/board").into_response())
}

//! The WhatsApp settings page (admins): the numbers Centralita answers on. Tokens and
//! secrets are written here and never shown again.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::form::Form;
use super::{PageCtx, require_ready};
use crate::app::AppState;
use crate::auth::extract::WebAuth;
use crate::channels::whatsapp::numbers::{self, NumberForm, NumberRow};
use crate::error::{AppError, AppResult, FieldErrors};

#[derive(Template, WebTemplate)]
#[template(path = "settings/whatsapp.html")]
/// The `settings/whatsapp.html` template.
pub struct WhatsappSettingsPage {
    page: PageCtx,
    rows: Vec<NumberRow>,
    /// The number from the environment, if any (its id only).
    env_number: Option<String>,
    form: NumberForm,
    errors: FieldErrors,
}

async fn settings_page(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    form: NumberForm,
    errors: FieldErrors,
) -> AppResult<WhatsappSettingsPage> {
    Ok(WhatsappSettingsPage {
        page: PageCtx::new(&auth.session, headers, Some(&auth.principal), "whatsapp").await?,
        rows: numbers::list(state).await?,
        env_number: state.config().whatsapp.as_ref().map(|w| w.phone_number_id.clone()),
        form,
        errors,
    })
}

/// `GET /settings/whatsapp`.
pub async fn settings_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
) -> AppResult<WhatsappSettingsPage> {
    require_ready(&auth)?;
    auth.principal.admin().ok_or(AppError::Forbidden)?;
    let form = NumberForm { active: Some("on".into()), ..NumberForm::default() };
    settings_page(&state, &auth, &headers, form, FieldErrors::new()).await
}

/// `POST /settings/whatsapp`: adds a number or changes a stored one.
pub async fn settings_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Form(form): Form<NumberForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.admin().ok_or(AppError::Forbidden)?;
    match numbers::save(&state, &cap, &form).await {
        Ok(()) => Ok(Redirect::to("/settings/whatsapp").into_response()),
        Err(AppError::Validation(errors)) => {
            let page = settings_page(&state, &auth, &headers, form.without_secrets(), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other),
    }
}

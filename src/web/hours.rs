//! The business-hours settings page (admins): the hours each department takes
//! conversations from the AI, overriding `CENTRALITA_BUSINESS_HOURS`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::form::Form;
use super::{PageCtx, require_ready};
use crate::agents::Department;
use crate::app::AppState;
use crate::auth::extract::WebAuth;
use crate::calls::hours::{self, DepartmentHours, HoursForm, Source};
use crate::error::{AppError, AppResult, FieldErrors};

#[derive(Template, WebTemplate)]
#[template(path = "settings/hours.html")]
/// The `settings/hours.html` template.
pub struct HoursSettingsPage {
    page: PageCtx,
    form: HoursForm,
    errors: FieldErrors,
    source: Source,
    unrestricted: bool,
    now: Vec<DepartmentHours>,
}

impl HoursSettingsPage {
    /// The departments with their form field's name and value, for the template.
    fn fields(&self) -> Vec<(&'static str, String)> {
        let values =
            [&self.form.sales, &self.form.support, &self.form.billing, &self.form.complaints, &self.form.general];
        Department::ALL.iter().zip(values).map(|(d, v)| (d.as_str(), v.clone())).collect()
    }
}

async fn settings_page(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    form: Option<HoursForm>,
    errors: FieldErrors,
) -> AppResult<HoursSettingsPage> {
    let (in_force, source) = hours::in_force(state).await?;
    Ok(HoursSettingsPage {
        page: PageCtx::new(&auth.session, headers, Some(&auth.principal), "hours").await?,
        form: form.unwrap_or_else(|| HoursForm::of(&in_force)),
        errors,
        source,
        unrestricted: in_force.is_unrestricted(),
        now: hours::departments_now(state).await?,
    })
}

/// `GET /settings/hours`.
pub async fn settings_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
) -> AppResult<HoursSettingsPage> {
    require_ready(&auth)?;
    auth.principal.admin().ok_or(AppError::Forbidden)?;
    settings_page(&state, &auth, &headers, None, FieldErrors::new()).await
}

/// `POST /settings/hours`: saves the hours (form errors shown in place, 422).
pub async fn settings_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Form(form): Form<HoursForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.admin().ok_or(AppError::Forbidden)?;
    match hours::save(&state, &cap, &form).await {
        Ok(_) => Ok(Redirect::to("/settings/hours").into_response()),
        Err(AppError::Validation(errors)) => {
            let form = HoursForm { csrf_token: None, ..form };
            let page = settings_page(&state, &auth, &headers, Some(form), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other),
    }
}

/// `POST /settings/hours/reset`: back to the environment's hours.
pub async fn reset_post(State(state): State<AppState>, auth: WebAuth) -> AppResult<Response> {
    require_ready(&auth)?;
    let cap = auth.principal.admin().ok_or(AppError::Forbidden)?;
    hours::reset(&state, &cap).await?;
    Ok(Redirect::to("/settings/hours").into_response())
}

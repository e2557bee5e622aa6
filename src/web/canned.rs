//! The canned responses page: the list with filters (anyone who works calls), and
//! create, edit and delete for supervisors and admins (checked here, whatever the page
//! shows). Inserting one into a call, and the suggested reply, live with the call's
//! page (`calls.rs`).

use super::form::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::path::WebPath;
use super::{PageCtx, require_ready};
use crate::agents::Department;
use crate::app::AppState;
use crate::auth::CannedCap;
use crate::auth::extract::{ClientIp, WebAuth};
use crate::calls::canned::body::Variable;
use crate::calls::canned::{self, CannedForm, CannedResponse, Filter};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};
use crate::i18n::Lang;

#[derive(Template, WebTemplate)]
#[template(path = "canned/list.html")]
/// The `canned/list.html` template.
pub struct CannedPage {
    page: PageCtx,
    items: Vec<CannedResponse>,
    department: String,
    language: String,
    departments: &'static [Department],
    can_edit: bool,
    notice: Option<&'static str>,
}

#[derive(Template, WebTemplate)]
#[template(path = "canned/form.html")]
/// The `canned/form.html` template (new and edit).
pub struct CannedFormPage {
    page: PageCtx,
    /// The response being edited; `None` for a new one.
    id: Option<i64>,
    form: FormFields,
    errors: FieldErrors,
    departments: &'static [Department],
    variables: [Variable; 4],
}

/// The form as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FormFields {
    #[serde(default)]
    title: String,
    #[serde(default)]
    shortcut: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    language: String,
}

impl FormFields {
    fn of(r: &CannedResponse) -> Self {
        Self {
            title: r.title.clone(),
            shortcut: r.shortcut.clone(),
            body: r.body.clone(),
            department: r.department.map(|d| d.as_str().to_owned()).unwrap_or_default(),
            language: r.language.code().to_owned(),
        }
    }

    fn parse(&self) -> Result<canned::CannedChange, FieldErrors> {
        CannedForm {
            title: Some(self.title.clone()),
            shortcut: Some(self.shortcut.clone()),
            body: Some(self.body.clone()),
            department: Some(Some(self.department.clone())),
            language: Some(self.language.clone()),
        }
        .parse(true)
    }
}

fn canned_cap(auth: &WebAuth) -> AppResult<CannedCap<'_>> {
    require_ready(auth)?;
    auth.principal.canned().ok_or(AppError::Forbidden)
}

/// `?department=&language=&saved=&deleted=` of the list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    deleted: Option<String>,
}

/// `GET /canned-responses`: the list, filtered by department and language.
pub async fn list_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> AppResult<CannedPage> {
    require_ready(&auth)?;
    auth.principal.agent().ok_or(AppError::Forbidden)?;
    let department = q.department.as_deref().map(str::trim).and_then(Department::parse);
    let language = q.language.as_deref().and_then(|l| Lang::parse(l).filter(|_| !l.trim().is_empty()));
    let items = canned::list(state.db(), Filter { language, department }).await?;
    let notice = match (q.saved.is_some(), q.deleted.is_some()) {
        (true, _) => Some("canned.saved"),
        (_, true) => Some("canned.deleted"),
        _ => None,
    };
    Ok(CannedPage {
        page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "canned").await?,
        items,
        department: department.map(|d| d.as_str().to_owned()).unwrap_or_default(),
        language: language.map(|l| l.code().to_owned()).unwrap_or_default(),
        departments: Department::ALL,
        can_edit: auth.principal.canned().is_some(),
        notice,
    })
}

async fn form_page(
    auth: &WebAuth,
    headers: &HeaderMap,
    id: Option<i64>,
    form: FormFields,
    errors: FieldErrors,
) -> AppResult<CannedFormPage> {
    let page = PageCtx::new(&auth.session, headers, Some(&auth.principal), "canned").await?;
    Ok(CannedFormPage { page, id, form, errors, departments: Department::ALL, variables: Variable::ALL })
}

/// Redirects to the list after a change, or draws the form again with what was typed
/// and what is wrong with it (422), or with the taken shortcut (409).
async fn after_save(
    auth: &WebAuth,
    headers: &HeaderMap,
    id: Option<i64>,
    form: FormFields,
    result: AppResult<CannedResponse>,
) -> AppResult<Response> {
    let (status, errors) = match result {
        Ok(_) => return Ok(Redirect::to("/canned-responses?saved=1").into_response()),
        Err(AppError::Validation(errors)) => (StatusCode::UNPROCESSABLE_ENTITY, errors),
        Err(AppError::Conflict(Conflict::CannedShortcutTaken)) => {
            (StatusCode::CONFLICT, FieldErrors::from([("shortcut", "field.canned_shortcut_taken")]))
        }
        Err(e) => return Err(e),
    };
    let page = form_page(auth, headers, id, form, errors).await?;
    Ok((status, page).into_response())
}

/// `GET /canned-responses/new`.
pub async fn new_get(auth: WebAuth, headers: HeaderMap) -> AppResult<CannedFormPage> {
    canned_cap(&auth)?;
    let form = FormFields { language: auth.principal.language.code().to_owned(), ..FormFields::default() };
    form_page(&auth, &headers, None, form, FieldErrors::new()).await
}

/// `POST /canned-responses`: creates a response, or shows the form again.
pub async fn create_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<FormFields>,
) -> AppResult<Response> {
    let cap = canned_cap(&auth)?;
    let result = match form.parse() {
        Ok(change) => canned::create(state.db(), &cap, &change, ip).await,
        Err(errors) => Err(AppError::Validation(errors)),
    };
    after_save(&auth, &headers, None, form, result).await
}

/// `GET /canned-responses/{id}/edit`.
pub async fn edit_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<CannedFormPage> {
    canned_cap(&auth)?;
    let r = canned::get(state.db(), id).await?;
    form_page(&auth, &headers, Some(id), FormFields::of(&r), FieldErrors::new()).await
}

/// `POST /canned-responses/{id}/edit`.
pub async fn edit_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
    Form(form): Form<FormFields>,
) -> AppResult<Response> {
    let cap = canned_cap(&auth)?;
    let result = match form.parse() {
        Ok(change) => canned::update(state.db(), &cap, id, &change, ip).await,
        Err(errors) => Err(AppError::Validation(errors)),
    };
    after_save(&auth, &headers, Some(id), form, result).await
}

/// `POST /canned-responses/{id}/delete`.
pub async fn delete_post(
    State(state): State<AppState>,
    auth: WebAuth,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    let cap = canned_cap(&auth)?;
    canned::delete(state.db(), &cap, id, ip).await?;
    Ok(Redirect::to("/canned-responses?deleted=1").into_response())
}

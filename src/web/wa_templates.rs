//! The WhatsApp templates page: the list (every staff role), create, edit and delete
//! (supervisors and admins, checked here whatever the page shows), and the live
//! preview (an htmx fragment, rendered and escaped on the server). Sending one from a
//! call lives with the call's page (`calls.rs`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::form::Form;
use super::path::WebPath;
use super::{PageCtx, require_ready};
use crate::app::AppState;
use crate::auth::TemplateCap;
use crate::auth::extract::{ClientIp, WebAuth};
use crate::channels::whatsapp::templates::{self, Category, Template as WaTemplate, TemplateChange, TemplateForm};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};

#[derive(Template, WebTemplate)]
#[template(path = "wa_templates/list.html")]
/// The `wa_templates/list.html` template.
pub struct TemplatesPage {
    page: PageCtx,
    items: Vec<WaTemplate>,
    can_edit: bool,
    notice: Option<&'static str>,
}

#[derive(Template, WebTemplate)]
#[template(path = "wa_templates/form.html")]
/// The `wa_templates/form.html` template (new and edit).
pub struct TemplateFormPage {
    page: PageCtx,
    /// The template being edited; `None` for a new one.
    id: Option<i64>,
    form: FormFields,
    errors: FieldErrors,
    categories: [Category; 3],
    numbers: Vec<String>,
    p: PreviewView,
}

#[derive(Template, WebTemplate)]
#[template(path = "wa_templates/_preview.html")]
/// The `wa_templates/_preview.html` fragment: a body filled in, or what is wrong.
pub struct PreviewPartial {
    page: PageCtx,
    p: PreviewView,
}

/// What a preview shows.
pub struct PreviewView {
    /// Where it is swapped in (`template-preview`, `wa-preview-{id}`).
    target: String,
    /// The filled text.
    text: Option<String>,
    /// Variables without a value.
    missing: Vec<usize>,
    /// What is wrong with the body (an i18n key).
    error: Option<&'static str>,
}

/// The form as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FormFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    phone_number_id: String,
    /// Example values for the preview, one a line (not stored).
    #[serde(default)]
    samples: String,
}

impl FormFields {
    fn of(t: &WaTemplate) -> Self {
        Self {
            name: t.name.clone(),
            language: t.language.clone(),
            category: t.category.as_str().to_owned(),
            body: t.body.clone(),
            phone_number_id: t.phone_number_id.clone().unwrap_or_default(),
            samples: String::new(),
        }
    }

    fn parse(&self) -> Result<TemplateChange, FieldErrors> {
        TemplateForm {
            name: Some(self.name.clone()),
            language: Some(self.language.clone()),
            category: Some(self.category.clone()),
            body: Some(self.body.clone()),
            phone_number_id: Some(Some(self.phone_number_id.clone())),
        }
        .parse(true)
    }

    fn samples(&self) -> Vec<String> {
        self.samples.lines().map(str::to_owned).collect()
    }
}

/// A body filled with `values` for the page, or the reason it cannot be.
fn preview(target: String, body: &str, values: &[String]) -> PreviewView {
    match templates::preview(body, values) {
        Ok(p) => PreviewView { target, text: Some(p.text), missing: p.missing, error: None },
        Err(errors) => PreviewView { target, text: None, missing: Vec::new(), error: errors.values().next().copied() },
    }
}

fn template_cap(auth: &WebAuth) -> AppResult<TemplateCap<'_>> {
    require_ready(auth)?;
    auth.principal.templates().ok_or(AppError::Forbidden)
}

/// `?saved=&deleted=` of the list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    deleted: Option<String>,
}

/// `GET /whatsapp/templates`: every template.
pub async fn list_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> AppResult<TemplatesPage> {
    require_ready(&auth)?;
    let notice = match (q.saved.is_some(), q.deleted.is_some()) {
        (true, _) => Some("watpl.saved"),
        (_, true) => Some("watpl.deleted"),
        _ => None,
    };
    Ok(TemplatesPage {
        page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "wa_templates").await?,
        items: templates::list(state.db()).await?,
        can_edit: auth.principal.templates().is_some(),
        notice,
    })
}

async fn form_page(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    id: Option<i64>,
    form: FormFields,
    errors: FieldErrors,
) -> AppResult<TemplateFormPage> {
    let page = PageCtx::new(&auth.session, headers, Some(&auth.principal), "wa_templates").await?;
    let numbers = crate::channels::whatsapp::numbers(state).await?.into_iter().map(|n| n.phone_number_id).collect();
    let p = preview("template-preview".into(), &form.body, &form.samples());
    Ok(TemplateFormPage { page, id, form, errors, categories: Category::ALL, numbers, p })
}

/// Redirects to the list after a change, or draws the form again with what was typed
/// and what is wrong with it (422), or with the taken name (409).
async fn after_save(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    id: Option<i64>,
    form: FormFields,
    result: AppResult<WaTemplate>,
) -> AppResult<Response> {
    let (status, errors) = match result {
        Ok(_) => return Ok(Redirect::to("/whatsapp/templates?saved=1").into_response()),
        Err(AppError::Validation(errors)) => (StatusCode::UNPROCESSABLE_ENTITY, errors),
        Err(AppError::Conflict(Conflict::WhatsappTemplateTaken)) => {
            (StatusCode::CONFLICT, FieldErrors::from([("name", "field.wa_template_taken")]))
        }
        Err(e) => return Err(e),
    };
    let page = form_page(state, auth, headers, id, form, errors).await?;
    Ok((status, page).into_response())
}

/// `GET /whatsapp/templates/new`.
pub async fn new_get(State(state): State<AppState>, auth: WebAuth, headers: HeaderMap) -> AppResult<TemplateFormPage> {
    template_cap(&auth)?;
    let form = FormFields {
        language: auth.principal.language.code().to_owned(),
        category: Category::Utility.as_str().to_owned(),
        ..FormFields::default()
    };
    form_page(&state, &auth, &headers, None, form, FieldErrors::new()).await
}

/// `POST /whatsapp/templates`: creates a template, or shows the form again.
pub async fn create_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<FormFields>,
) -> AppResult<Response> {
    let cap = template_cap(&auth)?;
    let result = match form.parse() {
        Ok(change) => templates::create(&state, &cap, &change, ip).await,
        Err(errors) => Err(AppError::Validation(errors)),
    };
    after_save(&state, &auth, &headers, None, form, result).await
}

/// `GET /whatsapp/templates/{id}/edit`.
pub async fn edit_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<TemplateFormPage> {
    template_cap(&auth)?;
    let t = templates::get(state.db(), id).await?;
    form_page(&state, &auth, &headers, Some(id), FormFields::of(&t), FieldErrors::new()).await
}

/// `POST /whatsapp/templates/{id}/edit`.
pub async fn edit_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
    Form(form): Form<FormFields>,
) -> AppResult<Response> {
    let cap = template_cap(&auth)?;
    let result = match form.parse() {
        Ok(change) => templates::update(&state, &cap, id, &change, ip).await,
        Err(errors) => Err(AppError::Validation(errors)),
    };
    after_save(&state, &auth, &headers, Some(id), form, result).await
}

/// `POST /whatsapp/templates/{id}/delete`.
pub async fn delete_post(
    State(state): State<AppState>,
    auth: WebAuth,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    let cap = template_cap(&auth)?;
    templates::delete(state.db(), &cap, id, ip).await?;
    Ok(Redirect::to("/whatsapp/templates?deleted=1").into_response())
}

/// `POST /whatsapp/templates/preview`: the preview fragment, from the editor (`body`
/// and `samples`, one value a line) or a call's send form (`template_id` and one
/// `variable` field per variable, in order). Nothing is stored or sent.
pub async fn preview_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "wa_templates").await?;
    let p = match field("template_id").map(str::parse::<i64>) {
        Some(Ok(id)) => {
            let t = templates::get(state.db(), id).await?;
            let values: Vec<String> = pairs.iter().filter(|(k, _)| k == "variable").map(|(_, v)| v.clone()).collect();
            preview(format!("wa-preview-{id}"), &t.body, &values)
        }
        Some(Err(_)) => return Err(AppError::NotFound),
        None => {
            let samples: Vec<String> = field("samples").unwrap_or_default().lines().map(str::to_owned).collect();
            preview("template-preview".into(), field("body").unwrap_or_default(), &samples)
        }
    };
    Ok(PreviewPartial { page, p }.into_response())
}

//! The email manager for staff: every email with its status, attempts and last error
//! (refreshing itself), a form to write one (kind, call or customer, fields, preview of
//! both parts, the "customer confirmed" tick), each email's page with its parts, its
//! attempts and, for the file mailbox, the `.eml` as written; confirm, decline and
//! retry actions. Agents, supervisors and admins only; viewers get 403.
//!
//! Rendered email HTML is shown only inside a sandboxed frame, served with its own
//! policy (no scripts, no network, inline styles only).

use super::form::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::path::WebPath;
use super::{PageCtx, is_htmx, require_ready};
use crate::app::AppState;
use crate::auth::extract::{ClientIp, WebAuth};
use crate::email::render::Rendered;
use crate::email::{self, Attempt, Email, EmailStatus, compose};
use crate::error::{AppError, AppResult, FieldErrors};

/// Policy of a rendered email shown in a frame: inline styles, nothing else.
const EMAIL_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox";
const PREVIEW_KEY: &str = "email_preview_html";

#[derive(Template, WebTemplate)]
#[template(path = "email/list.html")]
/// The `email/list.html` template.
pub struct ListPage {
    page: PageCtx,
    t: Table,
}

#[derive(Template, WebTemplate)]
#[template(path = "email/_table.html")]
/// The `email/_table.html` fragment (refreshes itself).
pub struct TablePartial {
    page: PageCtx,
    t: Table,
}

/// The list with its filter.
pub struct Table {
    emails: Vec<Email>,
    status: String,
    counts: Vec<(&'static str, i64)>,
}

impl Table {
    /// The refresh URL of this view.
    pub fn refresh_url(&self) -> String {
        if self.status.is_empty() { "/emails/table".into() } else { format!("/emails/table?status={}", self.status) }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "email/new.html")]
/// The `email/new.html` template.
pub struct NewPage {
    page: PageCtx,
    form: EmailForm,
    errors: FieldErrors,
    preview: Option<Preview>,
}

impl NewPage {
    fn error(&self, field: &str) -> Option<&'static str> {
        self.errors.get(field).copied()
    }

    fn staff_name(&self) -> &str {
        self.page.user.as_ref().map_or("", |u| u.full_name.as_str())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "email/_preview.html")]
/// The `email/_preview.html` fragment.
pub struct PreviewPartial {
    page: PageCtx,
    preview: Option<Preview>,
    errors: FieldErrors,
}

/// What a preview shows.
pub struct Preview {
    to: String,
    subject: String,
    text: String,
    /// Where the frame loads the HTML part from.
    frame: String,
    /// The summary draft written for this preview, when the kind is summary.
    draft: Option<i64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "email/detail.html")]
/// The `email/detail.html` template.
pub struct DetailPage {
    page: PageCtx,
    e: Email,
    text: String,
    attempts: Vec<Attempt>,
    eml: Option<String>,
    notice: Option<&'static str>,
}

/// The compose form, as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    call_id: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    customer_confirmed: Option<String>,
    #[serde(default)]
    dedupe_key: String,
}

/// `GET /emails` query.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
}

fn ready_agent(auth: &WebAuth) -> AppResult<crate::auth::AgentCap<'_>> {
    require_ready(auth)?;
    auth.principal.agent().ok_or(AppError::Forbidden)
}

async fn table(state: &AppState, status: String) -> AppResult<Table> {
    let status = if EmailStatus::parse(&status).is_some() { status } else { String::new() };
    let filter =
        email::Filter { status: (!status.is_empty()).then(|| status.clone()), call_id: None, customer_id: None };
    let emails = email::list(state.db(), &filter, 200).await?;
    let stored = email::counts(state.db()).await?;
    let counts = EmailStatus::ALL
        .iter()
        .map(|s| (s.as_str(), stored.iter().find(|(k, _)| k == s.as_str()).map_or(0, |(_, n)| *n)))
        .collect();
    Ok(Table { emails, status, counts })
}

/// `GET /emails`: the list.
pub async fn emails_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> AppResult<ListPage> {
    ready_agent(&auth)?;
    let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "emails").await?;
    Ok(ListPage { page, t: table(&state, q.status).await? })
}

/// `GET /emails/table`: the list's body, for its periodic refresh.
pub async fn table_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> AppResult<TablePartial> {
    ready_agent(&auth)?;
    let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "emails").await?;
    Ok(TablePartial { page, t: table(&state, q.status).await? })
}

/// `GET /emails/new`: the compose form (`?kind=summary&call_id=12` pre-fills it).
pub async fn new_get(auth: WebAuth, headers: HeaderMap, Query(mut form): Query<EmailForm>) -> AppResult<NewPage> {
    ready_agent(&auth)?;
    let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "emails").await?;
    if !email::KINDS.contains(&form.kind.as_str()) {
        form.kind = "summary".into();
    }
    form.customer_confirmed = None;
    form.dedupe_key = format!("form-{}", uuid::Uuid::new_v4().simple());
    Ok(NewPage { page, form, errors: FieldErrors::new(), preview: None })
}

/// Reads the form into an API-shaped request; a call or customer that is not a number
/// or a known address is a field error.
async fn request_of(state: &AppState, form: &EmailForm) -> AppResult<Result<compose::Request, FieldErrors>> {
    let mut errors = FieldErrors::new();
    let call_id = match form.call_id.trim().trim_start_matches('#') {
        "" => None,
        n => n.parse::<i64>().map_err(|_| errors.insert("call_id", "field.call_unknown")).ok(),
    };
    let customer = form.customer.trim().trim_start_matches('#');
    let customer_id = if customer.is_empty() {
        None
    } else if let Ok(id) = customer.parse::<i64>() {
        Some(id)
    } else {
        match email::recipient_by_email(state.db(), customer).await? {
            Some(r) => Some(r.id),
            None => {
                errors.insert("customer", "field.customer_unknown");
                None
            }
        }
    };
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    Ok(Ok(compose::Request {
        kind: form.kind.clone(),
        call_id,
        customer_id,
        topic: form.topic.clone(),
        body: form.body.clone(),
        language: Some(form.language.clone()),
        customer_confirmed: form.customer_confirmed.is_some(),
        dedupe_key: Some(form.dedupe_key.clone()).filter(|k| !k.is_empty()),
    }))
}

/// The form as a request that passed the email manager's checks, or the field errors
/// to show on the form.
async fn checked_request(
    state: &AppState,
    form: &EmailForm,
) -> AppResult<Result<(compose::Request, compose::Checked), FieldErrors>> {
    let request = match request_of(state, form).await? {
        Ok(r) => r,
        Err(errors) => return Ok(Err(errors)),
    };
    match compose::check(state, &request).await {
        Ok(checked) => Ok(Ok((request, checked))),
        Err(AppError::Validation(errors)) => Ok(Err(form_errors(errors))),
        Err(e) => Err(e),
    }
}

/// The API's field names as the form names them.
fn form_errors(errors: FieldErrors) -> FieldErrors {
    errors.into_iter().map(|(k, v)| (if k == "customer_id" { "customer" } else { k }, v)).collect()
}

async fn new_page(auth: &WebAuth, headers: &HeaderMap, form: EmailForm, errors: FieldErrors) -> AppResult<Response> {
    let page = PageCtx::new(&auth.session, headers, Some(&auth.principal), "emails").await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, NewPage { page, form, errors, preview: None }).into_response())
}

/// `POST /emails/preview`: both parts as the customer would get them. Information and
/// follow-ups render from the form; a summary is drafted by the supervisor agent (and
/// kept, waiting for the customer's confirmation, so that what is shown is what is sent).
pub async fn preview_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<EmailForm>,
) -> AppResult<Response> {
    let cap = ready_agent(&auth)?;
    let outcome = match checked_request(&state, &form).await? {
        Err(errors) => Err(errors),
        Ok((mut request, checked)) => match compose::preview(&checked)? {
            Some(Rendered { subject, html, text }) => {
                auth.session.insert(PREVIEW_KEY, html).await.map_err(|e| AppError::Internal(e.into()))?;
                let to = checked.to_address().to_owned();
                Ok(Preview { to, subject, text, frame: "/emails/preview.html".into(), draft: None })
            }
            None => {
                request.customer_confirmed = false;
                let (email, _) = compose::submit(&state, &cap, &request, checked, ip).await?;
                let (_, text) = email::bodies(state.db(), email.id).await?;
                Ok(Preview {
                    to: email.to_address,
                    subject: email.subject,
                    text,
                    frame: format!("/emails/{}/html", email.id),
                    draft: Some(email.id),
                })
            }
        },
    };
    let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "emails").await?;
    if is_htmx(&headers) {
        let (preview, errors) = match outcome {
            Ok(p) => (Some(p), FieldErrors::new()),
            Err(e) => (None, e),
        };
        return Ok(PreviewPartial { page, preview, errors }.into_response());
    }
    match outcome {
        Ok(preview) => Ok(NewPage { page, form, errors: FieldErrors::new(), preview: Some(preview) }.into_response()),
        Err(errors) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, NewPage { page, form, errors, preview: None }).into_response())
        }
    }
}

/// Wraps a rendered email in its own sandboxing policy.
fn email_html(html: String) -> Response {
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(EMAIL_CSP));
    response
}

/// `GET /emails/preview.html`: the HTML part of the last preview, for its frame.
pub async fn preview_html_get(auth: WebAuth) -> AppResult<Response> {
    ready_agent(&auth)?;
    let html: Option<String> = auth.session.get(PREVIEW_KEY).await.map_err(|e| AppError::Internal(e.into()))?;
    Ok(email_html(html.ok_or(AppError::NotFound)?))
}

/// `POST /emails`: writes the email (queued when the customer confirmed, else waiting).
pub async fn emails_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<EmailForm>,
) -> AppResult<Response> {
    let cap = ready_agent(&auth)?;
    let (request, checked) = match checked_request(&state, &form).await? {
        Ok(c) => c,
        Err(errors) => return new_page(&auth, &headers, form, errors).await,
    };
    let (email, _) = compose::submit(&state, &cap, &request, checked, ip).await?;
    Ok(Redirect::to(&format!("/emails/{}", email.id)).into_response())
}

async fn detail(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    id: i64,
    notice: Option<&'static str>,
) -> AppResult<DetailPage> {
    let e = email::get(state.db(), id).await?;
    let (_, text) = email::bodies(state.db(), id).await?;
    let attempts = email::attempts(state.db(), id).await?;
    let eml = if state.mailer().is_file_mailbox() {
        tokio::fs::read_to_string(email::deliver::eml_path(state.config(), id)).await.ok()
    } else {
        None
    };
    let page = PageCtx::new(&auth.session, headers, Some(&auth.principal), "emails").await?;
    Ok(DetailPage { page, e, text, attempts, eml, notice })
}

/// `GET /emails/{id}`: one email.
pub async fn email_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<DetailPage> {
    ready_agent(&auth)?;
    detail(&state, &auth, &headers, id, None).await
}

/// `GET /emails/{id}/html`: the stored HTML part, for the page's frame.
pub async fn email_html_get(
    State(state): State<AppState>,
    auth: WebAuth,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    ready_agent(&auth)?;
    Ok(email_html(email::bodies(state.db(), id).await?.0))
}

/// `POST /emails/{id}/{confirm|decline|retry}`.
pub async fn action_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath((id, action)): WebPath<(i64, String)>,
) -> AppResult<Response> {
    let cap = ready_agent(&auth)?;
    match compose::act(&state, &cap, id, &action, ip).await {
        Ok(_) => Ok(Redirect::to(&format!("/emails/{id}")).into_response()),
        Err(AppError::Conflict(_)) => {
            let page = detail(&state, &auth, &headers, id, Some("emails.state_changed")).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(e) => Err(e),
    }
}

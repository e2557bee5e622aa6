//! Staff pages for written inquiries: the list with its filters and paging, and an
//! inquiry's page with its classification, the job's state, the suggested reply in an
//! editable box with a send button, and the form to assign, correct, close or classify
//! it again. Everyone signed in reads; agents, supervisors and admins act.

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
use crate::auth::AgentCap;
use crate::auth::extract::{ClientIp, WebAuth};
use crate::channels::inquiries::staff::{self, InquiryChange};
use crate::channels::inquiries::{self, Inquiry, InquiryStatus, ListQuery};
use crate::customers::tickets::{self, Assignable};
use crate::db::paging::Page;
use crate::error::{AppError, AppResult, FieldErrors};

#[derive(Template, WebTemplate)]
#[template(path = "inquiries/list.html")]
/// The `inquiries/list.html` template.
pub struct ListPage {
    page: PageCtx,
    list: Page<Inquiry>,
    /// The filters as typed (kept in the form and the paging links).
    q: ListQuery,
}

impl ListPage {
    fn value<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or_default()
    }

    /// The list's address for page `n`, with the current filters.
    pub fn page_link(&self, n: i64) -> String {
        let keep = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let q = [
            ("status", keep(&self.q.status)),
            ("department", keep(&self.q.department)),
            ("category", keep(&self.q.category)),
            ("sentiment", keep(&self.q.sentiment)),
            ("q", keep(&self.q.q)),
            ("page", (n > 1).then(|| n.to_string())),
            ("per_page", keep(&self.q.per_page)),
        ];
        let pairs: Vec<(&str, String)> = q.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
        match serde_urlencoded::to_string(&pairs) {
            Ok(s) if !s.is_empty() => format!("/inquiries?{s}"),
            _ => "/inquiries".to_owned(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "inquiries/detail.html")]
/// The `inquiries/detail.html` template.
pub struct DetailPage {
    page: PageCtx,
    i: Inquiry,
    assignees: Vec<Assignable>,
    errors: FieldErrors,
    /// The reply box's text: the suggestion, or what was typed when sending failed.
    reply: String,
}

impl DetailPage {
    fn error(&self, field: &str) -> Option<&'static str> {
        self.errors.get(field).copied()
    }

    /// Whether the inquiry's status is one staff may choose (else it is shown first).
    pub fn settable(&self) -> bool {
        self.choices().contains(&self.i.status)
    }

    /// The statuses staff may choose on the form.
    pub fn choices(&self) -> &'static [InquiryStatus] {
        &[InquiryStatus::Pending, InquiryStatus::Classified, InquiryStatus::Closed]
    }
}

/// The "change this inquiry" form, with the values the page was drawn with, so that
/// only what this person changed is applied.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    assigned_to: String,
    #[serde(default)]
    was_status: String,
    #[serde(default)]
    was_category: String,
    #[serde(default)]
    was_assigned_to: String,
}

/// The reply form.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    text: String,
}

fn ready_agent(auth: &WebAuth) -> AppResult<AgentCap<'_>> {
    require_ready(auth)?;
    auth.principal.agent().ok_or(AppError::Forbidden)
}

/// `GET /inquiries`: the list.
pub async fn inquiries_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> AppResult<ListPage> {
    require_ready(&auth)?;
    let (filter, paging) = q.parse()?;
    let list = inquiries::list(state.db(), &filter, paging).await?;
    let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "inquiries").await?;
    Ok(ListPage { page, list, q })
}

async fn detail(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    id: i64,
    errors: FieldErrors,
    typed: Option<String>,
) -> AppResult<DetailPage> {
    let i = inquiries::get(state.db(), id).await?;
    let assignees = tickets::assignable(state.db()).await?;
    let page = PageCtx::new(&auth.session, headers, Some(&auth.principal), "inquiries").await?;
    let reply = typed.unwrap_or_else(|| i.suggested_reply.clone().unwrap_or_default());
    Ok(DetailPage { page, i, assignees, errors, reply })
}

/// `GET /inquiries/{id}`.
pub async fn inquiry_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<DetailPage> {
    require_ready(&auth)?;
    detail(&state, &auth, &headers, id, FieldErrors::new(), None).await
}

/// A changed field: `Some(new)` when it differs from what the page showed.
fn changed<'a>(now: &'a str, was: &str) -> Option<&'a str> {
    (now.trim() != was.trim()).then_some(now)
}

/// `POST /inquiries/{id}`: changes status, category or assignee.
pub async fn inquiry_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
    Form(form): Form<ChangeForm>,
) -> AppResult<Response> {
    let cap = ready_agent(&auth)?;
    let assigned_to = match changed(&form.assigned_to, &form.was_assigned_to).map(str::trim) {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(n) => n.parse::<i64>().map(|n| Some(Some(n))).map_err(|_| ()),
    };
    let parsed = match assigned_to {
        Ok(assigned_to) => InquiryChange::parse(
            changed(&form.category, &form.was_category),
            changed(&form.status, &form.was_status),
            assigned_to,
        ),
        Err(()) => Err(FieldErrors::from([("assigned_to", "field.assignee_invalid")])),
    };
    let result = match parsed {
        Ok(change) => staff::update(&state, &cap, id, &change, ip).await.map(|_| ()),
        Err(errors) => Err(AppError::Validation(errors)),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/inquiries/{id}")).into_response()),
        Err(AppError::Validation(errors)) => {
            let page = detail(&state, &auth, &headers, id, errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// `POST /inquiries/{id}/reply`: sends the (edited) reply by email.
pub async fn reply_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
    Form(form): Form<ReplyForm>,
) -> AppResult<Response> {
    let cap = ready_agent(&auth)?;
    match staff::reply(&state, &cap, id, &form.text, ip).await {
        Ok(_) => Ok(Redirect::to(&format!("/inquiries/{id}")).into_response()),
        Err(AppError::Validation(errors)) => {
            let page = detail(&state, &auth, &headers, id, errors, Some(form.text)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

//! `GET /calls`: the call history with its filters and pages; times in the team's
//! time zone. Bad filter values show on the page (422) instead of an error page.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{PageCtx, require_ready};
use crate::agents::{Department, Sentiment};
use crate::app::AppState;
use crate::auth::extract::WebAuth;
use crate::calls::history::{self, HistoryQuery, HistoryRow};
use crate::calls::{CallStatus, Channel};
use crate::db::paging::Paging;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::period::Zone;

#[derive(Template, WebTemplate)]
#[template(path = "calls/list.html")]
/// The `calls/list.html` template.
pub struct CallsPage {
    page: PageCtx,
    rows: Vec<HistoryRow>,
    total: i64,
    paging: Paging,
    pages: i64,
    /// The filters as typed (the form shows them again).
    q: HistoryQuery,
    /// The filters as a query string, for the paging links.
    link: String,
    errors: FieldErrors,
    zone: Zone,
    statuses: &'static [CallStatus],
    departments: &'static [Department],
    sentiments: &'static [Sentiment],
    channels: &'static [Channel],
    agents: Vec<(i64, String)>,
}

impl CallsPage {
    /// The value typed for a filter (empty when none).
    fn typed<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or_default()
    }
}

/// `GET /calls`.
pub async fn calls_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    let zone = state.config().timezone.clone();
    let (rows, total, paging, errors) = match q.parse(&zone) {
        Ok((filter, paging)) => {
            let found = history::list(state.db(), &filter, paging).await?;
            (found.items, found.total, paging, FieldErrors::new())
        }
        Err(AppError::Validation(errors)) => (Vec::new(), 0, Paging::default(), errors),
        Err(AppError::Unprocessable(_)) => {
            (Vec::new(), 0, Paging::default(), FieldErrors::from([("page", "field.filter_invalid")]))
        }
        Err(e) => return Err(e),
    };
    let agents = crate::users::list(state.db())
        .await?
        .into_iter()
        .filter(|u| u.role() != crate::auth::Role::Viewer)
        .map(|u| (u.id, u.full_name))
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = CallsPage {
        page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "calls").await?,
        pages: paging.pages(total),
        link: q.link_query(),
        rows,
        total,
        paging,
        q,
        errors,
        zone,
        statuses: CallStatus::ALL,
        departments: Department::ALL,
        sentiments: Sentiment::ALL,
        channels: Channel::ALL,
        agents,
    };
    Ok((status, page).into_response())
}

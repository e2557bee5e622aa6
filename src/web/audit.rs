//! The audit log page (admins only).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;

use super::{PageCtx, require_ready};
use crate::app::AppState;
use crate::audit::{self, Row};
use crate::auth::extract::WebAuth;
use crate::error::{AppError, AppResult};

const PAGE_SIZE: i64 = 50;

#[derive(Template, WebTemplate)]
#[template(path = "audit/list.html")]
/// The `audit/list.html` template.
pub struct AuditPage {
    page: PageCtx,
    rows: Vec<Row>,
    older: Option<i64>,
}

/// Paging cursor.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
}

/// `GET /audit`.
pub async fn audit_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> AppResult<AuditPage> {
    require_ready(&auth)?;
    auth.principal.admin().ok_or(AppError::Forbidden)?;
    let rows = audit::list(state.db(), q.before, PAGE_SIZE).await?;
    let older = (rows.len() as i64 == PAGE_SIZE).then(|| rows.last().map(|r| r.id)).flatten();
    Ok(AuditPage { page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "audit").await?, rows, older })
}

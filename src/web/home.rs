//! The landing page, shaped by role.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::HeaderMap;

use super::{PageCtx, require_ready};
use crate::app::AppState;
use crate::auth::Role;
use crate::auth::extract::WebAuth;
use crate::db::with_db;
use crate::error::AppResult;

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
/// The `home.html` template.
pub struct HomePage {
    page: PageCtx,
    role_key: &'static str,
    lead_key: &'static str,
    capabilities: Vec<&'static str>,
    active_users: i64,
    customers: i64,
    departments: i64,
}

fn capabilities(role: Role) -> Vec<&'static str> {
    let mut caps = vec!["cap.view_dashboards"];
    if matches!(role, Role::Agent | Role::Supervisor | Role::Admin) {
        caps.push("cap.take_over");
    }
    if matches!(role, Role::Supervisor | Role::Admin) {
        caps.push("cap.approve_actions");
    }
    if role == Role::Admin {
        caps.push("cap.manage_users");
        caps.push("cap.read_audit");
    }
    caps
}

/// `GET /`.
pub async fn home_get(State(state): State<AppState>, auth: WebAuth, headers: HeaderMap) -> AppResult<HomePage> {
    require_ready(&auth)?;
    let role = auth.principal.role;
    let db = state.db();
    let (active_users, customers, departments) = with_db!(db, |pool| {
        let u =
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users WHERE disabled = FALSE").fetch_one(pool).await?;
        let c =
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM customers WHERE active = TRUE").fetch_one(pool).await?;
        let d = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM departments").fetch_one(pool).await?;
        (u, c, d)
    });
    let lead_key = match role {
        Role::Admin => "home.admin.lead",
        Role::Supervisor => "home.supervisor.lead",
        Role::Agent => "home.agent.lead",
        Role::Viewer => "home.viewer.lead",
    };
    Ok(HomePage {
        page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "home").await?,
        role_key: role.label_key(),
        lead_key,
        capabilities: capabilities(role),
        active_users,
        customers,
        departments,
    })
}

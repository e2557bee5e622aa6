//! The browser app: server-rendered askama pages, progressively enhanced with htmx.
//!
//! Handlers are named `<page>_<get|post>`. Each page template extends `base.html`;
//! fragments swapped by htmx start with `_`.

pub mod account;
pub mod assets;
pub mod assistant;
pub mod audit;
pub mod board;
pub mod calls;
pub mod canned;
pub mod charts;
pub mod csrf;
pub mod customers;
pub mod email;
pub mod errors;
pub mod form;
pub mod history;
pub mod home;
pub mod hours;
pub mod inquiries;
pub mod keepalive;
pub mod lang;
pub mod layers;
pub mod login;
pub mod path;
pub mod public;
pub mod rate;
pub mod reports;
pub mod teamwork;
pub mod tickets;
pub mod users;
pub mod wa_templates;
pub mod whatsapp;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post};
use tower_sessions::Session;

use crate::app::AppState;
use crate::auth::{Principal, Role};
use crate::error::{AppError, AppResult};
use crate::i18n::Tr;

/// Everything the base layout needs.
#[derive(Clone, Debug)]
pub struct PageCtx {
    /// Translator for the request's language.
    pub tr: Tr,
    /// The session's CSRF token (for forms and `hx-headers`).
    pub csrf: String,
    /// The signed-in user, if any.
    pub user: Option<Principal>,
    /// Which nav entry is current.
    pub nav: &'static str,
}

impl PageCtx {
    /// Builds the context for a page.
    pub async fn new(
        session: &Session,
        headers: &HeaderMap,
        user: Option<&Principal>,
        nav: &'static str,
    ) -> AppResult<Self> {
        let lang = match user {
            Some(p) => p.language,
            None => lang::resolve(headers, Some(session)).await,
        };
        Ok(Self { tr: Tr(lang), csrf: csrf::token(session, headers).await?, user: user.cloned(), nav })
    }

    /// True when the signed-in user is an admin (for showing admin navigation; the
    /// handlers check again).
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == Role::Admin)
    }

    /// True for everyone but viewers (who may only look).
    pub fn can_work(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role != Role::Viewer)
    }

    /// True for supervisors and admins (who may act on calls others hold, and approve).
    pub fn is_overseer(&self) -> bool {
        self.user.as_ref().is_some_and(|u| matches!(u.role, Role::Supervisor | Role::Admin))
    }
}

/// True for requests made by htmx (they get fragments instead of whole pages).
pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// Asks htmx to load `to` as a whole page instead of swapping this answer in.
pub fn with_hx_redirect(mut response: Response, to: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert("hx-redirect", v);
    }
    response
}

/// A signed-in user who has replaced any temporary password: what most pages need.
pub fn require_ready(auth: &crate::auth::extract::WebAuth) -> AppResult<()> {
    if auth.principal.must_change_password { Err(AppError::PasswordChangeRequired) } else { Ok(()) }
}

/// Routes of the browser app.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::home_get))
        .route("/login", get(login::login_get).post(login::login_post))
        .route("/logout", post(login::logout_post))
        .route("/lang", post(account::lang_post))
        .route("/account", get(account::account_get))
        .route("/account/password", get(account::password_get).post(account::password_post))
        .route("/users", get(users::users_get).post(users::users_post))
        .route("/users/{id}", get(users::user_get))
        .route("/users/{id}/role", post(users::user_role_post))
        .route("/users/{id}/disable", post(users::user_disable_post))
        .route("/users/{id}/enable", post(users::user_enable_post))
        .route("/users/{id}/password", post(users::user_password_post))
        .route("/audit", get(audit::audit_get))
        .route("/calls", get(history::calls_get).post(teamwork::start_post))
        .route("/calls/{id}", get(calls::call_get))
        .route("/calls/{id}/live", get(calls::call_live_get))
        .route("/calls/{id}/controls", get(calls::call_controls_get))
        .route("/calls/{id}/takeover", post(calls::takeover_post))
        .route("/calls/{id}/handback", post(calls::handback_post))
        .route("/calls/{id}/whatsapp/read", post(calls::whatsapp_read_post))
        .route("/settings/whatsapp", get(whatsapp::settings_get).post(whatsapp::settings_post))
        .route("/settings/hours", get(hours::settings_get).post(hours::settings_post))
        .route("/settings/hours/reset", post(hours::reset_post))
        .route("/calls/{id}/whatsapp/template", post(calls::whatsapp_template_post))
        .route("/whatsapp/templates", get(wa_templates::list_get).post(wa_templates::create_post))
        .route("/whatsapp/templates/new", get(wa_templates::new_get))
        .route("/whatsapp/templates/preview", post(wa_templates::preview_post))
        .route("/whatsapp/templates/{id}/edit", get(wa_templates::edit_get).post(wa_templates::edit_post))
        .route("/whatsapp/templates/{id}/delete", post(wa_templates::delete_post))
        .route("/calls/{id}/reply", post(calls::reply_post))
        .route("/calls/{id}/close", post(calls::close_post))
        .route("/calls/{id}/verify-customer", post(calls::verify_customer_post))
        .route("/actions", get(calls::actions_get))
        .route("/actions/{id}/{decision}", post(calls::decide_post))
        .route("/emails", get(email::emails_get).post(email::emails_post))
        .route("/emails/table", get(email::table_get))
        .route("/emails/new", get(email::new_get))
        .route("/emails/preview", post(email::preview_post))
        .route("/emails/preview.html", get(email::preview_html_get))
        .route("/emails/{id}", get(email::email_get))
        .route("/emails/{id}/html", get(email::email_html_get))
        .route("/emails/{id}/{action}", post(email::action_post))
        .route("/board", get(board::board_get))
        .route("/board/live", get(board::board_live_get))
        .route("/presence", post(board::presence_post))
        .route("/events", get(board::events_get))
        .route("/reports", get(reports::reports_get))
        .route("/reports/print", get(reports::print_get))
        .route("/reports/{file}", get(reports::csv_get))
        .route("/call", get(public::start_get).post(public::start_post))
        .route("/c/{token}", get(public::call_get))
        .route("/c/{token}/conversation", get(public::conversation_get))
        .route("/c/{token}/composer", get(public::composer_get))
        .route("/c/{token}/messages", post(public::message_post))
        .route("/c/{token}/summary", post(public::summary_post))
        .route("/c/{token}/rating", post(public::rating_post))
        .route("/c/{token}/end", post(public::end_post))
        .route("/c/{token}/events", get(public::events_get))
        .route("/assistant", get(assistant::assistant_get).post(assistant::assistant_post))
        .route("/assistant/stream", post(assistant::stream_post))
        .route("/assistant/confirm/{id}", post(assistant::confirm_post))
        .route("/assistant/cancel/{id}", post(assistant::cancel_post))
        .route("/static/{file}", get(assets::asset_get))
        .route("/calls/{id}/customer", get(calls::call_customer_get))
        .route("/customers", get(customers::customers_get).post(customers::customers_post))
        .route("/customers/new", get(customers::new_get))
        .route("/customers/{id}", get(customers::customer_get))
        .route("/customers/{id}/edit", get(customers::edit_get).post(customers::edit_post))
        .route("/customers/{id}/payments", post(customers::payment_post))
        .route("/customers/{id}/deactivate", post(customers::deactivate_post))
        .route("/customers/{id}/reactivate", post(customers::reactivate_post))
        .route("/tickets", get(tickets::tickets_get).post(tickets::tickets_post))
        .route("/tickets/new", get(tickets::new_get))
        .route("/tickets/{id}", get(tickets::ticket_get).post(tickets::ticket_post))
        .route("/inquiries", get(inquiries::inquiries_get))
        .route("/inquiries/{id}", get(inquiries::inquiry_get).post(inquiries::inquiry_post))
        .route("/inquiries/{id}/reply", post(inquiries::reply_post))
        .route("/calls/{id}/classification", post(teamwork::correct_post))
        .route("/calls/{id}/transfer", post(teamwork::transfer_post))
        .route("/calls/{id}/notes", post(teamwork::note_post))
        .route("/board/alerts", post(teamwork::alerts_post))
        .route("/users/{id}/department", post(users::user_department_post))
        .route("/calls/{id}/suggest", post(calls::suggest_post))
        .route("/calls/{id}/compose", post(calls::compose_post))
        .route("/canned-responses", get(canned::list_get).post(canned::create_post))
        .route("/canned-responses/new", get(canned::new_get))
        .route("/canned-responses/{id}/edit", get(canned::edit_get).post(canned::edit_post))
        .route("/canned-responses/{id}/delete", post(canned::delete_post))
        .fallback(not_found)
}

async fn not_found() -> AppError {
    AppError::NotFound
}

//! The API's OpenAPI 3.1 document, built at compile time from the handlers'
//! `#[utoipa::path]` annotations and the `ToSchema` types, served at
//! `GET /api/v1/openapi.json` (public: it describes the API, not its data).
//!
//! Paths are written in full (`/api/v1/...`), so a client resolves them against the
//! server's origin alone.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    actions, assistant, audit, auth, calls, canned, classify, customers, email, events, inquiries, reports, teamwork,
    tickets, users, wa_templates, whatsapp,
};

/// The document's definition: every documented operation.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Centralita API",
        description = "The JSON API of Centralita. Authenticate with `Authorization: Bearer <access_token>` \
            from `POST /api/v1/auth/login`. Errors are `{\"error\", \"message\", \"fields\"?}`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    servers((url = "/", description = "This server")),
    paths(
        auth::login_post, auth::refresh_post, auth::logout_post, auth::me_get, auth::password_post,
        users::users_get, users::users_post, users::user_get, users::user_patch,
        audit::audit_get,
        classify::classify_post,
        calls::calls_post, calls::call_get, calls::messages_post, calls::takeover_post, calls::handback_post,
        calls::close_post, calls::verify_customer_post,
        actions::actions_get, actions::approve_post, actions::reject_post,
        email::emails_get, email::emails_post, email::email_get, email::action_post,
        events::events_get, events::presence_post, events::board_get,
        customers::customers_get, customers::customers_post, customers::customer_get, customers::customer_patch,
        customers::payments_get, customers::payments_post,
        tickets::tickets_get, tickets::tickets_post, tickets::ticket_get, tickets::ticket_patch,
        teamwork::calls_get, teamwork::call_patch, teamwork::transfer_post, teamwork::notes_post,
        reports::stats_get, reports::csv_get,
        assistant::assistant_post, assistant::confirm_post, assistant::cancel_post,
        inquiries::inquiries_post, inquiries::inquiries_get, inquiries::inquiry_get, inquiries::inquiry_patch,
        inquiries::reply_post,
        canned::list_get, canned::create_post, canned::one_get, canned::update_patch, canned::delete_delete,
        canned::call_canned_get, canned::suggested_reply_get,
        whatsapp::webhook_get, whatsapp::webhook_post, whatsapp::conversations_get, whatsapp::conversation_get,
        whatsapp::read_post,
        wa_templates::list_get, wa_templates::create_post, wa_templates::one_get,
        wa_templates::update_patch, wa_templates::delete_delete, wa_templates::preview_post,
        wa_templates::send_template_post,
    ),
    modifiers(&BearerAuth),
    security(("bearerAuth" = [])),
    tags(
        (name = "auth", description = "Tokens and one's own account"),
        (name = "users", description = "Staff accounts (admins)"),
        (name = "audit", description = "The audit log (admins)"),
        (name = "calls", description = "Calls, turns and staff actions on them"),
        (name = "pending-actions", description = "Actions the AI asked a person to approve"),
        (name = "emails", description = "The email outbox"),
        (name = "live", description = "Events, presence and the live board"),
        (name = "customers", description = "Customers and payments"),
        (name = "tickets", description = "Support tickets"),
        (name = "reports", description = "Figures and CSV reports"),
        (name = "assistant", description = "The staff assistant and the payments it prepares"),
        (name = "inquiries", description = "Written inquiries, classified in the background, answered by email"),
        (name = "canned-responses", description = "Saved replies with variables, and the suggested reply"),
        (name = "whatsapp", description = "The WhatsApp channel: the Cloud API webhook and conversations"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearerAuth` scheme every operation's `security` names.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("An access token from POST /api/v1/auth/login (or /auth/refresh)"))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearerAuth", SecurityScheme::Http(scheme));
    }
}

/// The document, with the package's version.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

static JSON: LazyLock<String> = LazyLock::new(|| document().to_pretty_json().unwrap_or_default());

/// `GET /api/v1/openapi.json`.
pub async fn openapi_get() -> Response {
    let mut response = JSON.as_str().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

//! Choosing the interface language: the signed-in user's choice (kept in the session),
//! else the `lang` cookie, else `Accept-Language`, else Spanish.

use axum::http::{HeaderMap, header};
use tower_sessions::Session;

use crate::auth::extract::cookie;
use crate::i18n::Lang;

/// Session key holding the language.
pub const SESSION_KEY: &str = "lang";
/// Cookie holding an anonymous visitor's choice.
pub const COOKIE: &str = "centralita_lang";

/// The language for this request.
pub async fn resolve(headers: &HeaderMap, session: Option<&Session>) -> Lang {
    if let Some(session) = session
        && let Ok(Some(code)) = session.get::<String>(SESSION_KEY).await
        && let Some(lang) = Lang::parse(&code)
    {
        return lang;
    }
    if let Some(lang) = cookie(headers, COOKIE).and_then(Lang::parse) {
        return lang;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default()
}

//! The signed-in user's own account: password change and interface language.

use super::form::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::{PageCtx, lang};
use crate::app::AppState;
use crate::auth::extract::{ClientIp, CookieScope, WebAuth, session_keys, session_user, set_cookie};
use crate::error::{AppResult, FieldErrors};
use crate::i18n::Lang;
use crate::users;

#[derive(Template, WebTemplate)]
#[template(path = "account/password.html")]
/// The `account/password.html` template.
pub struct PasswordPage {
    page: PageCtx,
    errors: FieldErrors,
    changed: bool,
}

/// `GET /account` (the password page is the account page for now).
pub async fn account_get() -> Redirect {
    Redirect::to("/account/password")
}

/// `GET /account/password`.
pub async fn password_get(auth: WebAuth, headers: HeaderMap) -> AppResult<PasswordPage> {
    Ok(PasswordPage {
        page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "account").await?,
        errors: FieldErrors::new(),
        changed: false,
    })
}

/// Body of the password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /account/password`: checks the current password, sets the new one, and keeps
/// this session signed in while every other session and token ends.
pub async fn password_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let mut errors = users::check_password_change(
        state.db(),
        &auth.user,
        &form.current_password,
        &form.new_password,
        &state.config().login,
    )
    .await?;
    if form.new_password != form.confirm_password {
        errors.insert("confirm_password", "field.password_mismatch");
    }
    if !errors.is_empty() {
        let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "account").await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, PasswordPage { page, errors, changed: false }).into_response());
    }
    let user = users::set_own_password(state.db(), auth.user.id, &form.new_password, ip, &auth.user.username).await?;
    auth.session.cycle_id().await?;
    auth.session.insert(session_keys::EPOCH, user.session_epoch).await?;
    let page = PageCtx::new(&auth.session, &headers, Some(&user.principal()), "account").await?;
    Ok(PasswordPage { page, errors, changed: true }.into_response())
}

/// Body of the language switch.
#[derive(Debug, Deserialize)]
pub struct LangForm {
    #[serde(default)]
    lang: String,
}

/// `POST /lang`: switches the interface language; for a signed-in user it is saved
/// as their preference.
pub async fn lang_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<LangForm>,
) -> AppResult<Response> {
    let lang = Lang::parse(&form.lang).unwrap_or_default();
    if let Some(user) = session_user(&state, &session).await? {
        if user.lang() != lang {
            users::set_own_language(state.db(), &user, lang, ip).await?;
        }
        session.insert(lang::SESSION_KEY, lang.code()).await?;
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(same_origin_path)
        .unwrap_or_else(|| "/".to_owned());
    let mut response = Redirect::to(&back).into_response();
    let scope =
        CookieScope { path: "/", max_age: Some(31_536_000), same_site: "Lax", secure: state.config().secure_cookies };
    set_cookie(response.headers_mut(), lang::COOKIE, lang.code(), scope);
    Ok(response)
}

/// The path (and query) of a referer URL, only when it is a plain local path: no
/// open redirect to another site. Browsers read `/\evil.com` as `//evil.com` (the
/// URL standard treats `\` as `/` in http URLs) and drop tabs and line breaks before
/// parsing, so any backslash or control character disqualifies the path.
fn same_origin_path(referer: &str) -> Option<String> {
    let rest = referer.split_once("://").map(|(_, r)| r)?;
    let path = &rest[rest.find('/')?..];
    let plain = !path.starts_with("//") && !path.chars().any(|c| c == '\\' || c.is_control());
    plain.then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::same_origin_path;

    #[test]
    fn only_plain_local_paths_are_redirect_targets() {
        let ok = |r: &str| same_origin_path(r);
        assert_eq!(ok("http://localhost:8080/calls?page=2").as_deref(), Some("/calls?page=2"));
        assert_eq!(ok("https://centralita.example/").as_deref(), Some("/"));
        for bad in [
            "http://localhost//evil.com",
            "http://localhost/\\evil.com",
            "http://localhost/\\/evil.com",
            "http://localhost/calls\\..\\x",
            "http://localhost/\t/evil.com",
            "http://localhost/\n/evil.com",
            "http://localhost/x\u{7f}",
            "not a url",
            "http://localhost",
        ] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
    }
}

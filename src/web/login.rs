//! Sign-in and sign-out pages.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::{PageCtx, lang};
use crate::app::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{ClientIp, session_keys, session_user};
use crate::auth::login::authenticate;
use crate::db::Timestamp;
use crate::error::{AppError, AppResult};

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
/// The `login.html` template.
pub struct LoginPage {
    page: PageCtx,
    username: String,
    error_key: Option<&'static str>,
    notice_key: Option<&'static str>,
}

/// Query flags of the login page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    signed_out: Option<String>,
}

/// `GET /login`.
pub async fn login_get(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    query: axum::extract::Query<LoginQuery>,
) -> AppResult<Response> {
    if session_user(&state, &session).await?.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    let page = PageCtx::new(&session, &headers, None, "login").await?;
    let notice_key = query.signed_out.as_ref().map(|_| "login.signed_out");
    Ok(LoginPage { page, username: String::new(), error_key: None, notice_key }.into_response())
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /login`.
pub async fn login_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    match authenticate(&state, &form.username, &form.password, ip).await {
        Ok(user) => {
            // A fresh session id defeats fixation; a fresh CSRF token goes with it.
            session.cycle_id().await?;
            session.clear().await;
            session.insert(session_keys::USER_ID, user.id).await?;
            session.insert(session_keys::EPOCH, user.session_epoch).await?;
            session.insert(session_keys::AUTH_AT, Timestamp::now().unix_seconds()).await?;
            session.insert(lang::SESSION_KEY, user.lang().code()).await?;
            // The signed-in session's own CSRF token, replacing the anonymous one.
            super::csrf::token(&session, &headers).await?;
            let to = if user.must_change_password { "/account/password" } else { "/" };
            Ok(Redirect::to(to).into_response())
        }
        Err(err @ (AppError::InvalidCredentials | AppError::TooManyAttempts { .. })) => {
            let (status, key, retry) = match err {
                AppError::TooManyAttempts { retry_after } => {
                    (StatusCode::TOO_MANY_REQUESTS, "error.too_many_attempts", Some(retry_after))
                }
                _ => (StatusCode::UNAUTHORIZED, "error.invalid_credentials", None),
            };
            let page = PageCtx::new(&session, &headers, None, "login").await?;
            let username: String = form.username.chars().take(64).collect();
            let mut response =
                (status, LoginPage { page, username, error_key: Some(key), notice_key: None }).into_response();
            if let Some(secs) = retry
                && let Ok(v) = HeaderValue::from_str(&secs.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(response)
        }
        Err(other) => Err(other),
    }
}

/// `POST /logout`: ends the session.
pub async fn logout_post(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
) -> AppResult<Response> {
    if let Some(user) = session_user(&state, &session).await? {
        let entry =
            Entry::new(Some(user.id), user.username.clone(), "logout").target(format!("user:{}", user.id)).ip(ip);
        audit::record(state.db(), &entry).await?;
    }
    session.flush().await?;
    Ok(Redirect::to("/login?signed_out=1").into_response())
}

#[cfg(test)]
mod fuzz {
    //! The login form: any name and password a browser sends reach the check
    //! unchanged (a password with `+`, `&`, `%` or any script is not altered).
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn fuzz_login_form_round_trips_any_text(username in any::<String>(), password in any::<String>()) {
            let body = serde_urlencoded::to_string([("username", &username), ("password", &password)]).unwrap_or_default();
            let form: LoginForm = serde_urlencoded::from_str(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!((form.username, form.password), (username, password));
        }

        #[test]
        fn fuzz_login_form_takes_any_body(body in any::<String>()) {
            let _ = serde_urlencoded::from_str::<LoginForm>(&body);
        }
    }
}

//! API authentication: login, refresh rotation, logout, and the caller's own account.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ApiJson, ApiJsonVerbatim};
use crate::app::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{self, ACCESS_COOKIE, ApiAuth, ClientIp, CookieScope, REFRESH_COOKIE, cookie};
use crate::auth::login::authenticate;
use crate::auth::tokens::{self, TokenPair};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::users::{self, Me};

/// `POST /api/v1/auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

fn set_cookie(response: &mut Response, name: &str, value: &str, path: &str, max_age: u64, secure: bool) {
    let scope = CookieScope { path, max_age: Some(max_age), same_site: "Strict", secure };
    extract::set_cookie(response.headers_mut(), name, value, scope);
}

fn with_token_cookies(state: &AppState, pair: &tokens::TokenPair) -> Response {
    let secure = state.config().secure_cookies;
    let mut response = Json(pair).into_response();
    set_cookie(&mut response, ACCESS_COOKIE, &pair.access_token, "/", pair.expires_in, secure);
    set_cookie(&mut response, REFRESH_COOKIE, &pair.refresh_token, "/api/v1/auth", pair.refresh_expires_in, secure);
    response
}

/// `POST /api/v1/auth/login`.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth", security(()),
    summary = "Sign in: an access token and a single-use refresh token (also set as cookies)",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Wrong name or password (one answer for both)", body = ErrorBody),
        (status = 422, description = "Body of the wrong shape", body = ErrorBody),
        (status = 429, description = "Locked after too many failures (`Retry-After`)", body = ErrorBody),
    )
)]
pub async fn login_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJsonVerbatim(body): ApiJsonVerbatim<LoginRequest>,
) -> AppResult<Response> {
    let user = authenticate(&state, &body.username, &body.password, ip).await?;
    let c = state.config();
    let pair = tokens::issue(state.db(), state.keys(), &user, None, c.access_token_ttl, c.refresh_token_ttl).await?;
    Ok(with_token_cookies(&state, &pair))
}

/// `POST /api/v1/auth/refresh` body (the cookie is used when absent).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[serde(default)]
    refresh_token: Option<String>,
}

/// `POST /api/v1/auth/refresh`: single-use rotation with reuse detection.
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth", security(()),
    summary = "A new token pair for a refresh token (body or cookie); the old one is spent",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New pair", body = TokenPair),
        (status = 401, description = "Unknown, expired or reused refresh token (reuse ends the family)", body = ErrorBody),
        (status = 422, description = "Body of the wrong shape", body = ErrorBody),
    )
)]
pub async fn refresh_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> AppResult<Response> {
    let presented = body
        .refresh_token
        .or_else(|| cookie(&headers, REFRESH_COOKIE).map(str::to_owned))
        .ok_or(AppError::Unauthorized)?;
    let c = state.config();
    let (_, pair) =
        tokens::rotate(state.db(), state.keys(), &presented, c.access_token_ttl, c.refresh_token_ttl, ip).await?;
    Ok(with_token_cookies(&state, &pair))
}

/// `POST /api/v1/auth/logout`: revokes the token family of the caller (and of a
/// refresh token presented in the body or cookie) and clears the cookies. Always 204.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth", security((), ("bearerAuth" = [])),
    summary = "Sign out: revokes the caller's token family and clears the cookies",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out"),
        (status = 422, description = "Body of the wrong shape", body = ErrorBody),
    )
)]
pub async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    auth: Result<ApiAuth, AppError>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> AppResult<Response> {
    let db = state.db();
    if let Ok(auth) = &auth {
        tokens::revoke_family(db, &auth.family).await?;
        let entry = Entry::new(Some(auth.user.id), auth.user.username.clone(), "logout")
            .target(format!("user:{}", auth.user.id))
            .ip(ip);
        audit::record(db, &entry).await?;
    }
    let refresh = body.refresh_token.or_else(|| cookie(&headers, REFRESH_COOKIE).map(str::to_owned));
    if let Some(family) = match refresh {
        Some(t) => tokens::family_of(db, &t).await?,
        None => None,
    } {
        tokens::revoke_family(db, &family).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let secure = state.config().secure_cookies;
    set_cookie(&mut response, ACCESS_COOKIE, "", "/", 0, secure);
    set_cookie(&mut response, REFRESH_COOKIE, "", "/api/v1/auth", 0, secure);
    Ok(response)
}

/// `GET /api/v1/me`.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "auth",
    summary = "The caller's own account",
    responses(
        (status = 200, description = "The account", body = Me),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn me_get(auth: ApiAuth) -> Json<serde_json::Value> {
    Json(serde_json::to_value(Me::from(&auth.user)).unwrap_or_default())
}

/// `POST /api/v1/me/password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/me/password`: replaces the caller's password; every session and token
/// of the account ends (sign in again).
#[utoipa::path(
    post, path = "/api/v1/me/password", tag = "auth",
    summary = "Change one's own password; every session and token of the account ends",
    request_body = PasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "Wrong current password or a weak new one (`fields`)", body = ErrorBody),
    )
)]
pub async fn password_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<PasswordRequest>,
) -> AppResult<StatusCode> {
    let errors = users::check_password_change(
        state.db(),
        &auth.user,
        &body.current_password,
        &body.new_password,
        &state.config().login,
    )
    .await?;
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    users::set_own_password(state.db(), auth.user.id, &body.new_password, ip, &auth.user.username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod fuzz {
    //! The token API's JSON bodies: credentials arrive unchanged.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn fuzz_credential_bodies_round_trip_any_text(username in any::<String>(), password in any::<String>()) {
            let body = serde_json::json!({"username": username, "password": password}).to_string();
            let login: LoginRequest = serde_json::from_str(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!((login.username, login.password), (username.clone(), password.clone()));
            let body = serde_json::json!({"current_password": username, "new_password": password}).to_string();
            let change: PasswordRequest = serde_json::from_str(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!((change.current_password, change.new_password), (username, password));
        }
    }
}

//! Request extractors: the client IP, the API caller (bearer token or token cookie)
//! and the signed-in browser user (session).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use tower_sessions::Session;

use super::Principal;
use super::tokens;
use crate::context::Ctx;
use crate::db::Timestamp;
use crate::error::AppError;
use crate::users::{self, User};

/// Cookie carrying the API access token (set by the API login).
pub const ACCESS_COOKIE: &str = "centralita_access";
/// Cookie carrying the API refresh token (sent only to the auth endpoints).
pub const REFRESH_COOKIE: &str = "centralita_refresh";

/// Session keys for the signed-in user.
pub mod session_keys {
    /// Signed-in user id (mirrored to `sessions.user_id`).
    pub const USER_ID: &str = crate::db::session_store::USER_ID_KEY;
    /// User's session epoch at sign-in.
    pub const EPOCH: &str = "epoch";
    /// Unix seconds of sign-in, for the absolute lifetime.
    pub const AUTH_AT: &str = "auth_at";
}

/// The client's IP: the socket peer, or the last `X-Forwarded-For` hop (the one the
/// proxy in front added) when `CENTRALITA_TRUST_PROXY` is on.
#[derive(Clone, Debug)]
pub struct ClientIp(pub Option<String>);

impl<S> FromRequestParts<S> for ClientIp
where
    Ctx: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_ref(state);
        if ctx.config().trust_proxy {
            // The last hop is the one our proxy appended (the address it saw); the
            // ones before it are whatever the client chose to send.
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .map(str::trim)
                .and_then(|v| v.parse::<std::net::IpAddr>().ok());
            if let Some(ip) = forwarded {
                return Ok(Self(Some(ip.to_string())));
            }
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(Self(peer))
    }
}

/// The key that counts a client for throttling and rate limits: the IPv4 address, or
/// the /64 prefix of an IPv6 address (one subscriber usually holds a whole /64, so
/// counting single IPv6 addresses would let a client rotate through billions).
pub fn limit_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or_else(|| ip.to_owned(), |v4| v4.to_string()),
        _ => ip.to_owned(),
    }
}

/// How a cookie Centralita sets is scoped (every one is `HttpOnly`).
#[derive(Clone, Copy, Debug)]
pub struct CookieScope<'a> {
    /// `Path`.
    pub path: &'a str,
    /// `Max-Age` in seconds; `None` for a cookie that ends with the browser session.
    pub max_age: Option<u64>,
    /// `SameSite`: `Strict` or `Lax`.
    pub same_site: &'static str,
    /// `Secure`, when users reach the app over HTTPS.
    pub secure: bool,
}

/// Appends a `Set-Cookie` for `name=value` with `scope`.
pub fn set_cookie(headers: &mut HeaderMap, name: &str, value: &str, scope: CookieScope<'_>) {
    let max_age = scope.max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    let secure = if scope.secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path={}{max_age}; HttpOnly; SameSite={}{secure}", scope.path, scope.same_site);
    if let Ok(v) = axum::http::HeaderValue::from_str(&text) {
        headers.append(header::SET_COOKIE, v);
    }
}

/// A cookie value by name.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// An API caller authenticated by `Authorization: Bearer` or the access-token cookie.
#[derive(Clone, Debug)]
pub struct ApiAuth {
    /// The account, as stored now.
    pub user: User,
    /// Its principal.
    pub principal: Principal,
    /// Token family (for logout).
    pub family: String,
    /// When the access token expires (Unix seconds).
    pub expires_at: i64,
}

impl ApiAuth {
    /// The credential, for streams that outlive this request.
    pub fn holder(&self) -> super::live::Holder {
        super::live::Holder::Token {
            user_id: self.user.id,
            epoch: self.user.session_epoch,
            family: self.family.clone(),
            expires_at: self.expires_at,
        }
    }
}

impl<S> FromRequestParts<S> for ApiAuth
where
    Ctx: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_ref(state);
        // With an Authorization header the cookie is never consulted, so a request cannot
        // pair a junk header (skipping the CSRF content-type rule) with the cookie.
        let token = match parts.headers.get(header::AUTHORIZATION) {
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim)
                .ok_or(AppError::Unauthorized)?,
            None => cookie(&parts.headers, ACCESS_COOKIE).ok_or(AppError::Unauthorized)?,
        };
        let claims = tokens::verify_access(ctx.keys(), token).ok_or(AppError::Unauthorized)?;
        let id: i64 = claims.sub.parse().map_err(|_| AppError::Unauthorized)?;
        let user = token_user(&ctx, id, &claims.fam).await?.ok_or(AppError::Unauthorized)?;
        if user.disabled || user.session_epoch != claims.epoch {
            return Err(AppError::Unauthorized);
        }
        // A temporary password (set by an admin) only lets its holder replace it.
        let path = parts.uri.path();
        let allowed_while_temporary =
            path.ends_with("/me") || path.ends_with("/me/password") || path.ends_with("/auth/logout");
        if user.must_change_password && !allowed_while_temporary {
            return Err(AppError::PasswordChangeRequired);
        }
        Ok(Self { principal: user.principal(), user, family: claims.fam, expires_at: claims.exp })
    }
}

/// The account behind an access token of `family`, while the family is live (not
/// logged out or revoked): from the short-lived memo ([`super::cache`]) or the database.
async fn token_user(ctx: &Ctx, id: i64, family: &str) -> Result<Option<User>, AppError> {
    let key = super::cache::family_key(id, family);
    let ticket = match super::cache::cache().get(&key) {
        Ok(user) => return Ok(Some(user)),
        Err(ticket) => ticket,
    };
    let Some(user) = users::get(ctx.db(), id).await? else { return Ok(None) };
    if !tokens::family_active(ctx.db(), family).await? {
        return Ok(None);
    }
    super::cache::cache().store(key, &user, ticket);
    Ok(Some(user))
}

/// An [`ApiAuth`] caller who may work calls (agents, supervisors, admins). As an
/// extractor it refuses viewers with 403 before the request body is read, so a lower
/// role learns nothing from validation errors; handlers still take the capability
/// from the principal.
#[derive(Clone, Debug)]
pub struct ApiWorker(pub ApiAuth);

impl<S> FromRequestParts<S> for ApiWorker
where
    Ctx: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = ApiAuth::from_request_parts(parts, state).await?;
        if auth.principal.agent().is_none() {
            return Err(AppError::Forbidden);
        }
        Ok(Self(auth))
    }
}

/// An [`ApiAuth`] caller who may change customer records and register payments
/// (supervisors, admins); like [`ApiWorker`], lower roles get 403 before the body is
/// read.
#[derive(Clone, Debug)]
pub struct ApiOverseer(pub ApiAuth);

impl<S> FromRequestParts<S> for ApiOverseer
where
    Ctx: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = ApiAuth::from_request_parts(parts, state).await?;
        if auth.principal.records().is_none() {
            return Err(AppError::Forbidden);
        }
        Ok(Self(auth))
    }
}

/// A signed-in browser user (from the session). Rejects with 401, which the web layer
/// turns into a redirect to the login page.
#[derive(Clone, Debug)]
pub struct WebAuth {
    /// The account, as stored now.
    pub user: User,
    /// Its principal.
    pub principal: Principal,
    /// The session (for CSRF tokens and logout).
    pub session: Session,
}

impl<S> FromRequestParts<S> for WebAuth
where
    Ctx: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_ref(state);
        let session = Session::from_request_parts(parts, &ctx).await.map_err(|_| AppError::Unauthorized)?;
        let user = session_user(&ctx, &session).await?.ok_or(AppError::Unauthorized)?;
        Ok(Self { principal: user.principal(), user, session })
    }
}

impl WebAuth {
    /// The credential, for streams that outlive this request (`None` when the session
    /// has no stored id, which a signed-in session always has).
    pub async fn holder(&self, ctx: &Ctx) -> Result<Option<super::live::Holder>, AppError> {
        let Some(id) = self.session.id() else { return Ok(None) };
        let auth_at = self.session.get::<i64>(session_keys::AUTH_AT).await?.unwrap_or(0);
        Ok(Some(super::live::Holder::Session {
            id: id.to_string(),
            user_id: self.user.id,
            epoch: self.user.session_epoch,
            expires_at: auth_at + ctx.config().session_max.as_secs() as i64,
        }))
    }
}

/// The user signed in on `session`, if the sign-in is still valid: account enabled,
/// epoch unchanged, absolute lifetime not exceeded. An invalid sign-in is flushed.
pub async fn session_user(ctx: &Ctx, session: &Session) -> Result<Option<User>, AppError> {
    let Some(id) = session.get::<i64>(session_keys::USER_ID).await? else {
        return Ok(None);
    };
    let epoch = session.get::<i64>(session_keys::EPOCH).await?.unwrap_or(-1);
    let auth_at = session.get::<i64>(session_keys::AUTH_AT).await?.unwrap_or(0);
    let max_age = ctx.config().session_max.as_secs() as i64;
    let fresh = Timestamp::now().unix_seconds() - auth_at <= max_age;
    match session_account(ctx, id, session).await? {
        Some(user) if !user.disabled && user.session_epoch == epoch && fresh => Ok(Some(user)),
        _ => {
            session.flush().await?;
            Ok(None)
        }
    }
}

/// The account signed in on `session`: from the short-lived memo ([`super::cache`]) or
/// the database.
async fn session_account(ctx: &Ctx, id: i64, session: &Session) -> Result<Option<User>, AppError> {
    let Some(session_id) = session.id() else { return Ok(users::get(ctx.db(), id).await?) };
    let key = super::cache::session_key(id, &session_id.to_string());
    let ticket = match super::cache::cache().get(&key) {
        Ok(user) => return Ok(Some(user)),
        Err(ticket) => ticket,
    };
    let user = users::get(ctx.db(), id).await?;
    if let Some(user) = &user {
        super::cache::cache().store(key, user, ticket);
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::limit_key;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix_and_ipv4_as_is() {
        assert_eq!(limit_key("2001:db8:1:2::1"), limit_key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(limit_key("2001:db8:1:2::1"), limit_key("2001:db8:1:3::1"));
        assert_eq!(limit_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(limit_key("::ffff:203.0.113.7"), "203.0.113.7", "IPv4-mapped is the IPv4 client");
        assert_eq!(limit_key("unknown"), "unknown");
    }
}

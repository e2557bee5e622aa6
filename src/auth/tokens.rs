//! API tokens: short-lived JWT access tokens and rotating opaque refresh tokens.
//!
//! Access tokens are HS256 JWTs with an algorithm allow-list, `exp`, `aud` and a
//! `purpose` claim; they also carry the user's session epoch and refresh-token family,
//! so that a disable, a password change or a logout ends them at once. Refresh tokens
//! are random, stored only as SHA-256 hashes, single-use, and grouped in a family:
//! presenting a used one revokes the whole family (RFC 9700 §4.14.2).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{self, Entry};
use crate::db::with_db;
use crate::db::{Db, Timestamp};
use crate::error::{AppError, AppResult};
use crate::users::{self, User};

const AUDIENCE: &str = "centralita-api";
const PURPOSE_ACCESS: &str = "access";

/// Signing and verification keys, built once at start-up.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

impl Keys {
    /// Keys from a shared secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.leeway = 5;
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }
}

/// Claims inside an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Audience: always `centralita-api`.
    pub aud: String,
    /// Always `access`: a token minted for anything else is refused.
    pub purpose: String,
    /// The user's session epoch when issued.
    pub epoch: i64,
    /// Refresh-token family (the API "session").
    pub fam: String,
}

/// The token pair returned at login and refresh.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque single-use refresh token.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
    /// Refresh token lifetime in seconds (for the cookie).
    #[serde(skip)]
    pub refresh_expires_in: u64,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Mints a token pair for `user`, in `family` (a new family when `None`).
pub async fn issue(
    db: &Db,
    keys: &Keys,
    user: &User,
    family: Option<String>,
    access_ttl: std::time::Duration,
    refresh_ttl: std::time::Duration,
) -> AppResult<TokenPair> {
    let family = family.unwrap_or_else(random_token);
    let now = Timestamp::now();
    let claims = AccessClaims {
        sub: user.id.to_string(),
        exp: now.unix_seconds() + access_ttl.as_secs() as i64,
        iat: now.unix_seconds(),
        aud: AUDIENCE.into(),
        purpose: PURPOSE_ACCESS.into(),
        epoch: user.session_epoch,
        fam: family.clone(),
    };
    let access_token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)
        .map_err(|e| anyhow::anyhow!("jwt encode: {e}"))?;
    let refresh_token = random_token();
    let expires_at = now.plus(time::Duration::seconds(refresh_ttl.as_secs() as i64));
    with_db!(db, |pool| {
        sqlx::query(
        "INSERT INTO refresh_tokens (user_id, family, token_hash, expires_at, used_at, revoked, created_at) VALUES ($1, $2, $3, $4, NULL, FALSE, $5)",
    )
    .bind(user.id)
    .bind(&family)
    .bind(digest(&refresh_token))
    .bind(expires_at)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: access_ttl.as_secs(),
        refresh_expires_in: refresh_ttl.as_secs(),
    })
}

/// Checks signature, algorithm, expiry, audience and purpose of an access token.
pub fn verify_access(keys: &Keys, token: &str) -> Option<AccessClaims> {
    let data = jsonwebtoken::decode::<AccessClaims>(token, &keys.decoding, &keys.validation).ok()?;
    (data.claims.purpose == PURPOSE_ACCESS).then_some(data.claims)
}

/// True while the family has at least one token not revoked.
pub async fn family_active(db: &Db, family: &str) -> Result<bool, sqlx::Error> {
    let n = with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM refresh_tokens WHERE family = $1 AND revoked = FALSE",
    )
    .bind(family)
    .fetch_one(pool)
    .await)?;
    Ok(n > 0)
}

/// Revokes every token of a family (logout, reuse detection).
pub async fn revoke_family(db: &Db, family: &str) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| sqlx::query("UPDATE refresh_tokens SET revoked = TRUE WHERE family = $1")
        .bind(family)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    super::cache::cache().forget_all();
    Ok(())
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    id: i64,
    user_id: i64,
    family: String,
    expires_at: Timestamp,
    used_at: Option<Timestamp>,
    revoked: bool,
}

async fn find_refresh(db: &Db, token: &str) -> Result<Option<RefreshRow>, sqlx::Error> {
    with_db!(db, |pool| sqlx::query_as::<_, RefreshRow>(
        "SELECT id, user_id, family, expires_at, used_at, revoked FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(digest(token))
    .fetch_optional(pool)
    .await)
}

/// The family a refresh token belongs to, if it exists at all (for logout).
pub async fn family_of(db: &Db, token: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(find_refresh(db, token).await?.map(|r| r.family))
}

/// Exchanges a refresh token for a new pair in the same family. A token that was
/// already used (or revoked) revokes the whole family and fails.
pub async fn rotate(
    db: &Db,
    keys: &Keys,
    presented: &str,
    access_ttl: std::time::Duration,
    refresh_ttl: std::time::Duration,
    ip: Option<String>,
) -> AppResult<(User, TokenPair)> {
    let row = find_refresh(db, presented).await?.ok_or(AppError::Unauthorized)?;
    let now = Timestamp::now();
    if row.used_at.is_some() || row.revoked {
        return Err(reuse_detected(db, &row, ip).await);
    }
    if row.expires_at <= now {
        return Err(AppError::Unauthorized);
    }
    // Claim the token atomically: of two concurrent refreshes only one wins; the other
    // is treated as reuse.
    let claimed = with_db!(db, |pool| sqlx::query(
        "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked = FALSE",
    )
    .bind(row.id)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    if claimed != 1 {
        return Err(reuse_detected(db, &row, ip).await);
    }
    let user = users::get(db, row.user_id).await?.ok_or(AppError::Unauthorized)?;
    if user.disabled {
        revoke_family(db, &row.family).await?;
        return Err(AppError::Unauthorized);
    }
    let pair = issue(db, keys, &user, Some(row.family), access_ttl, refresh_ttl).await?;
    Ok((user, pair))
}

async fn reuse_detected(db: &Db, row: &RefreshRow, ip: Option<String>) -> AppError {
    let revoked = revoke_family(db, &row.family).await;
    let entry = Entry::new(Some(row.user_id), format!("user:{}", row.user_id), "token.reuse_detected")
        .target(format!("user:{}", row.user_id))
        .ip(ip);
    match (revoked, audit::record(db, &entry).await) {
        (Ok(()), Ok(())) => AppError::Unauthorized,
        (Err(e), _) | (_, Err(e)) => e.into(),
    }
}

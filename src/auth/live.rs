//! Who holds an open live stream, checked again while it stays open.
//!
//! An event stream is authorised when it connects, but it may stay open for hours:
//! long after its user was disabled, signed out, or their access token expired. Each
//! staff stream therefore carries its [`Holder`] and ends as soon as the holder is no
//! longer valid: on the dot when the token or the session's absolute lifetime runs
//! out, and within `CENTRALITA_STREAM_RECHECK_SECONDS` of a disable, a sign-out or a
//! revoked token family.

use std::time::Duration;

use crate::db::with_db;
use crate::db::{Db, Timestamp};
use crate::error::AppResult;

/// The credential a live stream was opened with.
#[derive(Clone, Debug)]
pub enum Holder {
    /// A bearer token (or the access-token cookie).
    Token {
        /// The user.
        user_id: i64,
        /// Their session epoch when the token was issued.
        epoch: i64,
        /// The refresh-token family (revoked on logout).
        family: String,
        /// The token's expiry, Unix seconds.
        expires_at: i64,
    },
    /// A browser session.
    Session {
        /// The session id (its row disappears on sign-out).
        id: String,
        /// The user.
        user_id: i64,
        /// Their session epoch at sign-in.
        epoch: i64,
        /// Sign-in time plus the absolute lifetime, Unix seconds.
        expires_at: i64,
    },
}

impl Holder {
    /// When the credential ends regardless of anything else (Unix seconds).
    pub fn expires_at(&self) -> i64 {
        match self {
            Self::Token { expires_at, .. } | Self::Session { expires_at, .. } => *expires_at,
        }
    }

    /// True while the credential still grants access: not expired, the user enabled
    /// with an unchanged epoch, and the session row or the token family alive.
    pub async fn still_valid(&self, db: &Db) -> AppResult<bool> {
        let now = Timestamp::now();
        if now.unix_seconds() >= self.expires_at() {
            return Ok(false);
        }
        let valid = match self {
            Self::Token { user_id, epoch, family, .. } => {
                let n: i64 = with_db!(db, |pool| sqlx::query_scalar(
                    "SELECT COUNT(*) FROM users u WHERE u.id = $1 AND u.disabled = FALSE AND u.session_epoch = $2 \
                     AND EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family = $3 AND r.revoked = FALSE)",
                )
                .bind(user_id)
                .bind(epoch)
                .bind(family)
                .fetch_one(pool)
                .await)?;
                n > 0
            }
            Self::Session { id, user_id, epoch, .. } => {
                let n: i64 = with_db!(db, |pool| {
                    sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.id = $1 AND s.expires_at > $2 AND u.id = $3 AND u.disabled = FALSE AND u.session_epoch = $4",
                )
                .bind(id)
                .bind(now)
                .bind(user_id)
                .bind(epoch)
                .fetch_one(pool)
                .await
                })?;
                n > 0
            }
        };
        Ok(valid)
    }
}

/// Resolves once `holder` no longer grants access: at its expiry, or at the first
/// periodic check (every `every`) that finds it revoked. A database error counts as
/// revoked: a stream that cannot be vouched for ends, and the client reconnects.
pub async fn revoked(db: Db, holder: Holder, every: Duration) {
    let left = (holder.expires_at() - Timestamp::now().unix_seconds()).max(0) as u64;
    let expiry = tokio::time::sleep(Duration::from_secs(left));
    tokio::pin!(expiry);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            () = &mut expiry => return,
            _ = tick.tick() => {
                match holder.still_valid(&db).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "live stream re-check failed; ending it");
                        return;
                    }
                }
            }
        }
    }
}

//! Login throttling per account name and per client IP.
//!
//! Counters are keyed by the name as typed (`user:<name>`), whether or not such an
//! account exists, so a lock looks the same for real and made-up names and reveals
//! nothing. A streak of failures older than the lockout window starts over.
//!
//! Counting and locking are one atomic statement that runs *before* the password is
//! checked: each attempt reserves its place in the streak, so attempts sent in
//! parallel cannot all slip in before the lock is written (OWASP Authentication Cheat
//! Sheet, "Account lockout"). An attempt is allowed only when its own reservation
//! kept the count within the limit; the one that reaches the limit sets the lock, and
//! every later one is refused until the lock expires, whatever the interleaving.

use crate::config::LoginPolicy;
use crate::db::with_db;
use crate::db::{Db, Timestamp};

/// The throttle key for an account name.
pub fn user_key(username: &str) -> String {
    format!("user:{}", username.trim().to_lowercase())
}

/// The throttle key for a client IP.
pub fn ip_key(ip: &str) -> String {
    format!("ip:{}", super::extract::limit_key(ip))
}

/// What a reservation found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The attempt may check its password; `locks` when a failure now leaves the key
    /// locked (this attempt reached the limit).
    Allowed {
        /// True when this attempt set the lock.
        locks: bool,
    },
    /// Refused without checking anything: locked for this many more seconds.
    Locked(u64),
}

/// Reserves one attempt for `key` against a limit of `max` consecutive failures.
///
/// The count moves first and is never reset by locking: the attempt that takes the
/// count to `max` sets `locked_until`, attempts while locked keep counting (and are
/// refused), and the first attempt after the lock expires starts a new streak at 1.
/// A success gives its reservation back with [`succeeded`].
pub async fn reserve(db: &Db, key: &str, max: i64, policy: &LoginPolicy) -> Result<Attempt, sqlx::Error> {
    let now = Timestamp::now();
    let window = time::Duration::seconds(policy.lockout.as_secs() as i64);
    let lock_until = now.plus(window);
    let stale = now.plus(-window);
    // `t` is the row as it was; SET expressions all read the old values, so the new
    // streak is spelled out twice.
    let sql = "INSERT INTO login_throttle AS t (key, failures, locked_until, updated_at) \
               VALUES ($1, 1, CASE WHEN 1 >= $2 THEN $4 ELSE NULL END, $3) \
               ON CONFLICT (key) DO UPDATE SET \
                 failures = CASE \
                   WHEN t.locked_until > $3 THEN t.failures + 1 \
                   WHEN t.locked_until IS NOT NULL OR t.updated_at <= $5 THEN 1 \
                   ELSE t.failures + 1 END, \
                 locked_until = CASE \
                   WHEN t.locked_until > $3 THEN t.locked_until \
                   WHEN (CASE WHEN t.locked_until IS NOT NULL OR t.updated_at <= $5 THEN 1 ELSE t.failures + 1 END) >= $2 THEN $4 \
                   ELSE NULL END, \
                 updated_at = $3 \
               RETURNING failures, locked_until";
    let (failures, locked_until): (i64, Option<Timestamp>) = with_db!(db, |pool| sqlx::query_as(sql)
        .bind(key)
        .bind(max)
        .bind(now)
        .bind(lock_until)
        .bind(stale)
        .fetch_one(pool)
        .await)?;
    if failures <= max {
        return Ok(Attempt::Allowed { locks: failures == max });
    }
    let until = locked_until.unwrap_or(lock_until);
    Ok(Attempt::Locked((until.unix_seconds() - now.unix_seconds()).max(1) as u64))
}

/// Clears the streak of `key` after a successful login.
pub async fn reset(db: &Db, key: &str) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Gives back the reservation of an attempt that checked no wrong password on a
/// shared key (the client IP): a success is not a failure, but it does not wipe the
/// failures of others either, or one valid account would let an IP guess at every
/// other one. A key left with no failures is removed, so successes alone never keep
/// an old streak alive.
pub async fn succeeded(db: &Db, key: &str, max: i64) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| sqlx::query("DELETE FROM login_throttle WHERE key = $1 AND failures <= 1")
        .bind(key)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    with_db!(db, |pool| sqlx::query(
        "UPDATE login_throttle SET failures = failures - 1, \
         locked_until = CASE WHEN failures - 1 < $2 THEN NULL ELSE locked_until END \
         WHERE key = $1 AND failures > 0",
    )
    .bind(key)
    .bind(max)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

//! Login throttling per account name and per client IP.
//!
//! Counters are keyed by the name as typed (`user:<name>`), whether or not such an
//! account exists, so a lock looks the same for real and made-up names and reveals
//! nothing. A streak of failures older than the lockout window starts over.

use crate::config::LoginPolicy;
use crate::db::{Db, Timestamp};
use crate::with_db;

/// The throttle key for an account name.
pub fn user_key(username: &str) -> String {
    format!("user:{}", username.trim().to_lowercase())
}

/// The throttle key for a client IP.
pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

#[derive(sqlx::FromRow)]
struct Row {
    failures: i64,
    locked_until: Option<Timestamp>,
    updated_at: Timestamp,
}

async fn load(db: &Db, key: &str) -> Result<Option<Row>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_as::<_, Row>("SELECT failures, locked_until, updated_at FROM login_throttle WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await)
}

/// Seconds until `key` is unlocked, or `None` when it is not locked.
pub async fn locked_for(db: &Db, key: &str) -> Result<Option<u64>, sqlx::Error> {
    let now = Timestamp::now();
    Ok(load(db, key).await?.and_then(|row| row.locked_until).filter(|until| *until > now).map(|until| {
        let secs = until.unix_seconds() - now.unix_seconds();
        secs.max(1) as u64
    }))
}

/// Counts one failure for `key`; locks it when the streak reaches `max`. Returns true
/// when this failure set the lock.
pub async fn record_failure(db: &Db, key: &str, max: i64, policy: &LoginPolicy) -> Result<bool, sqlx::Error> {
    let now = Timestamp::now();
    let window = time::Duration::seconds(policy.lockout.as_secs() as i64);
    let previous = load(db, key).await?;
    let streak = match previous {
        Some(row) if row.updated_at.plus(window) > now => row.failures + 1,
        _ => 1,
    };
    let locks = streak >= max;
    let locked_until = locks.then(|| now.plus(window));
    // The upsert's counter is computed from the row read above; two concurrent
    // failures may count as one, which only makes the lock one attempt later.
    with_db!(db, pool => sqlx::query(
        "INSERT INTO login_throttle (key, failures, locked_until, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(if locks { 0 } else { streak })
    .bind(locked_until)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(locks)
}

/// Clears the streak of `key` after a successful login.
pub async fn reset(db: &Db, key: &str) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

//! Checking a username and password, shared by the login page and the API.
//!
//! Unknown users, wrong passwords and disabled accounts all answer
//! [`AppError::InvalidCredentials`] after the same argon2 work, so neither the answer
//! nor its timing tells whether an account exists.

use crate::audit::{self, Entry};
use crate::auth::{password, throttle};
use crate::context::Ctx;
use crate::error::{AppError, AppResult};
use crate::users::{self, User};

/// Longest username kept for throttling and audit; longer input is cut, not trusted.
const MAX_TYPED: usize = 64;

/// Verifies credentials with throttling and auditing; returns the user on success.
#[tracing::instrument(skip_all)]
pub async fn authenticate(ctx: &Ctx, username: &str, password_text: &str, ip: Option<String>) -> AppResult<User> {
    let db = ctx.db();
    let policy = &ctx.config().login;
    // No account name holds a control character; as U+FFFD such a name stays a name of
    // its own for the throttle and the audit log (PostgreSQL cannot store NUL) and
    // matches no account, so it gets the same answer as any unknown name.
    let typed: String = username
        .trim()
        .to_lowercase()
        .chars()
        .take(MAX_TYPED)
        .map(|c| if c.is_control() { char::REPLACEMENT_CHARACTER } else { c })
        .collect();
    let user_key = throttle::user_key(&typed);
    let ip_key = ip.as_deref().map(throttle::ip_key);

    // The IP first: a locked client does not move the account's count.
    let ip_attempt = match &ip_key {
        Some(k) => throttle::reserve(db, k, policy.ip_max_failures, policy).await?,
        None => throttle::Attempt::Allowed { locks: false },
    };
    let user_attempt = match ip_attempt {
        throttle::Attempt::Allowed { .. } => throttle::reserve(db, &user_key, policy.max_failures, policy).await?,
        locked => locked,
    };
    // Refused because the name is locked: no password was tried, so the address
    // (an office behind one NAT, say) gets its reservation back.
    if let (throttle::Attempt::Allowed { .. }, throttle::Attempt::Locked(_), Some(k)) =
        (ip_attempt, user_attempt, &ip_key)
    {
        throttle::succeeded(db, k, policy.ip_max_failures).await?;
    }
    let (user_locks, ip_locks) = match (user_attempt, ip_attempt) {
        (throttle::Attempt::Allowed { locks: u }, throttle::Attempt::Allowed { locks: i }) => (u, i),
        (throttle::Attempt::Locked(retry_after), _) | (_, throttle::Attempt::Locked(retry_after)) => {
            let entry = Entry::new(None, typed.clone(), "login.blocked")
                .ip(ip)
                .metadata(serde_json::json!({ "retry_after": retry_after }));
            audit::record(db, &entry).await?;
            return Err(AppError::TooManyAttempts { retry_after });
        }
    };

    let found = users::find_for_login(db, &typed).await?;
    let hash = found.as_ref().map_or(ctx.dummy_hash(), |(_, h)| h.as_str());
    let password_ok = password::verify(password_text, hash).await?;
    let outdated = password_ok && password::outdated(hash);
    let old_hash = if outdated { Some(hash.to_owned()) } else { None };

    match found {
        Some((user, _)) if password_ok && !user.disabled => {
            if let Some(old_hash) = old_hash {
                // Stored with older argon2 parameters: replaced now that the password
                // is known (only if nothing changed it meanwhile).
                let new_hash = password::hash(password_text).await?;
                users::replace_hash(db, user.id, &old_hash, &new_hash).await?;
            }
            throttle::reset(db, &user_key).await?;
            if let Some(k) = &ip_key {
                throttle::succeeded(db, k, policy.ip_max_failures).await?;
            }
            let entry = Entry::new(Some(user.id), user.username.clone(), "login.success")
                .target(format!("user:{}", user.id))
                .ip(ip);
            audit::record(db, &entry).await?;
            Ok(user)
        }
        found => {
            let actor_id = found.as_ref().map(|(u, _)| u.id);
            let failure = Entry::new(actor_id, typed.clone(), "login.failure").ip(ip.clone());
            audit::record(db, &failure).await?;
            // The count was taken before the password was checked; this failure is
            // the one that leaves the lock in place.
            if user_locks || ip_locks {
                let what = if user_locks { "account" } else { "ip" };
                let entry = Entry::new(actor_id, typed, "login.locked").ip(ip).metadata(serde_json::json!({
                    "scope": what, "seconds": policy.lockout.as_secs(),
                }));
                audit::record(db, &entry).await?;
            }
            Err(AppError::InvalidCredentials)
        }
    }
}

//! A short-lived, in-memory memo of "this credential's account, as stored": the hot path
//! of authentication without a database read on every request.
//!
//! An API request carries a signed access token; checking it used to read the user
//! and count the family's live refresh tokens, two statements on every request. Now
//! the answer (the account, and that the family is live) is kept for
//! `CENTRALITA_AUTH_CACHE_MS` (1 s by default; 0 turns the memo off). A web request
//! still loads its session row; the account behind it is memoised the same way.
//!
//! Revocation stays effective:
//! - every change to an account or a token family in this process (disable, role,
//!   password, language, logout, refresh-token reuse) forgets everything memoised,
//!   after its commit; a lookup that raced with the change is not stored (a generation
//!   counter is checked before storing);
//! - a change made by another node, or by the command line, is seen when the memo
//!   expires: within `CENTRALITA_AUTH_CACHE_MS`.
//!
//! The memo is one per process, not one per app: the command line and every request
//! path change accounts through `users` and `tokens` functions that only hold the
//! database, and each must reach it. Keys are unique credentials (a token family or a
//! session id, both random), so two apps in one process (the integration tests) never
//! read each other's entries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::users::User;

/// Entries kept at most; beyond it the memo starts over (a flood of distinct tokens
/// costs database reads, never memory).
const CAPACITY: usize = 10_000;

struct Entry {
    user: User,
    at: Instant,
}

/// The memo (see the module docs).
pub struct AuthCache {
    ttl_ms: AtomicU64,
    generation: AtomicU64,
    entries: Mutex<HashMap<String, Entry>>,
}

static CACHE: LazyLock<AuthCache> = LazyLock::new(|| AuthCache {
    ttl_ms: AtomicU64::new(1000),
    generation: AtomicU64::new(0),
    entries: Mutex::new(HashMap::new()),
});

/// The process's memo.
pub fn cache() -> &'static AuthCache {
    &CACHE
}

/// A lookup in progress: what the memo's generation was before the database was read.
#[derive(Clone, Copy, Debug)]
pub struct Ticket(u64);

impl AuthCache {
    /// Sets how long an entry lives (`CENTRALITA_AUTH_CACHE_MS`; zero turns it off).
    pub fn set_ttl(&self, ttl: Duration) {
        self.ttl_ms.store(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.forget_all();
    }

    fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.load(Ordering::Relaxed))
    }

    /// The account memoised for `key`, if still fresh; otherwise a ticket to
    /// [`AuthCache::store`] what the database says.
    pub fn get(&self, key: &str) -> Result<User, Ticket> {
        // Read the generation first: a change committed after this point bumps it, and
        // the store of an answer read before the change is then refused.
        let ticket = Ticket(self.generation.load(Ordering::Acquire));
        let ttl = self.ttl();
        if ttl.is_zero() {
            return Err(ticket);
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(key) {
            Some(entry) if entry.at.elapsed() < ttl => Ok(entry.user.clone()),
            _ => Err(ticket),
        }
    }

    /// Memoises `user` for `key`, unless an account or token changed since `ticket`
    /// was taken.
    pub fn store(&self, key: String, user: &User, ticket: Ticket) {
        if self.ttl().is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock: `forget_all` bumps the generation before it clears.
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, Entry { user: user.clone(), at: Instant::now() });
    }

    /// Forgets everything: an account or a token family changed (call after the
    /// change is committed).
    pub fn forget_all(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

/// The memo key of an API token family.
pub fn family_key(user_id: i64, family: &str) -> String {
    format!("t:{user_id}:{family}")
}

/// The memo key of a web session.
pub fn session_key(user_id: i64, session_id: &str) -> String {
    format!("s:{user_id}:{session_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memo(ttl_ms: u64) -> AuthCache {
        AuthCache { ttl_ms: AtomicU64::new(ttl_ms), generation: AtomicU64::new(0), entries: Mutex::new(HashMap::new()) }
    }

    fn user(id: i64, epoch: i64) -> User {
        let now = crate::db::Timestamp::now();
        User {
            id,
            username: format!("u{id}"),
            email: format!("u{id}@example.com"),
            full_name: "U".into(),
            role: "agent".into(),
            language: "es".into(),
            must_change_password: false,
            disabled: false,
            session_epoch: epoch,
            created_at: now,
            updated_at: now,
            department: None,
            notify_escalations: true,
        }
    }

    #[test]
    fn a_stored_account_is_served_until_it_expires_or_anything_changes() {
        let memo = memo(60_000);
        let ticket = memo.get("t:1:f").unwrap_err();
        memo.store("t:1:f".into(), &user(1, 0), ticket);
        assert_eq!(memo.get("t:1:f").map(|u| u.id).ok(), Some(1));
        assert!(memo.get("t:1:other").is_err(), "another credential is not served");
        memo.forget_all();
        assert!(memo.get("t:1:f").is_err(), "a change forgets everything");
    }

    #[test]
    fn a_lookup_that_raced_with_a_change_is_not_stored() {
        let memo = memo(60_000);
        let ticket = memo.get("t:1:f").unwrap_err();
        // The account was read (epoch 0), then revoked before the answer was stored.
        memo.forget_all();
        memo.store("t:1:f".into(), &user(1, 0), ticket);
        assert!(memo.get("t:1:f").is_err());
    }

    #[test]
    fn zero_turns_the_memo_off_and_entries_expire() {
        let off = memo(0);
        let ticket = off.get("k").unwrap_err();
        off.store("k".into(), &user(1, 0), ticket);
        assert!(off.get("k").is_err());
        let short = memo(1);
        let ticket = short.get("k").unwrap_err();
        short.store("k".into(), &user(1, 0), ticket);
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.get("k").is_err());
    }
}

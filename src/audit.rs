//! The audit log: who did what to whom, from where, and when.

use serde::Serialize;

use crate::db::with_db;
use crate::db::{Db, Timestamp};

/// One audit event about to be written.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Acting user, when known.
    pub actor_id: Option<i64>,
    /// Acting user's name as typed or known (`system` for the CLI and start-up).
    pub actor: String,
    /// Dotted action name (`login.success`, `user.role_change`, ...).
    pub action: &'static str,
    /// What the action was about (`user:42`).
    pub target: Option<String>,
    /// Client IP, when the action came over HTTP.
    pub ip: Option<String>,
    /// Extra facts as a JSON object (never secrets).
    pub metadata: serde_json::Value,
}

impl Entry {
    /// An entry with no target, IP or metadata.
    pub fn new(actor_id: Option<i64>, actor: impl Into<String>, action: &'static str) -> Self {
        Self { actor_id, actor: actor.into(), action, target: None, ip: None, metadata: serde_json::json!({}) }
    }

    /// Sets the target.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Sets the client IP.
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }

    /// Sets the metadata object.
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Builds the INSERT for `entry`, so it can run on a pool or inside a transaction of
/// either backend: `audit_insert!(&entry).execute(&mut *tx).await?`.
macro_rules! audit_insert {
    ($entry:expr) => {{
        let entry: &$crate::audit::Entry = $entry;
        sqlx::query(
            "INSERT INTO audit_log (actor_id, actor, action, target, ip, metadata, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(entry.actor_id)
        .bind(entry.actor.clone())
        .bind(entry.action)
        .bind(entry.target.clone())
        .bind(entry.ip.clone())
        .bind(entry.metadata.to_string())
        .bind($crate::db::Timestamp::now())
    }};
}
pub(crate) use audit_insert;

/// Writes one entry on its own.
#[tracing::instrument(skip_all, fields(action = entry.action))]
pub async fn record(db: &Db, entry: &Entry) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| audit_insert!(entry).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// A stored audit row.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Row {
    /// Row id (also the paging cursor).
    pub id: i64,
    /// Acting user id.
    pub actor_id: Option<i64>,
    /// Acting user's name.
    pub actor: String,
    /// Dotted action name.
    pub action: String,
    /// Subject of the action.
    pub target: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// JSON object text.
    pub metadata: String,
    /// When it happened.
    pub at: Timestamp,
}

/// Newest entries first, up to `limit`, older than `before` (an id) when given.
pub async fn list(db: &Db, before: Option<i64>, limit: i64) -> Result<Vec<Row>, sqlx::Error> {
    let before = before.unwrap_or(i64::MAX);
    with_db!(db, |pool| {
        sqlx::query_as::<_, Row>(
        "SELECT id, actor_id, actor, action, target, ip, metadata, at FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
    })
}

//! A `tower-sessions` store over the application's own database, so that any node can
//! serve any request. (The published sqlx store targets an older sqlx; see STACK.md.)

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::{Db, Timestamp};
use crate::db::with_db;

/// Session data key holding the signed-in user's id; mirrored into `sessions.user_id`
/// so that disabling a user can delete their sessions in one statement.
pub const USER_ID_KEY: &str = "user_id";

/// Stores sessions in the `sessions` table.
#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    /// A store over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Deletes sessions whose expiry has passed; returns how many were removed.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        let now = Timestamp::now();
        let done = with_db!(&self.db, |pool| sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done)
    }
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

fn user_id_of(record: &Record) -> Option<i64> {
    record.data.get(USER_ID_KEY).and_then(serde_json::Value::as_i64)
}

impl DbSessionStore {
    /// Runs `sql` (`$1` id, `$2` user id, `$3` data, `$4` expiry) for `record`; returns
    /// the rows written.
    async fn write(&self, sql: &'static str, record: &Record) -> session_store::Result<u64> {
        let data = encode(record)?;
        with_db!(&self.db, |pool| sqlx::query(sql)
            .bind(record.id.to_string())
            .bind(user_id_of(record))
            .bind(&data)
            .bind(Timestamp::from(record.expiry_date))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(backend)
    }
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Retry on the (astronomically unlikely) id collision instead of overwriting
        // someone else's session.
        let insert =
            "INSERT INTO sessions (id, user_id, data, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING";
        while self.write(insert, record).await? != 1 {
            record.id = Id::default();
        }
        Ok(())
    }

    /// Updates an existing session only. A session deleted meanwhile (signed out in
    /// another tab, ended by an admin, expired and swept) stays deleted: a request
    /// that loaded it before must not write it back.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let update = "UPDATE sessions SET user_id = $2, data = $3, expires_at = $4 WHERE id = $1";
        self.write(update, record).await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, Timestamp)> = with_db!(&self.db, |pool| sqlx::query_as(
            "SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2",
        )
        .bind(id.to_string())
        .bind(Timestamp::now())
        .fetch_optional(pool)
        .await)
        .map_err(backend)?;
        let Some((data, expires_at)) = row else {
            return Ok(None);
        };
        let data = serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record { id: *id, data, expiry_date: expires_at.as_offset() }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        with_db!(&self.db, |pool| sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(backend)?;
        Ok(())
    }
}

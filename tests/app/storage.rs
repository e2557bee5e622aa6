//! Money, timestamps and the agents' names round-trip identically on SQLite and
//! PostgreSQL.

use centralita::agents::model::AgentKind;
use centralita::agents::{Department, Priority, Reason, Sentiment};
use std::time::Duration;

use centralita::db::{Money, Timestamp};
use centralita::{on_tx, with_db};
use time::macros::datetime;

use crate::helpers::TestApp;
use crate::on_both;

on_both!(
    money_and_timestamps_round_trip_exactly,
    timestamps_compare_correctly_in_sql,
    agent_names_are_stored_as_their_wire_names,
    transactions_dropped_without_commit_keep_nothing_and_hold_no_lock,
    more_writers_than_connections_all_get_their_turn,
    a_write_given_up_on_does_not_hold_up_the_next_query,
    writers_waiting_for_the_same_lock_go_in_the_order_they_came
);

async fn money_and_timestamps_round_trip_exactly(app: &TestApp) {
    let at = Timestamp::from(datetime!(2026-11-22 10:15:30.123456789 UTC));
    let amounts = [
        Money::from_cents(0),
        Money::from_cents(-1),
        Money::from_cents(123_456_789_012),
        Money::parse("0,10").unwrap(),
    ];
    let db = app.state.db();
    for (i, amount) in amounts.iter().enumerate() {
        let (back_amount, back_at): (Money, Timestamp) = with_db!(db, |pool| sqlx::query_as(
            "INSERT INTO customers (name, email, phone, balance_cents, active, created_at) VALUES ($1, $2, NULL, $3, TRUE, $4) RETURNING balance_cents, created_at",
        )
        .bind("Round Trip")
        .bind(format!("rt{i}@example.com"))
        .bind(*amount)
        .bind(at)
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(back_amount, *amount);
        assert_eq!(back_at, at);
        assert_eq!(back_at.to_string(), "2026-11-22T10:15:30.123456Z", "microseconds kept, nanoseconds cut on both");
    }
}

async fn timestamps_compare_correctly_in_sql(app: &TestApp) {
    // Whole seconds and fractions in the same second must order correctly.
    let db = app.state.db();
    let times =
        [datetime!(2026-01-01 00:00:00 UTC), datetime!(2026-01-01 00:00:00.5 UTC), datetime!(2026-01-01 00:00:01 UTC)];
    for (i, t) in times.iter().enumerate() {
        with_db!(db, |pool| sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
            .bind(format!("t{i}"))
            .bind("x")
            .execute(pool)
            .await
            .map(|_| ()))
        .unwrap();
        with_db!(db, |pool| sqlx::query(
            "INSERT INTO login_throttle (key, failures, locked_until, updated_at) VALUES ($1, 0, NULL, $2)"
        )
        .bind(format!("t{i}"))
        .bind(Timestamp::from(*t))
        .execute(pool)
        .await
        .map(|_| ()))
        .unwrap();
    }
    let later: Vec<String> = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT key FROM login_throttle WHERE updated_at > $1 ORDER BY updated_at",
    )
    .bind(Timestamp::from(times[0]))
    .fetch_all(pool)
    .await)
    .unwrap();
    assert_eq!(later, vec!["t1", "t2"]);
}

async fn agent_names_are_stored_as_their_wire_names(app: &TestApp) {
    let db = app.state.db();
    with_db!(db, |pool| sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
        .bind("priority")
        .bind(Priority::Critical)
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
    let (text, typed): (String, Priority) =
        with_db!(db, |pool| sqlx::query_as("SELECT value, value FROM settings WHERE key = $1")
            .bind("priority")
            .fetch_one(pool)
            .await)
        .unwrap();
    assert_eq!((text.as_str(), typed), ("critical", Priority::Critical), "plain text a person can query");

    async fn round_trip<T>(db: &centralita::db::Db, value: T) -> T
    where
        T: Send + Unpin + 'static,
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + for<'r> sqlx::Decode<'r, sqlx::Sqlite>,
        T: for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>,
        T: Clone,
    {
        with_db!(db, |pool| sqlx::query_scalar("SELECT CAST($1 AS TEXT)").bind(value.clone()).fetch_one(pool).await)
            .unwrap()
    }
    for &d in Department::ALL {
        assert_eq!(round_trip(db, d).await, d);
    }
    for &s in Sentiment::ALL {
        assert_eq!(round_trip(db, s).await, s);
    }
    for &a in AgentKind::ALL {
        assert_eq!(round_trip(db, a).await, a);
    }
    assert_eq!(round_trip(db, Reason::NegativeSentiment).await, Reason::NegativeSentiment);

    let unknown: Result<Department, sqlx::Error> =
        with_db!(db, |pool| sqlx::query_scalar("SELECT CAST($1 AS TEXT)").bind("marketing").fetch_one(pool).await);
    assert!(unknown.is_err(), "a word the enum does not know is an error, not a default");
}

/// Inserts a setting inside `tx`.
async fn insert_setting(tx: &mut centralita::db::Tx, key: &str) {
    on_tx!(tx, |conn| sqlx::query("INSERT INTO settings (key, value) VALUES ($1, 'x')")
        .bind(key)
        .execute(&mut *conn)
        .await
        .map(|_| ()))
    .unwrap();
}

async fn transactions_dropped_without_commit_keep_nothing_and_hold_no_lock(app: &TestApp) {
    let db = app.state.db();
    // More than the pool's connections: each is lent again after a dropped transaction.
    for i in 0..25 {
        let mut tx = db.begin().await.unwrap();
        insert_setting(&mut tx, &format!("dropped{i}")).await;
        drop(tx);
    }
    // A request cancelled while its transaction is open (a client that went away).
    let cancelled = tokio::time::timeout(Duration::from_millis(300), async {
        let mut tx = db.begin().await.unwrap();
        insert_setting(&mut tx, "cancelled").await;
        std::future::pending::<()>().await;
    })
    .await;
    assert!(cancelled.is_err(), "the request was cut short inside its transaction");
    // Had any of them kept its transaction (and on SQLite the write lock), this write
    // would fail once the busy timeout ran out.
    let mut tx = db.begin().await.unwrap();
    insert_setting(&mut tx, "kept").await;
    tx.commit().await.unwrap();
    let keys: Vec<String> = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT key FROM settings WHERE key LIKE 'dropped%' OR key IN ('cancelled', 'kept') ORDER BY key"
    )
    .fetch_all(pool)
    .await)
    .unwrap();
    assert_eq!(keys, ["kept"]);
}

async fn more_writers_than_connections_all_get_their_turn(app: &TestApp) {
    let db = app.state.db().clone();
    let writers: Vec<_> = (0..40)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin().await.unwrap();
                insert_setting(&mut tx, &format!("writer{i:02}")).await;
                tx.commit().await.unwrap();
                // And a read outside any transaction, on whichever connection is free.
                let n: i64 = with_db!(&db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM settings WHERE key = $1")
                    .bind(format!("writer{i:02}"))
                    .fetch_one(pool)
                    .await)
                .unwrap();
                assert_eq!(n, 1, "a writer reads its own committed row");
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let n: i64 = with_db!(&db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM settings WHERE key LIKE 'writer%'")
        .fetch_one(pool)
        .await)
    .unwrap();
    assert_eq!(n, 40);
}

async fn a_write_given_up_on_does_not_hold_up_the_next_query(app: &TestApp) {
    let db = app.state.db();
    // A transaction holds the write lock (on SQLite), so the write below waits for it.
    // On SQLite it is another process's (a connection of its own on the same file):
    // this process's writers would wait for their turn before taking a connection.
    let holder = match app.backend {
        centralita::db::Backend::Sqlite => {
            use sqlx::Connection;
            let mut outside = sqlx::SqliteConnection::connect(app.database_url()).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE").execute(&mut outside).await.unwrap();
            sqlx::query("INSERT INTO settings (key, value) VALUES ('holder', 'x')")
                .execute(&mut outside)
                .await
                .unwrap();
            Holder::Outside(outside)
        }
        centralita::db::Backend::Postgres => {
            let mut tx = db.begin().await.unwrap();
            insert_setting(&mut tx, "holder").await;
            Holder::Inside(tx)
        }
    };
    // Its caller gives up (a client that went away); the statement, already sent,
    // still waits on the connection's thread.
    let _ = tokio::time::timeout(Duration::from_millis(300), async {
        with_db!(db, |pool| sqlx::query("INSERT INTO settings (key, value) VALUES ('given-up', 'x')")
            .execute(pool)
            .await
            .map(|_| ()))
    })
    .await;
    // A read must not be lent that busy connection: it would wait until the holder
    // commits, which here comes only after the read.
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        with_db!(db, |pool| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM settings WHERE key = 'holder'")
            .fetch_one(pool)
            .await)
    })
    .await
    .expect("the read was not queued behind the abandoned write")
    .unwrap();
    assert_eq!(read, 0, "the holder has not committed yet");
    match holder {
        Holder::Outside(mut conn) => sqlx::query("COMMIT").execute(&mut conn).await.map(|_| ()).unwrap(),
        Holder::Inside(tx) => tx.commit().await.unwrap(),
    }
}

/// Who holds the write lock in [`a_write_given_up_on_does_not_hold_up_the_next_query`].
enum Holder {
    /// A connection outside the app's pool (SQLite).
    Outside(sqlx::SqliteConnection),
    /// A transaction of the app (PostgreSQL).
    Inside(centralita::db::Tx),
}

/// Appends `letter` to the `queue` setting inside `tx`.
async fn append(tx: &mut centralita::db::Tx, letter: &str) {
    on_tx!(tx, |conn| sqlx::query("UPDATE settings SET value = value || $1 WHERE key = 'queue'")
        .bind(letter)
        .execute(&mut *conn)
        .await
        .map(|_| ()))
    .unwrap();
}

/// On SQLite this process's writers queue for the write lock in the order they came.
async fn writers_waiting_for_the_same_lock_go_in_the_order_they_came(app: &TestApp) {
    let db = app.state.db().clone();
    with_db!(&db, |pool| sqlx::query("INSERT INTO settings (key, value) VALUES ('queue', '')")
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
    // A holds the lock (on SQLite the file's write lock, on PostgreSQL the row's) while
    // B, C (a statement on its own, outside any transaction) and D come, in that
    // order, and wait.
    let mut holder = db.begin().await.unwrap();
    append(&mut holder, "A").await;
    let mut waiting = Vec::new();
    for letter in ["B", "C", "D"] {
        let db = db.clone();
        waiting.push(tokio::spawn(async move {
            if letter == "C" {
                with_db!(&db, |pool| sqlx::query("UPDATE settings SET value = value || 'C' WHERE key = 'queue'")
                    .execute(pool)
                    .await
                    .map(|_| ()))
                .unwrap();
            } else {
                let mut tx = db.begin().await.unwrap();
                append(&mut tx, letter).await;
                tx.commit().await.unwrap();
            }
        }));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Long enough that SQLite's own retries (sleeps of 1, 2, 5 … 100 ms) would have
    // drifted apart: it serves whichever retries first, not whoever came first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.commit().await.unwrap();
    for w in waiting {
        w.await.unwrap();
    }
    let queue: String = with_db!(&db, |pool| sqlx::query_scalar("SELECT value FROM settings WHERE key = 'queue'")
        .fetch_one(pool)
        .await)
    .unwrap();
    match db {
        centralita::db::Db::Sqlite(_) => assert_eq!(queue, "ABCD"),
        // PostgreSQL wakes every writer waiting on a row when its holder ends, and they
        // race for it: each writes once, after A, in no set order.
        centralita::db::Db::Postgres(_) => {
            let mut rest: Vec<char> = queue.chars().skip(1).collect();
            rest.sort_unstable();
            assert_eq!((queue.chars().next(), rest), (Some('A'), vec!['B', 'C', 'D']), "{queue}");
        }
    }
}

#[test]
fn statements_that_write_are_told_from_reads() {
    use centralita::db::sqlite::may_write;
    for write in [
        "INSERT INTO settings (key, value) VALUES ($1, $2)",
        "  \n update calls SET status = 'ai' WHERE id = $1",
        "DELETE FROM sessions WHERE expires_at < $1",
        "-- a comment first\nREPLACE INTO settings VALUES ('a', 'b')",
        "/* select */ INSERT INTO x VALUES (1)",
        "WITH old AS (SELECT id FROM calls) UPDATE calls SET status = 'closed' WHERE id IN (SELECT id FROM old)",
        "CREATE INDEX i ON calls (status)",
    ] {
        assert!(may_write(write), "a write: {write}");
    }
    for read in [
        "SELECT id FROM calls WHERE status = 'ai'",
        "  select 1",
        "-- INSERT in a comment\nSELECT 1",
        "WITH t AS (SELECT 1 AS n) SELECT n FROM t",
        "WITH t AS (SELECT 'INSERT' AS word) SELECT word FROM t",
        "(SELECT 1)",
        "PRAGMA wal_checkpoint(PASSIVE)",
        "",
    ] {
        assert!(!may_write(read), "a read: {read}");
    }
}

/// This process's SQLite pool of up to four connections on a new file in `dir`, giving
/// up a loan after `acquire_timeout`.
async fn temporary_pool(dir: &tempfile::TempDir, acquire_timeout: Duration) -> centralita::db::sqlite::Pool {
    use std::str::FromStr;
    let url = format!("sqlite://{}", dir.path().join("pool.db").display());
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true);
    centralita::db::sqlite::Pool::connect(options, 4, acquire_timeout).await.unwrap()
}

/// A writer kept waiting past the acquire timeout by another writer is refused with an
/// error that names the write lock (not the connection count, which would not help).
#[tokio::test]
async fn a_writer_kept_waiting_too_long_is_told_why() {
    let dir = tempfile::tempdir().unwrap();
    let pool = temporary_pool(&dir, Duration::from_millis(300)).await;
    let holder = pool.begin().await.unwrap();
    let started = std::time::Instant::now();
    let err = pool.begin().await.expect_err("the lock is held");
    assert!(started.elapsed() >= Duration::from_millis(250), "it waited its time");
    let text = err.to_string();
    assert!(text.contains("write lock") && !text.contains("connection"), "{text}");
    holder.commit().await.unwrap();
    pool.begin().await.expect("free again").commit().await.unwrap();
    pool.close().await;
}

/// Writers are lent the connection of the last write, whose page cache is the only one
/// SQLite has not emptied since (it empties a connection's cache when another
/// connection wrote); readers get it only when no other connection is idle. A write
/// while a read holds it runs on another connection, which then becomes the last
/// writer's. A temporary table, seen only by the connection that made it, tells the
/// connections apart.
#[tokio::test]
async fn writers_are_lent_the_last_writers_connection() {
    let dir = tempfile::tempdir().unwrap();
    let pool = temporary_pool(&dir, Duration::from_secs(5)).await;
    async fn marks<'c>(conn: impl sqlx::Executor<'c, Database = sqlx::Sqlite>, mark: &str) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM temp.sqlite_master WHERE name = $1")
            .bind(mark)
            .fetch_one(conn)
            .await
            .unwrap()
    }
    // A lease used directly (not through the pool's executor) goes back from a task of
    // its own once its connection answers a ping: waits until `free` of the pool's 4
    // loans are free again.
    async fn back(pool: &centralita::db::sqlite::Pool, free: usize) {
        for _ in 0..500 {
            if format!("{pool:?}").contains(&format!("available: {free}")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the connections did not come back: {pool:?}");
    }
    let all_back = async |pool| back(pool, 4).await;
    let reads = async || [pool.acquire().await.unwrap(), pool.acquire().await.unwrap(), pool.acquire().await.unwrap()];
    // Three connections open.
    drop(reads().await);
    all_back(&pool).await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("CREATE TABLE t (x INTEGER)").execute(&mut *tx).await.unwrap();
    sqlx::query("CREATE TEMP TABLE first_writer (x INTEGER)").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();

    // Reads get the others while they are idle, the writer's connection last.
    let [mut one, mut two, mut three] = reads().await;
    assert_eq!(marks(&mut *one, "first_writer").await, 0, "a read was lent the writer's connection first");
    assert_eq!(marks(&mut *two, "first_writer").await, 0, "a read was lent the writer's connection first");
    assert_eq!(marks(&mut *three, "first_writer").await, 1);
    drop([one, two, three]);
    all_back(&pool).await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO t (x) VALUES (1)").execute(&mut *tx).await.unwrap();
    assert_eq!(marks(&mut *tx, "first_writer").await, 1, "the write ran on a stale connection");
    tx.commit().await.unwrap();

    // A write while reads hold every other connection runs on another ...
    let held = reads().await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO t (x) VALUES (2)").execute(&mut *tx).await.unwrap();
    assert_eq!(marks(&mut *tx, "first_writer").await, 0);
    sqlx::query("CREATE TEMP TABLE second_writer (x INTEGER)").execute(&mut *tx).await.unwrap();
    // The reads go back first: the one lent the old writer's connection no longer
    // holds the last writer's (a write was lent since), so it does not take its place.
    drop(held);
    back(&pool, 3).await;
    tx.commit().await.unwrap();
    all_back(&pool).await;
    // ... which the next write gets.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO t (x) VALUES (3)").execute(&mut *tx).await.unwrap();
    assert_eq!(marks(&mut *tx, "second_writer").await, 1, "the write ran on a stale connection");
    tx.commit().await.unwrap();
    pool.close().await;
}

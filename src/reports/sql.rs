//! The two spots where SQLite and PostgreSQL need different SQL for a report: an
//! instant's 15-minute bucket and the seconds between two instants. Queries are written
//! once with `{quarter:<column>}` and `{seconds:<from>,<to>}` markers.

use sqlx::AssertSqlSafe;

use crate::db::Db;

/// `sql` with its markers replaced by `db`'s dialect. Only fixed column names from our
/// own query texts are spliced in, never a value.
pub fn dialect(db: &Db, sql: &'static str) -> AssertSqlSafe<String> {
    let sqlite = matches!(db, Db::Sqlite(_));
    let mut out = String::with_capacity(sql.len() + 64);
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let marker = &after[..close];
        match marker.split_once(':') {
            // Seconds are truncated first: SQLite rounds fractions to milliseconds,
            // which could carry 23:59:59.9999 into the next bucket (and day).
            Some(("quarter", col)) if sqlite => {
                out.push_str(&format!("(CAST(strftime('%s', substr({col}, 1, 19)) AS INTEGER) / 900)"))
            }
            Some(("quarter", col)) => out.push_str(&format!("CAST(FLOOR(EXTRACT(EPOCH FROM {col}) / 900) AS BIGINT)")),
            Some(("seconds", cols)) => {
                let (from, to) = cols.split_once(',').unwrap_or((cols, cols));
                if sqlite {
                    out.push_str(&format!("((julianday({to}) - julianday({from})) * 86400.0)"));
                } else {
                    out.push_str(&format!("EXTRACT(EPOCH FROM ({to} - {from}))"));
                }
            }
            _ => {
                out.push('{');
                out.push_str(marker);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    AssertSqlSafe(out)
}

/// The instant a 15-minute bucket number starts.
pub fn quarter_start(bucket: i64) -> crate::db::Timestamp {
    time::OffsetDateTime::from_unix_timestamp(bucket.saturating_mul(900))
        .map(crate::db::Timestamp::from)
        .unwrap_or_else(|_| crate::db::Timestamp::now())
}

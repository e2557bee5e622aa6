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
            // SQLite stores fixed-width UTC text (`2026-11-22T10:15:30.123456Z`): cutting
            // it up is several times faster than its date functions, which also round
            // fractions to milliseconds (23:59:59.9999 would become the next day).
            Some(("quarter", col)) if sqlite => out.push_str(&format!(
                "(CAST(substr({col}, 1, 4) || substr({col}, 6, 2) || substr({col}, 9, 2) || substr({col}, 12, 2) \
                 AS INTEGER) * 10 + CAST(substr({col}, 15, 2) AS INTEGER) / 15)"
            )),
            Some(("quarter", col)) => out.push_str(&format!(
                "(CAST(to_char({col} AT TIME ZONE 'UTC', 'YYYYMMDDHH24') AS BIGINT) * 10 \
                 + CAST(FLOOR(EXTRACT(MINUTE FROM {col} AT TIME ZONE 'UTC') / 15) AS BIGINT))"
            )),
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

/// The instant a 15-minute bucket starts. A bucket is the UTC hour as `YYYYMMDDHH`
/// times ten plus the quarter (0–3): `2026112210` `3` is 10:45 UTC on 22 November 2026.
pub fn quarter_start(bucket: i64) -> Option<crate::db::Timestamp> {
    let (hour_key, quarter) = (bucket / 10, bucket % 10);
    let (year, month, day, hour) =
        (hour_key / 1_000_000, hour_key / 10_000 % 100, hour_key / 100 % 100, hour_key % 100);
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let at = date.with_hms(u8::try_from(hour).ok()?, u8::try_from(quarter * 15).ok()?, 0).ok()?;
    Some(crate::db::Timestamp::from(at.assume_utc()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bucket_names_its_utc_hour_and_quarter() {
        let at = super::quarter_start(20261122103).map(|t| t.to_sqlite_text());
        assert_eq!(at.as_deref(), Some("2026-11-22T10:45:00.000000Z"));
        assert!(super::quarter_start(20261322103).is_none());
    }
}

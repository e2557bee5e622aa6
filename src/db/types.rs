//! Column types that must round-trip identically on SQLite and PostgreSQL.

use std::fmt;

use serde::{Deserialize, Serialize};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// A UTC instant with microsecond precision.
///
/// PostgreSQL keeps microseconds, so values are truncated to that on creation; SQLite
/// stores a fixed-width text (`2026-11-22T10:15:30.123456Z`) that sorts and compares
/// correctly as text, which sqlx's variable-width RFC 3339 encoding does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Timestamp(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

/// RFC 3339 text, with any offset, made UTC with microsecond precision like every
/// other way in ([`From<OffsetDateTime>`]).
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let at = time::serde::rfc3339::deserialize(deserializer)?;
        // An instant whose UTC form falls outside the supported years is an error, not
        // a panic in `to_offset`.
        let utc = at
            .checked_to_offset(UtcOffset::UTC)
            .ok_or_else(|| serde::de::Error::custom("the instant is outside the supported years"))?;
        Ok(Self::from(utc))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 instant in UTC"))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

const SQLITE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

impl Timestamp {
    /// The current instant.
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    /// The wrapped `OffsetDateTime` (always UTC).
    pub fn as_offset(&self) -> OffsetDateTime {
        self.0
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }

    /// This instant moved forward by `d`.
    pub fn plus(&self, d: time::Duration) -> Self {
        Self::from(self.0 + d)
    }

    /// Fixed-width text form used by the SQLite encoding.
    pub fn to_sqlite_text(&self) -> String {
        // Formatting a UTC date in the supported year range cannot fail; fall back to
        // RFC 3339 rather than panic if it ever does.
        self.0.format(SQLITE_FORMAT).or_else(|_| self.0.format(&Rfc3339)).unwrap_or_default()
    }

    /// Short human form for pages: `2026-11-22 10:15 UTC`.
    pub fn display_minutes(&self) -> String {
        let f = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
        self.0.format(f).unwrap_or_default()
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(value: OffsetDateTime) -> Self {
        let utc = value.to_offset(UtcOffset::UTC);
        let micros = utc.nanosecond() / 1_000 * 1_000;
        Self(utc.replace_nanosecond(micros).unwrap_or(utc))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_sqlite_text())
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty) || <OffsetDateTime as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.to_sqlite_text(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(Self::from(OffsetDateTime::parse(text, &Rfc3339)?))
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode(self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::from(<OffsetDateTime as Decode<Postgres>>::decode(value)?))
    }
}

/// An exact amount of money in cents (never a float).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct Money(i64);

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .description(Some("an amount in cents"))
            .into()
    }
}

impl utoipa::ToSchema for Money {}

impl Money {
    /// An amount from a count of cents.
    pub const fn from_cents(cents: i64) -> Self {
        Self(cents)
    }

    /// The amount in cents.
    pub const fn cents(&self) -> i64 {
        self.0
    }

    /// Parses `"12.34"`, `"-5"`, `"0,99"` (comma decimal separator as in Spanish) exactly.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let (negative, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (whole, frac) = match digits.split_once(['.', ',']) {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let frac_cents: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().ok()? * 10,
            _ => frac.parse().ok()?,
        };
        let cents = whole.checked_mul(100)?.checked_add(frac_cents)?;
        Some(Self(if negative { -cents } else { cents }))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Stores an enum of names as TEXT on both backends through its `as_str` and
/// `FromStr`: SQLite and PostgreSQL hold the same words, and a word the enum does not
/// know fails to decode instead of turning into some default.
macro_rules! text_column {
    ($ty:ty) => {
        $crate::db::types::text_column!($ty, ::sqlx::Sqlite);
        $crate::db::types::text_column!($ty, ::sqlx::Postgres);
    };
    ($ty:ty, $db:ty) => {
        impl ::sqlx::Type<$db> for $ty {
            fn type_info() -> <$db as ::sqlx::Database>::TypeInfo {
                <str as ::sqlx::Type<$db>>::type_info()
            }
            fn compatible(ty: &<$db as ::sqlx::Database>::TypeInfo) -> bool {
                <str as ::sqlx::Type<$db>>::compatible(ty)
            }
        }

        impl ::sqlx::Encode<'_, $db> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <$db as ::sqlx::Database>::ArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<'_, $db>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, $db> for $ty {
            fn decode(value: <$db as ::sqlx::Database>::ValueRef<'r>) -> Result<Self, ::sqlx::error::BoxDynError> {
                Ok(<&str as ::sqlx::Decode<'r, $db>>::decode(value)?.parse()?)
            }
        }
    };
}
pub(crate) use text_column;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_timestamp_read_from_json_is_utc_with_microseconds() {
        let t: Timestamp = serde_json::from_str("\"2026-11-22T12:15:30.123456789+02:00\"").unwrap();
        assert_eq!(t.to_sqlite_text(), "2026-11-22T10:15:30.123456Z");
        assert_eq!(t.as_offset().offset(), UtcOffset::UTC);
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2026-11-22T10:15:30.123456Z\"");
        let beyond = serde_json::from_str::<Timestamp>("\"9999-12-31T23:59:59-01:00\"");
        assert!(beyond.is_err(), "{beyond:?}");
    }

    proptest! {
        #[test]
        fn money_display_parses_back(cents in -1_000_000_000_000i64..1_000_000_000_000i64) {
            let m = Money::from_cents(cents);
            prop_assert_eq!(Money::parse(&m.to_string()), Some(m));
        }

        #[test]
        fn timestamp_text_sorts_like_time(a in 0i64..4_000_000_000_000_000, b in 0i64..4_000_000_000_000_000) {
            let ta = Timestamp::from(OffsetDateTime::from_unix_timestamp_nanos(i128::from(a) * 1000).unwrap());
            let tb = Timestamp::from(OffsetDateTime::from_unix_timestamp_nanos(i128::from(b) * 1000).unwrap());
            prop_assert_eq!(ta.cmp(&tb), ta.to_sqlite_text().cmp(&tb.to_sqlite_text()));
        }
    }

    #[test]
    fn money_rejects_garbage() {
        for bad in ["", "abc", "1.234", "1..2", "--1", "1e5", "٣"] {
            assert_eq!(Money::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Money::parse("0,5"), Some(Money::from_cents(50)));
    }
}

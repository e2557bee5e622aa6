//! Days in the team's time zone (`CENTRALITA_TIMEZONE`, UTC by default): the `from`/`to`
//! date range of lists and reports, and how instants are shown on pages and in exports.

use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::db::Timestamp;

/// The time zone days and hours are counted in.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Default for Zone {
    fn default() -> Self {
        Self { name: "UTC".into(), tz: TimeZone::UTC }
    }
}

impl Zone {
    /// An IANA name (`Europe/Madrid`, `America/Mexico_City`, `UTC`).
    pub fn parse(name: &str) -> Option<Self> {
        let tz = TimeZone::get(name.trim()).ok()?;
        Some(Self { name: name.trim().to_owned(), tz })
    }

    /// The IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local date and time of an instant.
    pub fn local(&self, at: Timestamp) -> jiff::civil::DateTime {
        self.zoned(at).datetime()
    }

    /// The local calendar day of an instant.
    pub fn date_of(&self, at: Timestamp) -> Date {
        self.local(at).date()
    }

    /// `2026-11-22 10:15` in this zone.
    pub fn minutes(&self, at: Timestamp) -> String {
        self.zoned(at).strftime("%Y-%m-%d %H:%M").to_string()
    }

    /// `2026-11-22T10:15:30+01:00`: an unambiguous instant for exports.
    pub fn rfc3339(&self, at: Timestamp) -> String {
        self.zoned(at).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }

    /// The instant a local day starts (the earliest one on days that begin with a
    /// clock change).
    pub fn start_of(&self, day: Date) -> Timestamp {
        match day.to_zoned_datetime(self.tz.clone()) {
            Ok(z) => from_jiff(z.timestamp()),
            // Dates in the supported range always resolve; clamp rather than panic.
            Err(_) => Timestamp::now(),
        }
    }

    fn zoned(&self, at: Timestamp) -> jiff::ZonedDateTime {
        let t = jiff::Timestamp::from_microsecond(at.as_offset().unix_timestamp_nanos() as i64 / 1_000)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        t.to_zoned_datetime(self.tz.clone())
    }
}

fn from_jiff(t: jiff::Timestamp) -> Timestamp {
    let nanos = i128::from(t.as_microsecond()) * 1_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos).map(Timestamp::from).unwrap_or_else(|_| Timestamp::now())
}

/// Longest range a list or report accepts, in days.
pub const MAX_DAYS: i32 = 3700;

/// A range of whole local days, `from` to `to` inclusive, and the instants that bound it
/// (`start` inclusive, `end` exclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: Date,
    /// Last day (inclusive).
    pub to: Date,
    /// When the first day starts.
    pub start: Timestamp,
    /// When the day after the last one starts.
    pub end: Timestamp,
}

/// Why a date range was refused (the message names the field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodError {
    /// `from` or `to`.
    pub field: &'static str,
    /// What is wrong, for a person.
    pub message: String,
    /// The same, as an i18n key naming the field for the user's language.
    pub key: &'static str,
}

impl From<PeriodError> for crate::error::AppError {
    fn from(e: PeriodError) -> Self {
        Self::InvalidParam { name: e.field, message_key: e.key }
    }
}

impl fmt::Display for PeriodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl Period {
    /// Reads `from`/`to` (`YYYY-MM-DD`, either may be missing or empty). A missing `to`
    /// is today; a missing `from` is `default_days - 1` days before `to`.
    pub fn parse(from: Option<&str>, to: Option<&str>, zone: &Zone, default_days: i32) -> Result<Self, PeriodError> {
        let today = zone.date_of(Timestamp::now());
        let to = match to.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => parse_day(s, "to")?,
            None => today,
        };
        let from = match from.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => parse_day(s, "from")?,
            None => to.saturating_sub(jiff::Span::new().days(i64::from(default_days.max(1) - 1))),
        };
        Self::between(from, to, zone)
    }

    /// The range of days `from..=to`.
    pub fn between(from: Date, to: Date, zone: &Zone) -> Result<Self, PeriodError> {
        if from > to {
            return Err(PeriodError {
                field: "from",
                message: "must not be after the end date".into(),
                key: "param.range_reversed",
            });
        }
        let days = (to - from).get_days();
        if days >= MAX_DAYS {
            return Err(PeriodError {
                field: "from",
                message: format!("the range may span at most {MAX_DAYS} days"),
                key: "param.range_too_long",
            });
        }
        let next = to.tomorrow().map_err(|_| PeriodError {
            field: "to",
            message: "is out of range".into(),
            key: "param.to_years",
        })?;
        Ok(Self { from, to, start: zone.start_of(from), end: zone.start_of(next) })
    }

    /// Every day of the range, in order.
    pub fn days(&self) -> Vec<Date> {
        let mut out = Vec::new();
        let mut day = self.from;
        while day <= self.to {
            out.push(day);
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        out
    }

    /// Whether an instant falls inside.
    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }
}

fn parse_day(text: &str, field: &'static str) -> Result<Date, PeriodError> {
    let (bad_key, years_key) =
        if field == "to" { ("param.to_invalid", "param.to_years") } else { ("param.from_invalid", "param.from_years") };
    let bad = || PeriodError { field, message: format!("expected a date like 2026-12-01, got {text:?}"), key: bad_key };
    if text.len() != 10 {
        return Err(bad());
    }
    let day: Date = text.parse().map_err(|_| bad())?;
    if day.year() < 2000 || day.year() > 2200 {
        return Err(PeriodError { field, message: "must be between the years 2000 and 2200".into(), key: years_key });
    }
    Ok(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_madrid_day_starts_at_its_local_midnight() {
        let zone = Zone::parse("Europe/Madrid").unwrap_or_default();
        let p = Period::parse(Some("2026-07-01"), Some("2026-07-01"), &zone, 7).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.start.to_sqlite_text(), "2026-06-30T22:00:00.000000Z");
        assert_eq!(p.end.to_sqlite_text(), "2026-07-01T22:00:00.000000Z");
        assert_eq!(p.days().len(), 1);
        assert_eq!(zone.minutes(p.start), "2026-07-01 00:00");
    }

    #[test]
    fn bad_ranges_are_named() {
        let zone = Zone::default();
        assert_eq!(Period::parse(Some("2026-13-01"), None, &zone, 7).map_err(|e| e.field), Err("from"));
        assert_eq!(Period::parse(Some("2026-12-02"), Some("2026-12-01"), &zone, 7).map_err(|e| e.field), Err("from"));
        assert_eq!(Period::parse(None, Some("yesterday"), &zone, 7).map_err(|e| e.field), Err("to"));
        assert_eq!(Period::parse(Some("1990-01-01"), Some("2026-01-01"), &zone, 7).map_err(|e| e.field), Err("from"));
        let week = Period::parse(None, Some("2026-12-07"), &zone, 7).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(week.from.to_string(), "2026-12-01");
        assert!(Zone::parse("Mars/Olympus").is_none());
    }
}

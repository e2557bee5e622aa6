//! Business hours per department: when a person can pick up a conversation the AI hands
//! over. Outside them the AI still answers, escalations wait in the queue, and the
//! customer is told when the department opens ([`words`]).
//!
//! One compact text form, used by `CENTRALITA_BUSINESS_HOURS` and stored by the
//! settings page (see README "Business hours"):
//!
//! ```text
//! tz=Europe/Madrid; billing=mon-fri 09:00-18:00, sat 10:00-14:00; support=always;
//! *=mon-fri 09:00-14:00 16:00-19:00; closed=2026-12-25 2027-01-01
//! ```
//!
//! Parts are separated by `;`. `tz` is an IANA zone (UTC when absent); a department
//! (`sales`, `support`, `billing`, `complaints`, `general`) or `*` (every department
//! not named) gets comma-separated day groups, each a day or a day range and one or
//! more `HH:MM-HH:MM` ranges (`24:00` ends a day; an overnight shift is two ranges on
//! two days), or `always` (open every hour, holidays too), or `closed` (no person
//! until the hours change); `closed` lists holidays (`YYYY-MM-DD`), on which every
//! department not `always` open is shut. A department with no hours (neither named
//! nor covered by `*`) is always open, so with the variable unset nothing changes.

pub mod words;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

use crate::db::Timestamp;

/// Day names as the text form spells them, Monday first.
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The departments hours may name: the codes of `agents::Department` (a test there
/// keeps the two lists equal; this module sits below the agents).
pub const DEPARTMENTS: [&str; 5] = ["sales", "support", "billing", "complaints", "general"];

/// Longest look-ahead for the next opening: a year of holidays and a week.
const LOOK_AHEAD_DAYS: usize = 366 + 7;

/// Opening ranges per weekday, Monday first; minutes after local midnight, start
/// inclusive, end exclusive, sorted, never overlapping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Week {
    days: [Vec<(u16, u16)>; 7],
    always: bool,
}

impl Week {
    /// Open every hour of every day, holidays too.
    pub fn always() -> Self {
        Self { always: true, ..Self::default() }
    }

    /// True when no hour of the week is open.
    pub fn is_closed(&self) -> bool {
        !self.always && self.days.iter().all(Vec::is_empty)
    }

    /// Parses `mon-fri 09:00-18:00, sat 10:00-14:00`, `always` or `closed`.
    pub fn parse(text: &str) -> Result<Self, HoursError> {
        let text = text.trim().to_ascii_lowercase();
        match text.as_str() {
            "always" => return Ok(Self::always()),
            "closed" => return Ok(Self::default()),
            "" => return Err(HoursError::Empty),
            _ => {}
        }
        let mut week = Self::default();
        for group in text.split(',') {
            let mut words = group.split_whitespace();
            let days = words.next().ok_or(HoursError::Empty)?;
            let days = parse_days(days)?;
            let mut any = false;
            for range in words {
                let (from, to) = parse_range(range)?;
                for &d in &days {
                    week.days[d].push((from, to));
                }
                any = true;
            }
            if !any {
                return Err(HoursError::Time(group.trim().to_owned()));
            }
        }
        for (i, ranges) in week.days.iter_mut().enumerate() {
            ranges.sort_unstable();
            if ranges.windows(2).any(|w| w[1].0 < w[0].1) {
                return Err(HoursError::Overlap(DAYS[i].to_owned()));
            }
        }
        Ok(week)
    }

    fn open_at(&self, weekday: Weekday, minute: u16) -> bool {
        self.always || self.ranges(weekday).iter().any(|&(from, to)| from <= minute && minute < to)
    }

    fn ranges(&self, weekday: Weekday) -> &[(u16, u16)] {
        &self.days[weekday.to_monday_zero_offset().rem_euclid(7) as usize]
    }
}

impl fmt::Display for Week {
    /// The canonical text form: days with equal hours grouped into ranges.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.always {
            return f.write_str("always");
        }
        if self.is_closed() {
            return f.write_str("closed");
        }
        let mut groups = Vec::new();
        let mut i = 0;
        while i < 7 {
            let mut j = i;
            while j + 1 < 7 && self.days[j + 1] == self.days[i] {
                j += 1;
            }
            if !self.days[i].is_empty() {
                let days = if i == j { DAYS[i].to_owned() } else { format!("{}-{}", DAYS[i], DAYS[j]) };
                let ranges: Vec<String> =
                    self.days[i].iter().map(|&(a, b)| format!("{}-{}", hhmm(a), hhmm(b))).collect();
                groups.push(format!("{days} {}", ranges.join(" ")));
            }
            i = j + 1;
        }
        f.write_str(&groups.join(", "))
    }
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn parse_days(text: &str) -> Result<Vec<usize>, HoursError> {
    let day = |d: &str| DAYS.iter().position(|n| *n == d).ok_or_else(|| HoursError::Days(text.to_owned()));
    match text.split_once('-') {
        None => Ok(vec![day(text)?]),
        Some((a, b)) => {
            let (a, b) = (day(a)?, day(b)?);
            // `fri-mon` wraps over the weekend.
            let span = (b + 7 - a) % 7;
            Ok((0..=span).map(|k| (a + k) % 7).collect())
        }
    }
}

fn parse_range(text: &str) -> Result<(u16, u16), HoursError> {
    let bad = || HoursError::Time(text.to_owned());
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let minutes = |t: &str| -> Option<u16> {
        let (h, m) = t.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (from, to) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
    if from >= to {
        return Err(HoursError::Order(text.to_owned()));
    }
    Ok((from, to))
}

/// Parses a list of holidays (`2026-12-25 2027-01-01`, spaces, commas or new lines).
pub fn parse_dates(text: &str) -> Result<BTreeSet<Date>, HoursError> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let valid = s.len() == 10 && s.as_bytes().get(4) == Some(&b'-');
            s.parse::<Date>().ok().filter(|_| valid).ok_or_else(|| HoursError::Date(s.to_owned()))
        })
        .collect()
}

/// What is wrong with a business-hours text; [`HoursError::key`] names its message for
/// the settings page.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    /// Nothing where hours were expected.
    #[error("hours missing (use e.g. mon-fri 09:00-18:00, always or closed)")]
    Empty,
    /// Not a day or day range.
    #[error("{0:?} is not a day or day range (mon, tue, wed, thu, fri, sat, sun; e.g. mon-fri)")]
    Days(String),
    /// Not an `HH:MM-HH:MM` range.
    #[error("{0:?} is not a time range like 09:00-18:00")]
    Time(String),
    /// A range that ends before it starts.
    #[error("{0:?} ends before it starts (split an overnight shift over two days)")]
    Order(String),
    /// Ranges of one day that overlap.
    #[error("ranges on {0} overlap")]
    Overlap(String),
    /// Not an IANA zone name.
    #[error("{0:?} is not a time zone name like Europe/Madrid")]
    Zone(String),
    /// Not a `YYYY-MM-DD` date.
    #[error("{0:?} is not a date like 2026-12-25")]
    Date(String),
    /// A part that is not `tz=`, `closed=`, `*=` or a department.
    #[error("{0:?} is not tz, closed, * or a department (sales, support, billing, complaints, general)")]
    Part(String),
}

impl HoursError {
    /// The i18n key of the message shown under a form field.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Empty => "hours.err_empty",
            Self::Days(_) => "hours.err_days",
            Self::Time(_) => "hours.err_time",
            Self::Order(_) => "hours.err_order",
            Self::Overlap(_) => "hours.err_overlap",
            Self::Zone(_) => "hours.err_zone",
            Self::Date(_) => "hours.err_date",
            Self::Part(_) => "hours.err_part",
        }
    }
}

/// The business hours of every department, in one time zone.
#[derive(Clone, Default)]
pub struct BusinessHours {
    zone: Option<(String, TimeZone)>,
    departments: BTreeMap<&'static str, Week>,
    fallback: Option<Week>,
    closed: BTreeSet<Date>,
}

impl fmt::Debug for BusinessHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BusinessHours({self})")
    }
}

impl PartialEq for BusinessHours {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// Whether a person can pick up a department's conversations at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Within the department's hours (or it has none: always open).
    Open,
    /// Outside them; when it opens next (`None`: no opening within a year).
    Closed(Option<Opening>),
}

/// The next opening of a department.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    /// The instant.
    pub at: Timestamp,
    /// The local date and time in the hours' zone.
    pub local: jiff::civil::DateTime,
    /// The local date of the instant it was computed from (for "today"/"tomorrow").
    pub from_day: Date,
    /// The zone's IANA name.
    pub zone: String,
}

impl BusinessHours {
    /// Parses the text form (see the module documentation). Blank means no hours.
    pub fn parse(text: &str) -> Result<Self, HoursError> {
        let mut hours = Self::default();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| HoursError::Part(part.to_owned()))?;
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "tz" => hours.set_zone(value)?,
                "closed" => hours.closed = parse_dates(value)?,
                "*" => hours.fallback = Some(Week::parse(value)?),
                other => {
                    let department = department_code(other).ok_or_else(|| HoursError::Part(key.clone()))?;
                    hours.departments.insert(department, Week::parse(value)?);
                }
            }
        }
        Ok(hours)
    }

    /// Sets the time zone from an IANA name (blank: UTC).
    pub fn set_zone(&mut self, name: &str) -> Result<(), HoursError> {
        let name = name.trim();
        if name.is_empty() {
            self.zone = None;
            return Ok(());
        }
        let tz = TimeZone::get(name).map_err(|_| HoursError::Zone(name.to_owned()))?;
        self.zone = Some((name.to_owned(), tz));
        Ok(())
    }

    /// Sets (or, with `None`, removes) a department's own hours.
    pub fn set_department(&mut self, department: &str, week: Option<Week>) {
        let Some(department) = department_code(department) else { return };
        match week {
            Some(w) => self.departments.insert(department, w),
            None => self.departments.remove(department),
        };
    }

    /// Sets (or removes) the hours of every department not named.
    pub fn set_fallback(&mut self, week: Option<Week>) {
        self.fallback = week;
    }

    /// Sets the holidays.
    pub fn set_closed(&mut self, dates: BTreeSet<Date>) {
        self.closed = dates;
    }

    /// The zone's IANA name (`UTC` when none is set).
    pub fn zone_name(&self) -> &str {
        self.zone.as_ref().map_or("UTC", |(n, _)| n.as_str())
    }

    /// A department's own hours, when named.
    pub fn department(&self, department: &str) -> Option<&Week> {
        self.departments.get(department)
    }

    /// The hours of departments not named.
    pub fn fallback(&self) -> Option<&Week> {
        self.fallback.as_ref()
    }

    /// The holidays.
    pub fn closed_dates(&self) -> &BTreeSet<Date> {
        &self.closed
    }

    /// The holidays as the text form writes them.
    pub fn closed_text(&self) -> String {
        self.closed.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
    }

    /// True when no department has hours (everyone is always open).
    pub fn is_unrestricted(&self) -> bool {
        self.fallback.is_none() && self.departments.is_empty()
    }

    fn tz(&self) -> TimeZone {
        self.zone.as_ref().map_or(TimeZone::UTC, |(_, tz)| tz.clone())
    }

    fn week_of(&self, department: &str) -> Option<&Week> {
        self.departments.get(department).or(self.fallback.as_ref())
    }

    /// Whether `department` is open at `at`, and if not, when it opens next.
    pub fn availability(&self, department: &str, at: Timestamp) -> Availability {
        let Some(week) = self.week_of(department) else {
            return Availability::Open;
        };
        if week.always {
            return Availability::Open;
        }
        let tz = self.tz();
        let now = to_jiff(at).to_zoned_datetime(tz.clone());
        let today = now.date();
        let minute = (now.hour() as u16) * 60 + now.minute() as u16;
        if !self.closed.contains(&today) && week.open_at(now.weekday(), minute) {
            return Availability::Open;
        }
        let mut day = today;
        for _ in 0..LOOK_AHEAD_DAYS {
            if !self.closed.contains(&day) {
                for &(from, _) in week.ranges(day.weekday()) {
                    let local = day.at((from / 60) as i8, (from % 60) as i8, 0, 0);
                    // A start that falls in a spring-forward gap moves past it.
                    let Ok(zoned) = local.to_zoned_datetime(tz.clone()) else { continue };
                    if zoned.timestamp() > now.timestamp() {
                        return Availability::Closed(Some(Opening {
                            at: from_jiff(zoned.timestamp()),
                            local: zoned.datetime(),
                            from_day: today,
                            zone: self.zone_name().to_owned(),
                        }));
                    }
                }
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        Availability::Closed(None)
    }
}

impl fmt::Display for BusinessHours {
    /// The canonical text form, which [`BusinessHours::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some((name, _)) = &self.zone {
            parts.push(format!("tz={name}"));
        }
        for (d, week) in &self.departments {
            parts.push(format!("{d}={week}"));
        }
        if let Some(week) = &self.fallback {
            parts.push(format!("*={week}"));
        }
        if !self.closed.is_empty() {
            parts.push(format!("closed={}", self.closed_text()));
        }
        f.write_str(&parts.join("; "))
    }
}

/// The known department code equal to `name`.
fn department_code(name: &str) -> Option<&'static str> {
    DEPARTMENTS.iter().copied().find(|d| *d == name)
}

fn to_jiff(at: Timestamp) -> jiff::Timestamp {
    let micros = at.as_offset().unix_timestamp_nanos() / 1_000;
    jiff::Timestamp::from_microsecond(micros as i64).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn from_jiff(t: jiff::Timestamp) -> Timestamp {
    let nanos = i128::from(t.as_microsecond()) * 1_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos).map(Timestamp::from).unwrap_or_else(|_| Timestamp::now())
}

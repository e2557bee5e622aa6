//! What a customer reads when a person is not there yet: the department, and when it
//! opens next in the customer's language ("mañana a las 09:00", "Monday at 09:00"),
//! counted in the department's zone.

use super::Opening;
use crate::i18n::{self, Lang};

/// When `opening` is, relative to the day it was computed on: today, tomorrow, a
/// weekday within the week, or a date further on.
pub fn when(lang: Lang, opening: &Opening) -> String {
    let local = opening.local;
    let time = format!("{:02}:{:02}", local.hour(), local.minute());
    // Spanish says "a la 01:00" but "a las 09:00".
    let at_key = if local.hour() == 1 { "hours.at_one" } else { "hours.at" };
    let at = i18n::fill(lang, at_key, &[("time", &time)]);
    let days = opening.from_day.until(local.date()).map(|s| s.get_days()).unwrap_or(i32::MAX);
    match days {
        0 => i18n::fill(lang, "hours.today", &[("at", &at)]),
        1 => i18n::fill(lang, "hours.tomorrow", &[("at", &at)]),
        2..=6 => {
            let key = format!("hours.day_{}", local.weekday().to_monday_zero_offset());
            i18n::fill(lang, "hours.weekday", &[("day", i18n::t(lang, &key)), ("at", &at)])
        }
        _ => {
            let key = format!("hours.month_{}", local.month());
            let date =
                i18n::fill(lang, "hours.date", &[("day", &local.day().to_string()), ("month", i18n::t(lang, &key))]);
            i18n::fill(lang, "hours.on_date", &[("date", &date), ("at", &at)])
        }
    }
}

/// The sentence added to the AI's reply when it hands the conversation to a person
/// while `department` is closed.
pub fn handover_note(lang: Lang, department: &str, opening: Option<&Opening>) -> String {
    let key = format!("dept.{department}");
    let team = i18n::t(lang, &key);
    match opening {
        Some(o) => i18n::fill(
            lang,
            "hours.closed_handover",
            &[("department", team), ("when", &when(lang, o)), ("zone", &o.zone)],
        ),
        None => i18n::fill(lang, "hours.closed_handover_later", &[("department", team)]),
    }
}

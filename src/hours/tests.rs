use super::*;
use crate::i18n::Lang;

/// The instant of an RFC 3339 text.
fn at(text: &str) -> Timestamp {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    Timestamp::from(t)
}

fn opening(hours: &BusinessHours, d: &str, now: &str) -> Opening {
    match hours.availability(d, at(now)) {
        Availability::Closed(Some(o)) => o,
        other => panic!("expected closed with an opening at {now}, got {other:?}"),
    }
}

const MADRID: &str = "tz=Europe/Madrid; billing=mon-fri 09:00-18:00, sat 10:00-14:00; \
                      support=always; complaints=mon-sun 00:00-24:00; *=mon-fri 09:00-14:00 16:00-19:00; \
                      closed=2026-12-25 2027-01-01";

#[test]
fn open_within_hours_and_closed_outside_in_the_zone_of_the_hours() {
    let h = BusinessHours::parse(MADRID).unwrap();
    // Wednesday 2026-12-02 10:00 in Madrid is 09:00 UTC.
    assert_eq!(h.availability("billing", at("2026-12-02T09:00:00Z")), Availability::Open);
    // 08:30 UTC is 09:30 Madrid on Wednesday: open; 07:59 UTC is 08:59: closed.
    assert_eq!(h.availability("billing", at("2026-12-02T08:30:00Z")), Availability::Open);
    let o = opening(&h, "billing", "2026-12-02T07:59:00Z");
    assert_eq!(o.at, at("2026-12-02T08:00:00Z"));
    assert_eq!(words::when(Lang::En, &o), "today at 09:00");
    assert_eq!(words::when(Lang::Es, &o), "hoy a las 09:00");
    // The end of a range is closed: 18:00 Madrid.
    let o = opening(&h, "billing", "2026-12-02T17:00:00Z");
    assert_eq!(o.at, at("2026-12-03T08:00:00Z"));
}

#[test]
fn next_opening_across_midnight_says_tomorrow() {
    let h = BusinessHours::parse(MADRID).unwrap();
    // Tuesday 23:30 Madrid.
    let o = opening(&h, "billing", "2026-12-01T22:30:00Z");
    assert_eq!(o.at, at("2026-12-02T08:00:00Z"));
    assert_eq!(words::when(Lang::Es, &o), "mañana a las 09:00");
    assert_eq!(words::when(Lang::En, &o), "tomorrow at 09:00");
    // Just after midnight it is "today".
    let o = opening(&h, "billing", "2026-12-01T23:30:00Z");
    assert_eq!(words::when(Lang::En, &o), "today at 09:00");
}

#[test]
fn a_lunch_break_opens_again_the_same_afternoon() {
    let h = BusinessHours::parse(MADRID).unwrap();
    // Sales follows `*`: 09:00-14:00 16:00-19:00; 15:00 Madrid is closed.
    let o = opening(&h, "sales", "2026-12-02T14:00:00Z");
    assert_eq!(o.local.hour(), 16);
    assert_eq!(words::when(Lang::Es, &o), "hoy a las 16:00");
}

#[test]
fn weekends_wait_for_saturday_or_monday() {
    let h = BusinessHours::parse(MADRID).unwrap();
    // Friday 2026-12-04 19:00 Madrid: billing opens Saturday 10:00.
    let o = opening(&h, "billing", "2026-12-04T18:00:00Z");
    assert_eq!(o.at, at("2026-12-05T09:00:00Z"));
    // Saturday 15:00 Madrid: billing opens Monday 09:00 — two days on, named.
    let o = opening(&h, "billing", "2026-12-05T14:00:00Z");
    assert_eq!(o.at, at("2026-12-07T08:00:00Z"));
    assert_eq!(words::when(Lang::En, &o), "Monday at 09:00");
    assert_eq!(words::when(Lang::Es, &o), "el lunes a las 09:00");
    // Sales (no Saturday) from Friday evening: Monday.
    let o = opening(&h, "sales", "2026-12-04T19:00:00Z");
    assert_eq!(o.at, at("2026-12-07T08:00:00Z"));
}

#[test]
fn holidays_close_every_department_but_the_always_open_ones() {
    let h = BusinessHours::parse(MADRID).unwrap();
    // Friday 2026-12-25 11:00 Madrid: billing closed, opens Saturday 10:00.
    let o = opening(&h, "billing", "2026-12-25T10:00:00Z");
    assert_eq!(o.at, at("2026-12-26T09:00:00Z"));
    // A 24-hour department closes on a holiday too, and opens at midnight after it.
    let o = opening(&h, "complaints", "2026-12-25T10:00:00Z");
    assert_eq!(o.at, at("2026-12-25T23:00:00Z"));
    assert_eq!(words::when(Lang::En, &o), "tomorrow at 00:00");
    // `always` ignores holidays.
    assert_eq!(h.availability("support", at("2026-12-25T10:00:00Z")), Availability::Open);
}

#[test]
fn a_24_hour_department_is_open_at_any_hour_of_an_ordinary_day() {
    let h = BusinessHours::parse(MADRID).unwrap();
    for t in ["2026-12-05T23:59:00Z", "2026-12-06T00:00:00Z", "2026-12-06T03:17:00Z", "2026-12-06T22:59:59Z"] {
        assert_eq!(h.availability("complaints", at(t)), Availability::Open, "{t}");
    }
}

#[test]
fn dst_change_days_open_at_the_local_wall_time() {
    // Spring forward: Sunday 2026-03-29 02:00 → 03:00 in Madrid (UTC+1 → UTC+2).
    let h = BusinessHours::parse("tz=Europe/Madrid; *=mon-sun 09:00-18:00").unwrap();
    // Saturday 20:00 local (19:00 UTC): opens Sunday 09:00 CEST = 07:00 UTC, not 08:00.
    let o = opening(&h, "general", "2026-03-28T19:00:00Z");
    assert_eq!(o.at, at("2026-03-29T07:00:00Z"));
    assert_eq!(words::when(Lang::En, &o), "tomorrow at 09:00");
    // Fall back: Sunday 2026-10-25 03:00 → 02:00 (UTC+2 → UTC+1): 09:00 CET = 08:00 UTC.
    let o = opening(&h, "general", "2026-10-24T19:00:00Z");
    assert_eq!(o.at, at("2026-10-25T08:00:00Z"));
    // A range starting inside the skipped hour opens when the clock jumps past it.
    let h = BusinessHours::parse("tz=Europe/Madrid; *=sun 02:30-05:00").unwrap();
    let o = opening(&h, "general", "2026-03-28T22:00:00Z");
    assert!(o.at > at("2026-03-29T00:59:59Z") && o.at <= at("2026-03-29T01:30:00Z"), "{:?}", o.at);
}

#[test]
fn departments_without_hours_are_always_open() {
    let h = BusinessHours::parse("tz=UTC; billing=mon-fri 09:00-17:00").unwrap();
    assert_eq!(h.availability("sales", at("2026-12-06T03:00:00Z")), Availability::Open);
    let none = BusinessHours::parse("").unwrap();
    assert!(none.is_unrestricted());
    assert_eq!(none.availability("billing", at("2026-12-06T03:00:00Z")), Availability::Open);
}

#[test]
fn a_closed_department_has_no_next_opening() {
    let h = BusinessHours::parse("complaints=closed").unwrap();
    assert_eq!(h.availability("complaints", at("2026-12-02T10:00:00Z")), Availability::Closed(None));
    let note = words::handover_note(Lang::En, "complaints", None);
    assert!(note.contains("Complaints") && note.contains("as soon as"), "{note}");
}

#[test]
fn openings_a_week_or_more_away_name_the_date() {
    let h = BusinessHours::parse("tz=UTC; *=mon 09:00-10:00; closed=2026-12-07").unwrap();
    // Monday 2026-12-07 is a holiday: the next Monday, eight days after Sunday.
    let o = opening(&h, "general", "2026-12-06T12:00:00Z");
    assert_eq!(o.at, at("2026-12-14T09:00:00Z"));
    assert_eq!(words::when(Lang::En, &o), "on December 14 at 09:00");
    assert_eq!(words::when(Lang::Es, &o), "el 14 de diciembre a las 09:00");
}

#[test]
fn spanish_says_a_la_una() {
    let h = BusinessHours::parse("tz=UTC; *=mon-sun 01:00-02:00").unwrap();
    let o = opening(&h, "general", "2026-12-02T03:00:00Z");
    assert_eq!(words::when(Lang::Es, &o), "mañana a la 01:00");
}

#[test]
fn the_text_form_round_trips_in_canonical_form() {
    let h = BusinessHours::parse(MADRID).unwrap();
    let text = h.to_string();
    assert_eq!(BusinessHours::parse(&text).unwrap(), h);
    assert!(text.contains("billing=mon-fri 09:00-18:00, sat 10:00-14:00"), "{text}");
    // Days given one by one are grouped.
    let w = Week::parse("mon 09:00-17:00, tue 09:00-17:00, wed 09:00-17:00, sun 10:00-12:00").unwrap();
    assert_eq!(w.to_string(), "mon-wed 09:00-17:00, sun 10:00-12:00");
    // A wrapping day range.
    let w = Week::parse("fri-mon 10:00-12:00").unwrap();
    assert_eq!(w.to_string(), "mon 10:00-12:00, fri-sun 10:00-12:00");
}

#[test]
fn bad_text_names_what_is_wrong() {
    for (text, key) in [
        ("billing=mon-fri", "hours.err_time"),
        ("billing=moon 09:00-10:00", "hours.err_days"),
        ("billing=mon 9:00-10:00", "hours.err_time"),
        ("billing=mon 18:00-09:00", "hours.err_order"),
        ("billing=mon 25:00-26:00", "hours.err_time"),
        ("billing=mon 09:00-12:00 11:00-13:00", "hours.err_overlap"),
        ("tz=Mars/Olympus", "hours.err_zone"),
        ("closed=2026-13-01", "hours.err_date"),
        ("closed=25/12/2026", "hours.err_date"),
        ("marketing=mon 09:00-10:00", "hours.err_part"),
        ("billing", "hours.err_part"),
        ("billing=", "hours.err_empty"),
    ] {
        let err = BusinessHours::parse(text).unwrap_err();
        assert_eq!(err.key(), key, "{text}: {err}");
    }
}

#[test]
fn the_handover_note_names_the_team_the_time_and_the_zone() {
    let h = BusinessHours::parse(MADRID).unwrap();
    let o = opening(&h, "billing", "2026-12-01T22:30:00Z");
    let es = words::handover_note(Lang::Es, "billing", Some(&o));
    assert!(es.contains("Facturación") && es.contains("mañana a las 09:00") && es.contains("Europe/Madrid"), "{es}");
    let en = words::handover_note(Lang::En, "billing", Some(&o));
    assert!(en.contains("Billing") && en.contains("tomorrow at 09:00"), "{en}");
}

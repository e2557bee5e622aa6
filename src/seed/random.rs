//! Random draws for the demo history: a pick, a weighted pick, and when a call starts.

use rand::Rng;
use rand::rngs::StdRng;

use super::history::HistoryPlan;
use crate::db::Timestamp;

/// One of `items`, uniformly.
pub fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// An index drawn with the given weights.
pub fn weighted(rng: &mut StdRng, weights: &[u32]) -> usize {
    let mut roll = rng.random_range(0..weights.iter().sum::<u32>().max(1));
    for (i, w) in weights.iter().enumerate() {
        if roll < *w {
            return i;
        }
        roll -= w;
    }
    0
}

/// `from` moved by `s` seconds.
pub fn secs(from: Timestamp, s: i64) -> Timestamp {
    from.plus(time::Duration::seconds(s))
}

/// When call `i` started: a weekday-heavy spread over the plan's days, busiest from
/// mid-morning to early evening.
pub fn start_time(rng: &mut StdRng, plan: HistoryPlan, now: Timestamp, i: usize) -> Timestamp {
    if i < 3 {
        // The newest calls are still open: minutes ago.
        return secs(now, -rng.random_range(60..900));
    }
    const HOURS: [u32; 24] = [1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 20, 19, 16, 15, 17, 18, 16, 13, 10, 8, 6, 4, 3, 2];
    loop {
        let day = i64::from(rng.random_range(0..plan.days.max(1)));
        let midnight = now.unix_seconds() - now.unix_seconds().rem_euclid(86_400) - day * 86_400;
        let weekday = (midnight / 86_400 + 4).rem_euclid(7); // 0 is Sunday
        if (weekday == 0 || weekday == 6) && rng.random_bool(0.5) {
            continue;
        }
        let at = midnight + weighted(rng, &HOURS) as i64 * 3600 + rng.random_range(0..3600);
        if at < now.unix_seconds() - 3600 {
            return secs(now, at - now.unix_seconds());
        }
    }
}

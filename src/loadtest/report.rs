//! What a load test measured: latencies and errors per request kind, the servers'
//! memory and CPU, printed as a plain table or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// The kinds of request a run makes, in the order the table lists them.
pub const KINDS: &[&str] = &[
    "public start page",
    "call start (first turn)",
    "follow-up turn",
    "call page view",
    "sign-in page",
    "staff sign-in",
    "board page",
    "board stream open",
    "api sign-in",
    "api calls list",
    "api stats",
];

/// Error samples kept per kind (the first ones; the rest are only counted).
const SAMPLES: usize = 3;

#[derive(Default)]
struct KindLog {
    latencies: Vec<Duration>,
    errors: u64,
    samples: Vec<String>,
}

/// Collects outcomes from every simulated user.
#[derive(Default)]
pub struct Recorder {
    kinds: Mutex<BTreeMap<&'static str, KindLog>>,
    events: Mutex<(u64, u64)>,
}

impl Recorder {
    /// A successful request of `kind` that took `took`.
    pub fn ok(&self, kind: &'static str, took: Duration) {
        self.with(kind, |log| log.latencies.push(took));
    }

    /// A failed request of `kind`, with a short reason.
    pub fn error(&self, kind: &'static str, why: String) {
        self.with(kind, |log| {
            log.errors += 1;
            if log.samples.len() < SAMPLES {
                log.samples.push(why);
            }
        });
    }

    /// Server-sent events one dashboard received, and whether its stream ended early.
    pub fn stream_closed(&self, events: u64, dropped: bool) {
        let mut e = self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        e.0 += events;
        e.1 += u64::from(dropped);
    }

    /// Successful requests of `kind` so far.
    pub fn count(&self, kind: &'static str) -> usize {
        let kinds = self.kinds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kinds.get(kind).map_or(0, |l| l.latencies.len())
    }

    fn with(&self, kind: &'static str, f: impl FnOnce(&mut KindLog)) {
        let mut kinds = self.kinds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(kinds.entry(kind).or_default());
    }

    /// The figures per kind for a run that lasted `elapsed`.
    pub fn rows(&self, elapsed: Duration) -> Vec<KindRow> {
        let kinds = self.kinds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let secs = elapsed.as_secs_f64().max(1e-9);
        KINDS
            .iter()
            .filter_map(|kind| {
                let log = kinds.get(kind)?;
                let mut sorted = log.latencies.clone();
                sorted.sort_unstable();
                Some(KindRow {
                    kind,
                    count: sorted.len() as u64,
                    errors: log.errors,
                    per_second: sorted.len() as f64 / secs,
                    p50_ms: percentile_ms(&sorted, 0.50),
                    p95_ms: percentile_ms(&sorted, 0.95),
                    p99_ms: percentile_ms(&sorted, 0.99),
                    error_samples: log.samples.clone(),
                })
            })
            .collect()
    }

    /// Events received by all dashboards and streams that ended before the run did.
    pub fn events(&self) -> (u64, u64) {
        *self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The `p` quantile (0–1) of sorted latencies, in milliseconds (nearest rank).
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// One request kind's figures.
#[derive(Clone, Debug, Serialize)]
pub struct KindRow {
    /// What was requested.
    pub kind: &'static str,
    /// Successful requests.
    pub count: u64,
    /// Failed requests (status, transport error or unexpected answer).
    pub errors: u64,
    /// Successful requests per second of the run.
    pub per_second: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 95th percentile latency.
    pub p95_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// The first few errors' reasons.
    pub error_samples: Vec<String>,
}

/// One measured server process.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessRow {
    /// What it is (`node 1`, `pid 1234`).
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// Peak resident memory (VmHWM), in MB.
    pub peak_rss_mb: f64,
    /// CPU time (user + system) used during the run, in seconds.
    pub cpu_seconds: f64,
}

/// The whole result of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The scenario and set-up, in words.
    pub setup: String,
    /// Wall time of the measured run, in seconds.
    pub seconds: f64,
    /// Customer turns answered (first turns and follow-ups).
    pub turns: u64,
    /// Turns per second.
    pub turns_per_second: f64,
    /// Errors of every kind, dropped streams included.
    pub errors: u64,
    /// Figures per request kind.
    pub kinds: Vec<KindRow>,
    /// Server-sent events the dashboards received.
    pub stream_events: u64,
    /// Dashboard streams that ended before the run did.
    pub streams_dropped: u64,
    /// Each measured server process.
    pub processes: Vec<ProcessRow>,
    /// All measured processes' CPU divided by turns, in ms (none when nothing was measured).
    pub cpu_ms_per_turn: Option<f64>,
    /// Follow-up turns, counted from the moment every call had its first answer.
    pub follow_up_turns: u64,
    /// Their p50 latency, in ms.
    pub follow_up_p50_ms: f64,
    /// Server CPU in that phase divided by those turns, in ms.
    pub cpu_ms_per_follow_up_turn: Option<f64>,
    /// True when the time limit cut the run short.
    pub timed_out: bool,
}

impl Report {
    /// The plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.setup);
        let _ = writeln!(
            out,
            "{:<24} {:>7} {:>7} {:>9} {:>9} {:>9} {:>8}",
            "request", "count", "errors", "p50 ms", "p95 ms", "p99 ms", "per s"
        );
        for k in &self.kinds {
            let _ = writeln!(
                out,
                "{:<24} {:>7} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>8.1}",
                k.kind, k.count, k.errors, k.p50_ms, k.p95_ms, k.p99_ms, k.per_second
            );
        }
        let _ = writeln!(
            out,
            "turns {} in {:.1} s ({:.1}/s) · errors {} · stream events {} · streams dropped {}{}",
            self.turns,
            self.seconds,
            self.turns_per_second,
            self.errors,
            self.stream_events,
            self.streams_dropped,
            if self.timed_out { " · CUT SHORT by --max-seconds" } else { "" }
        );
        if !self.processes.is_empty() {
            let _ = writeln!(out, "{:<24} {:>8} {:>12} {:>9}", "process", "pid", "peak RSS MB", "CPU s");
            for p in &self.processes {
                let _ = writeln!(out, "{:<24} {:>8} {:>12.1} {:>9.2}", p.name, p.pid, p.peak_rss_mb, p.cpu_seconds);
            }
        }
        let per = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.2} ms"));
        let _ = writeln!(out, "server CPU per turn: {}", per(self.cpu_ms_per_turn));
        let _ = writeln!(
            out,
            "follow-up turns {} · p50 {:.1} ms · server CPU per follow-up turn {}",
            self.follow_up_turns,
            self.follow_up_p50_ms,
            per(self.cpu_ms_per_follow_up_turn)
        );
        for k in self.kinds.iter().filter(|k| !k.error_samples.is_empty()) {
            let _ = writeln!(out, "errors in {}: {}", k.kind, k.error_samples.join(" | "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&sorted, 0.50), 50.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 99.0);
        assert_eq!(percentile_ms(&sorted[..1], 0.95), 1.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn rows_count_errors_apart_from_latencies() {
        let r = Recorder::default();
        r.ok("follow-up turn", Duration::from_millis(10));
        r.ok("follow-up turn", Duration::from_millis(30));
        r.error("follow-up turn", "429".into());
        let rows = r.rows(Duration::from_secs(2));
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].count, rows[0].errors), (2, 1));
        assert_eq!(rows[0].per_second, 1.0);
        assert_eq!(rows[0].error_samples, vec!["429".to_owned()]);
    }
}

//! A small in-memory sliding-window limiter for the public pages, where nobody signs in
//! and each message costs a run of the agents. Per process: behind a load balancer each
//! node counts on its own, which bounds abuse without shared state.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{AppError, AppResult};

/// At most `max` hits per key within `window`.
pub struct Limiter {
    max: usize,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Keys kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;

impl Limiter {
    /// A limiter allowing `max` hits per `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        Self { max, window, hits: Mutex::new(HashMap::new()) }
    }

    /// Counts a hit for `key`, or refuses with the seconds until the next one is allowed.
    pub fn hit(&self, key: &str) -> AppResult<()> {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if hits.len() >= SWEEP_AT {
            hits.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < self.window));
        }
        let q = hits.entry(key.to_owned()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            q.pop_front();
        }
        if q.len() >= self.max {
            let oldest = q.front().copied().unwrap_or(now);
            let wait = self.window.saturating_sub(now.duration_since(oldest)).as_secs().max(1);
            return Err(AppError::TooManyAttempts { retry_after: wait });
        }
        q.push_back(now);
        Ok(())
    }
}

/// Limits on the public call pages (per process).
pub struct PublicLimits {
    /// Calls started per client IP: 10 per 10 minutes.
    pub starts: Limiter,
    /// Customer messages per call: 20 per minute.
    pub messages: Limiter,
    /// Customer live streams opened per call: 30 per minute (a page opens one, and a
    /// browser reconnects after a few seconds when it drops).
    pub streams: Limiter,
    /// Customer live streams opened per client IP (or IPv6 /64): 120 per minute, so
    /// an office or a carrier NAT with many customers is not one customer.
    pub stream_ips: Limiter,
    /// Written inquiries per client IP (or IPv6 /64): `CENTRALITA_INQUIRY_RATE_LIMIT` per
    /// `CENTRALITA_INQUIRY_RATE_WINDOW_SECONDS` (10 per 10 minutes by default).
    pub inquiries: Limiter,
}

impl PublicLimits {
    /// The limits, with the configured one for inquiries.
    pub fn new(config: &crate::config::Config) -> Self {
        Self {
            inquiries: Limiter::new(config.inquiry_rate_limit as usize, config.inquiry_rate_window),
            ..Self::default()
        }
    }
}

impl Default for PublicLimits {
    fn default() -> Self {
        Self {
            starts: Limiter::new(10, Duration::from_secs(600)),
            messages: Limiter::new(20, Duration::from_secs(60)),
            streams: Limiter::new(30, Duration::from_secs(60)),
            stream_ips: Limiter::new(120, Duration::from_secs(60)),
            inquiries: Limiter::new(10, Duration::from_secs(600)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_up_to_the_limit_per_key() {
        let l = Limiter::new(2, Duration::from_secs(60));
        assert!(l.hit("a").is_ok());
        assert!(l.hit("a").is_ok());
        assert!(matches!(l.hit("a"), Err(AppError::TooManyAttempts { retry_after }) if retry_after >= 59));
        assert!(l.hit("b").is_ok());
    }

    #[test]
    fn the_window_slides() {
        let l = Limiter::new(1, Duration::from_millis(30));
        assert!(l.hit("a").is_ok());
        assert!(l.hit("a").is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.hit("a").is_ok());
    }
}

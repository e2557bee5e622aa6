//! Reports for staff: the figures of a range of days ([`stats::Stats`]: calls per day and
//! hour, handle time, AI-resolved vs escalated, escalation reasons, CSAT, the mixes,
//! per-agent performance, tickets, tokens and their estimated cost) and the CSV exports
//! (`export.rs`), streamed from the database row by row.
//!
//! Days and hours are counted in the team's time zone (`CENTRALITA_TIMEZONE`). The
//! database groups instants into 15-minute UTC buckets (`sql.rs`) and Rust places each bucket in
//! its local day and hour: every time zone in use today is offset from UTC by a whole
//! number of quarter hours and changes its clocks on a quarter hour, so a bucket never
//! straddles two local hours, across daylight-saving changes too.

pub mod export;
mod sql;
pub mod stats;

pub use export::{ExportCap, Report};
pub use stats::Stats;

//! Centralita: an AI call center in one binary.
//!
//! Three layers; a module imports its own layer or a lower one (`layers.rs` checks it):
//!
//! - HTTP: `web` (pages, htmx), `api` (JSON under `/api/v1`), `sse` (event streams both
//!   share), `app` (state, router, background tasks), `server` (the HTTP/1 listener),
//!   `ops` (health and metrics endpoints), `metrics` (request counters), `cli` (commands),
//!   `loadtest` (the load test the `loadtest` command runs).
//! - Domain: `context` (the [`context::Ctx`] the domain works with), `calls` (calls,
//!   turns, takeover, approvals, the board's data), `customers` (records, identity,
//!   tickets, payments), `email` (outbox, rendering, delivery), `agents` (the three agents,
//!   tools, the built-in engine, the remote model), `auth` (roles, sessions, tokens),
//!   `users` (staff accounts), `audit` (the audit log), `reports` (figures and CSV exports), `seed` (demo data).
//! - Base: `db` (SQLite/PostgreSQL, column types, transactions), `events` (the events
//!   log and bus), `config` (environment), `error` (the one error type), `i18n` (every
//!   text people read, from `locales/es.txt` and `locales/en.txt`), `text` (text helpers).

pub mod agents;
pub mod api;
pub mod app;
pub mod assistant;
pub mod audit;
pub mod auth;
pub mod calls;
pub mod channels;
pub mod cli;
pub mod config;
pub mod context;
pub mod customers;
pub mod db;
pub mod email;
pub mod error;
pub mod events;
pub mod hours;
pub mod i18n;
pub mod input;
pub mod jobs;
#[cfg(test)]
mod layers;
pub mod loadtest;
pub mod metrics;
pub mod ops;
pub mod period;
pub mod reports;
pub mod seed;
pub mod server;
pub mod sse;
pub mod text;
pub mod users;
pub mod web;
pub mod work;

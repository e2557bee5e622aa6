//! Centralita: an AI call center in one binary.
//!
//! Layout: `web/` (pages), `api/` (JSON), `auth/` (roles, sessions, tokens), `users/`,
//! `audit`, `db/` (SQLite/PostgreSQL), `app` (assembly), `cli` (commands), `i18n` (every
//! text people read, from the catalogues `locales/es.txt` and `locales/en.txt`).

pub mod agents;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod calls;
pub mod cli;
pub mod config;
pub mod context;
pub mod customers;
pub mod db;
pub mod email;
pub mod error;
pub mod events;
pub mod i18n;
#[cfg(test)]
mod layers;
pub mod metrics;
pub mod ops;
pub mod seed;
pub mod server;
pub mod sse;
pub mod text;
pub mod users;
pub mod web;

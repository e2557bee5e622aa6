//! Centralita's integration tests: the real application on a random port, against a
//! fresh SQLite file and a fresh PostgreSQL database per test. Every test that touches
//! the database runs on both (`on_both!`, `on_both_backends!`: `name::sqlite` and
//! `name::postgres`). A few run once, on SQLite, because the database plays no part in
//! what they check:
//! - `headers`: response headers, cookie attributes and the embedded htmx file, all set
//!   by the HTTP layer;
//! - `security_ops`: request head and body timeouts, the 413 before a body is read and
//!   the language cookie and switch (HTTP layer), and start-up errors that belong to one
//!   backend by nature (an unreachable PostgreSQL, a corrupt or read-only SQLite file);
//! - `security::csrf::behind_https_a_plain_http_origin_is_cross_origin`: the origin
//!   check, made before any handler runs;
//! - `cli`'s bad-configuration and `classify` commands, which open no database;
//! - `fuzz` and `security::matrix::every_routed_path_has_a_line_in_the_matrix`: pure
//!   functions and the source tree, no application at all;
//! - `openapi`: the API's description, built at compile time, and the page drawn from it;
//! - `deploy`: compose.yaml and the Dockerfile, read as text.
//!
//! `loadtest` runs the `loadtest` command, which starts its own nodes: one on SQLite,
//! and two on PostgreSQL behind its round-robin proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod api_auth;
mod assistant;
mod assistant_remote;
mod bad_input;
mod browser;
mod call_history;
pub mod calls;
mod canned;
mod classify;
mod cli;
mod csrf;
pub mod customers;
mod deploy;
mod email;
mod email_pages;
mod engine_requests;
mod first_run;
mod fuzz;
mod headers;
mod hours;
mod inquiries;
pub mod live;
mod loadtest;
pub mod lockout;
mod openai_backend;
mod openapi;
mod ops;
mod payments;
mod records_edges;
mod recovery;
mod reports;
mod roles;
mod security;
mod security_ops;
mod smtp;
mod storage;
mod teamwork;
mod tickets;
mod token_budget;
mod users_admin;
mod wa_templates;
mod web_login;
mod whatsapp;

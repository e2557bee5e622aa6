//! Centralita's integration tests: the real application on a random port, against a
//! fresh SQLite file and a fresh PostgreSQL database per test (every test runs on both).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod api_auth;
mod bad_input;
mod browser;
pub mod calls;
mod classify;
mod cli;
mod csrf;
mod email;
mod email_pages;
mod first_run;
mod fuzz;
mod headers;
pub mod live;
pub mod lockout;
mod openai_backend;
mod ops;
mod recovery;
mod roles;
mod security;
mod security_ops;
mod smtp;
mod storage;
mod users_admin;
mod web_login;

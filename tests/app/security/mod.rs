//! The security regression suite: every defect an outside probe found, each with the
//! test that failed before its fix, beside the guarantees that already held.

mod claims;
mod crash;
mod csrf;
mod escaping;
mod impersonation;
mod jwt;
mod lockout;
pub(crate) mod matrix;
mod replay;
mod sessions;
mod streams;

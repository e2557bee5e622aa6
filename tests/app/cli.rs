//! The command line: migrate, user management, demo data (on both databases), bad
//! configuration and classifying a message (no database involved).

use std::process::Command;

use centralita::db::Backend;

use crate::helpers::{drop_database, fresh_database};
use crate::on_both_backends;

on_both_backends!(migrate_user_commands_and_seed_demo_work_on_a_fresh_database);

/// Runs the binary in `dir` with its data folder there, on `database_url` when given
/// (else the default SQLite file in the data folder).
pub(crate) fn centralita_on(dir: &std::path::Path, database_url: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_centralita"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CENTRALITA_DATA_DIR", dir.join("data"))
        .env("RUST_LOG", "warn");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.output().unwrap()
}

fn centralita(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    centralita_on(dir, None, args)
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn migrate_user_commands_and_seed_demo_work_on_a_fresh_database(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // SQLite: the default file in the data folder; PostgreSQL: a fresh database.
    let (url, pg_name) = match backend {
        Backend::Sqlite => (None, None),
        Backend::Postgres => {
            let (url, name) = fresh_database(backend, dir.path()).await;
            (Some(url), name)
        }
    };
    let run = |args: &[&str]| centralita_on(dir.path(), url.as_deref(), args);
    let out = run(&["migrate"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("password:"), "first admin password printed once");
    if url.is_none() {
        assert!(dir.path().join("data/centralita.db").exists());
    }
    let again = run(&["migrate"]);
    assert!(!stdout(&again).contains("password:"), "and only once");

    let out = run(&["user", "create", "carla", "--email", "carla@example.com", "--role", "supervisor"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("temporary password:"));
    let out = run(&["user", "create", "carla", "--email", "x@example.com"]);
    assert_eq!(out.status.code(), Some(2), "duplicate is a clear error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("username"));
    let out = run(&["user", "create", "bad name", "--email", "nope"]);
    assert_eq!(out.status.code(), Some(2));

    let list = stdout(&run(&["user", "list"]));
    assert!(list.contains("carla") && list.contains("supervisor") && list.contains("admin"));
    assert!(run(&["user", "set-password", "carla"]).status.success());
    assert!(run(&["user", "disable", "carla"]).status.success());
    assert!(stdout(&run(&["user", "list"])).lines().any(|l| l.contains("carla") && l.contains("disabled")));
    assert_eq!(run(&["user", "disable", "nobody"]).status.code(), Some(1));
    let out = run(&["user", "disable", "admin"]);
    assert!(!out.status.success(), "the last active admin stays");
    assert!(String::from_utf8_lossy(&out.stderr).contains("At least one active admin"));

    let out = run(&["seed-demo"]);
    assert!(out.status.success(), "{out:?}");
    let report = stdout(&out);
    assert!(report.contains("sofia") && report.contains("customers added: 5"));
    assert!(report.contains("history added: 1500 calls over 42 days"), "{report}");
    let again = stdout(&run(&["seed-demo"]));
    assert!(again.contains("already exists") && again.contains("customers added: 0"), "idempotent");
    assert!(again.contains("history already present"), "the history is not written twice: {again}");
    if let Some(name) = pg_name {
        drop_database(&name).await;
    }
}

#[test]
fn invalid_configuration_stops_with_the_variable_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_centralita"))
        .arg("migrate")
        .current_dir(dir.path())
        .env("CENTRALITA_ADDR", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CENTRALITA_ADDR"));
}

#[test]
fn classify_prints_the_routing_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = centralita(dir.path(), &["classify", "Me cobraron dos veces la factura, quiero mi dinero"]);
    assert!(out.status.success(), "{out:?}");
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["department"], "billing");
    assert_eq!(c["language"], "es");
}

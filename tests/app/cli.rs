//! The command line: migrate, user management, demo data, bad configuration.

use std::process::Command;

fn centralita(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_centralita"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CENTRALITA_DATA_DIR", dir.join("data"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn migrate_user_commands_and_seed_demo_work_on_a_fresh_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = centralita(dir.path(), &["migrate"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("password:"), "first admin password printed once");
    assert!(dir.path().join("data/centralita.db").exists());
    let again = centralita(dir.path(), &["migrate"]);
    assert!(!stdout(&again).contains("password:"), "and only once");

    let out =
        centralita(dir.path(), &["user", "create", "carla", "--email", "carla@example.com", "--role", "supervisor"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("temporary password:"));
    let out = centralita(dir.path(), &["user", "create", "carla", "--email", "x@example.com"]);
    assert_eq!(out.status.code(), Some(2), "duplicate is a clear error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("username"));
    let out = centralita(dir.path(), &["user", "create", "bad name", "--email", "nope"]);
    assert_eq!(out.status.code(), Some(2));

    let list = stdout(&centralita(dir.path(), &["user", "list"]));
    assert!(list.contains("carla") && list.contains("supervisor") && list.contains("admin"));
    assert!(centralita(dir.path(), &["user", "set-password", "carla"]).status.success());
    assert!(centralita(dir.path(), &["user", "disable", "carla"]).status.success());
    assert!(
        stdout(&centralita(dir.path(), &["user", "list"]))
            .lines()
            .any(|l| l.contains("carla") && l.contains("disabled"))
    );
    assert_eq!(centralita(dir.path(), &["user", "disable", "nobody"]).status.code(), Some(1));
    let out = centralita(dir.path(), &["user", "disable", "admin"]);
    assert!(!out.status.success(), "the last active admin stays");
    assert!(String::from_utf8_lossy(&out.stderr).contains("At least one active admin"));

    let out = centralita(dir.path(), &["seed-demo"]);
    assert!(out.status.success(), "{out:?}");
    let report = stdout(&out);
    assert!(report.contains("sofia") && report.contains("customers added: 5"));
    let again = stdout(&centralita(dir.path(), &["seed-demo"]));
    assert!(again.contains("already exists") && again.contains("customers added: 0"), "idempotent");
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

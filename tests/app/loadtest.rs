//! `centralita loadtest` at a tiny scale: it starts its own nodes (one on SQLite; two on
//! PostgreSQL behind its round-robin proxy), plays customers and a dashboard with the
//! built-in engine, and reports every turn answered and no error. Figures are not
//! asserted: the machine running the tests decides those.

use std::process::{Command, Output};

use serde_json::Value;

fn loadtest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_centralita"))
        .arg("loadtest")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn report(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr)))
}

fn count(report: &Value, kind: &str) -> u64 {
    let kinds = report["kinds"].as_array().unwrap();
    kinds.iter().find(|k| k["kind"] == kind).map_or(0, |k| k["count"].as_u64().unwrap())
}

/// Three calls of two turns and one dashboard: six turns, every request kind seen,
/// the dashboard's stream hears the calls, and the node's memory and CPU are reported.
fn assert_tiny_run_is_clean(out: &Output, nodes: usize) {
    let r = report(out);
    assert!(out.status.success(), "{r:#}");
    assert_eq!(r["errors"], 0, "{r:#}");
    assert_eq!(r["timed_out"], false);
    assert_eq!(r["turns"], 6, "{r:#}");
    assert_eq!(r["follow_up_turns"], 3);
    assert_eq!(count(&r, "call start (first turn)"), 3);
    assert_eq!(count(&r, "follow-up turn"), 3);
    assert_eq!(count(&r, "call page view"), 6);
    assert_eq!(count(&r, "board stream open"), 1);
    assert!(count(&r, "api calls list") >= 1, "{r:#}");
    assert!(r["stream_events"].as_u64().unwrap() > 0, "the board heard nothing: {r:#}");
    let processes = r["processes"].as_array().unwrap();
    assert_eq!(processes.len(), nodes);
    for p in processes {
        assert!(p["peak_rss_mb"].as_f64().unwrap() > 0.0, "{p}");
    }
    assert!(r["cpu_ms_per_turn"].as_f64().is_some());
}

const TINY: &[&str] =
    &["--calls", "3", "--turns", "2", "--dashboards", "1", "--think-ms", "0", "--read-every-ms", "100"];

#[test]
fn loadtest_on_one_sqlite_node_answers_every_turn_without_an_error() {
    let mut args = TINY.to_vec();
    args.extend(["--model", "builtin", "--json"]);
    assert_tiny_run_is_clean(&loadtest(&args), 1);
}

#[test]
fn loadtest_on_two_postgres_nodes_behind_round_robin_answers_every_turn_without_an_error() {
    let url = crate::helpers::PG_ADMIN_URL.clone();
    let mut args = TINY.to_vec();
    args.extend(["--model", "builtin", "--db", "postgres", "--nodes", "2", "--postgres-url", &url, "--json"]);
    assert_tiny_run_is_clean(&loadtest(&args), 2);
}

#[test]
fn loadtest_refuses_targets_off_this_machine_and_counts_beyond_its_bounds() {
    for args in [
        &["--url", "http://10.1.2.3:8080"][..],
        &["--db", "postgres", "--postgres-url", "postgres://postgres@db.example.com/x"],
        &["--calls", "5000"],
        &["--max-seconds", "100000"],
        &["--nodes", "2"],
    ] {
        let out = loadtest(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(out.stdout.is_empty(), "{args:?} ran: {}", String::from_utf8_lossy(&out.stdout));
    }
    let out = loadtest(&["--url", "http://10.1.2.3:8080"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("only runs against this machine"));
}

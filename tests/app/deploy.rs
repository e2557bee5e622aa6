//! The deployment files: compose.yaml sets on the Centralita services only variables
//! the configuration reads (a misspelt one would be silently ignored), and the
//! Dockerfile runs as a non-root user with a health check on `/health`. No Docker
//! needed: the files are read as text.

use std::collections::BTreeMap;

use centralita::config::VARIABLES;

fn read(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The blocks of compose.yaml: each top-level key (`x-centralita`) and each service
/// (`services.node1`), with its lines.
fn blocks(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut top, mut current) = (String::new(), None::<String>);
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')) {
        let key = line.trim().split(':').next().unwrap_or_default().to_owned();
        match indent(line) {
            0 => {
                top = key.clone();
                current = (top != "services").then_some(key);
            }
            2 if top == "services" => current = Some(format!("services.{key}")),
            _ => {
                if let Some(c) = &current {
                    out.entry(c.clone()).or_default().push(line.to_owned());
                }
            }
        }
    }
    out
}

/// The variable names a block's `environment:` sets (map or list form).
fn environment(lines: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside: Option<usize> = None;
    for line in lines {
        if let Some(level) = inside {
            if indent(line) > level {
                let item = line.trim().trim_start_matches("- ");
                let name = item.split([':', '=']).next().unwrap_or_default().trim();
                names.push(name.to_owned());
                continue;
            }
            inside = None;
        }
        if line.trim_start().starts_with("environment:") {
            inside = Some(indent(line));
        }
    }
    names
}

#[test]
fn compose_sets_only_variables_the_configuration_knows_on_two_nodes_behind_a_proxy() {
    let blocks = blocks(&read("compose.yaml"));
    let uses_centralita = |lines: &[String]| lines.iter().any(|l| l.trim() == "<<: *centralita");
    let centralita: Vec<&String> = blocks
        .iter()
        .filter(|(name, lines)| *name == "x-centralita" || uses_centralita(lines))
        .map(|(n, _)| n)
        .collect();
    let nodes = blocks.iter().filter(|(n, l)| n.starts_with("services.node") && uses_centralita(l)).count();
    assert!(nodes >= 2, "two Centralita nodes: {centralita:?}");
    for needed in ["services.postgres", "services.proxy", "services.mailpit"] {
        assert!(blocks.contains_key(needed), "{needed} is missing");
    }

    let mut checked = 0;
    for name in &centralita {
        for var in environment(&blocks[*name]) {
            assert!(VARIABLES.contains(&var.as_str()), "{name} sets {var}, which the configuration does not read");
            checked += 1;
        }
    }
    assert!(checked >= 10, "found only {checked} variables: is the parser still right?");
    let shared = environment(&blocks["x-centralita"]);
    for must in ["DATABASE_URL", "CENTRALITA_TRUST_PROXY", "CENTRALITA_SMTP_HOST", "CENTRALITA_ADDR"] {
        assert!(shared.iter().any(|v| v == must), "the nodes need {must}");
    }
    // The proxy does round robin over both nodes, with no stickiness.
    let caddy = read("deploy/Caddyfile");
    assert!(caddy.contains("node1:8080 node2:8080") && caddy.contains("lb_policy round_robin"));
    assert!(!caddy.contains("cookie"), "no sticky sessions");
}

#[test]
fn the_parser_reads_both_forms_of_environment() {
    let lines: Vec<String> = ["    environment:", "      A_B: 1", "      - C_D=2", "    ports:", "      - 80"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(environment(&lines), vec!["A_B", "C_D"]);
}

#[test]
fn the_image_runs_unprivileged_with_a_health_check_and_known_settings() {
    let dockerfile = read("Dockerfile");
    let user = dockerfile.lines().rfind(|l| l.starts_with("USER ")).unwrap();
    assert!(!user.contains("root") && !user.ends_with(" 0"), "{user}");
    let health = dockerfile.lines().skip_while(|l| !l.starts_with("HEALTHCHECK")).take(2).collect::<String>();
    assert!(health.contains("/health"), "{health}");
    for var in
        dockerfile.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("CENTRALITA_"))
    {
        assert!(VARIABLES.contains(&var), "the Dockerfile sets {var}, which the configuration does not read");
    }
    let ignored = read(".dockerignore");
    for path in ["target", ".git", "node_modules", ".env"] {
        assert!(ignored.lines().any(|l| l.trim() == path), ".dockerignore should leave out {path}");
    }
}

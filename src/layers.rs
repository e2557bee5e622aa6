//! The direction of dependencies, checked: the HTTP side (`web`, `api`, `sse`, `app`,
//! `server`, `ops`, `metrics`, `cli`) builds on the domain (`context`, `calls`,
//! `customers`, `email`, `agents`, `auth`, `users`, `audit`, `seed`, `assistant`), which builds on
//! the base (`db`, `events`, `config`, `error`, `i18n`). A module may import its own
//! layer or a lower one, never a higher one, so the graph stays a tree as code grows.

use std::path::{Path, PathBuf};

/// The layer of each top-level module; 0 is the base.
const LAYERS: &[(&str, u8)] = &[
    ("db", 0),
    ("events", 0),
    ("config", 0),
    ("error", 0),
    ("i18n", 0),
    ("text", 0),
    ("input", 0),
    ("period", 0),
    ("hours", 0),
    ("jobs", 0),
    ("context", 1),
    ("calls", 1),
    ("customers", 1),
    ("email", 1),
    ("agents", 1),
    ("auth", 1),
    ("users", 1),
    ("audit", 1),
    ("seed", 1),
    ("reports", 1),
    ("assistant", 1),
    ("channels", 1),
    ("work", 1),
    ("layers", 1),
    ("web", 2),
    ("api", 2),
    ("sse", 2),
    ("app", 2),
    ("server", 2),
    ("ops", 2),
    ("metrics", 2),
    ("cli", 2),
    ("loadtest", 2),
];

fn layer_of(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// `source` without `//` comments (a `//` inside a string literal stays).
fn without_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let (mut in_string, mut escaped, mut prev) = (false, false, ' ');
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            match c {
                '\\' if in_string => escaped = !escaped,
                '"' if !escaped => in_string = !in_string,
                '/' if !in_string && prev == '/' => {
                    cut = i - 1;
                    break;
                }
                _ => escaped = false,
            }
            prev = c;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// The top-level names a path names after its root (`web::x` → `web`; a group
/// `{a, b::c}` → `a`, `b`; a glob `*` → `*`).
fn names_after(after: &str) -> Vec<String> {
    let after = after.trim_start();
    let Some(group) = after.strip_prefix('{') else {
        let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '*').collect();
        return vec![name];
    };
    // Top-level names of the group, up to its matching brace.
    let (mut found, mut depth, mut name, mut expect_name) = (Vec::new(), 0usize, String::new(), true);
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                if !name.is_empty() {
                    found.push(std::mem::take(&mut name));
                }
                expect_name = true;
            }
            c if depth == 0 && expect_name && (c.is_alphanumeric() || c == '_' || c == '*') => name.push(c),
            _ if depth == 0 && expect_name && !name.is_empty() => {
                found.push(std::mem::take(&mut name));
                expect_name = false;
            }
            _ => {}
        }
    }
    if !name.is_empty() {
        found.push(name);
    }
    found
}

/// The top-level modules a source file names: through `crate::…` paths (in `use`
/// lines, grouped `use crate::{a, b::c}` imports, and inline paths) and through
/// `super::` chains that climb to the crate root from a module `depth` levels down;
/// `crate as` (an alias the scan could not follow) is reported as `as`.
fn crate_modules(source: &str, depth: usize) -> Vec<String> {
    let code = without_comments(source);
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate") {
        let starts_word = !rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$');
        let after = rest[i + "crate".len()..].trim_start();
        if starts_word && let Some(path) = after.strip_prefix("::") {
            found.extend(names_after(path));
        } else if starts_word && after.starts_with("as ") {
            found.push("as".to_owned());
        }
        rest = &rest[i + "crate".len()..];
    }
    let mut rest = code.as_str();
    while let Some(i) = rest.find("super::") {
        let mut after = &rest[i..];
        let mut climbs = 0;
        while let Some(next) = after.strip_prefix("super::") {
            climbs += 1;
            after = next.trim_start();
        }
        if climbs >= depth {
            found.extend(names_after(after));
        }
        rest = after;
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// How many modules deep a file under `src/` is (`calls/mod.rs` and `calls.rs` are 1,
/// `calls/staff.rs` is 2): how many `super::` reach the crate root from it.
fn module_depth(relative: &Path) -> usize {
    let parts = relative.components().count();
    match relative.file_name().and_then(|n| n.to_str()) {
        Some("mod.rs") => parts - 1,
        _ => parts,
    }
}

/// The code of a file that is built into the program: without a trailing inline
/// `#[cfg(test)] mod … { … }` (tests may reach any layer to check it).
fn program_code(source: &str) -> &str {
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let rest = &source[offset + line.len()..];
        let next = rest.lines().next().unwrap_or_default().trim();
        if line.trim() == "#[cfg(test)]" && next.contains("mod ") && next.ends_with('{') {
            return &source[..offset];
        }
        offset += line.len();
    }
    source
}

/// Files that hold a test-only module (`#[cfg(test)] mod name;`).
fn test_only_files(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(file).unwrap_or_default();
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs") => file.parent().map(Path::to_path_buf),
            _ => Some(file.with_extension("")),
        };
        let Some(dir) = dir else { continue };
        let mut lines = source.lines().map(str::trim).peekable();
        while let Some(line) = lines.next() {
            if line == "#[cfg(test)]"
                && let Some(name) = lines.peek().and_then(|l| l.strip_prefix("mod ")).and_then(|l| l.strip_suffix(';'))
            {
                out.push(dir.join(format!("{name}.rs")));
            }
        }
    }
    out
}

/// Every import in `src/` that points to a higher layer, as `file: module`.
fn violations() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let tests = test_only_files(&files);
    let mut bad = Vec::new();
    for file in files.iter().filter(|f| !tests.contains(f)) {
        let relative = file.strip_prefix(&src).unwrap_or(file);
        let top =
            relative.components().next().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned());
        if top.as_deref() == Some("layers") {
            continue;
        }
        let Some(own) = top.as_deref().and_then(layer_of) else {
            if !matches!(top.as_deref(), Some("lib" | "main")) {
                bad.push(format!("{}: a module without a layer", relative.display()));
            }
            continue;
        };
        let source = std::fs::read_to_string(file).unwrap_or_default();
        for module in crate_modules(program_code(&source), module_depth(relative)) {
            match module.as_str() {
                "*" | "as" | "" => {
                    bad.push(format!("{}: an import of the crate root the check cannot follow", relative.display()))
                }
                _ if layer_of(&module).is_some_and(|l| l > own) => {
                    bad.push(format!("{}: imports crate::{module}", relative.display()));
                }
                _ => {}
            }
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let unplaced: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            ["pub mod ", "pub(crate) mod ", "mod "].iter().find_map(|p| l.strip_prefix(p))
        })
        .map(|l| l.trim_end_matches(';'))
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(unplaced.is_empty(), "modules without a layer in src/layers.rs: {unplaced:?}");
}

#[test]
fn no_module_imports_a_higher_layer() {
    let bad = violations();
    assert!(bad.is_empty(), "imports against the direction web/api → domain → base:\n{}", bad.join("\n"));
}

#[test]
fn the_agents_import_neither_email_nor_the_http_side() {
    // Same layer as email, but the summary's shape belongs to the agents: email uses
    // theirs, never the other way round.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/agents");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let bad: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let source = std::fs::read_to_string(file).unwrap_or_default();
            let depth = module_depth(file.strip_prefix(dir.parent().unwrap_or(&dir)).unwrap_or(file));
            crate_modules(&source, depth)
                .into_iter()
                .filter(|m| matches!(m.as_str(), "email" | "web" | "api" | "app"))
                .map(move |m| format!("{}: imports crate::{m}", file.display()))
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_import_scan_sees_plain_grouped_and_inline_paths() {
    let found = crate_modules(
        "use crate::web::x;\nuse crate::{db::{Db, with_db}, app::AppState, error};\n// crate::cli in a comment\nlet a = crate::api::f(); let u = \"http://x\"; crate::sse::f();",
        2,
    );
    assert_eq!(found, ["web", "db", "app", "error", "api", "sse"]);
}

#[test]
fn the_import_scan_follows_super_chains_to_the_root_and_flags_what_it_cannot_follow() {
    assert_eq!(crate_modules("use super::super::web::x; use super::Call;", 2), ["web"]);
    assert_eq!(crate_modules("use super::{app, db};", 1), ["app", "db"]);
    assert_eq!(crate_modules("use crate::*; use crate as c; let supercrate = 1;", 1), ["*", "as"]);
}

//! The catalogue is complete: both languages have the same keys and placeholders, every
//! key the templates and the code look up exists, and every stored value shown to staff
//! has a label.
//!
//! Keys are found by scanning `templates/`, `emails/` and `src/` as text for the call
//! forms of templates (`.t("key")`, `.fill("key", …)`, `.label("group", "value")`,
//! `.label("group", value)` needing the group) and for any other string literal shaped
//! like a key (`"group.name"`) whose group the catalogue has: `i18n::t(lang, "key")`,
//! `i18n::fill(lang, "key", …)` and keys handed around as values (`"field.phone_invalid"`,
//! `Role::label_key`) are caught that way. Audit action names (`login.success`) and file
//! names share the dotted shape and are passed over.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::{EN_SOURCE, ES_SOURCE, Lang, entries, lookup};

/// The keys of one catalogue file; fails on a malformed line or a repeated key.
fn keys_of(name: &str, source: &'static str) -> BTreeSet<&'static str> {
    let mut keys = BTreeSet::new();
    for entry in entries(source) {
        match entry {
            Ok((key, _)) => assert!(keys.insert(key), "{name}: key {key} appears twice"),
            Err(line) => panic!("{name}:{line}: not a `key = text` line"),
        }
    }
    keys
}

fn all_keys() -> BTreeSet<&'static str> {
    keys_of("es", ES_SOURCE).union(&keys_of("en", EN_SOURCE)).copied().collect()
}

/// The `{name}` placeholders of a text.
fn placeholders(text: &str) -> BTreeSet<&str> {
    text.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)).collect()
}

#[test]
fn both_languages_have_the_same_keys_and_placeholders() {
    let (es, en) = (keys_of("es", ES_SOURCE), keys_of("en", EN_SOURCE));
    let only_es: Vec<_> = es.difference(&en).collect();
    let only_en: Vec<_> = en.difference(&es).collect();
    assert!(only_es.is_empty() && only_en.is_empty(), "only in es: {only_es:?}; only in en: {only_en:?}");
    for key in &es {
        let (s, e) = (lookup(Lang::Es, key).unwrap_or_default(), lookup(Lang::En, key).unwrap_or_default());
        assert_eq!(placeholders(s), placeholders(e), "placeholders of {key} differ");
    }
}

/// Every file below `dir` (relative to the crate) ending in one of `endings`.
fn files(dir: &str, endings: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if endings.iter().any(|end| path.to_string_lossy().ends_with(end)) {
            out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    out
}

/// The string literals on one line of a text, each with where it starts (after its
/// opening quote) and ends (at its closing quote).
fn literals(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(open) = text[at..].find('"').map(|o| at + o + 1) {
        let Some(close) = text[open..].find(['"', '\n']).map(|c| open + c) else { break };
        if text.as_bytes()[close] == b'"' {
            out.push((open, close));
        }
        at = close + 1;
    }
    out
}

/// Is `text` shaped like a key: lowercase words joined by dots?
fn key_shaped(text: &str) -> bool {
    let word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    text.contains('.') && text.split('.').all(word)
}

/// Dotted names that are not texts: file names and audit actions (`login.success`),
/// which the audit log shows as they are.
fn other_name(text: &str, start: usize, lit: &str) -> bool {
    let line = text[..start].rsplit('\n').next().unwrap_or_default();
    lit.rsplit('.').next().is_some_and(|ending| ["html", "txt", "css", "js", "csv"].contains(&ending))
        || ["Entry::new(", "audit(", "action ="].iter().any(|form| line.contains(form))
}

/// The keys and the label groups one file uses.
fn used<'a>(text: &'a str, groups: &BTreeSet<&str>) -> (Vec<String>, Vec<&'a str>) {
    let (mut keys, mut label_groups) = (Vec::new(), Vec::new());
    let lits = literals(text);
    for (i, &(start, end)) in lits.iter().enumerate() {
        let (before, lit) = (text[..start - 1].trim_end(), &text[start..end]);
        if before.ends_with(".label(") {
            // A literal value right after the group names one key; any other value needs
            // the group to exist at least.
            match lits.get(i + 1) {
                Some(&(s, e)) if text[end + 1..s - 1].trim() == "," => keys.push(format!("{lit}.{}", &text[s..e])),
                _ => label_groups.push(lit),
            }
        } else if before.ends_with(".t(")
            || before.ends_with("fill(")
            || key_shaped(lit)
                && lit.split('.').next().is_some_and(|g| groups.contains(g))
                && !other_name(text, start, lit)
        {
            keys.push(lit.to_owned());
        }
    }
    (keys, label_groups)
}

#[test]
fn every_key_used_in_templates_emails_and_code_exists() {
    let keys = all_keys();
    // Every dotted prefix of a key is a group: `summary` and `summary.topic`.
    let groups: BTreeSet<&str> = keys.iter().flat_map(|k| k.match_indices('.').map(|(at, _)| &k[..at])).collect();
    let mut missing = Vec::new();
    let mut sources = files("templates", &[".html"]);
    sources.extend(files("emails", &[".html", ".txt"]));
    sources.extend(files("src", &[".rs"]).into_iter().filter(|(path, _)| !path.contains("src/i18n")));
    assert!(sources.len() > 50, "the scan found too few files: {}", sources.len());
    let mut found = 0;
    for (path, text) in &sources {
        let (used_keys, label_groups) = used(text, &groups);
        found += used_keys.len();
        missing.extend(used_keys.into_iter().filter(|k| !keys.contains(k.as_str())).map(|k| format!("{path}: {k}")));
        missing.extend(label_groups.into_iter().filter(|g| !groups.contains(g)).map(|g| format!("{path}: group {g}")));
    }
    assert!(found > 300, "the scan found too few keys: {found}");
    assert!(missing.is_empty(), "missing in locales/: {missing:#?}");
}

#[test]
fn every_stored_value_shown_to_staff_has_a_label() {
    let keys = all_keys();
    let mut values: HashMap<&str, Vec<&str>> = HashMap::new();
    let categories: Vec<&str> = crate::agents::builtin::lexicon::CATEGORIES.iter().map(|c| c.0).collect();
    values.insert("category", categories.clone());
    values.insert("summary.topic", categories);
    values.insert("dept", crate::agents::Department::ALL.iter().map(|d| d.as_str()).collect());
    values.insert("emailkind", crate::email::KINDS.to_vec());
    values
        .insert("emailstatus", crate::email::EmailStatus::ALL.iter().map(|s| s.as_str()).chain(["sending"]).collect());
    values.insert("outcome", crate::calls::staff::Outcome::ALL.iter().map(|o| o.as_str()).collect());
    values.insert("presence", crate::calls::board::PRESENCE.to_vec());
    // Database CHECK constraints and wire names of enums without a list of their values.
    values.insert("status", vec!["ai", "queued", "human", "closed"]);
    values.insert("sentiment", vec!["positive", "neutral", "negative"]);
    values.insert("priority", vec!["low", "medium", "high", "critical"]);
    values.insert("msgrole", vec!["customer", "ai"]);
    values.insert("consent", vec!["yes", "no"]);
    values.insert("decision", vec!["approved", "rejected", "pending"]);
    values.insert("method", vec!["cash", "card", "transfer", "check"]);
    values.insert("attempt", vec!["sent", "retry", "failed"]);
    values.insert(
        "reason",
        vec![
            "customer_request",
            "missing_knowledge",
            "unsupported_request",
            "policy_restriction",
            "tool_failure",
            "negative_sentiment",
            "low_confidence",
            "interrupted",
            "token_budget",
        ],
    );
    let missing: Vec<String> = values
        .iter()
        .flat_map(|(group, vals)| vals.iter().map(move |v| format!("{group}.{v}")))
        .filter(|k| !keys.contains(k.as_str()))
        .collect();
    assert!(missing.is_empty(), "labels missing in locales/: {missing:?}");
}

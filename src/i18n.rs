//! Spanish and English texts for pages, errors, emails and the built-in engine's
//! replies.
//!
//! Every text a customer or staff member reads lives in one catalogue a language,
//! `locales/es.txt` and `locales/en.txt` (`key = text` lines, `{name}` placeholders),
//! embedded in the binary and parsed once. The tests in `i18n/keys.rs` fail when the two
//! files' keys differ or when a key used in a template or in the code is missing.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// A supported interface language.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Español (the default).
    #[default]
    Es,
    /// English.
    En,
}

impl Lang {
    /// The ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Es => "es",
            Self::En => "en",
        }
    }

    /// Parses `es` / `en` (case-insensitive, region ignored: `es-MX`, `en_GB`).
    pub fn parse(text: &str) -> Option<Self> {
        let primary = text.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "es" => Some(Self::Es),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// Picks the preferred supported language from an `Accept-Language` header,
    /// honouring q-values; Spanish when nothing matches.
    pub fn from_accept_language(header: &str) -> Self {
        let mut best: Option<(f32, Self)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Self::parse) else {
                continue;
            };
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }

    /// The other language (for the switch link).
    pub fn other(self) -> Self {
        match self {
            Self::Es => Self::En,
            Self::En => Self::Es,
        }
    }
}

/// Looks up `key` in `lang`; an unknown key returns itself so that a gap shows up in
/// the page instead of crashing.
pub fn t(lang: Lang, key: &str) -> &str {
    lookup(lang, key).unwrap_or(key)
}

/// The text for `key` in `lang` with its `{name}` placeholders filled in, in one pass
/// (a value that itself holds `{name}`, such as a customer's words, stays as it is).
pub fn fill(lang: Lang, key: &str, values: &[(&str, &str)]) -> String {
    let mut rest = t(lang, key);
    let mut out = String::with_capacity(rest.len());
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            values.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text for `key` in `lang`, if the catalogue has it.
fn lookup(lang: Lang, key: &str) -> Option<&'static str> {
    let texts = match lang {
        Lang::Es => &*ES,
        Lang::En => &*EN,
    };
    texts.get(key).copied()
}

/// A translator handed to templates: `{{ tr.t("login.title") }}`.
#[derive(Clone, Copy, Debug)]
pub struct Tr(pub Lang);

impl Tr {
    /// The label of a stored value (`label("status", "queued")` looks up
    /// `status.queued`); an unknown value is shown as it is.
    pub fn label(&self, group: &str, value: impl std::fmt::Display) -> String {
        let value = value.to_string();
        lookup(self.0, &format!("{group}.{value}")).map_or(value, str::to_owned)
    }

    /// The text for `key` with `{name}` placeholders filled in (the values are escaped
    /// by the template like any other text).
    pub fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        fill(self.0, key, values)
    }

    /// The text for `key` in this language.
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        t(self.0, key)
    }

    /// The language code, for `<html lang>`.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }
}

/// The Spanish catalogue, `locales/es.txt`.
const ES_SOURCE: &str = include_str!("../locales/es.txt");
/// The English catalogue, `locales/en.txt`.
const EN_SOURCE: &str = include_str!("../locales/en.txt");

static ES: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| entries(ES_SOURCE).flatten().collect());
static EN: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| entries(EN_SOURCE).flatten().collect());

/// The `key = text` lines of a catalogue file, skipping blank lines and `#` comments;
/// a line that is neither is an `Err` with its number (the unit tests reject it, so the
/// running app never meets one).
fn entries(source: &'static str) -> impl Iterator<Item = Result<(&'static str, &'static str), usize>> {
    source.lines().enumerate().filter_map(|(n, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        Some(match line.split_once(" = ") {
            Some((key, text)) if !key.trim().is_empty() && !text.trim().is_empty() => Ok((key.trim(), text.trim())),
            _ => Err(n + 1),
        })
    })
}

#[cfg(test)]
mod keys;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_prefers_highest_q() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,es;q=0.8"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr-FR, es-MX;q=0.7, en;q=0.5"), Lang::Es);
        assert_eq!(Lang::from_accept_language("de"), Lang::Es);
        assert_eq!(Lang::from_accept_language(""), Lang::Es);
    }

    #[test]
    fn placeholders_are_filled_once_and_unknown_ones_stay() {
        assert_eq!(fill(Lang::En, "email.hello", &[("name", "{name} Ann")]), "Hello {name} Ann,");
        assert_eq!(fill(Lang::Es, "emails.confirmed_by_staff", &[("name", "Eva")]), "Registrada por Eva, {at}");
    }
}

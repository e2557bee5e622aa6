//! A template's text: its `{{1}}`-style variables (numbered from 1 without gaps),
//! filling them in, and the rules the Cloud API sets for names, language codes, bodies
//! and the values sent.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::FieldErrors;

/// Longest name (the Cloud API's limit).
pub const MAX_NAME: usize = 512;
/// Longest body (the Cloud API's limit for a template's body text).
pub const MAX_BODY: usize = 1024;
/// Longest value of one variable.
pub const MAX_VALUE: usize = 500;

/// Why a body's variables are wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariableError {
    /// Something between `{{` and `}}` that is not a number from 1, or an unclosed `{{`.
    Format,
    /// The numbers skip one (`{{1}}` and `{{3}}` without `{{2}}`).
    Gap,
}

/// The variables of `body` as (byte range, number), in order.
fn scan(body: &str) -> Result<Vec<(std::ops::Range<usize>, usize)>, VariableError> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(open) = body.get(rest..).and_then(|s| s.find("{{")) {
        let start = rest + open;
        let inner_start = start + 2;
        let close = body.get(inner_start..).and_then(|s| s.find("}}")).ok_or(VariableError::Format)?;
        let inner = body.get(inner_start..inner_start + close).unwrap_or_default();
        let valid = !inner.is_empty() && inner.len() <= 3 && inner.bytes().all(|b| b.is_ascii_digit());
        let n: usize = if valid { inner.parse().unwrap_or(0) } else { 0 };
        if n == 0 || inner.starts_with('0') {
            return Err(VariableError::Format);
        }
        let end = inner_start + close + 2;
        found.push((start..end, n));
        rest = end;
    }
    Ok(found)
}

/// How many variables `body` has: its `{{n}}` must be numbered 1..n without gaps (one
/// may appear more than once).
pub fn variable_count(body: &str) -> Result<usize, VariableError> {
    let numbers: BTreeSet<usize> = scan(body)?.into_iter().map(|(_, n)| n).collect();
    match numbers.last() {
        None => Ok(0),
        Some(&max) if max == numbers.len() => Ok(max),
        Some(_) => Err(VariableError::Gap),
    }
}

/// `body` with `values[n - 1]` in place of each `{{n}}` (kept as it is without a value).
pub fn fill_values(body: &str, values: &[String]) -> String {
    let Ok(vars) = scan(body) else { return body.to_owned() };
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    for (range, n) in vars {
        out.push_str(body.get(at..range.start).unwrap_or_default());
        match values.get(n - 1) {
            Some(v) => out.push_str(v),
            None => out.push_str(body.get(range.clone()).unwrap_or_default()),
        }
        at = range.end;
    }
    out.push_str(body.get(at..).unwrap_or_default());
    out
}

/// A name as the Cloud API requires it: lowercase letters, digits and underscores.
pub fn parse_name(text: &str) -> Option<String> {
    let n = text.trim();
    let ok = (1..=MAX_NAME).contains(&n.len())
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    ok.then(|| n.to_owned())
}

/// A language code as WhatsApp writes them: `es`, `fil`, `en_US`, `pt_BR` (`en-us` is
/// read as `en_US`).
pub fn parse_language(text: &str) -> Option<String> {
    let t = text.trim().replace('-', "_");
    let (lang, region) = match t.split_once('_') {
        Some((l, r)) => (l.to_ascii_lowercase(), Some(r.to_ascii_uppercase())),
        None => (t.to_ascii_lowercase(), None),
    };
    let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
    let region_ok =
        region.as_ref().is_none_or(|r| (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    (lang_ok && region_ok).then(|| match region {
        Some(r) => format!("{lang}_{r}"),
        None => lang,
    })
}

/// A body: 1–1,024 characters, lines and tabs but no other control characters,
/// variables numbered 1..n. Returns it with its variable count.
pub fn parse_body(text: &str) -> Result<(String, usize), &'static str> {
    let b = text.replace("\r\n", "\n").trim().to_owned();
    let n = b.chars().count();
    if n == 0 {
        return Err("field.required");
    }
    if n > MAX_BODY {
        return Err("field.wa_template_body_too_long");
    }
    if b.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("field.text_invalid");
    }
    match variable_count(&b) {
        Ok(count) => Ok((b, count)),
        Err(VariableError::Format) => Err("field.wa_template_variable_format"),
        Err(VariableError::Gap) => Err("field.wa_template_variable_gap"),
    }
}

/// Values for a template's variables: exactly `count` of them, each 1–500 characters
/// on one line (the Cloud API refuses parameters with line breaks, tabs or more than
/// four spaces in a row).
pub fn parse_values(values: &[String], count: usize) -> Result<Vec<String>, &'static str> {
    if values.len() != count {
        return Err("field.wa_template_variable_count");
    }
    values
        .iter()
        .map(|v| {
            let v = v.trim();
            let n = v.chars().count();
            if n == 0 {
                Err("field.wa_template_value_empty")
            } else if n > MAX_VALUE || v.chars().any(char::is_control) || v.contains("     ") {
                Err("field.wa_template_value_invalid")
            } else {
                Ok(v.to_owned())
            }
        })
        .collect()
}

/// A body filled in for a preview.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The text the customer would read (plain text: escape it to show it).
    pub text: String,
    /// How many variables the body has.
    pub variables: usize,
    /// The numbers of the variables no value was given for (left as `{{n}}`).
    pub missing: Vec<usize>,
}

/// `body` filled with `values` (as many as given; extra ones are ignored), or what is
/// wrong with the body.
pub fn preview(body: &str, values: &[String]) -> Result<Preview, FieldErrors> {
    let (body, count) = parse_body(body).map_err(|key| FieldErrors::from([("body", key)]))?;
    let values: Vec<String> = values.iter().map(|v| v.trim().to_owned()).collect();
    let missing = (1..=count).filter(|n| values.get(n - 1).is_none_or(String::is_empty)).collect();
    let shown: Vec<String> = values.into_iter().take(count).collect();
    let text = fill_present(&body, &shown);
    Ok(Preview { text, variables: count, missing })
}

/// Like [`fill_values`], but an empty value also stays as `{{n}}`.
fn fill_present(body: &str, values: &[String]) -> String {
    let Ok(vars) = scan(body) else { return body.to_owned() };
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    for (range, n) in vars {
        out.push_str(body.get(at..range.start).unwrap_or_default());
        match values.get(n - 1).filter(|v| !v.is_empty()) {
            Some(v) => out.push_str(v),
            None => out.push_str(body.get(range.clone()).unwrap_or_default()),
        }
        at = range.end;
    }
    out.push_str(body.get(at..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_numbered_from_one_without_gaps() {
        assert_eq!(variable_count("Hola"), Ok(0));
        assert_eq!(variable_count("Hola {{1}}, tu pedido {{2}} llega {{1}}"), Ok(2));
        assert_eq!(variable_count("{{2}} y {{1}}"), Ok(2));
        assert_eq!(variable_count("{{1}} y {{3}}"), Err(VariableError::Gap));
        assert_eq!(variable_count("{{2}}"), Err(VariableError::Gap));
        for bad in ["{{0}}", "{{01}}", "{{name}}", "{{ 1 }}", "{{1", "{{}}", "{{-1}}"] {
            assert_eq!(variable_count(bad), Err(VariableError::Format), "{bad}");
        }
    }

    #[test]
    fn a_body_is_filled_in_and_missing_values_stay_visible() {
        let values = vec!["Ana".to_owned(), "A-17".to_owned()];
        assert_eq!(
            fill_values("Hola {{1}}, pedido {{2}}. Gracias {{1}}", &values),
            "Hola Ana, pedido A-17. Gracias Ana"
        );
        assert_eq!(fill_values("Hola {{1}}, pedido {{2}}", &values[..1]), "Hola Ana, pedido {{2}}");
        let p = preview("Hola {{1}}, pedido {{2}}", &["Ana".into(), " ".into()]).unwrap();
        assert_eq!((p.text.as_str(), p.variables, p.missing), ("Hola Ana, pedido {{2}}", 2, vec![2]));
        assert_eq!(preview("{{1}} {{3}}", &[]).unwrap_err().get("body"), Some(&"field.wa_template_variable_gap"));
    }

    #[test]
    fn names_languages_and_values_follow_the_cloud_api() {
        assert_eq!(parse_name("order_update_2").as_deref(), Some("order_update_2"));
        for bad in ["Order", "order-update", "order update", "", "pedido_ñ"] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
        assert_eq!(parse_name(&"a".repeat(MAX_NAME + 1)), None);
        assert_eq!(parse_language("en-us").as_deref(), Some("en_US"));
        assert_eq!(parse_language("es").as_deref(), Some("es"));
        assert_eq!(parse_language("fil").as_deref(), Some("fil"));
        assert_eq!(parse_language("english"), None);
        assert_eq!(parse_values(&["a".into()], 2), Err("field.wa_template_variable_count"));
        assert_eq!(parse_values(&["a\nb".into()], 1), Err("field.wa_template_value_invalid"));
        assert_eq!(parse_values(&["  ".into()], 1), Err("field.wa_template_value_empty"));
        assert_eq!(parse_values(&[" Ana ".into()], 1), Ok(vec!["Ana".to_owned()]));
        assert_eq!(parse_body(&"x".repeat(MAX_BODY + 1)), Err("field.wa_template_body_too_long"));
    }
}

//! Text clean-up shared by the layers that put untrusted text where a line is expected
//! (email subjects, call-summary items).

/// Text on one line: control characters (newlines included) become spaces, runs of
/// spaces collapse, at most `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let spaced: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(max).collect()
}

/// `%text%` for a case-blind `LIKE … ESCAPE '\'` "contains" search: lowercase, with the
/// wildcards `%` and `_` and the escape character itself taken literally.
pub fn like_contains(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_contains_takes_wildcards_literally() {
        assert_eq!(like_contains("50%_off"), "%50\\%\\_off%");
        assert_eq!(like_contains("Saldo"), "%saldo%");
        assert_eq!(like_contains("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(like_contains("50%_OFF\\"), "%50\\%\\_off\\\\%");
    }
}

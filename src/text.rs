//! Text clean-up and checks shared by the layers that put untrusted text where a line
//! is expected (email subjects, call-summary items, ticket titles) or store it.

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

/// True when `text` holds a control character: not allowed in one-line fields.
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// True when `text` holds a control character other than a line break or a tab: not
/// allowed in multi-line fields (descriptions, comments, email bodies).
pub fn has_control_but_lines(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// True when URL-encoded text (a query string, a form body) holds the NUL character,
/// raw or as `%00`. PostgreSQL cannot store NUL in text at all and no field of ours
/// accepts it, so requests carrying one are refused before any handler runs.
pub fn url_encoded_nul(encoded: &[u8]) -> bool {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut i = 0;
    while i < encoded.len() {
        match encoded[i] {
            0 => return true,
            b'%' if i + 2 < encoded.len() => match (hex(encoded[i + 1]), hex(encoded[i + 2])) {
                (Some(0), Some(0)) => return true,
                (Some(_), Some(_)) => i += 3,
                _ => i += 1,
            },
            _ => i += 1,
        }
    }
    false
}

/// True when a JSON document (already known to be valid) holds the NUL character: in
/// valid JSON it can only appear as the escape `\u0000` inside a string.
pub fn json_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json.get(i + 1) == Some(&b'u') && json.get(i + 2..i + 6) == Some(b"0000".as_slice()) {
                return true;
            }
            // Skip the escaped character, so `\\u0000` (a backslash, then text) is no NUL.
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_however_it_is_encoded_and_only_then() {
        assert!(url_encoded_nul(b"q=%00"));
        assert!(url_encoded_nul(b"a=1&title=x%00y"));
        assert!(url_encoded_nul(b"a\0b"));
        assert!(!url_encoded_nul(b"q=%2500&p=%0"));
        assert!(!url_encoded_nul(b"q=100%25&r=%01"));
        assert!(json_nul(br#"{"title":"a\u0000b"}"#));
        assert!(!json_nul(br#"{"title":"a\\u0000b"}"#));
        assert!(json_nul(br#"{"title":"a\\\u0000b"}"#));
        assert!(!json_nul(br#"{"title":"\u0001"}"#));
    }

    #[test]
    fn one_line_and_multi_line_fields_allow_different_controls() {
        assert!(has_control("a\nb") && has_control("a\u{7}") && !has_control("añ b"));
        assert!(!has_control_but_lines("a\r\n\tb") && has_control_but_lines("a\u{7}b") && has_control_but_lines("\0"));
    }

    #[test]
    fn like_contains_takes_wildcards_literally() {
        assert_eq!(like_contains("50%_off"), "%50\\%\\_off%");
        assert_eq!(like_contains("Saldo"), "%saldo%");
        assert_eq!(like_contains("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(like_contains("50%_OFF\\"), "%50\\%\\_off\\\\%");
    }
}

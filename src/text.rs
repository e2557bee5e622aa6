//! Text clean-up shared by the layers that put untrusted text where a line is expected
//! (email subjects, call-summary items).

/// Text on one line: control characters (newlines included) become spaces, runs of
/// spaces collapse, at most `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let spaced: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(max).collect()
}

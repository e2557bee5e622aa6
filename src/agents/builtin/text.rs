//! Text normalisation and tolerant matching shared by the engine's parts.

/// Lowercases, removes accents (so `contraseña` and `contrasena` meet), and turns
/// everything that is not a letter or digit into single spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for c in text.chars().flat_map(char::to_lowercase) {
        let mapped = match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        if mapped == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(mapped);
            last_space = false;
        }
    }
    out.trim_end().to_owned()
}

/// Words of a normalised text.
pub fn tokens(normalized: &str) -> Vec<&str> {
    normalized.split(' ').filter(|t| !t.is_empty()).collect()
}

/// Longest word compared letter by letter; longer ones only match exactly.
const MAX_FUZZY_LEN: usize = 31;

/// Levenshtein distance over bytes (normalised text is ASCII), giving up (returning
/// `max + 1`) once it must exceed `max`. No allocation: this runs thousands of times
/// per message.
pub fn distance_within(a: &str, b: &str, max: usize) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > max || a.len() > MAX_FUZZY_LEN || b.len() > MAX_FUZZY_LEN {
        return if a == b { 0 } else { max + 1 };
    }
    let mut prev = [0usize; MAX_FUZZY_LEN + 1];
    let mut row = [0usize; MAX_FUZZY_LEN + 1];
    for (j, p) in prev.iter_mut().enumerate().take(b.len() + 1) {
        *p = j;
    }
    for (i, ca) in a.iter().enumerate() {
        row[0] = i + 1;
        let mut best = row[0];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            row[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1);
            best = best.min(row[j + 1]);
        }
        if best > max {
            return max + 1;
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// Typos tolerated for a keyword of this length: none below 5 characters (too many
/// real words are one letter apart), one up to 8, two beyond.
fn tolerance(len: usize) -> usize {
    match len {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Does `token` match the single-word pattern `word`? A trailing `*` makes it a prefix
/// (`factur*` matches `facturas`, `facturacion`); typos are tolerated by length.
pub fn word_matches(token: &str, word: &str) -> bool {
    word_matches_with(token, word, true)
}

/// [`word_matches`], with typo tolerance switched off when `fuzzy` is false (used for
/// patterns of the other language, where near-misses are usually different words:
/// English `cancel` is not Spanish `cancelé`).
pub fn word_matches_with(token: &str, word: &str, fuzzy: bool) -> bool {
    // Typos rarely hit the first letter; requiring it to match keeps matching cheap.
    let same_start = token.as_bytes().first() == word.as_bytes().first();
    if let Some(prefix) = word.strip_suffix('*') {
        if token.starts_with(prefix) {
            return true;
        }
        let n = prefix.chars().count();
        // Short prefixes are too promiscuous to bend (`cost*` would take `customer`).
        if !fuzzy || !same_start || n < 5 || token.chars().count() + 1 < n {
            return false;
        }
        // The token's opening, one shorter, as long, or one longer than the prefix, may
        // be one edit away: a dropped, swapped or doubled letter.
        (n - 1..=n + 1).any(|len| {
            let head: String = token.chars().take(len).collect();
            distance_within(&head, prefix, 1) <= 1
        })
    } else {
        token == word || {
            let allowed = if fuzzy && same_start { tolerance(word.chars().count()) } else { 0 };
            allowed > 0
                && token.len().abs_diff(word.len()) <= allowed
                && distance_within(token, word, allowed) <= allowed
        }
    }
}

/// Where a pattern of one or more words (`"cobraron dos veces"`) matches in `tokens`:
/// the index of its first word, if anywhere.
pub fn find_phrase(tokens: &[&str], pattern: &str) -> Option<usize> {
    find_phrase_with(tokens, pattern, true)
}

/// [`find_phrase`] with typo tolerance on or off.
pub fn find_phrase_with(tokens: &[&str], pattern: &str, fuzzy: bool) -> Option<usize> {
    let words: Vec<&str> = pattern.split(' ').collect();
    if words.is_empty() || tokens.len() < words.len() {
        return None;
    }
    (0..=tokens.len() - words.len())
        .find(|&i| words.iter().enumerate().all(|(k, w)| word_matches_with(tokens[i + k], w, fuzzy)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_accents_case_and_punctuation() {
        assert_eq!(normalize("¿Cuál es mi SALDO?!"), "cual es mi saldo");
        assert_eq!(normalize("Contraseña   olvidada..."), "contrasena olvidada");
    }

    #[test]
    fn tolerates_typos_by_length() {
        assert!(word_matches("pasword", "password"));
        assert!(word_matches("fatura", "factur*"));
        assert!(word_matches("facturacion", "factur*"));
        assert!(!word_matches("hola", "hora"), "short words must match exactly");
        assert!(!word_matches("pago", "pagar"));
        assert_eq!(find_phrase(&["me", "cobraron", "dos", "veces"], "cobr* dos veces"), Some(1));
    }
}

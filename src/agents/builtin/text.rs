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
    // Every way of matching below needs the same first letter (a bare `*` aside): most
    // comparisons end here, before any counting or distance.
    if !same_start && !word.starts_with('*') {
        return false;
    }
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
            let end = token.char_indices().nth(len).map_or(token.len(), |(i, _)| i);
            distance_within(&token[..end], prefix, 1) <= 1
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

/// The first letters of a message's words: a pattern whose first word starts with a
/// letter none of them starts with cannot match (every way [`word_matches_with`]
/// matches keeps the first letter), so the engine's long pattern tables are skipped
/// through at one test per pattern.
pub struct Initials([u64; 4]);

impl Initials {
    /// The first letters of `tokens`.
    pub fn of(tokens: &[&str]) -> Self {
        let mut bits = [0u64; 4];
        for t in tokens {
            if let Some(&b) = t.as_bytes().first() {
                bits[usize::from(b >> 6)] |= 1 << (b & 63);
            }
        }
        Self(bits)
    }

    /// Whether `pattern` may match (false only when it certainly does not).
    pub fn may_match(&self, pattern: &str) -> bool {
        match pattern.as_bytes().first() {
            Some(&b'*') | None => true,
            Some(&b) => self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0,
        }
    }
}

/// Where each first letter starts a word of a message, letter by letter: a pattern's
/// first word can only match at those places (see [`Initials`]), so a long table of
/// patterns is matched against the one or two words that share each pattern's first
/// letter instead of every word of the message.
pub struct Starts(Vec<(u8, usize)>);

impl Starts {
    /// The places of `tokens` by first letter.
    pub fn of(tokens: &[&str]) -> Self {
        let mut at: Vec<(u8, usize)> =
            tokens.iter().enumerate().filter_map(|(i, t)| t.as_bytes().first().map(|&b| (b, i))).collect();
        at.sort_unstable();
        Self(at)
    }

    /// The places whose word starts with `letter`, first to last.
    fn of_letter(&self, letter: u8) -> impl Iterator<Item = usize> + '_ {
        let from = self.0.partition_point(|(l, _)| *l < letter);
        self.0[from..].iter().take_while(move |(l, _)| *l == letter).map(|(_, i)| *i)
    }
}

/// [`find_words`] given the message's [`Starts`]: the same answer, trying only the
/// places where the pattern's first word may match.
pub fn find_words_at(tokens: &[&str], starts: &Starts, words: &[&str], fuzzy: bool) -> Option<usize> {
    match words.first().and_then(|w| w.as_bytes().first()) {
        Some(&letter) if letter != b'*' && tokens.len() >= words.len() => starts
            .of_letter(letter)
            .filter(|&i| i + words.len() <= tokens.len())
            .find(|&i| words_match_at(tokens, i, words, fuzzy)),
        _ => find_words(tokens, words, fuzzy),
    }
}

/// Where a pattern of one or more words (`"cobraron dos veces"`) matches in `tokens`:
/// the index of its first word, if anywhere.
pub fn find_phrase(tokens: &[&str], pattern: &str) -> Option<usize> {
    find_phrase_with(tokens, pattern, true)
}

/// [`find_phrase`] with typo tolerance on or off.
pub fn find_phrase_with(tokens: &[&str], pattern: &str, fuzzy: bool) -> Option<usize> {
    // Most patterns are one word: no list to build.
    if !pattern.contains(' ') {
        return find_words(tokens, &[pattern], fuzzy);
    }
    let words: Vec<&str> = pattern.split(' ').collect();
    find_words(tokens, &words, fuzzy)
}

/// [`find_phrase_with`] for a pattern already split into its words (a table's patterns
/// are split once, not on every message).
pub fn find_words(tokens: &[&str], words: &[&str], fuzzy: bool) -> Option<usize> {
    if tokens.len() < words.len() {
        return None;
    }
    (0..=tokens.len() - words.len()).find(|&i| words_match_at(tokens, i, words, fuzzy))
}

/// Whether the pattern's `words` match the tokens from place `i` on (the caller checks
/// that they fit).
fn words_match_at(tokens: &[&str], i: usize, words: &[&str], fuzzy: bool) -> bool {
    words.iter().zip(&tokens[i..]).all(|(w, t)| word_matches_with(t, w, fuzzy))
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

    #[test]
    fn matching_at_the_starts_finds_what_matching_everywhere_finds() {
        let messages = [
            "nos cobraron tres recibos y el recibo y nos cobraron otra",
            "pasword factura fatura facturacion",
            "a b c",
            "",
        ];
        let patterns = [
            "cobr* tres",
            "nos cobraron",
            "factur*",
            "password",
            "c",
            "*",
            "b c",
            "x",
            "nos",
            "otra",
            "el recibo y nos",
        ];
        for m in messages {
            let tokens = tokens(m);
            let starts = Starts::of(&tokens);
            for p in patterns {
                let words: Vec<&str> = p.split(' ').collect();
                for fuzzy in [true, false] {
                    assert_eq!(
                        find_words_at(&tokens, &starts, &words, fuzzy),
                        find_words(&tokens, &words, fuzzy),
                        "{p:?} in {m:?}"
                    );
                }
            }
        }
        let tokens = tokens("hola nos cobraron y nos cobraron");
        assert_eq!(
            find_words_at(&tokens, &Starts::of(&tokens), &["nos", "cobraron"], false),
            Some(1),
            "the first place"
        );
    }

    #[test]
    fn initials_never_skip_a_pattern_that_matches() {
        let words = ["me", "cobraron", "dos", "veces", "ñandu", "pasword"];
        let initials = Initials::of(&words);
        for pattern in ["cobr* dos", "password", "veces", "*", "ñandu", "factur*", "zorro", "hora", "x y"] {
            if find_phrase(&words, pattern).is_some() {
                assert!(initials.may_match(pattern), "{pattern} matches but was skipped");
            }
        }
        assert!(!initials.may_match("factur*"));
        assert!(!initials.may_match("zorro"));
        assert!(initials.may_match("*"));
    }
}

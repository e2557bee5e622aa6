//! Spanish or English? Function words, domain words of each language, and Spanish
//! marks (ñ, ¿, ¡, accents) vote.

use super::lexicon::{ROUTING, ROUTING_WORDS, STOPWORDS};
use super::text::{Initials, Starts, find_words_at, normalize, tokens};
use crate::i18n::Lang;

/// The language of `text` and how sure the guess is (0.5 = coin toss).
pub fn detect(text: &str) -> (Lang, f64) {
    let mut es = 0.0f64;
    let mut en = 0.0f64;
    for c in text.chars() {
        match c {
            'ñ' | 'Ñ' | '¿' | '¡' => es += 2.0,
            'á' | 'é' | 'í' | 'ó' | 'ú' | 'Á' | 'É' | 'Í' | 'Ó' | 'Ú' => es += 1.0,
            '\'' | '’' => en += 0.5,
            _ => {}
        }
    }
    let norm = normalize(text);
    let words = tokens(&norm);
    for w in &words {
        for (stop, lang) in STOPWORDS {
            if w == stop {
                match lang {
                    'e' => es += 1.0,
                    'n' => en += 1.0,
                    _ => {}
                }
            }
        }
    }
    let initials = Initials::of(&words);
    let starts = Starts::of(&words);
    for ((pattern, _, _, lang), split) in ROUTING.iter().zip(ROUTING_WORDS.iter()) {
        if *lang != 'b' && initials.may_match(pattern) && find_words_at(&words, &starts, split, true).is_some() {
            if *lang == 'e' {
                es += 1.0;
            } else {
                en += 1.0;
            }
        }
    }
    let total = es + en;
    if total == 0.0 {
        return (Lang::Es, 0.5);
    }
    if en > es { (Lang::En, en / total) } else { (Lang::Es, es / total) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_spanish_from_english_even_with_typos() {
        assert_eq!(detect("ola keria saber mi saldo porfa").0, Lang::Es);
        assert_eq!(detect("hw much i owe u").0, Lang::En);
        assert_eq!(detect("¿Cómo configuro el router?").0, Lang::Es);
        assert_eq!(detect("Hello there").0, Lang::En);
    }
}

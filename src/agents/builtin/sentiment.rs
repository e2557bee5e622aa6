//! Bilingual sentiment from a hand-made lexicon, with negation ("no estoy contento",
//! "not happy") and shouting (capitals, "!!!") taken into account.

use super::text::{Initials, find_phrase, normalize, tokens};
use crate::agents::Sentiment;

/// (pattern, weight): negative weights for unhappy words.
const LEXICON: &[(&str, f32)] = &[
    // Spanish, unhappy
    ("harto", -2.0),
    ("harta", -2.0),
    ("molest*", -1.5),
    ("enfadad*", -2.0),
    ("enojad*", -2.0),
    ("furios*", -2.5),
    ("terrible", -2.0),
    ("horrible", -2.0),
    ("pesimo", -2.5),
    ("fatal", -2.0),
    ("verguenza", -2.5),
    ("estafa*", -3.0),
    ("ridicul*", -2.0),
    ("peor", -1.5),
    ("inutil", -2.0),
    ("decepcion*", -2.0),
    ("frustra*", -2.0),
    ("nadie", -1.0),
    ("no funciona", -1.5),
    ("no me funciona", -1.5),
    ("error", -1.0),
    ("problema", -1.0),
    ("no puedo", -1.0),
    ("incorrecta", -0.5),
    ("maleducad*", -2.0),
    ("grosero", -2.0),
    ("no es justo", -1.5),
    ("no reconozco", -1.5),
    ("raro", -1.0),
    ("hacke*", -2.0),
    ("sin internet", -1.5),
    ("no tengo internet", -1.5),
    ("sin senal", -1.5),
    ("no tengo senal", -1.5),
    ("no jala", -1.5),
    ("lent*", -1.0),
    ("se cierra", -1.0),
    ("cobraron dos veces", -1.5),
    ("de mas", -1.0),
    ("urgente", -0.5),
    ("baja", -0.8),
    ("competencia", -1.5),
    ("estropeo", -1.5),
    ("reclamar", -1.0),
    ("de verdad", -0.8),
    ("negativo", -0.8),
    ("no entiendo", -0.5),
    ("queja", -1.0),
    ("denunci*", -2.0),
    ("mas cara", -1.0),
    ("encima", -0.5),
    // English, unhappy
    ("angry", -2.0),
    ("furious", -2.5),
    ("mad", -1.5),
    ("awful", -2.0),
    ("worst", -2.0),
    ("scam", -3.0),
    ("useless", -2.0),
    ("disappoint*", -2.0),
    ("frustrat*", -2.0),
    ("nobody", -1.0),
    ("no one", -1.0),
    ("not working", -1.5),
    ("doesn t work", -1.5),
    ("crash*", -1.5),
    ("slow", -1.0),
    ("broken", -1.5),
    ("can t", -0.8),
    ("cannot", -0.8),
    ("wrong", -1.0),
    ("rude", -2.0),
    ("not fair", -1.5),
    ("ridiculous", -2.0),
    ("don t recogni*", -1.5),
    ("hacked", -2.0),
    ("down", -1.0),
    ("outage", -1.0),
    ("no signal", -1.5),
    ("nothing is working", -1.5),
    ("furious", -2.5),
    ("overcharg*", -1.5),
    ("charged twice", -1.5),
    ("twice", -0.8),
    ("cancel", -0.8),
    ("lawyer", -2.0),
    ("switching", -1.0),
    ("not a bot", -1.0),
    ("it s been", -0.8),
    ("no dial tone", -1.0),
    ("damaged", -1.5),
    ("no dial", -1.0),
    ("complaint", -1.0),
    ("never ordered", -1.5),
    ("why is", -0.5),
    ("urgent", -0.5),
    // Second pass: more ways to be unhappy
    ("ladron*", -2.5),
    ("thieves", -2.5),
    ("indignante", -2.5),
    ("inaceptable", -2.5),
    ("unacceptable", -2.5),
    ("vergonzoso", -2.5),
    ("nobody cares", -2.0),
    ("nadie hace nada", -2.0),
    ("colgo", -1.5),
    ("hung up", -1.5),
    ("recargo*", -1.0),
    ("no enciende", -1.0),
    ("won t", -0.8),
    ("no deja", -1.0),
    ("bloquead*", -1.0),
    ("locked", -1.0),
    ("sin permiso", -1.5),
    ("without permission", -1.5),
    ("again", -0.8),
    ("no puedo pagar", -1.0),
    ("me quiero ir", -1.5),
    ("why did you", -1.0),
    ("stolen", -2.0),
    ("robado", -2.0),
    ("perdido", -1.0),
    ("se ha caido", -1.5),
    ("no internet", -1.5),
    ("sin servicio", -1.5),
    ("caido", -1.0),
    ("parpadea*", -0.8),
    ("blinking", -0.8),
    ("no carga", -1.0),
    ("se corta", -1.0),
    ("keeps dropping", -1.0),
    ("sin conexion", -1.5),
    ("hacked", -2.0),
    ("queja", -1.0),
    ("complaint", -1.0),
    ("escalate", -1.0),
    ("get me a manager", -1.0),
    ("money back", -0.8),
    ("de mas", -1.0),
    // Third pass
    ("no me parece bien", -1.5),
    ("todavia no", -1.0),
    ("never showed", -1.5),
    ("still waiting", -1.5),
    ("mintio", -2.0),
    ("lied", -2.0),
    ("tomadura de pelo", -2.5),
    ("a joke", -2.0),
    ("tribunal*", -2.0),
    ("legal action", -2.0),
    ("maquina", -0.8),
    ("inutil", -2.0),
    ("dead", -1.5),
    ("ffs", -2.0),
    ("mal", -1.0),
    ("no quiero", -1.0),
    ("sin avisar", -1.0),
    ("no recibe", -1.0),
    ("cutting out", -1.0),
    ("no va", -1.0),
    ("raro", -1.0),
    ("without my consent", -1.5),
    // Fourth pass
    ("desastre", -2.5),
    ("disaster", -2.5),
    ("worst", -2.0),
    ("fatal", -2.0),
    ("left a mess", -2.0),
    ("broke", -1.5),
    ("congelad*", -1.0),
    ("frozen", -1.0),
    ("exijo", -1.5),
    ("demand", -1.5),
    ("no puede seguir", -1.5),
    ("never signed up", -1.5),
    ("nunca pedi", -1.5),
    ("never arrives", -1.0),
    ("no me compensa", -1.0),
    ("been out", -1.0),
    ("no hay linea", -1.5),
    ("quiero mi dinero", -1.5),
    ("never abroad", -1.0),
    ("no consigo", -1.0),
    ("isn t working", -1.5),
    // Fifth pass
    ("desagradable", -2.0),
    ("unpleasant", -2.0),
    ("never turned up", -2.0),
    ("no se presento", -2.0),
    ("lo mal que", -2.0),
    ("done with you", -2.0),
    ("no fui yo", -1.5),
    ("wasn t me", -1.5),
    ("no se activa", -1.0),
    ("quedado fuera", -1.0),
    ("isn t coming", -1.0),
    ("y nada", -1.0),
    ("ni tele ni", -1.0),
    // Spanish, happy
    ("gracias", 0.8),
    ("genial", 2.0),
    ("excelente", 2.0),
    ("perfecto", 1.5),
    ("encant*", 2.0),
    ("contentisim*", 2.5),
    ("content*", 1.5),
    ("feliz", 2.0),
    ("ayudado", 1.0),
    ("me interesa", 0.8),
    ("comprar", 0.8),
    ("estupendo", 2.0),
    ("maravill*", 2.0),
    ("resuelto", 1.5),
    ("me gustaria", 0.8),
    ("todo bien", 1.0),
    ("mil gracias", 1.0),
    ("ya funciona", 1.5),
    ("great job", 2.0),
    ("i m interested", 0.8),
    // English, happy
    ("thanks", 0.8),
    ("thank*", 0.8),
    ("great", 2.0),
    ("excellent", 2.0),
    ("perfect", 1.5),
    ("love", 2.0),
    ("happy", 2.0),
    ("helpful", 1.5),
    ("awesome", 2.0),
    ("upgrade", 0.8),
    ("buy", 0.8),
    ("interested", 0.8),
    ("wonderful", 2.0),
    ("amazing", 2.0),
    ("cheers", 1.0),
    ("sorted", 1.2),
    ("solved", 1.5),
    ("appreciate", 1.5),
    ("brilliant", 2.0),
    ("thank you so much", 1.0),
    ("por todo", 0.5),
];

const NEGATIONS: &[&str] = &["no", "not", "nunca", "never", "ni", "tampoco", "isn", "wasn", "don", "nada"];

/// A score below zero for unhappy text, above zero for happy text.
pub fn score(text: &str) -> f32 {
    let norm = normalize(text);
    let words = tokens(&norm);
    let mut total = 0.0f32;
    let initials = Initials::of(&words);
    for (pattern, weight) in LEXICON {
        if let Some(at) = initials.may_match(pattern).then(|| find_phrase(&words, pattern)).flatten() {
            // A negation just before a happy word turns it ("no estoy contento").
            let negated = *weight > 0.0 && words[at.saturating_sub(2)..at].iter().any(|w| NEGATIONS.contains(w));
            total += if negated { -weight } else { *weight };
        }
    }
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    let shouting = letters.len() >= 10 && upper * 10 >= letters.len() * 7;
    if shouting {
        total -= 1.0;
    }
    if text.contains("!!") && total < 0.0 {
        total -= 0.5;
    }
    if text.contains("??") {
        total -= 0.5;
    }
    total
}

/// The sentiment class of a score.
pub fn classify(score: f32) -> Sentiment {
    if score <= -0.8 {
        Sentiment::Negative
    } else if score >= 0.8 {
        Sentiment::Positive
    } else {
        Sentiment::Neutral
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_and_shouting_count() {
        assert_eq!(classify(score("Estoy muy contento")), Sentiment::Positive);
        assert_eq!(classify(score("No estoy contento con el servicio")), Sentiment::Negative);
        assert_eq!(classify(score("I am not happy")), Sentiment::Negative);
        assert_eq!(classify(score("WHERE IS MY MONEY")), Sentiment::Negative);
        assert_eq!(classify(score("When do you open on Saturdays?")), Sentiment::Neutral);
    }
}

//! What a customer asks the service agent to look up or do, independently of the
//! routed topic: one message may ask two things (a balance and a payment, say), and
//! each part needs its tool. Rules over short, general word patterns (the
//! topic model decides where a call goes; these decide which tools serve it).

use super::text::{find_phrase_with, normalize, tokens};
use crate::agents::Department;
use crate::agents::model::ToolName;

/// Something the customer asks for that a tool serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// What they owe.
    Balance,
    /// Their past payments, the last one.
    PaymentHistory,
    /// How their tickets are going.
    TicketStatus,
    /// A new ticket.
    NewTicket,
    /// A payment of an amount to register (made, or to be made).
    RegisterPayment,
}

impl Intent {
    /// The department that handles it.
    pub fn department(self) -> Department {
        match self {
            Intent::Balance | Intent::PaymentHistory | Intent::RegisterPayment => Department::Billing,
            Intent::TicketStatus | Intent::NewTicket => Department::Support,
        }
    }

    /// The tool that serves it.
    pub fn tool(self) -> ToolName {
        match self {
            Intent::Balance => ToolName::GetBalance,
            Intent::PaymentHistory => ToolName::ListPayments,
            Intent::TicketStatus => ToolName::ListTickets,
            Intent::NewTicket => ToolName::CreateTicket,
            Intent::RegisterPayment => ToolName::RequestPaymentRegistration,
        }
    }
}

const BALANCE: &[&str] = &[
    "saldo*",
    "debo",
    "debe",
    "debemos",
    "deuda*",
    "adeud*",
    "pendiente de pago",
    "por pagar",
    "tengo que pagar",
    "hay que pagar",
    "tengo pendiente",
    "tengo para pagar",
    "how much is my",
    "cuanto es mi",
    "queda pendiente",
    "queda por pagar",
    "what s pending",
    "pending on",
    "left to pay",
    "what s left",
    "balance",
    "owe",
    "owing",
    "in debt",
    "debt",
    "outstanding",
    "amount due",
    "due amount",
    "much do i",
];

const HISTORY: &[&str] = &[
    "ultimo pago",
    "ultimos pagos",
    "mis pagos",
    "historial*",
    "movimientos",
    "pagos anteriores",
    "pagos realizados",
    "cuando pague",
    "cuando fue",
    "cuanto pague",
    "cuanto he pagado",
    "que he pagado",
    "que pague",
    "recibieron mi pago",
    "que pagos",
    "cuantos pagos",
    "pagos tengo",
    "pagos hechos",
    "pagos de este",
    "last few",
    "recent payments",
    "pagos recientes",
    "i ve paid",
    "what i have paid",
    "payments this",
    "payments made",
    "payments i",
    "llego mi pago",
    "last payment",
    "last paid",
    "last pay",
    "previous payment*",
    "past payment*",
    "payment history",
    "my payments",
    "did i pay",
    "have i paid",
    "get my payment",
    "received my payment",
];

const TICKET_WORDS: &[&str] = &[
    "ticket*",
    "tiket*",
    "incidencia*",
    "incidente*",
    "incident*",
    "reclamo*",
    "caso",
    "casos",
    "averia*",
    "orden de servicio",
    "case",
    "cases",
    "parte",
    "reporte",
    "reportes",
    "fault",
    "faults",
    "tecnico",
    "technician",
    "repair",
    "reparacion",
];

const STATUS_WORDS: &[&str] = &[
    "estado",
    "como va*",
    "como sigue",
    "como viene",
    "ya quedo",
    "quedo lo",
    "cerr*",
    "revisaron",
    "revisado",
    "looked at",
    "looking at",
    "resuelto",
    "resuelta",
    "closed",
    "resolved",
    "old one",
    "el anterior",
    "la anterior",
    "como esta",
    "que paso con",
    "que pasa con",
    "novedad*",
    "avance*",
    "sigue abierto",
    "sigue abierta",
    "abiertos",
    "abiertas",
    "tengo algun*",
    "hay algun*",
    "status",
    "update",
    "updates",
    "progress",
    "how is",
    "how s",
    "what happened",
    "any news",
    "still open",
    "open tickets",
    "open cases",
    "open incidents",
    "do i have",
    "any",
];

/// Asking for a ticket to be opened: verbs in the forms used to ask (not "I opened").
const OPEN_WORDS: &[&str] = &[
    "abrir*",
    "abre",
    "abreme",
    "abrime",
    "abran",
    "abranme",
    "abris",
    "me abren",
    "crear*",
    "crea",
    "creame",
    "creen",
    "registrar",
    "registra",
    "registrame",
    "registren",
    "levantar*",
    "levanta",
    "levantan",
    "abras",
    "abren",
    "levantame",
    "levanten",
    "poner*",
    "pon",
    "ponme",
    "poneme",
    "pongan",
    "generar",
    "genera",
    "generame",
    "hacer*",
    "haz",
    "hazme",
    "haceme",
    "hagan",
    "reportar",
    "dar de alta",
    "open a",
    "open an",
    "open another",
    "open me",
    "open up",
    "open new",
    "to open",
    "please open",
    "you open",
    "raise a",
    "raise an",
    "create a",
    "create an",
    "log a",
    "log an",
    "file a",
    "file an",
    "start a",
    "make a",
    "submit a",
    "put in a",
    "report a",
    "report an",
    "abrid",
    "abridme",
    "cread",
    "poned",
    "haced",
    "send a",
    "send me a",
    "manden",
    "mandar",
    "mandame",
    "mandeme",
    "enviar",
    "envien",
];

/// Words that ask for a new ticket only when nothing asks about an existing one
/// (needing to know how a ticket is going is not asking for a new one).
const WEAK_OPEN_WORDS: &[&str] =
    &["quiero", "necesito", "want", "need", "new", "nuevo", "nueva", "another", "otro", "otra"];

/// A new ticket asked for without naming it, when a ticket is spoken of elsewhere.
const NEW_ONE: &[&str] =
    &["a new one", "another one", "new one too", "uno nuevo", "una nueva", "otro mas", "otra mas", "otro nuevo"];

/// "Another one": a ticket spoken of without its name ("abrid otro", "open another one").
const ANOTHER_ONE: &[&str] = &["otro", "otra", "another", "uno", "una", "one", "new one"];

const PAY_WORDS: &[&str] = &[
    "pague",
    "pagado",
    "pagar",
    "pago",
    "abone",
    "abonar",
    "ingrese",
    "ingresado",
    "transferi",
    "transferido",
    "deposite",
    "depositado",
    "hice un pago",
    "transferencia",
    "registrar",
    "registra",
    "registrame",
    "registralo",
    "registrala",
    "apuntar",
    "apuntad",
    "apuntalo",
    "anotar",
    "anota",
    "register",
    "record",
    "ingreso",
    "deposito",
    "transfer",
    "deposit",
    "paid",
    "pay",
    "paying",
    "sent",
    "transferred",
    "deposited",
    "payment of",
];

/// Typos are forgiven only in long patterns: short verbs bent by a letter change
/// meaning (`abri`, "I opened", is one letter from `abrir`).
fn fuzzy(pattern: &str) -> bool {
    pattern.len() >= 8
}

/// Indices of the words where any of `patterns` starts.
fn positions(words: &[&str], patterns: &[&str]) -> Vec<usize> {
    (0..words.len())
        .filter(|&i| {
            patterns.iter().any(|p| {
                // Only a match starting here: the window is the pattern's length, so the
                // scan stays linear in the message.
                let len = p.split(' ').count();
                i + len <= words.len() && find_phrase_with(&words[i..i + len], p, fuzzy(p)) == Some(0)
            })
        })
        .collect()
}

/// Number words: digits, possibly with decimals (already split by normalisation).
fn is_number(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit()) && !word.is_empty()
}

const CURRENCY: &[&str] = &[
    "eur", "euro", "euros", "e", "pesos", "peso", "dolares", "dollars", "dollar", "usd", "pounds", "libras", "gbp",
    "bucks", "pavos", "lucas", "mxn", "clp", "ars",
];

const DATE_WORDS: &[&str] = &["dia", "day", "el", "on", "the", "de", "del", "since", "desde", "hace", "ago"];

/// The sum of money a message names, exact with two decimals: the first number with a
/// currency (a word or a sign) or within three words after a verb of paying, never a
/// day of the month. `None` when no number reads as money or none parses exactly.
///
/// A message naming two different sums, a negative one, or a number glued to letters
/// that are not a currency ("5O") gives `None`: the amount is left for a person to ask.
pub fn money_amount(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let signs = ['€', '$', '£'];
    let mut found: Option<String> = None;
    // Only the words around each number matter: a bounded window keeps this linear.
    for (start, end, number) in super::engine::numbers_in(text).into_iter().take(MAX_NUMBERS) {
        let before: String = chars[start.saturating_sub(WINDOW)..start].iter().collect();
        let after: String = chars[end..(end + WINDOW).min(chars.len())].iter().collect();
        let signed = before.trim_end().ends_with(signs) || after.trim_start().starts_with(signs);
        let negative = before.trim_end().ends_with('-');
        let glued = after.chars().next().is_some_and(char::is_alphabetic);
        let (before, after) = (normalize(&before), normalize(&after));
        let (before, after) = (tokens(&before), tokens(&after));
        let currency = signed || after.first().is_some_and(|w| CURRENCY.contains(w));
        let dated = before.last().is_some_and(|w| DATE_WORDS.contains(w)) && !currency;
        let after_pay = positions(&before, PAY_WORDS).iter().any(|p| before.len() - p <= 3);
        if dated || !(currency || after_pay) {
            continue;
        }
        if negative || (glued && !currency) {
            return None;
        }
        let amount = crate::db::Money::parse(&number).map(|m| m.to_string())?;
        match &found {
            Some(earlier) if *earlier != amount => return None,
            _ => found = Some(amount),
        }
    }
    found
}

/// Characters looked at on each side of a number.
const WINDOW: usize = 48;
/// Numbers looked at in one message.
const MAX_NUMBERS: usize = 12;

/// Whether the message names a sum of money (see [`money_amount`]).
pub fn names_money(text: &str) -> bool {
    money_amount(text).is_some()
}

fn near(a: &[usize], b: &[usize], within: usize) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.abs_diff(*y) <= within))
}

/// Checks on a payment already made (whether a payment arrived).
const RECEIVED: &[&str] = &[
    "registrado",
    "registrada",
    "recibido",
    "recibisteis",
    "recibieron",
    "recibio",
    "llego",
    "llegado",
    "llegaron",
    "recibida",
    "entro",
    "reflejado",
    "aplicado",
    "acreditado",
    "received",
    "came through",
    "went through",
    "gone through",
    "arrived",
    "posted",
    "show up",
    "showing",
];

const PAYMENT_NOUNS: &[&str] = &["pago", "pagos", "payment", "payments", "transferencia", "transfer", "ingreso"];

const RECENT: &[&str] =
    &["ultimo", "ultimos", "ultima", "recientes", "anteriores", "last", "recent", "previous", "past"];

/// What a message asks for: its words with chat shorthand spelled out.
pub fn of_message(text: &str) -> Vec<Intent> {
    let words = super::learned::words(text);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    detect(&words, names_money(text))
}

/// The intents in a message (normalised words); `names_money` when it names a sum
/// (see [`names_money`]).
pub fn detect(words: &[&str], names_money: bool) -> Vec<Intent> {
    let mut out = Vec::new();
    let tickets = positions(words, TICKET_WORDS);
    let pay = positions(words, PAY_WORDS);
    if names_money && !pay.is_empty() {
        out.push(Intent::RegisterPayment);
    }
    // "the 45 euros I owe" names the debt, it does not ask for it.
    let numbers: Vec<usize> = (0..words.len()).filter(|&i| is_number(words[i])).collect();
    let balance = positions(words, BALANCE);
    if balance.iter().any(|b| !numbers.iter().any(|n| *n < *b && b - n <= 4)) {
        out.push(Intent::Balance);
    }
    let payments = positions(words, PAYMENT_NOUNS);
    let checks_payment = !out.contains(&Intent::RegisterPayment) && near(&payments, &positions(words, RECEIVED), 8);
    let recent_payments = near(&payments, &positions(words, RECENT), 2);
    if !positions(words, HISTORY).is_empty() || checks_payment || recent_payments {
        out.push(Intent::PaymentHistory);
    }
    if !tickets.is_empty() {
        let status = near(&tickets, &positions(words, STATUS_WORDS), 6);
        let strong = positions(words, OPEN_WORDS);
        let another = strong.iter().any(|v| {
            ANOTHER_ONE
                .iter()
                .any(|a| (1..=3).any(|k| find_phrase_with(&words[(v + k).min(words.len())..], a, false) == Some(0)))
        });
        let opens = near(&tickets, &strong, 3)
            || another
            || !positions(words, NEW_ONE).is_empty()
            || (!status && near(&tickets, &positions(words, WEAK_OPEN_WORDS), 3));
        if status {
            out.push(Intent::TicketStatus);
        }
        if opens {
            out.push(Intent::NewTicket);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intents(text: &str) -> Vec<Intent> {
        let norm = normalize(text);
        detect(&tokens(&norm), names_money(text))
    }

    #[test]
    fn two_part_requests_give_two_intents() {
        use Intent::*;
        assert_eq!(intents("¿Qué saldo tengo? Y además os pago 50 euros hoy"), [RegisterPayment, Balance]);
        assert_eq!(intents("tell me my balance plus the day my latest payment arrived"), [Balance, PaymentHistory]);
        assert_eq!(
            intents("any progress with my ticket? also please open another for the TV"),
            [TicketStatus, NewTicket]
        );
        assert_eq!(intents("abrime una incidencia xfa"), [NewTicket]);
        assert!(intents("hola buenas tardes").is_empty());
    }

    #[test]
    fn what_is_not_asked_is_not_read_as_asked() {
        use Intent::*;
        assert_eq!(intents("¿novedades del ticket que abrí ayer?"), [TicketStatus], "abrí is past");
        assert_eq!(intents("I'll pay the 45 euros I owe now"), [RegisterPayment], "the debt named, not asked");
        assert_eq!(intents("¿os llegó mi pago del día 3?"), [PaymentHistory], "a day is not money");
        assert!(names_money("te pagué 20€"));
        assert!(names_money("paid 49,90 by card"));
        assert!(!names_money("llamé el 3 de mayo"));
        assert_eq!(money_amount("El día 3 pagué 50 euros").as_deref(), Some("50.00"), "the money, not the day");
        assert_eq!(money_amount("sent $25.5 on the 12th").as_deref(), Some("25.50"));
        assert_eq!(money_amount("ticket 4411, pagué 19,99 € ayer").as_deref(), Some("19.99"));
        assert_eq!(money_amount("pagué 1e5 euros"), None, "exponents are not read");
        assert_eq!(money_amount("let me pay -50 by card"), None, "negative");
        assert_eq!(money_amount("pagaré 50 euros, no, mejor 500 euros"), None, "which one?");
        assert_eq!(money_amount("pay 5O by card"), None, "a letter for a digit");
        assert_eq!(money_amount("pagué 50 euros, sí, 50 euros"), Some("50.00".into()));
    }
}

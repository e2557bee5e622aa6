//! What a customer asks the service agent to look up or do, independently of the
//! routed topic: one message may ask two things (a balance and a payment, say), and
//! each part needs its tool. The topic model decides where a call goes; this decides
//! which tools serve it.
//!
//! Two layers: rules over short, general word patterns (and the amount of money a
//! message names), and a trained model (one yes/no logistic regression per tool, over
//! the topic model's features plus what the rules found) that learns from the tool
//! sets in `eval/` when the rules are right and what they miss. `centralita
//! train-routing` writes it to `intent_model.txt`, embedded in the binary.

use std::sync::LazyLock;

use super::learned::{self, FeatureKeys, Head};
use super::text::{Initials, find_phrase_with, normalize, tokens};
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
    /// Every intent, in the order a reply serves them.
    pub const ALL: [Intent; 5] =
        [Intent::Balance, Intent::PaymentHistory, Intent::TicketStatus, Intent::NewTicket, Intent::RegisterPayment];

    /// The department that handles it.
    pub fn department(self) -> Department {
        match self {
            Intent::Balance | Intent::PaymentHistory | Intent::RegisterPayment => Department::Billing,
            Intent::TicketStatus | Intent::NewTicket => Department::Support,
        }
    }

    /// The topic it belongs to (a category of the routing model).
    pub fn category(self) -> &'static str {
        match self {
            Intent::Balance => "balance_inquiry",
            Intent::PaymentHistory => "payment_history",
            Intent::TicketStatus => "ticket_status",
            Intent::NewTicket => "technical_issue",
            Intent::RegisterPayment => "payment",
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
    "settled",
    "settle",
    "mande",
    "mandado",
    "envie",
    "enviado",
    "abonado",
    "salde",
    "saldar",
    "liquide",
    "liquidar",
    "bizum",
    "pase",
    "gire",
    "girado",
    "consigne",
    "consignado",
    "consignacion",
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
            // Only a pattern starting with this word's letter (or a bare `*`) can match here.
            let initial = Initials::of(&words[i..=i]);
            patterns.iter().any(|p| {
                if !initial.may_match(p) {
                    return false;
                }
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

/// Currency words. Sums are filed as the customer wrote them: the person approving a
/// payment sees the customer's words beside the amount.
const CURRENCY: &[&str] = &[
    "eur", "euro", "euros", "pesos", "peso", "pesitos", "dolares", "dollars", "dollar", "usd", "pounds", "pound",
    "libras", "gbp", "bucks", "quid", "pavos", "mxn", "clp", "ars", "rupees", "rs", "inr", "soles", "cop", "pen",
    "colones", "crc",
];

/// The currency a customer named, as the person approving a payment should read it:
/// `None` for the account's own currency (euros, or no currency named), else an ISO
/// code or, where the word does not say which country's, the word ("pesos", "$").
fn currency_of(word: &str) -> Option<&'static str> {
    match word {
        "usd" | "dollars" | "dollar" | "dolares" | "bucks" => Some("USD"),
        "gbp" | "pounds" | "pound" | "libras" | "quid" | "£" => Some("GBP"),
        "pesos" | "peso" | "pesitos" | "lucas" | "luca" => Some("pesos"),
        "mxn" => Some("MXN"),
        "clp" => Some("CLP"),
        "ars" => Some("ARS"),
        "cop" => Some("COP"),
        "pen" | "soles" => Some("PEN"),
        "inr" | "rupees" | "rs" | "₹" => Some("INR"),
        "crc" | "colones" => Some("CRC"),
        "$" => Some("$"),
        _ => None,
    }
}

/// A sum of money a message names: the amount with two decimals, and the currency
/// when it is not the account's own (see `currency_of`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sum {
    /// Exact amount with two decimals (`"35.00"`).
    pub amount: String,
    /// `None` for euros (or no currency named), else what the customer paid in.
    pub currency: Option<&'static str>,
}

/// Currency codes written before a sum ("USD 50", "rs 999", "EUR 45,50").
const CURRENCY_BEFORE: &[&str] = &["eur", "usd", "gbp", "mxn", "clp", "ars", "cop", "pen", "inr", "rs"];

/// Words for thousands after a number ("5 lucas", "2 grand", "150 mil"): the sum is
/// the number times a thousand.
const THOUSANDS: &[&str] = &["lucas", "luca", "grand", "k", "mil", "thousand"];

/// Slang whose scale is not a thousand ("2 palos": two million pesos in Argentina,
/// a hundred in Spain): the sum is left for a person to ask.
const UNCLEAR_SCALE: &[&str] = &["palos", "palo", "kilos", "millones", "million", "millon"];

const DATE_WORDS: &[&str] =
    &["dia", "day", "el", "on", "the", "del", "since", "desde", "hace", "ago", "at", "las", "la", "around", "sobre"];

/// What may follow a sum written without a currency ("pagué 50 ayer", "paid 45 by
/// card"): anything else makes the number a count, a time or a measure ("2 meses",
/// "5 pm", "3 recibos", "10 mbps").
const AFTER_BARE_SUM: &[&str] = &[
    "ayer",
    "hoy",
    "anoche",
    "esta",
    "este",
    "esa",
    "ese",
    "con",
    "por",
    "en",
    "via",
    "a",
    "al",
    "para",
    "y",
    "pero",
    "que",
    "ya",
    "yesterday",
    "today",
    "tonight",
    "this",
    "last",
    "earlier",
    "by",
    "with",
    "via",
    "in",
    "to",
    "at",
    "for",
    "and",
    "but",
    "on",
    "please",
    "por favor",
    "pls",
    "thanks",
    "gracias",
    "just",
    "now",
    "ahora",
    "online",
    "cash",
    "efectivo",
    "tarjeta",
    "card",
    "transfer",
    "transferencia",
    "x",
    "q",
    "que",
    "mas",
    "more",
    "thru",
    "through",
    "from",
    "of",
    "using",
    "over",
    "towards",
    "toward",
    "into",
    "rn",
    "asap",
    "tonight",
    "also",
    "too",
    "tb",
    "tmb",
    "tambien",
    "desde",
    "mediante",
    "hace",
    "paypal",
    "bizum",
];

/// Determiners after "de" that keep a bare sum a sum ("pagar 30 de mi factura", not
/// "el 3 de mayo").
const AFTER_DE: &[&str] = &["la", "las", "el", "los", "lo", "mi", "mis", "su", "sus", "tu", "tus"];

/// What reading a message for money found.
#[derive(Debug, PartialEq)]
enum Reading {
    /// One sum, exact with two decimals.
    Sum(Sum),
    /// No number reads as money.
    Nothing,
    /// Something that must not be guessed at: two different sums, a negative one, a
    /// number glued to letters that are not a currency.
    Unclear,
}

/// The sum of money a message names, exact with two decimals: the first number with a
/// currency (a word or a sign) or within three words after a verb of paying, never a
/// day of the month. Amounts in words before a currency ("forty quid", "treinta y
/// cinco euros") and thousands separators ("1.200 €", "$1,250.50") are read.
/// `None` when no number reads as money or none parses exactly.
///
/// A message naming two different sums, a negative one, or a number glued to letters
/// that are not a currency ("5O") gives `None`: the amount is left for a person to ask.
pub fn money_amount(text: &str) -> Option<String> {
    match read_money(&spelled_out(text)) {
        Reading::Sum(sum) => Some(sum.amount),
        Reading::Nothing | Reading::Unclear => None,
    }
}

/// The amount of a payment the customer asks to have registered: the sum the message
/// names as money ([`money_amount`]) or, when no number reads as money, its only
/// number when that is a plain amount ("i payed 45 yesterday pls add") — not a date,
/// a year, a time, a speed, a reference or a phone number. Call it only for a message
/// asking to register a payment.
pub fn payment_amount(text: &str) -> Option<String> {
    payment_sum(text).map(|sum| sum.amount)
}

/// [`payment_amount`] with the currency the customer named.
pub fn payment_sum(text: &str) -> Option<Sum> {
    let text = spelled_out(text);
    match read_money(&text) {
        Reading::Sum(sum) => return Some(sum),
        Reading::Unclear => return None,
        Reading::Nothing => {}
    }
    let numbers = super::engine::numbers_in(&text);
    let [(start, _, number)] = numbers.as_slice() else { return None };
    let end = &(start + number.chars().count());
    let chars: Vec<char> = text.chars().collect();
    let before: String = chars[start.saturating_sub(WINDOW)..*start].iter().collect();
    let after: String = chars[*end..(end + WINDOW).min(chars.len())].iter().collect();
    if before.trim_end().ends_with(['-', '#', '/', ':', '+'])
        || after.starts_with(|c: char| c.is_alphanumeric() || "/:%".contains(c))
    {
        return None;
    }
    let after_ends = after.trim_start().starts_with([',', '.', ';', '!', '?', ')']);
    let (before, after) = (normalize(&before), normalize(&after));
    let (before, after) = (tokens(&before), tokens(&after));
    let plain = !before.last().is_some_and(|w| DATE_WORDS.contains(w) || REFERENCE_WORDS.contains(w))
        && (after_ends || after.first().is_none_or(|w| AFTER_BARE_SUM.contains(w)));
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if !plain || is_year(number) || digits > 6 {
        return None;
    }
    exact(number).map(|amount| Sum { amount, currency: None })
}

/// Words that, just before a verb of paying, make it no payment to register: not
/// paid, if I pay, how/why/can I pay, I have to pay, they want me to pay.
const NOT_PAYING: &[&str] = &[
    "no",
    "not",
    "never",
    "nunca",
    "havent",
    "haven",
    "hasnt",
    "didnt",
    "didn",
    "dont",
    "don",
    "cannot",
    "si",
    "if",
    "como",
    "how",
    "why",
    "tengo que",
    "hay que",
    "have to",
    "has to",
    "had to",
    "need to",
    "me to",
    "rather",
    "would",
];

/// Whether a message names a payment in earnest (made, or to be made now), not a
/// payment denied, supposed, asked about or demanded ("I haven't paid the 50 euros",
/// "si pago 50 euros…", "how do I pay 50 euros?", "they want me to pay 50 euros").
pub fn pays_in_earnest(text: &str) -> bool {
    let words = learned::words(text);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let pay = positions(&words, PAY_WORDS);
    let doubted = positions(&words, NOT_PAYING);
    // A verb the rules do not know ("te pasé 30") leaves nothing to doubt.
    pay.is_empty() || pay.iter().any(|p| !doubted.iter().any(|d| d < p && p - d <= 3))
}

/// Words that correct what was just said.
const CORRECTIONS: &[&str] = &[
    "no", "mejor", "perdon", "digo", "corrijo", "quise", "decir", "sorry", "mean", "rather", "actually", "not", "oops",
    "wait", "espera",
];

/// A number that reads as a year (1900–2099).
fn is_year(number: &str) -> bool {
    number.len() == 4
        && number.chars().all(|c| c.is_ascii_digit())
        && (number.starts_with("19") || number.starts_with("20"))
}

/// Words before a number that make it an identifier, not money.
const REFERENCE_WORDS: &[&str] = &[
    "ticket",
    "tickets",
    "caso",
    "case",
    "ref",
    "referencia",
    "reference",
    "numero",
    "number",
    "no",
    "n",
    "order",
    "pedido",
    "incidencia",
    "incident",
    "linea",
    "line",
    "cuenta",
    "account",
    "id",
    "factura",
    "invoice",
    "contrato",
    "contract",
    "cliente",
    "customer",
    "extension",
    "ext",
    "codigo",
    "code",
    "pin",
    "plan",
    "ending",
    "termina",
    "terminada",
    "acabada",
    "tarifa",
    "pack",
    "paquete",
    "tv",
    "model",
    "modelo",
];

/// A number as written ("1.200", "1,234.56", "49,90") as an exact sum with two
/// decimals, reading a separator followed by three digits as a thousands separator.
fn exact(number: &str) -> Option<String> {
    let groups: Vec<&str> = number.split(['.', ',']).collect();
    let plain = match groups.as_slice() {
        [whole] => (*whole).to_owned(),
        [.., last] if last.len() <= 2 && groups.len() == 2 => number.replace(',', "."),
        [first, middle @ .., last] => {
            let (thousands, cents) = if last.len() == 3 { (&groups[1..], "") } else { (middle, *last) };
            let grouped = !first.is_empty() && first.len() <= 3 && thousands.iter().all(|g| g.len() == 3);
            if !grouped || cents.len() > 2 {
                return None;
            }
            // One separator for thousands, the other for decimals.
            let seps: Vec<char> = number.chars().filter(|c| matches!(c, '.' | ',')).collect();
            let thousand_sep = seps[0];
            if seps[..thousands.len()].iter().any(|c| *c != thousand_sep)
                || (!cents.is_empty() && seps[seps.len() - 1] == thousand_sep)
            {
                return None;
            }
            let whole: String = std::iter::once(*first).chain(thousands.iter().copied()).collect();
            if cents.is_empty() { whole } else { format!("{whole}.{cents}") }
        }
        [] => return None,
    };
    crate::db::Money::parse(&plain).map(|m| m.to_string())
}

fn read_money(text: &str) -> Reading {
    let chars: Vec<char> = text.chars().collect();
    let mut found: Option<Sum> = None;
    // Only the words around each number matter: a bounded window keeps this linear.
    for (start, _, number) in super::engine::numbers_in(text).into_iter().take(MAX_NUMBERS) {
        // The number without a separator it ended with ("19.99," → "19.99").
        let end = start + number.chars().count();
        let before: String = chars[start.saturating_sub(WINDOW)..start].iter().collect();
        let after: String = chars[end..(end + WINDOW).min(chars.len())].iter().collect();
        let sign = before
            .trim_end()
            .chars()
            .next_back()
            .filter(|c| "€$£₹".contains(*c))
            .or_else(|| after.trim_start().chars().next().filter(|c| "€$£₹".contains(*c)));
        let negative = before.trim_end().ends_with('-');
        // "5k": a thousand glued to the number.
        let glued_k = after.starts_with(['k', 'K']) && !after.chars().nth(1).is_some_and(char::is_alphanumeric);
        let glued = !glued_k && after.chars().next().is_some_and(char::is_alphabetic);
        let part_of_more = after.starts_with(['%', '/', ':']) || before.ends_with(['/', ':', '#']);
        let after_raw_ends = after.trim_start().starts_with([',', '.', ';', '!', '?', ')']);
        let (before, after) = (normalize(&before), normalize(&after));
        let (before, mut after) = (tokens(&before), tokens(&after));
        if glued_k {
            after.insert(0, "k");
        }
        // Punctuation right after the number ends what follows it ("te transferí 120, …").
        let next = if after_raw_ends { None } else { after.first().copied() };
        let thousands = next.is_some_and(|w| THOUSANDS.contains(&w));
        // The currency word comes after the number, or after its thousands ("150 mil
        // pesos"), or before it ("USD 50").
        let unit = if thousands { after.get(1).copied() } else { next };
        let word_before = before.last().copied().filter(|w| CURRENCY_BEFORE.contains(w));
        let named = unit.filter(|w| CURRENCY.contains(w)).or(word_before);
        let currency = sign.is_some() || named.is_some();
        let after_pay = positions(&before, PAY_WORDS).iter().any(|p| before.len() - p <= 3);
        // "50 euros, no, mejor 500": a sum corrected by another number is not guessed at.
        let corrects = before.iter().rev().take(3).any(|w| CORRECTIONS.contains(w));
        if corrects && found.as_ref().is_some_and(|f| exact(&number).as_deref() != Some(f.amount.as_str())) {
            return Reading::Unclear;
        }
        let bare_sum = after_pay
            && !part_of_more
            && !is_year(&number)
            && !before.last().is_some_and(|w| DATE_WORDS.contains(w) || REFERENCE_WORDS.contains(w))
            && (next_is_de(next, &after) || next.is_none_or(|w| AFTER_BARE_SUM.contains(&w)));
        if next.is_some_and(|w| UNCLEAR_SCALE.contains(&w)) && (after_pay || currency) {
            // "pagué 2 palos": two million or two hundred? A person asks.
            return Reading::Unclear;
        }
        if !(currency || bare_sum || (thousands && after_pay)) {
            continue;
        }
        if negative || (glued && !currency) {
            return Reading::Unclear;
        }
        let Some(mut amount) = exact(&number) else { return Reading::Unclear };
        if thousands {
            let Some(scaled) = crate::db::Money::parse(&amount)
                .and_then(|m| m.cents().checked_mul(1000))
                .map(|cents| crate::db::Money::from_cents(cents).to_string())
            else {
                return Reading::Unclear;
            };
            amount = scaled;
        }
        // "lucas" are thousands of pesos; a sign or a word names the currency.
        let currency = named.or(next.filter(|w| THOUSANDS.contains(w))).and_then(currency_of);
        let currency = currency.or_else(|| sign.and_then(|c| currency_of(c.encode_utf8(&mut [0; 4]))));
        match &found {
            Some(earlier) if earlier.amount != amount => return Reading::Unclear,
            // The same sum said again keeps the currency named last ("50 euros, no, 50 pesos").
            Some(earlier) => found = Some(Sum { amount, currency: currency.or(earlier.currency) }),
            None => found = Some(Sum { amount, currency }),
        }
    }
    found.map_or(Reading::Nothing, Reading::Sum)
}

/// "30 de mi factura": a sum followed by "de" and a determiner is still a sum (not "el
/// 3 de mayo").
fn next_is_de(next: Option<&str>, after: &[&str]) -> bool {
    next == Some("de") && after.get(1).is_some_and(|w| AFTER_DE.contains(w))
}

/// The text with amounts written in words before a currency spelled as digits
/// ("forty quid" → "40 quid", "treinta y cinco euros" → "35 euros", "2 mil pesos" →
/// "2000 pesos"). Number words elsewhere are left alone: "once" is eleven only in
/// Spanish, and "una incidencia" is not a sum.
pub fn spelled_out(text: &str) -> String {
    let pieces: Vec<&str> = text.split_inclusive(char::is_whitespace).collect();
    // Each piece's word, lower case without accents or punctuation at its edges, and
    // whether punctuation ends it (a comma ends a number: "cuarenta, cuarenta").
    let words: Vec<(String, bool)> = pieces
        .iter()
        .map(|p| {
            let word = normalize(p.trim()).trim_matches(|c: char| !c.is_alphanumeric() && c != '-').to_owned();
            (word, p.trim_end().ends_with([',', '.', ';', ':', '!', '?']))
        })
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < pieces.len() {
        let run = number_run(&words[i..]);
        if run == 0 {
            out.push_str(pieces[i]);
            i += 1;
            continue;
        }
        let run_words: Vec<&str> = words[i..i + run].iter().map(|(w, _)| w.as_str()).collect();
        let before_currency =
            !words[i + run - 1].1 && words.get(i + run).is_some_and(|(w, _)| CURRENCY.contains(&w.as_str()));
        let all_digits = run_words.iter().all(|w| w.chars().all(|c| c.is_ascii_digit()));
        match value_of(&run_words).filter(|_| before_currency && !all_digits) {
            Some(v) => {
                let last = pieces[i + run - 1];
                out.push_str(&format!("{v}{}", &last[last.trim_end().len()..]));
            }
            // Not a sum (or not a well-formed number): the words stay as they were.
            None => pieces[i..i + run].iter().for_each(|p| out.push_str(p)),
        }
        // Each word is looked at once: the scan stays linear in the message.
        i += run;
    }
    out
}

/// The longest run of number words read as one number.
const MAX_RUN: usize = 8;

/// How many of the leading words make one number ("sixty five", "ciento veinte y
/// tres", "a hundred", "2 mil"): connectors only between number words, and the run
/// ends at punctuation. Runs longer than [`MAX_RUN`] are not read as a number.
fn number_run(words: &[(String, bool)]) -> usize {
    let mut n = 0;
    while n < words.len() {
        let w = words[n].0.as_str();
        let starts_scale = words.get(n + 1).is_some_and(|(next, _)| is_scale(next));
        let is_part = word_value(w).is_some()
            || is_scale(w)
            || (matches!(w, "a" | "an" | "un" | "one") && starts_scale)
            || (n == 0 && !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()) && starts_scale)
            || (n > 0 && matches!(w, "and" | "y") && words.get(n + 1).is_some_and(|(x, _)| word_value(x).is_some()));
        if !is_part {
            break;
        }
        n += 1;
        if words[n - 1].1 {
            break;
        }
    }
    n
}

fn is_scale(word: &str) -> bool {
    matches!(word, "hundred" | "thousand" | "mil" | "cien" | "ciento")
}

/// The value of a run of number words when it is one well-formed number (each place
/// once: "nineteen ninety-nine" or "forty and fifty" are not), else `None`.
fn value_of(words: &[&str]) -> Option<u64> {
    if words.len() > MAX_RUN {
        return None;
    }
    let (mut total, mut current) = (0u64, 0u64);
    // What may still be added to `current`: below 1000 after a hundred, below 10
    // after a ten, nothing after a unit or a teen.
    let mut room = 1000u64;
    for w in words {
        match *w {
            "and" | "y" | "a" | "an" => {}
            "hundred" => {
                if current >= 100 {
                    return None;
                }
                current = current.max(1) * 100;
                room = 100;
            }
            "thousand" | "mil" => {
                if total > 0 || current >= 1000 {
                    return None;
                }
                total = current.max(1).checked_mul(1000)?;
                current = 0;
                room = 1000;
            }
            w => {
                let v = if w.chars().all(|c| c.is_ascii_digit()) {
                    w.parse::<u64>().ok().filter(|v| *v < 1000)?
                } else if matches!(w, "one" | "un" | "uno" | "una") {
                    1
                } else {
                    word_value(w)?
                };
                if v >= room {
                    return None;
                }
                current += v;
                room = match v {
                    100.. => 100,
                    20..=99 if v % 10 == 0 => 10,
                    _ => 0,
                };
            }
        }
    }
    let value = total.checked_add(current)?;
    (value > 0).then_some(value)
}

/// The value of one number word (Spanish or English; hyphenated English tens too).
fn word_value(word: &str) -> Option<u64> {
    if let Some((tens, unit)) = word.split_once(['-', ' ']) {
        let (t, u) = (word_value(tens)?, word_value(unit)?);
        return (t >= 20 && t % 10 == 0 && t < 100 && u < 10).then_some(t + u);
    }
    const EN: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const EN_TENS: [&str; 8] = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
    const ES: [&str; 30] = [
        "cero",
        "uno",
        "dos",
        "tres",
        "cuatro",
        "cinco",
        "seis",
        "siete",
        "ocho",
        "nueve",
        "diez",
        "once",
        "doce",
        "trece",
        "catorce",
        "quince",
        "dieciseis",
        "diecisiete",
        "dieciocho",
        "diecinueve",
        "veinte",
        "veintiuno",
        "veintidos",
        "veintitres",
        "veinticuatro",
        "veinticinco",
        "veintiseis",
        "veintisiete",
        "veintiocho",
        "veintinueve",
    ];
    const ES_TENS: [&str; 7] = ["treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"];
    const ES_HUNDREDS: [&str; 9] = [
        "ciento",
        "doscientos",
        "trescientos",
        "cuatrocientos",
        "quinientos",
        "seiscientos",
        "setecientos",
        "ochocientos",
        "novecientos",
    ];
    let at = |list: &[&str]| list.iter().position(|w| *w == word).map(|i| i as u64);
    if let Some(i) = at(&EN).filter(|i| *i > 1) {
        return Some(i);
    }
    if let Some(i) = at(&ES).filter(|i| *i > 1) {
        return Some(i);
    }
    if let Some(i) = at(&EN_TENS) {
        return Some(20 + 10 * i);
    }
    if let Some(i) = at(&ES_TENS) {
        return Some(30 + 10 * i);
    }
    if let Some(i) = at(&ES_HUNDREDS) {
        return Some(100 * (i + 1));
    }
    // "doscientas" is "doscientos" before a feminine noun.
    if let Some(stem) = word.strip_suffix("ientas") {
        return ES_HUNDREDS.iter().position(|h| h.strip_suffix("ientos") == Some(stem)).map(|i| 100 * (i as u64 + 1));
    }
    match word {
        "cien" => Some(100),
        "veintiun" | "veintiuna" => Some(21),
        _ => None,
    }
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

/// What a message asks for, as the trained model reads it (the rules alone when the
/// model is missing).
pub fn of_message(text: &str) -> Vec<Intent> {
    MODEL.detect(text)
}

/// What the rules alone find in a message (its words with chat shorthand spelled out).
pub fn by_rules(text: &str) -> Vec<Intent> {
    let words = learned::words(text);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    detect(&words, names_money(text))
}

/// First line of an intent model file.
pub const MAGIC: &str = "centralita-intent-model 1";

/// Where the embedded intent model lives, relative to the repository.
pub const MODEL_PATH: &str = "src/agents/builtin/intent_model.txt";

/// The classes of each yes/no head.
pub const ANSWERS: [&str; 2] = ["no", "yes"];

/// A tool is used when its head says yes with at least this probability (chosen by
/// cross-validation, `centralita train-routing`).
pub const THRESHOLD: f32 = 0.3;

/// The intent model trained from the tool sets, parsed on first use.
pub static MODEL: LazyLock<IntentModel> = LazyLock::new(|| {
    IntentModel::parse(include_str!("intent_model.txt")).unwrap_or_else(|e| {
        // A test proves the embedded file parses; should it not, the rules still serve.
        tracing::error!(error = %e, "the embedded intent model does not parse; tools chosen by the rules alone");
        IntentModel { heads: Vec::new(), handover: Head::empty(), threshold: THRESHOLD }
    })
});

/// Name of the head that says whether a person must take the call at once.
pub const HANDOVER: &str = "handover";

/// A person is needed at once when the hand-over head says yes with at least this
/// probability (cross-validated precision ≥ 95%, `centralita train-routing`).
pub const HANDOVER_THRESHOLD: f32 = 0.6;

/// One yes/no head per intent, and one for a hand-over.
#[derive(Debug)]
pub struct IntentModel {
    heads: Vec<(Intent, Head)>,
    handover: Head,
    /// The probability from which a head's yes counts.
    pub threshold: f32,
}

/// The features the intent model reads: the topic model's, plus one per intent the
/// rules find and one when the message names a sum of money.
pub fn features(text: &str) -> Vec<String> {
    features_with(text, learned::features(text))
}

/// [`features`] from the message's [`learned::features`], already at hand.
fn features_with(text: &str, mut out: Vec<String>) -> Vec<String> {
    for intent in by_rules(text) {
        out.push(format!("r:{}", intent.tool()));
    }
    if names_money(text) {
        out.push("r:money".to_owned());
    }
    out
}

/// The keys of [`features`], from the message's [`FeatureKeys`] already at hand.
fn keys_with(text: &str, mut out: FeatureKeys) -> FeatureKeys {
    for intent in by_rules(text) {
        out.push(&[b"r:", intent.tool().as_str().as_bytes()]);
    }
    if names_money(text) {
        out.push(&[b"r:money"]);
    }
    out
}

impl IntentModel {
    /// Reads a model file written by `centralita train-routing`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut heads = learned::parse_heads(text, MAGIC)?;
        let mut out = Vec::new();
        for intent in Intent::ALL {
            let head = learned::take(&mut heads, intent.tool().as_str())?;
            if head.classes != ANSWERS {
                return Err(format!("head {}: classes must be {ANSWERS:?}", intent.tool()));
            }
            out.push((intent, head));
        }
        let handover = learned::take(&mut heads, HANDOVER)?;
        if handover.classes != ANSWERS {
            return Err(format!("head {HANDOVER}: classes must be {ANSWERS:?}"));
        }
        Ok(Self { heads: out, handover, threshold: THRESHOLD })
    }

    /// The probability that a person must take the call at once (a security or legal
    /// matter, a cancellation, a refund, a request for a person). 0 without a model.
    pub fn handover(&self, text: &str) -> f32 {
        self.handover_of(&keys_with(text, FeatureKeys::of(text)))
    }

    /// The probability that the message asks for each intent.
    pub fn probabilities(&self, text: &str) -> Vec<(Intent, f32)> {
        self.intents_of(&keys_with(text, FeatureKeys::of(text)))
    }

    /// Both readings of a message from one pass over its features: each intent's
    /// probability, and the hand-over probability.
    pub fn read(&self, text: &str) -> (Vec<(Intent, f32)>, f32) {
        self.read_with(text, FeatureKeys::of(text))
    }

    /// [`IntentModel::read`] given the message's [`FeatureKeys`] (the routing model's,
    /// computed once for both).
    pub fn read_with(&self, text: &str, learned: FeatureKeys) -> (Vec<(Intent, f32)>, f32) {
        let features = keys_with(text, learned);
        (self.intents_of(&features), self.handover_of(&features))
    }

    fn handover_of(&self, features: &FeatureKeys) -> f32 {
        if self.handover.classes.is_empty() {
            return 0.0;
        }
        self.handover.probabilities(features, 1.0)[1]
    }

    fn intents_of(&self, features: &FeatureKeys) -> Vec<(Intent, f32)> {
        self.heads.iter().map(|(intent, head)| (*intent, head.probabilities(features, 1.0)[1])).collect()
    }

    /// The intents the message asks for, in [`Intent::ALL`] order.
    pub fn detect(&self, text: &str) -> Vec<Intent> {
        if self.heads.is_empty() {
            return by_rules(text);
        }
        self.probabilities(text).into_iter().filter(|(_, p)| *p >= self.threshold).map(|(i, _)| i).collect()
    }
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
        assert_eq!(money_amount("50 euros, no, mejor 500"), None, "corrected");
        assert_eq!(money_amount("I paid 20 quid, sorry I mean 25"), None, "corrected");
        assert_eq!(money_amount("pagué 50 euros, no 50 pesos"), Some("50.00".into()), "the same sum");
    }

    #[test]
    fn amounts_in_words_and_with_thousands_separators_are_read() {
        assert_eq!(money_amount("I paid forty quid by card").as_deref(), Some("40.00"));
        assert_eq!(money_amount("let me pay sixty five pounds").as_deref(), Some("65.00"));
        assert_eq!(money_amount("I'm paying a hundred pounds today").as_deref(), Some("100.00"));
        assert_eq!(money_amount("ayer pagué treinta y cinco euros").as_deref(), Some("35.00"));
        assert_eq!(money_amount("transferí doscientos cincuenta pesos").as_deref(), Some("250.00"));
        assert_eq!(money_amount("pagué 2 mil pesos").as_deref(), Some("2000.00"));
        assert_eq!(money_amount("just transferred €1,200 for the lines").as_deref(), Some("1200.00"));
        assert_eq!(money_amount("pagué 1.250,50 € ayer").as_deref(), Some("1250.50"));
        assert_eq!(money_amount("sent $1,250.50").as_deref(), Some("1250.50"));
        assert_eq!(money_amount("pagué 49,90 €").as_deref(), Some("49.90"));
        assert_eq!(money_amount("pagué 1,2,3 €"), None, "not a number");
        assert_eq!(money_amount("pagué 12.345.67 €"), None, "one separator for thousands, another for cents");
        assert_eq!(spelled_out("I paid once, then twice"), "I paid once, then twice", "no currency, no number");
        assert_eq!(spelled_out("abrí una incidencia"), "abrí una incidencia");
        assert_eq!(spelled_out("forty-two bucks, ok?"), "42 bucks, ok?");
    }

    #[test]
    fn numbers_that_are_not_sums_are_not_read_as_money() {
        for text in [
            "I paid 3 months in advance, please register it",
            "pagué 2 meses por adelantado, apúntalo",
            "pagué a las 5 pm, regístrenlo",
            "I paid at 8, please register it",
            "I paid 50% of my bill, please register it",
            "I paid 50 percent, register it",
            "pagué la factura 4411, regístrenla",
            "paid. order 5521. register it pls",
            "pagué el 15/11, regístrenlo",
            "pagué 10 mbps, regístrenlo",
            "I paid for 2 lines, please register the payment",
            "I sent 2 e-mails about my payment, please register it",
            "pagué 2 palos, anotalo",
            "I paid 3 million, please record it",
        ] {
            assert_eq!(payment_amount(text), None, "{text}");
        }
        for text in [
            "I paid with my card ending 4242, please register the payment",
            "pagué el plan 50, regístrenlo",
            "I paid for my 3 kids' phones, please register it",
        ] {
            assert_eq!(payment_amount(text), None, "{text}");
        }
        assert_eq!(payment_amount("te transferí 120, ahí les encargo que lo registren").as_deref(), Some("120.00"));
        assert_eq!(payment_amount("quiero pagar 30 de mi factura").as_deref(), Some("30.00"));
    }

    #[test]
    fn amounts_in_words_must_be_one_well_formed_number() {
        for text in [
            "I paid nineteen ninety-nine pounds by card",
            "I paid forty nine ninety nine euros",
            "I paid forty and fifty pounds, register both",
            "pagué veinte y treinta euros",
            "pagué cien cien cien euros",
            "I paid 18446744073709552 thousand euros",
            "pagué 9999999999999999999 mil pesos",
            "I paid hundred hundred hundred hundred hundred hundred hundred hundred hundred hundred euros",
        ] {
            assert_eq!(money_amount(text), None, "{text}");
        }
        assert_eq!(money_amount("pagué cuarenta, cuarenta euros").as_deref(), Some("40.00"), "a repetition");
        assert_eq!(money_amount("I paid one hundred and fifty euros").as_deref(), Some("150.00"));
        assert_eq!(money_amount("I paid nineteen hundred euros").as_deref(), Some("1900.00"));
        // A long run of number words is looked at once, and left as it was.
        let long = "dos y ".repeat(700);
        assert_eq!(spelled_out(&long), long);
    }

    #[test]
    fn a_payment_denied_supposed_or_asked_about_is_not_one_to_register() {
        for text in [
            "I haven't paid the 50 euros yet",
            "todavía no he pagado los 50 euros",
            "no pagué los 50 euros, no registren nada",
            "how do I pay 50 euros?",
            "the technician said I'd have to pay 50 euros, is that right?",
            "si pago 50 euros, ¿me reconectan?",
            "por qué tengo que pagar 50 euros?",
        ] {
            assert!(!pays_in_earnest(text), "{text}");
        }
        for text in ["I paid 50 euros, register it", "te pasé 30, anotalo", "can I pay 75 towards my bill now?"] {
            assert!(pays_in_earnest(text), "{text}");
        }
    }

    #[test]
    fn thousands_are_read_as_thousands_and_the_currency_is_kept() {
        let sum = |text: &str| payment_sum(text).map(|s| (s.amount, s.currency));
        assert_eq!(sum("ya pagué 3 mil, regístrelo por favor"), Some(("3000.00".into(), None)));
        assert_eq!(sum("I paid 2 grand last week, please record it"), Some(("2000.00".into(), None)));
        assert_eq!(sum("I paid 2k last week, please record it"), Some(("2000.00".into(), None)));
        assert_eq!(sum("pagué 5 lucas en efectivo, anotalo"), Some(("5000.00".into(), Some("pesos"))));
        assert_eq!(sum("consigné 150 mil pesos por PSE"), Some(("150000.00".into(), Some("pesos"))));
        assert_eq!(sum("sent $35 by card, register it"), Some(("35.00".into(), Some("$"))));
        assert_eq!(sum("I paid 35 dollars by card"), Some(("35.00".into(), Some("USD"))));
        assert_eq!(sum("paid £20 earlier today"), Some(("20.00".into(), Some("GBP"))));
        assert_eq!(sum("register USD 410.75 sent by wire"), Some(("410.75".into(), Some("USD"))));
        assert_eq!(sum("pagué 1200 rupees"), Some(("1200.00".into(), Some("INR"))));
        assert_eq!(sum("pagué 45 € ayer"), Some(("45.00".into(), None)));
        assert_eq!(sum("te pagué 20 pavos"), Some(("20.00".into(), None)), "Spanish slang for euros");
        assert_eq!(
            sum("pagué 50 euros, no, 50 pesos"),
            Some(("50.00".into(), Some("pesos"))),
            "the currency corrected"
        );
        assert_eq!(sum("sent u 15 thru paypal, log it"), Some(("15.00".into(), None)));
    }

    #[test]
    fn a_payment_to_register_takes_its_only_plain_number() {
        assert_eq!(payment_amount("i payed 45 yesterday pls add").as_deref(), Some("45.00"));
        assert_eq!(payment_amount("ticket 4411 pls add my payment"), None, "a reference");
        assert_eq!(payment_amount("i paid on the 3rd"), None, "a date");
        assert_eq!(payment_amount("paid at 10:30 today"), None, "a time");
        assert_eq!(payment_amount("paid in 2025, register it"), None, "a year");
        assert_eq!(payment_amount("register my payment from 612345678"), None, "a phone number");
        assert_eq!(payment_amount("pagué 50 euros, no, mejor 500 euros"), None, "which one?");
    }
}

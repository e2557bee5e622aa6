//! What the demo history's calls are about: topics per department with a customer's
//! opening line and the AI's first answer, in Spanish and English.

/// A topic: department, category, how often it comes up, how likely the caller is
/// upset (percent), Spanish and English opening lines and first answers.
pub struct Topic {
    /// Department code.
    pub department: &'static str,
    /// Category code.
    pub category: &'static str,
    /// Relative frequency.
    pub weight: u32,
    /// Percent of callers who are upset.
    pub upset: u32,
    /// Customer's words (es, en).
    pub ask: (&'static str, &'static str),
    /// AI's first answer (es, en).
    pub answer: (&'static str, &'static str),
}

macro_rules! topic {
    ($d:literal, $c:literal, $w:literal, $u:literal, $ae:literal, $aen:literal, $re:literal, $ren:literal) => {
        Topic { department: $d, category: $c, weight: $w, upset: $u, ask: ($ae, $aen), answer: ($re, $ren) }
    };
}

/// Every topic of the demo history.
pub const TOPICS: &[Topic] = &[
    topic!(
        "billing",
        "balance_inquiry",
        14,
        5,
        "¿Cuánto debo a día de hoy?",
        "How much do I owe today?",
        "Su saldo pendiente aparece en su ficha; se lo detallo ahora.",
        "Your outstanding balance is on your record; here are the details."
    ),
    topic!(
        "billing",
        "invoice",
        8,
        10,
        "No me ha llegado la factura de este mes.",
        "I did not get this month's invoice.",
        "Le reenvío la factura a su correo registrado.",
        "I will resend the invoice to your email on file."
    ),
    topic!(
        "billing",
        "charge_dispute",
        7,
        70,
        "Me han cobrado dos veces la cuota, quiero mi dinero.",
        "I was charged twice for the fee, I want my money back.",
        "Siento la molestia; reviso los cargos de su cuenta.",
        "Sorry about that; I am checking the charges on your account."
    ),
    topic!(
        "billing",
        "refund",
        4,
        45,
        "¿Cuándo me devuelven el importe del mes pasado?",
        "When will last month's refund arrive?",
        "Las devoluciones tardan hasta diez días hábiles; compruebo la suya.",
        "Refunds take up to ten working days; let me check yours."
    ),
    topic!(
        "billing",
        "payment",
        6,
        5,
        "Quiero pagar lo que debo con tarjeta.",
        "I want to pay what I owe by card.",
        "Un compañero confirmará el pago con usted.",
        "A colleague will confirm the payment with you."
    ),
    topic!(
        "support",
        "technical_issue",
        12,
        40,
        "El router se reinicia solo varias veces al día.",
        "My router keeps restarting several times a day.",
        "Probemos a reiniciarlo de fábrica; si sigue, abro un ticket.",
        "Let us try a factory reset; if it continues I will open a ticket."
    ),
    topic!(
        "support",
        "account_access",
        7,
        35,
        "No puedo entrar en mi cuenta, dice contraseña incorrecta.",
        "I cannot sign in, it says wrong password.",
        "Le envío un enlace para restablecer la contraseña.",
        "I am sending you a link to reset your password."
    ),
    topic!(
        "support",
        "service_outage",
        5,
        75,
        "No tengo internet desde esta mañana.",
        "I have had no internet since this morning.",
        "Hay una incidencia en su zona; le aviso cuando se resuelva.",
        "There is an outage in your area; I will let you know when it is fixed."
    ),
    topic!(
        "support",
        "how_to",
        5,
        0,
        "¿Cómo cambio el nombre de mi red wifi?",
        "How do I change my wifi network name?",
        "Entre en la configuración del router y busque la sección Wi-Fi.",
        "Open the router settings and look for the Wi-Fi section."
    ),
    topic!(
        "support",
        "ticket_status",
        4,
        30,
        "¿Cómo va mi incidencia abierta?",
        "What is the status of my open ticket?",
        "Su ticket está en curso; un técnico lo revisa.",
        "Your ticket is in progress; a technician is on it."
    ),
    topic!(
        "sales",
        "pricing",
        5,
        0,
        "¿Cuánto cuesta la fibra de 1 Gb?",
        "How much is the 1 Gb fibre plan?",
        "Le explico las tarifas vigentes y las promociones.",
        "Here are the current prices and offers."
    ),
    topic!(
        "sales",
        "plan_change",
        5,
        5,
        "Quiero cambiar a una tarifa más barata.",
        "I want to move to a cheaper plan.",
        "Le propongo las tarifas que encajan con su uso.",
        "Here are the plans that fit your usage."
    ),
    topic!(
        "sales",
        "new_purchase",
        3,
        0,
        "Quiero contratar una línea móvil más.",
        "I want to add another mobile line.",
        "Perfecto, le paso con ventas para completar el alta.",
        "Great, sales will complete the sign-up with you."
    ),
    topic!(
        "sales",
        "cancellation",
        3,
        60,
        "Quiero darme de baja.",
        "I want to cancel my contract.",
        "Lamento oírlo; ¿me cuenta el motivo?",
        "Sorry to hear that; may I ask why?"
    ),
    topic!(
        "complaints",
        "service_complaint",
        4,
        85,
        "Llevo tres semanas con cortes y nadie lo arregla.",
        "Three weeks of drop-outs and nobody fixes it.",
        "Entiendo su enfado; registro la reclamación.",
        "I understand your frustration; I am filing the complaint."
    ),
    topic!(
        "complaints",
        "formal_complaint",
        2,
        90,
        "Quiero poner una reclamación formal.",
        "I want to file a formal complaint.",
        "Registro su reclamación y le paso con una persona.",
        "I am filing your complaint and passing you to a person."
    ),
    topic!(
        "complaints",
        "staff_complaint",
        1,
        90,
        "El técnico que vino fue muy maleducado.",
        "The technician who came was very rude.",
        "Lo siento mucho; lo trasladamos al responsable.",
        "I am very sorry; we will pass this to the manager."
    ),
    topic!(
        "general",
        "information",
        5,
        0,
        "¿Cuál es el horario de las tiendas?",
        "What are the shop opening hours?",
        "Las tiendas abren de 10:00 a 21:00 de lunes a sábado.",
        "Shops open 10:00 to 21:00, Monday to Saturday."
    ),
    topic!(
        "general",
        "human_request",
        3,
        30,
        "Quiero hablar con una persona.",
        "I want to talk to a person.",
        "Le paso con un compañero en cuanto haya uno libre.",
        "I will pass you to a colleague as soon as one is free."
    ),
    topic!(
        "general",
        "greeting",
        2,
        0,
        "Hola, buenas tardes.",
        "Hello, good afternoon.",
        "¡Hola! ¿En qué puedo ayudarle?",
        "Hello! How can I help?"
    ),
];

/// First names and surnames the demo customers are made of.
pub const FIRST: &[&str] = &[
    "Lucía", "Hugo", "Martina", "Pablo", "Valeria", "Diego", "Sara", "Álvaro", "Noa", "Mateo", "Olivia", "Daniel",
    "Grace", "Oliver", "Amelia", "Jack", "Chloe", "Ethan",
];
/// Surnames.
pub const LAST: &[&str] = &[
    "García",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Díaz",
    "Moreno",
    "Álvarez",
    "Romero",
    "Navarro",
    "Smith",
    "Brown",
    "Wilson",
    "Taylor",
];

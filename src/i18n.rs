//! Spanish and English texts for pages, errors and emails.
//!
//! Every text lives in one table (key, Spanish, English) so that a missing translation
//! is impossible by construction; a unit test checks keys are unique.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// A supported interface language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Español (the default).
    #[default]
    Es,
    /// English.
    En,
}

impl Lang {
    /// The ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Es => "es",
            Self::En => "en",
        }
    }

    /// Parses `es` / `en` (case-insensitive, region ignored: `es-MX`, `en_GB`).
    pub fn parse(text: &str) -> Option<Self> {
        let primary = text.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "es" => Some(Self::Es),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// Picks the preferred supported language from an `Accept-Language` header,
    /// honouring q-values; Spanish when nothing matches.
    pub fn from_accept_language(header: &str) -> Self {
        let mut best: Option<(f32, Self)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Self::parse) else {
                continue;
            };
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }

    /// The other language (for the switch link).
    pub fn other(self) -> Self {
        match self {
            Self::Es => Self::En,
            Self::En => Self::Es,
        }
    }
}

/// Looks up `key` in `lang`; an unknown key returns itself so that a gap shows up in
/// the page instead of crashing.
pub fn t(lang: Lang, key: &str) -> &str {
    lookup(lang, key).unwrap_or(key)
}

/// The text for `key` in `lang`, if the table has it.
fn lookup(lang: Lang, key: &str) -> Option<&'static str> {
    TABLE.get(key).map(|(es, en)| match lang {
        Lang::Es => *es,
        Lang::En => *en,
    })
}

/// A translator handed to templates: `{{ tr.t("login.title") }}`.
#[derive(Clone, Copy, Debug)]
pub struct Tr(pub Lang);

impl Tr {
    /// The label of a stored value (`label("status", "queued")` looks up
    /// `status.queued`); an unknown value is shown as it is.
    pub fn label(&self, group: &str, value: &str) -> String {
        lookup(self.0, &format!("{group}.{value}")).unwrap_or(value).to_owned()
    }

    /// The text for `key` with `{name}` placeholders filled in (the values are escaped
    /// by the template like any other text).
    pub fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut text = self.t(key).to_owned();
        for (name, value) in values {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// The text for `key` in this language.
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        t(self.0, key)
    }

    /// The language code, for `<html lang>`.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }
}

static TABLE: LazyLock<HashMap<&'static str, (&'static str, &'static str)>> =
    LazyLock::new(|| TEXTS.iter().map(|(k, es, en)| (*k, (*es, *en))).collect());

const TEXTS: &[(&str, &str, &str)] = &[
    // Chrome
    ("app.name", "Centralita", "Centralita"),
    ("app.tagline", "Centro de llamadas con IA", "AI call center"),
    ("nav.home", "Inicio", "Home"),
    ("nav.users", "Usuarios", "Users"),
    ("nav.calls", "Llamadas", "Calls"),
    ("calls.title", "Llamadas", "Calls"),
    ("calls.none", "Todavía no hay llamadas.", "No calls yet."),
    ("calls.call", "Llamada", "Call"),
    ("calls.status", "Estado", "Status"),
    ("calls.department", "Departamento", "Department"),
    ("calls.category", "Categoría", "Category"),
    ("calls.sentiment", "Sentimiento", "Sentiment"),
    ("calls.priority", "Prioridad", "Priority"),
    ("calls.confidence", "Confianza", "Confidence"),
    ("calls.escalation", "Motivo de escalado", "Escalation reason"),
    ("calls.tokens", "Tokens", "Tokens"),
    ("calls.transcript", "Conversación", "Transcript"),
    ("calls.steps", "Pasos de los agentes", "Agent steps"),
    ("calls.turn", "Turno", "Turn"),
    ("calls.agent", "Agente", "Agent"),
    ("calls.model", "Modelo", "Model"),
    ("calls.outcome", "Resultado", "Outcome"),
    ("calls.tools", "Herramientas", "Tools"),
    ("nav.audit", "Auditoría", "Audit log"),
    ("nav.account", "Mi cuenta", "My account"),
    ("nav.logout", "Cerrar sesión", "Sign out"),
    ("nav.switch_lang", "English", "Español"),
    ("nav.skip", "Saltar al contenido", "Skip to content"),
    // Login
    ("login.title", "Iniciar sesión", "Sign in"),
    ("login.username", "Usuario", "Username"),
    ("login.password", "Contraseña", "Password"),
    ("login.submit", "Entrar", "Sign in"),
    ("login.signed_out", "Has cerrado la sesión.", "You have signed out."),
    ("login.expired", "Tu sesión ha caducado. Vuelve a entrar.", "Your session has expired. Please sign in again."),
    // Roles
    ("role.admin", "Administración", "Admin"),
    ("role.supervisor", "Supervisión", "Supervisor"),
    ("role.agent", "Agente", "Agent"),
    ("role.viewer", "Consulta", "Viewer"),
    ("lang.es", "Español", "Spanish"),
    ("lang.en", "Inglés", "English"),
    // Home
    ("home.welcome", "Hola", "Hello"),
    ("home.your_role", "Tu rol", "Your role"),
    (
        "home.admin.lead",
        "Gestiona quién entra en Centralita y revisa lo ocurrido.",
        "Manage who can use Centralita and review what happened.",
    ),
    (
        "home.supervisor.lead",
        "Supervisa las colas, aprueba las acciones de la IA y consulta las métricas.",
        "Watch the queues, approve AI actions and read the metrics.",
    ),
    (
        "home.agent.lead",
        "Atiende las llamadas escaladas y toma el control cuando haga falta.",
        "Handle escalated calls and take over when needed.",
    ),
    (
        "home.viewer.lead",
        "Consulta los paneles y los informes en modo de solo lectura.",
        "Browse dashboards and reports, read-only.",
    ),
    ("home.can", "Puedes", "You can"),
    (
        "cap.manage_users",
        "crear usuarios, cambiar roles, desactivar cuentas y restablecer contraseñas",
        "create users, change roles, disable accounts and reset passwords",
    ),
    ("cap.read_audit", "leer el registro de auditoría", "read the audit log"),
    (
        "cap.approve_actions",
        "aprobar o rechazar acciones de la IA que requieren a una persona",
        "approve or reject AI actions that need a person",
    ),
    ("cap.take_over", "tomar el control de llamadas y responder a clientes", "take over calls and reply to customers"),
    ("cap.view_dashboards", "ver paneles, colas y métricas", "view dashboards, queues and metrics"),
    ("home.stats.users", "Usuarios activos", "Active users"),
    ("home.stats.customers", "Clientes", "Customers"),
    ("home.stats.departments", "Departamentos", "Departments"),
    // Users
    ("users.title", "Usuarios", "Users"),
    ("users.new", "Nuevo usuario", "New user"),
    ("users.username", "Usuario", "Username"),
    ("users.email", "Correo electrónico", "Email"),
    ("users.full_name", "Nombre completo", "Full name"),
    ("users.role", "Rol", "Role"),
    ("users.language", "Idioma", "Language"),
    ("users.temp_password", "Contraseña temporal", "Temporary password"),
    (
        "users.temp_password_hint",
        "Al menos 10 caracteres. Deberá cambiarla al entrar.",
        "At least 10 characters. They must change it at first sign-in.",
    ),
    ("users.status", "Estado", "Status"),
    ("users.active", "Activo", "Active"),
    ("users.disabled", "Desactivado", "Disabled"),
    ("users.create", "Crear usuario", "Create user"),
    ("users.created", "Usuario creado.", "User created."),
    ("users.save_role", "Cambiar rol", "Change role"),
    ("users.disable", "Desactivar", "Disable"),
    ("users.enable", "Activar", "Enable"),
    ("users.reset_password", "Restablecer contraseña", "Reset password"),
    ("users.new_password", "Nueva contraseña temporal", "New temporary password"),
    ("users.updated", "Cambios guardados.", "Changes saved."),
    ("users.actions", "Acciones", "Actions"),
    ("users.none", "No hay usuarios.", "No users yet."),
    ("users.you", "tú", "you"),
    (
        "users.confirm_disable",
        "¿Desactivar esta cuenta? Se cerrarán sus sesiones.",
        "Disable this account? Their sessions will end.",
    ),
    // Account
    ("account.title", "Mi cuenta", "My account"),
    ("account.change_password", "Cambiar contraseña", "Change password"),
    (
        "account.must_change",
        "Tu contraseña es temporal. Elige una nueva para continuar.",
        "Your password is temporary. Choose a new one to continue.",
    ),
    ("account.current_password", "Contraseña actual", "Current password"),
    ("account.new_password", "Nueva contraseña", "New password"),
    ("account.confirm_password", "Repite la nueva contraseña", "Repeat the new password"),
    ("account.password_changed", "Contraseña cambiada.", "Password changed."),
    ("account.language", "Idioma de la interfaz", "Interface language"),
    ("account.save", "Guardar", "Save"),
    // Audit
    ("audit.title", "Registro de auditoría", "Audit log"),
    ("audit.at", "Cuándo", "When"),
    ("audit.actor", "Quién", "Who"),
    ("audit.action", "Acción", "Action"),
    ("audit.target", "Sobre", "Target"),
    ("audit.ip", "IP", "IP"),
    ("audit.details", "Detalles", "Details"),
    ("audit.empty", "Aún no hay entradas.", "No entries yet."),
    ("audit.older", "Anteriores", "Older"),
    // Validation messages
    ("field.required", "Este campo es obligatorio.", "This field is required."),
    (
        "field.username_invalid",
        "Usa de 3 a 32 letras minúsculas, números, puntos, guiones o guiones bajos.",
        "Use 3 to 32 lowercase letters, digits, dots, hyphens or underscores.",
    ),
    ("field.username_taken", "Ese nombre de usuario ya existe.", "That username is already taken."),
    ("field.email_invalid", "Escribe una dirección de correo válida.", "Enter a valid email address."),
    ("field.email_taken", "Ya hay un usuario con ese correo.", "A user with that email already exists."),
    ("field.full_name_invalid", "Escribe un nombre de 1 a 100 caracteres.", "Enter a name of 1 to 100 characters."),
    ("field.role_invalid", "Elige admin, supervisor, agent o viewer.", "Choose admin, supervisor, agent or viewer."),
    ("field.language_invalid", "Elige es o en.", "Choose es or en."),
    (
        "field.password_short",
        "La contraseña debe tener al menos 10 caracteres.",
        "The password must have at least 10 characters.",
    ),
    (
        "field.password_long",
        "La contraseña no puede superar 256 caracteres.",
        "The password cannot exceed 256 characters.",
    ),
    ("field.password_mismatch", "Las contraseñas no coinciden.", "The passwords do not match."),
    ("field.password_wrong", "La contraseña actual no es correcta.", "The current password is not correct."),
    (
        "field.password_same",
        "La nueva contraseña debe ser distinta de la actual.",
        "The new password must differ from the current one.",
    ),
    (
        "field.self_demote",
        "No puedes quitarte el rol de administración ni desactivarte a ti mismo.",
        "You cannot remove your own admin role or disable yourself.",
    ),
    ("field.last_admin", "Debe quedar al menos un administrador activo.", "At least one active admin must remain."),
    // Errors
    ("error.title", "Algo no ha ido bien", "Something went wrong"),
    ("error.back_home", "Volver al inicio", "Back to home"),
    ("error.unauthorized", "Inicia sesión para continuar.", "Sign in to continue."),
    ("error.invalid_credentials", "Usuario o contraseña incorrectos.", "Incorrect username or password."),
    ("error.forbidden", "Tu rol no permite esta acción.", "Your role does not allow this."),
    (
        "error.csrf",
        "La página ha caducado o la petición no viene de Centralita. Recarga la página e inténtalo de nuevo.",
        "The page expired or the request did not come from Centralita. Reload the page and try again.",
    ),
    ("error.not_found", "No encontramos lo que buscas.", "We could not find what you are looking for."),
    ("error.validation", "Revisa los campos marcados.", "Please check the highlighted fields."),
    ("error.bad_request", "No hemos entendido la petición", "The request could not be understood"),
    ("error.invalid_body", "El cuerpo no tiene la forma esperada", "The body does not have the expected shape"),
    ("error.conflict", "La acción no es posible en el estado actual", "That is not possible in the current state"),
    ("error.payload_too_large", "La petición es demasiado grande.", "The request is too large."),
    (
        "error.request_timeout",
        "La petición ha tardado demasiado en llegar. Inténtalo de nuevo.",
        "The request took too long to arrive. Please try again.",
    ),
    (
        "error.unsupported_media_type",
        "Envía el cuerpo como JSON (Content-Type: application/json).",
        "Send the body as JSON (Content-Type: application/json).",
    ),
    (
        "error.too_many_attempts",
        "Demasiados intentos fallidos. Espera unos minutos y vuelve a intentarlo.",
        "Too many failed attempts. Wait a few minutes and try again.",
    ),
    (
        "error.internal",
        "Error interno. Lo hemos registrado; inténtalo de nuevo en un momento.",
        "Internal error. It has been logged; please try again shortly.",
    ),
    // Live operations (board, call handling, approvals, customer call page).
    ("nav.board", "Panel", "Board"),
    ("login.customer_hint", "¿Eres cliente?", "Are you a customer?"),
    ("nav.actions", "Aprobaciones", "Approvals"),
    ("board.title", "Panel en directo", "Live board"),
    ("board.live", "Conectado en directo", "Live"),
    ("board.my_status", "Mi estado", "My status"),
    ("board.set_status", "Cambiar", "Set"),
    ("board.kpis", "Indicadores de hoy", "Today's figures"),
    ("board.kpi_calls", "Llamadas hoy", "Calls today"),
    ("board.kpi_open", "Abiertas ahora", "Open now"),
    ("board.kpi_ai_resolved", "Resueltas por la IA", "Resolved by AI"),
    ("board.kpi_escalations", "Escaladas hoy", "Escalations today"),
    ("board.kpi_aht", "Tiempo medio de gestión", "Average handle time"),
    ("board.kpi_csat", "Satisfacción (1–5)", "CSAT (1–5)"),
    ("board.kpi_actions", "Aprobaciones pendientes", "Approvals waiting"),
    ("board.escalations", "Esperando a una persona", "Waiting for a person"),
    ("board.no_escalations", "Nadie espera ahora mismo.", "Nobody is waiting right now."),
    ("board.queues", "Colas por departamento", "Queues by department"),
    ("board.staff", "Equipo", "Staff"),
    ("board.no_staff", "Nadie conectado.", "Nobody online."),
    ("board.active", "Llamadas activas", "Active calls"),
    ("board.no_active", "No hay llamadas activas.", "No active calls."),
    ("board.waiting", "Espera", "Waiting"),
    ("board.open", "Abrir", "Open"),
    ("board.per_hour", "Llamadas por hora (hoy)", "Calls per hour (today)"),
    ("board.sentiment", "Sentimiento de hoy", "Today's sentiment"),
    ("status.ai", "IA", "AI"),
    ("status.queued", "En cola", "Queued"),
    ("status.human", "Con una persona", "With a person"),
    ("status.closed", "Cerrada", "Closed"),
    ("dept.sales", "Ventas", "Sales"),
    ("dept.support", "Soporte", "Support"),
    ("dept.billing", "Facturación", "Billing"),
    ("dept.complaints", "Reclamaciones", "Complaints"),
    ("dept.general", "Atención general", "General"),
    ("sentiment.positive", "Positivo", "Positive"),
    ("sentiment.neutral", "Neutro", "Neutral"),
    ("sentiment.negative", "Negativo", "Negative"),
    ("priority.low", "Baja", "Low"),
    ("priority.medium", "Media", "Medium"),
    ("priority.high", "Alta", "High"),
    ("priority.critical", "Crítica", "Critical"),
    ("presence.online", "Disponible", "Online"),
    ("presence.away", "Ausente", "Away"),
    ("presence.busy", "Ocupado", "Busy"),
    ("presence.offline", "Desconectado", "Offline"),
    ("outcome.resolved", "Resuelta", "Resolved"),
    ("outcome.follow_up", "Requiere seguimiento", "Follow-up"),
    ("outcome.transferred", "Transferida", "Transferred"),
    ("outcome.abandoned", "Abandonada", "Abandoned"),
    ("reason.customer_request", "Lo pidió el cliente", "Customer asked"),
    ("reason.missing_knowledge", "Falta información", "Missing knowledge"),
    ("reason.unsupported_request", "Petición no soportada", "Unsupported request"),
    ("reason.policy_restriction", "Restricción de política", "Policy restriction"),
    ("reason.tool_failure", "Fallo de herramienta", "Tool failure"),
    ("reason.negative_sentiment", "Cliente molesto", "Negative sentiment"),
    ("reason.low_confidence", "Baja confianza", "Low confidence"),
    ("reason.interrupted", "Respuesta interrumpida", "Answer interrupted"),
    ("msgrole.customer", "Cliente", "Customer"),
    ("msgrole.ai", "IA", "AI"),
    ("consent.yes", "Aceptado", "Accepted"),
    ("consent.no", "Rechazado", "Declined"),
    ("consent.asked", "Preguntado, sin respuesta", "Asked, no answer yet"),
    ("decision.approved", "Aprobada", "Approved"),
    ("decision.rejected", "Rechazada", "Rejected"),
    ("decision.pending", "Pendiente", "Pending"),
    ("tool.register_payment", "Registrar pago", "Register payment"),
    ("method.cash", "efectivo", "cash"),
    ("method.card", "tarjeta", "card"),
    ("method.transfer", "transferencia", "transfer"),
    ("method.check", "cheque", "check"),
    ("calls.classification", "Clasificación", "Classification"),
    ("calls.customer", "Cliente", "Customer"),
    ("calls.unlinked", "Sin vincular", "Not linked"),
    ("calls.claimed", "Dice ser", "Says they are"),
    ("calls.unverified", "sin verificar", "unverified"),
    ("calls.verify_customer", "He comprobado su identidad", "I checked who they are"),
    ("calls.summary_consent", "Resumen por correo", "Emailed summary"),
    ("callops.take_over", "Atender", "Take over"),
    ("callops.hand_back", "Devolver a la IA", "Hand back to AI"),
    ("callops.close", "Cerrar llamada", "Close call"),
    ("callops.reply", "Tu respuesta", "Your reply"),
    ("callops.held_by", "Esta llamada ya la atiende {name}.", "{name} is already handling this call."),
    ("callops.held_by_now", "atendida por {name}", "handled by {name}"),
    ("callops.closed", "La llamada ya está cerrada.", "The call has already ended."),
    (
        "callops.state_changed",
        "La llamada cambió mientras tanto; revisa su estado.",
        "The call changed meanwhile; check its state.",
    ),
    (
        "callops.read_only",
        "Solo lectura: tu rol puede ver las llamadas pero no atenderlas.",
        "Read only: your role can see calls but not handle them.",
    ),
    ("callops.sys_joined", "{name} atiende la llamada", "{name} took over"),
    ("callops.sys_left", "{name} devolvió la llamada a la IA", "{name} handed back to the AI"),
    ("callops.sys_closed", "{name} cerró la llamada: {outcome}", "{name} closed the call: {outcome}"),
    ("callops.sys_ended", "El cliente terminó la llamada", "The customer ended the call"),
    (
        "callops.sys_interrupted",
        "La IA no llegó a responder (se interrumpió el turno); la llamada pasó a la cola de personas",
        "The AI never answered (the turn was interrupted); the call went to the human queue",
    ),
    ("actions.title", "Acciones pendientes de aprobación", "Actions waiting for approval"),
    (
        "actions.intro",
        "La IA no ejecuta nada con efectos: lo pide, y una persona con permiso lo aprueba o lo rechaza. Se ejecuta exactamente lo que ves.",
        "The AI never executes anything with side effects: it asks, and a person with the right role approves or rejects. Exactly what you see is executed.",
    ),
    ("actions.none", "No hay acciones.", "No actions."),
    ("actions.approve", "Aprobar", "Approve"),
    ("actions.reject", "Rechazar", "Reject"),
    ("callpage.start_title", "Habla con nosotros", "Talk to us"),
    (
        "callpage.start_intro",
        "Cuéntanos qué necesitas. Nuestro asistente responde al momento y una persona se une cuando hace falta.",
        "Tell us what you need. Our assistant answers right away and a person joins when needed.",
    ),
    ("callpage.name", "Nombre", "Name"),
    ("callpage.email", "Correo electrónico", "Email"),
    ("callpage.phone", "Teléfono", "Phone"),
    (
        "callpage.phone_hint",
        "(opcional; el de tu contrato nos permite ver tu cuenta)",
        "(optional; the one on your account lets us look at it)",
    ),
    ("callpage.first_message", "¿En qué podemos ayudarte?", "How can we help?"),
    ("callpage.start", "Empezar", "Start"),
    (
        "callpage.privacy",
        "Guarda el enlace de la llamada: es privado y solo tú puedes abrirla con él.",
        "Keep the call's link: it is private and only you can open the call with it.",
    ),
    ("callpage.title", "Tu llamada", "Your call"),
    ("callpage.you", "Tú", "You"),
    ("callpage.assistant", "Asistente", "Assistant"),
    ("callpage.status_ai", "Te atiende nuestro asistente virtual.", "Our virtual assistant is answering."),
    (
        "callpage.status_queued",
        "Te pasamos con una persona; espera un momento, por favor.",
        "We are passing you to a person; please wait a moment.",
    ),
    ("callpage.status_human", "Te atiende {name}.", "{name} is with you."),
    ("callpage.status_closed", "La llamada ha terminado.", "The call has ended."),
    ("callpage.joined", "{name}, de {dept}, se ha unido a la llamada", "{name}, from {dept}, has joined"),
    ("callpage.joined_plain", "{name} se ha unido a la llamada", "{name} has joined"),
    ("callpage.left", "{name} te devuelve al asistente virtual", "{name} handed you back to the virtual assistant"),
    ("callpage.ended", "La llamada ha terminado.", "The call has ended."),
    (
        "callpage.interrupted",
        "Una persona continuará la conversación contigo en breve.",
        "A person will continue the conversation with you shortly.",
    ),
    (
        "callpage.ended_hint",
        "La llamada ha terminado. Gracias por contactar con nosotros.",
        "The call has ended. Thank you for contacting us.",
    ),
    ("callpage.new_call", "Empezar otra", "Start another"),
    ("callpage.your_message", "Tu mensaje", "Your message"),
    ("callpage.send", "Enviar", "Send"),
    ("callpage.end", "Terminar llamada", "End call"),
    ("callpage.end_confirm", "¿Terminar la llamada?", "End the call?"),
    (
        "callpage.summary_offer",
        "¿Quieres que te enviemos un resumen de esta llamada a {email}?",
        "Would you like a summary of this call sent to {email}?",
    ),
    ("callpage.summary_yes", "Sí, quiero verlo", "Yes, show me"),
    (
        "callpage.summary_draft",
        "Este es el resumen que enviaremos a {email}. ¿Lo enviamos?",
        "This is the summary we will send to {email}. Shall we send it?",
    ),
    ("callpage.summary_send", "Envíalo", "Send it"),
    ("callpage.summary_cancel", "No lo envíes", "Don't send it"),
    ("callpage.summary_on_its_way", "Tu resumen va de camino a {email}.", "Your summary is on its way to {email}."),
    ("callpage.summary_sent", "Te enviamos el resumen a {email}.", "We sent the summary to {email}."),
    (
        "callpage.summary_unavailable",
        "No podemos enviar un resumen a tu correo registrado; una persona del equipo puede ayudarte.",
        "We can't email a summary to the address on file; a member of our team can help.",
    ),
    ("callpage.summary_no", "No, gracias", "No, thanks"),
    (
        "callpage.summary_confirmed",
        "Te enviaremos el resumen a tu correo registrado.",
        "We will send the summary to your address on file.",
    ),
    ("callpage.summary_declined", "No enviaremos ningún resumen.", "We will not send a summary."),
    ("callpage.choose", "Elige sí o no.", "Choose yes or no."),
    ("callpage.already_answered", "Ya respondiste a esa pregunta.", "You already answered that."),
    (
        "callpage.rate",
        "¿Cómo valorarías esta llamada? (1 = mal, 5 = excelente)",
        "How would you rate this call? (1 = poor, 5 = excellent)",
    ),
    ("callpage.rate_send", "Valorar", "Rate"),
    ("callpage.rated", "Gracias por tu valoración: {n}/5.", "Thanks for your rating: {n}/5."),
    ("callpage.already_rated", "Ya valoraste esta llamada.", "You already rated this call."),
    ("error.call_held", "Otra persona atiende ya esta llamada", "Someone else is already handling this call"),
    ("field.csat_range", "Elige una valoración del 1 al 5.", "Choose a rating from 1 to 5."),
    (
        "field.outcome_invalid",
        "Elige resolved, follow_up, transferred o abandoned.",
        "Choose resolved, follow_up, transferred or abandoned.",
    ),
    ("field.presence_invalid", "Elige online, away o busy.", "Choose online, away or busy."),
    (
        "field.email_kind_invalid",
        "Elige resumen, información o seguimiento.",
        "Choose summary, information or follow-up.",
    ),
    ("field.call_unknown", "No existe esa llamada.", "There is no such call."),
    (
        "field.customer_not_on_call",
        "Ese cliente no es el de la llamada.",
        "That customer is not the caller of this call.",
    ),
    (
        "field.call_without_customer",
        "Esta llamada no está vinculada a ningún cliente con correo registrado.",
        "This call is not linked to a customer with an address on file.",
    ),
    (
        "field.summary_needs_call",
        "Un resumen necesita la llamada que resume.",
        "A summary needs the call it summarises.",
    ),
    ("field.email_recipient_required", "Indica una llamada o un cliente.", "Give a call or a customer."),
    (
        "field.email_on_file_invalid",
        "La dirección de correo registrada de este cliente no es válida; corrígela antes de enviarle nada.",
        "This customer's address on file is not a valid email address; correct it before sending anything.",
    ),
    ("field.topic_too_long", "El asunto admite hasta 150 caracteres.", "The topic can be at most 150 characters."),
    ("field.body_too_long", "El texto admite hasta 10 000 caracteres.", "The text can be at most 10,000 characters."),
    (
        "field.dedupe_key_invalid",
        "La clave admite de 1 a 100 letras, números y - _ . :",
        "The key takes 1 to 100 letters, digits and - _ . :",
    ),
    // Email manager
    ("nav.emails", "Correos", "Emails"),
    ("emails.title", "Correos", "Emails"),
    ("emails.email", "Correo", "Email"),
    ("emails.write_summary", "Preparar el resumen", "Prepare the summary"),
    ("emails.write_follow_up", "Escribir un seguimiento", "Write a follow-up"),
    ("emails.new", "Nuevo correo", "New email"),
    (
        "emails.new_hint",
        "Los correos van solo a la dirección registrada del cliente. Un resumen lo escribe el agente supervisor a partir de la llamada; la vista previa lo guarda como borrador a la espera de la confirmación del cliente.",
        "Emails go only to the customer's address on file. A summary is written by the supervisor agent from the call; previewing it keeps it as a draft waiting for the customer's confirmation.",
    ),
    ("emails.filter", "Filtrar por estado", "Filter by status"),
    ("emails.all", "Todos", "All"),
    ("emails.none", "No hay correos.", "No emails."),
    ("emails.kind", "Tipo", "Type"),
    ("emails.customer", "Cliente", "Customer"),
    ("emails.subject", "Asunto", "Subject"),
    ("emails.to", "Para", "To"),
    ("emails.attempts", "Intentos", "Attempts"),
    ("emails.last_error", "Último error", "Last error"),
    ("emails.retry", "Reintentar", "Retry"),
    ("emails.call_field", "Llamada (número)", "Call (number)"),
    ("emails.customer_field", "Cliente (número o correo registrado)", "Customer (number or address on file)"),
    ("emails.language", "Idioma del correo", "Email language"),
    ("emails.language_auto", "El de la llamada", "The call's language"),
    ("emails.free_text", "Información y seguimiento", "Information and follow-up"),
    ("emails.topic", "Tema (va en el asunto)", "Topic (goes in the subject)"),
    ("emails.body", "Texto", "Text"),
    (
        "emails.confirmed_tick",
        "El cliente ha confirmado que quiere este correo (se registra a nombre de {name})",
        "The customer confirmed they want this email (recorded under {name})",
    ),
    ("emails.preview_button", "Vista previa", "Preview"),
    ("emails.send", "Enviar", "Send"),
    ("emails.preview", "Vista previa", "Preview"),
    (
        "emails.draft_kept",
        "Borrador guardado como correo #{id}, a la espera de confirmación:",
        "Draft kept as email #{id}, waiting for confirmation:",
    ),
    ("emails.html_part", "Parte HTML", "HTML part"),
    ("emails.text_part", "Parte de texto", "Text part"),
    ("emails.eml", "Archivo .eml (buzón de archivos)", ".eml file (file mailbox)"),
    ("emails.written", "Escrito", "Written"),
    ("emails.confirmation", "Confirmación del cliente", "Customer's confirmation"),
    (
        "emails.confirmed_by_customer",
        "El cliente confirmó en la página de la llamada, {at}",
        "The customer confirmed on the call page, {at}",
    ),
    ("emails.confirmed_by_staff", "Registrada por {name}, {at}", "Recorded by {name}, {at}"),
    ("emails.not_confirmed", "Todavía no ha confirmado", "Not confirmed yet"),
    ("emails.next_attempt", "próximo intento", "next attempt"),
    ("emails.sent_at", "Enviado", "Sent"),
    ("emails.confirm", "El cliente lo confirmó: enviar", "Customer confirmed: send"),
    ("emails.decline", "El cliente no lo quiere", "Customer declined"),
    ("emails.attempt_log", "Intentos de entrega", "Delivery attempts"),
    ("emails.detail", "Detalle", "Detail"),
    (
        "emails.state_changed",
        "El correo cambió mientras tanto; esto es lo actual.",
        "The email changed in the meantime; this is how it stands now.",
    ),
    ("emailkind.summary", "Resumen de llamada", "Call summary"),
    ("emailkind.information", "Información solicitada", "Requested information"),
    ("emailkind.follow_up", "Seguimiento", "Follow-up"),
    ("emailstatus.waiting_confirmation", "Esperando confirmación", "Waiting for confirmation"),
    ("emailstatus.queued", "En cola", "Queued"),
    ("emailstatus.sending", "Enviando", "Sending"),
    ("emailstatus.retrying", "Reintentando", "Retrying"),
    ("emailstatus.sent", "Enviado", "Sent"),
    ("emailstatus.failed", "Fallido", "Failed"),
    ("emailstatus.declined", "Rechazado por el cliente", "Declined by the customer"),
    ("attempt.sent", "Entregado", "Delivered"),
    ("attempt.retry", "Error, se reintentará", "Failed, will retry"),
    ("attempt.failed", "Error definitivo", "Failed for good"),
    // Emails (emails/*.html, *.txt)
    ("email.hello", "Hola, {name}:", "Hello {name},"),
    ("email.signoff", "Un saludo,", "Kind regards,"),
    ("email.team", "El equipo de atención al cliente de Centralita", "The Centralita customer care team"),
    (
        "email.footer",
        "Recibes este correo porque lo pediste durante una llamada con Centralita. Para cualquier consulta, inicia una nueva llamada.",
        "You are receiving this email because you asked for it during a call with Centralita. For anything else, start a new call.",
    ),
    ("email.call_ref", "Llamada #{id}", "Call #{id}"),
    ("email.summary.subject", "Resumen de tu llamada #{id}", "Summary of your call #{id}"),
    ("email.summary.subject_plain", "Resumen de tu llamada", "Summary of your call"),
    (
        "email.summary.intro",
        "Este es el resumen de tu llamada con nosotros.",
        "Here is the summary of your call with us.",
    ),
    ("email.summary.issue", "Tu consulta", "What you called about"),
    ("email.summary.actions", "Qué hicimos", "What we did"),
    ("email.summary.references", "Referencias", "References"),
    ("email.summary.next_steps", "Próximos pasos", "Next steps"),
    ("email.information.subject", "La información que pediste: {topic}", "The information you asked for: {topic}"),
    (
        "email.information.intro",
        "Como nos pediste, aquí tienes la información sobre «{topic}».",
        "As you asked, here is the information about \u{201c}{topic}\u{201d}.",
    ),
    ("email.follow_up.subject", "Seguimiento: {topic}", "Following up: {topic}"),
    (
        "email.follow_up.intro",
        "Te escribimos para hacer seguimiento de «{topic}».",
        "We are writing to follow up on \u{201c}{topic}\u{201d}.",
    ),
    (
        "field.phone_invalid",
        "Escribe un teléfono de hasta 32 dígitos (se admiten + - ( ) y espacios).",
        "Enter a phone number of up to 32 digits (+ - ( ) and spaces allowed).",
    ),
    (
        "field.text_too_long",
        "El texto es demasiado largo (máximo 4000 caracteres).",
        "The text is too long (4000 characters at most).",
    ),
    ("field.customer_unknown", "No existe ese cliente.", "There is no such customer."),
    (
        "field.customer_unverified",
        "Ese cliente se registró desde la página pública y no está verificado: indica su nombre, correo y teléfono para comprobarlo.",
        "That customer was registered from the public page and is not verified: give their name, email and phone so they can be checked.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_key_is_unique_and_translated() {
        let mut seen = HashSet::new();
        for (key, es, en) in TEXTS {
            assert!(seen.insert(*key), "duplicate key {key}");
            assert!(!es.is_empty() && !en.is_empty(), "empty text for {key}");
        }
    }

    #[test]
    fn accept_language_prefers_highest_q() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,es;q=0.8"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr-FR, es-MX;q=0.7, en;q=0.5"), Lang::Es);
        assert_eq!(Lang::from_accept_language("de"), Lang::Es);
        assert_eq!(Lang::from_accept_language(""), Lang::Es);
    }
}

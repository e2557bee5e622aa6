//! What staff ask for, on the email manager page or over the API: the kind, the call
//! or customer, the fields, and whether the customer confirmed. One checking path for
//! both, with an error per field.

use serde::Deserialize;

use super::render::{self, Content, Frame, Rendered};
use super::{Confirmation, Email, NewEmail, Recipient};
use crate::audit::Entry;
use crate::auth::AgentCap;
use crate::calls::{self, Call};
use crate::context::Ctx;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::i18n::Lang;

/// A request to write an email.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EmailRequest)]
pub struct Request {
    /// summary, information or follow_up.
    pub kind: String,
    /// The call it is about (required for summaries).
    #[serde(default)]
    pub call_id: Option<i64>,
    /// The customer, when no call is given.
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// Subject topic (information, follow-up).
    #[serde(default)]
    pub topic: String,
    /// Body text (information, follow-up).
    #[serde(default)]
    pub body: String,
    /// `es` or `en`; the call's language (or Spanish) when absent.
    #[serde(default)]
    pub language: Option<String>,
    /// The customer confirmed they want it (recorded with the staff member's name).
    #[serde(default)]
    pub customer_confirmed: bool,
    /// Client-chosen key: a repeated request with the same key returns the first email.
    #[serde(default)]
    pub dedupe_key: Option<String>,
}

/// A checked request.
pub struct Checked {
    kind: &'static str,
    call: Option<Call>,
    recipient: Recipient,
    lang: Lang,
    content: Option<Content>,
}

impl Checked {
    /// The address the email goes to.
    pub fn to_address(&self) -> &str {
        &self.recipient.email
    }
}

/// Checks a request: the kind, that the call and customer exist and match, that the
/// customer's address on file is deliverable, the fields' presence and lengths.
pub async fn check(ctx: &Ctx, r: &Request) -> AppResult<Checked> {
    let mut errors = FieldErrors::new();
    let kind = match r.kind.as_str() {
        "summary" => "summary",
        "information" => "information",
        "follow_up" => "follow_up",
        _ => {
            errors.insert("kind", "field.email_kind_invalid");
            ""
        }
    };
    let call = match r.call_id {
        Some(id) => match calls::get(ctx.db(), id).await {
            Ok(call) => Some(call),
            Err(AppError::NotFound) => {
                errors.insert("call_id", "field.call_unknown");
                None
            }
            Err(err) => return Err(err),
        },
        None => None,
    };
    let customer_id = match (&call, r.customer_id) {
        (Some(call), Some(id)) if call.customer_id != Some(id) => {
            errors.insert("customer_id", "field.customer_not_on_call");
            None
        }
        (Some(call), _) if call.customer_id.is_none() => {
            errors.insert("call_id", "field.call_without_customer");
            None
        }
        (Some(call), _) => call.customer_id,
        (None, Some(id)) => Some(id),
        (None, None) => {
            if kind == "summary" {
                errors.entry("call_id").or_insert("field.summary_needs_call");
            } else if !errors.contains_key("call_id") {
                errors.insert("customer_id", "field.email_recipient_required");
            }
            None
        }
    };
    if kind == "summary" && call.is_none() && !errors.contains_key("call_id") {
        errors.insert("call_id", "field.summary_needs_call");
    }
    let recipient = match customer_id {
        Some(id) => match super::recipient(ctx.db(), id).await? {
            Some(rec) => {
                if super::check_address(&rec.email, "customer_id").is_err() {
                    errors.insert("customer_id", "field.email_on_file_invalid");
                }
                Some(rec)
            }
            None => {
                errors.insert("customer_id", "field.customer_unknown");
                None
            }
        },
        None => None,
    };
    let lang = match r.language.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        Some(code) => match Lang::parse(code) {
            Some(lang) if code.len() == 2 => lang,
            _ => {
                errors.insert("language", "field.language_invalid");
                Lang::Es
            }
        },
        None => call.as_ref().map(super::summary::language_of).unwrap_or_default(),
    };
    let content = match kind {
        "information" | "follow_up" => {
            let topic = crate::text::one_line(&r.topic, usize::MAX);
            if topic.is_empty() {
                errors.insert("topic", "field.required");
            } else if topic.chars().count() > render::MAX_TOPIC {
                errors.insert("topic", "field.topic_too_long");
            }
            let body = r.body.trim();
            if body.is_empty() {
                errors.insert("body", "field.required");
            } else if crate::text::has_control_but_lines(body) {
                errors.insert("body", "field.text_invalid");
            } else if body.chars().count() > render::MAX_BODY {
                errors.insert("body", "field.body_too_long");
            }
            let (topic, body) = (topic, body.to_owned());
            Some(if kind == "information" {
                Content::Information { topic, body }
            } else {
                Content::FollowUp { topic, body }
            })
        }
        _ => None,
    };
    if let Some(key) = &r.dedupe_key
        && (key.is_empty()
            || key.len() > 100
            || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
    {
        errors.insert("dedupe_key", "field.dedupe_key_invalid");
    }
    match (errors.is_empty(), recipient) {
        (true, Some(recipient)) => Ok(Checked { kind, call, recipient, lang, content }),
        _ => Err(AppError::Validation(errors)),
    }
}

/// Renders a checked information or follow-up email without storing it; summaries
/// are previewed from their stored draft instead (what the customer sees is what
/// is sent).
pub fn preview(checked: &Checked) -> AppResult<Option<Rendered>> {
    let Some(content) = &checked.content else { return Ok(None) };
    let frame = Frame {
        lang: checked.lang,
        name: checked.recipient.name.clone(),
        call_id: checked.call.as_ref().map(|c| c.id),
    };
    render::render(&frame, content).map(Some).map_err(|e| AppError::Internal(e.into()))
}

/// Writes the email a checked request asks for, by `cap`'s staff member. A summary is
/// written by the supervisor agent (or the existing draft is used); the confirmation
/// tick queues it, recorded with the staff member's name.
pub async fn submit(
    ctx: &Ctx,
    cap: &AgentCap<'_>,
    r: &Request,
    checked: Checked,
    ip: Option<String>,
) -> AppResult<(Email, bool)> {
    let me = cap.actor();
    let confirmation = if r.customer_confirmed { Confirmation::Staff(me.id) } else { Confirmation::Pending };
    let entry = Entry::new(Some(me.id), me.username.clone(), "email.create").ip(ip).metadata(serde_json::json!({
        "kind": checked.kind, "call_id": checked.call.as_ref().map(|c| c.id), "customer_id": checked.recipient.id,
        "customer_confirmed": r.customer_confirmed,
    }));
    match (checked.kind, checked.content, checked.call) {
        ("summary", _, Some(call)) => super::summary::request(ctx, &call, Some(me.id), confirmation, Some(entry)).await,
        (_, Some(content), call) => {
            let dedupe_key = match &r.dedupe_key {
                Some(key) => format!("client:{}:{key}", me.id),
                None => format!("once:{}", uuid::Uuid::new_v4().simple()),
            };
            let email = NewEmail {
                content,
                recipient: checked.recipient,
                call_id: call.map(|c| c.id),
                lang: checked.lang,
                dedupe_key,
            };
            super::create(ctx, email, Some(me.id), confirmation, Some(entry)).await
        }
        _ => Err(AppError::Validation(FieldErrors::from([("kind", "field.email_kind_invalid")]))),
    }
}

/// A staff member acts on an email: `confirm` (the customer confirmed a waiting
/// email; recorded under the staff member's name), `decline` (the customer does not
/// want it) or `retry` (a failed email goes back in the queue). Anything else is 404.
pub async fn act(ctx: &Ctx, cap: &AgentCap<'_>, id: i64, action: &str, ip: Option<String>) -> AppResult<Email> {
    let me = cap.actor();
    let audit = |name: &'static str| Some(Entry::new(Some(me.id), me.username.clone(), name).ip(ip.clone()));
    match action {
        "confirm" => super::confirm(ctx, id, Confirmation::Staff(me.id), audit("email.confirm")).await,
        "decline" => super::decline(ctx, id, audit("email.decline")).await,
        "retry" => super::retry(ctx, id, audit("email.retry")).await,
        _ => Err(AppError::NotFound),
    }
}

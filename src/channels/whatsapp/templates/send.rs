//! Sending a template in a WhatsApp call: which template the request means, its values
//! checked, the filled text stored as the person's message and the template message
//! queued for the durable send job in the same transaction.

use serde::{Deserialize, Serialize};

use super::{Template, for_number, get, parse_language, parse_values};
use crate::auth::AgentCap;
use crate::calls::{self, Call, CallStatus, Channel};
use crate::channels::whatsapp::outbound::TemplateMessage;
use crate::context::Ctx;
use crate::db::Db;
use crate::error::{AppError, AppResult, Conflict, FieldErrors};

/// Which template to send: its id, or its name.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TemplateRef {
    /// The template's id in Centralita.
    Id(i64),
    /// The template's name (with `language` when it exists in several).
    Name(String),
}

/// `POST …/send-template` and the call page's form.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendTemplate {
    /// The template: its id (a number) or its name (a string).
    pub template: TemplateRef,
    /// Its language code; needed with a name that exists in several languages (when
    /// one of them is the call's language, that one is taken).
    #[serde(default)]
    pub language: Option<String>,
    /// The values of `{{1}}`, `{{2}}`… in order: exactly as many as the template has.
    #[serde(default)]
    pub variables: Vec<String>,
}

/// A template message sent.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Sent {
    /// The call.
    pub call_id: i64,
    /// The call's message (its delivery status follows in the conversation).
    pub message_id: i64,
    /// The template's id.
    pub template_id: i64,
    /// Its name.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// The text the customer reads (the body filled in).
    pub text: String,
}

fn invalid(field: &'static str, key: &'static str) -> AppError {
    AppError::Validation(FieldErrors::from([(field, key)]))
}

/// The template `wanted` names among those of number `number`.
async fn resolve(db: &Db, number: &str, call: &Call, wanted: &SendTemplate) -> AppResult<Template> {
    let usable = |t: &Template| t.phone_number_id.as_deref().is_none_or(|n| n == number);
    let language = match wanted.language.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        Some(l) => Some(parse_language(l).ok_or_else(|| invalid("language", "field.wa_template_language_invalid"))?),
        None => None,
    };
    match &wanted.template {
        TemplateRef::Id(id) => match get(db, *id).await {
            Ok(t) if usable(&t) && language.as_ref().is_none_or(|l| *l == t.language) => Ok(t),
            Ok(_) | Err(AppError::NotFound) => Err(invalid("template", "field.wa_template_unknown")),
            Err(e) => Err(e),
        },
        TemplateRef::Name(name) => {
            let name = name.trim();
            let mut found: Vec<Template> = for_number(db, number)
                .await?
                .into_iter()
                .filter(|t| t.name == name && language.as_ref().is_none_or(|l| *l == t.language))
                .collect();
            // Listed by language with the number's own first: it wins over the same
            // template for every number.
            found.dedup_by(|b, a| a.language == b.language);
            if found.len() > 1 {
                let call_lang = call.language.as_deref().and_then(crate::i18n::Lang::parse);
                let theirs: Vec<&Template> = found
                    .iter()
                    .filter(|t| call_lang.is_some_and(|l| crate::i18n::Lang::parse(&t.language) == Some(l)))
                    .collect();
                return match theirs.as_slice() {
                    [one] => Ok((*one).clone()),
                    _ => Err(invalid("language", "field.wa_template_language_needed")),
                };
            }
            found.pop().ok_or_else(|| invalid("template", "field.wa_template_unknown"))
        }
    }
}

/// Sends a template message in a WhatsApp call the caller holds, whether or not the
/// 24-hour window is open: the call stores the filled text as the person's message,
/// and the send job gives the provider the template's name, language and values.
#[tracing::instrument(skip_all, fields(call_id))]
pub async fn send(ctx: &Ctx, cap: &AgentCap<'_>, call_id: i64, wanted: &SendTemplate) -> AppResult<Sent> {
    let me = cap.actor();
    let call = calls::get(ctx.db(), call_id).await?;
    if call.channel != Channel::Whatsapp {
        return Err(AppError::Conflict(Conflict::CallNotWhatsapp));
    }
    let conversation = crate::channels::whatsapp::conversation::of_call(ctx.db(), call_id)
        .await?
        .ok_or(AppError::Conflict(Conflict::CallNotWhatsapp))?;
    if call.status != CallStatus::Human || call.assigned_to != Some(me.id) {
        return Err(calls::staff::not_allowed(ctx.db(), &call, me.id, Conflict::CallNotHeld).await);
    }
    let template = resolve(ctx.db(), &conversation.phone_number_id, &call, wanted).await?;
    let count = usize::try_from(template.variables).unwrap_or(0);
    let values = parse_values(&wanted.variables, count).map_err(|key| invalid("variables", key))?;
    let text = template.filled(&values);
    if text.chars().count() > calls::MAX_MESSAGE {
        return Err(invalid("variables", "field.wa_template_too_long"));
    }
    let message =
        TemplateMessage { name: template.name.clone(), language: template.language.clone(), parameters: values };
    let message_id = calls::staff::store_reply(ctx, cap, &call, &text, Some(&message)).await?;
    Ok(Sent { call_id, message_id, template_id: template.id, name: template.name, language: template.language, text })
}

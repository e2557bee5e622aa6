//! WhatsApp message templates: the only messages WhatsApp lets a business send more
//! than 24 hours after the customer's last message
//! (<https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates>).
//!
//! Templates are written and approved in Meta's WhatsApp Manager; Centralita does not
//! submit them. Staff keep a copy here (name, language code, category and body with
//! `{{1}}`, `{{2}}`… variables) so that a person can fill the variables, see the text
//! the customer will read, and send it: the provider gets the template's name,
//! language and the values; the call stores the filled text. A template is for every
//! number (`phone_number_id` empty: templates belong to the WhatsApp Business Account,
//! which usually holds all of ours) or for one number.
//!
//! Supervisors and admins manage them ([`TemplateCap`]), audited in the transaction
//! that makes the change; agents view and send; viewers view.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::outbound::TemplateMessage;
use crate::audit::{Entry, audit_insert};
use crate::auth::{AgentCap, TemplateCap};
use crate::calls::{self, Call, CallStatus, Channel};
use crate::context::Ctx;
use crate::db::{Db, Timestamp, is_unique_violation, with_db, with_tx};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};

/// Longest name (the Cloud API's limit).
pub const MAX_NAME: usize = 512;
/// Longest body (the Cloud API's limit for a template's body text).
pub const MAX_BODY: usize = 1024;
/// Longest value of one variable.
pub const MAX_VALUE: usize = 500;
/// Most templates one list shows.
const MAX_LIST: i64 = 500;

/// A template's category, as the Cloud API has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Promotions, offers, news.
    Marketing,
    /// About something the customer did or asked for (an order, a ticket, a call).
    Utility,
    /// One-time codes.
    Authentication,
}

impl Category {
    /// Every category, in the order forms list them.
    pub const ALL: [Category; 3] = [Self::Utility, Self::Marketing, Self::Authentication];

    /// The stored (and Cloud API) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marketing => "marketing",
            Self::Utility => "utility",
            Self::Authentication => "authentication",
        }
    }

    /// Parses a stored or typed name (any case).
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|c| c.as_str() == t)
    }
}

/// A stored template.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Template {
    /// Id.
    pub id: i64,
    /// The name it was approved under (lowercase letters, digits, `_`).
    pub name: String,
    /// Its language code, as approved (`es`, `en_US`).
    pub language: String,
    /// marketing, utility or authentication.
    pub category: Category,
    /// The body, with `{{1}}`, `{{2}}`… variables.
    pub body: String,
    /// How many variables the body has.
    pub variables: i64,
    /// The number it is for; `null` for every number.
    pub phone_number_id: Option<String>,
    /// Who created it.
    pub created_by: Option<i64>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    language: String,
    category: String,
    body: String,
    variables: i64,
    phone_number_id: String,
    created_by: Option<i64>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<Row> for Template {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            name: r.name,
            language: r.language,
            category: Category::parse(&r.category).unwrap_or(Category::Utility),
            body: r.body,
            variables: r.variables,
            phone_number_id: Some(r.phone_number_id).filter(|n| !n.is_empty()),
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Template {
    /// The body with `values` in place of its variables (one without a value stays as
    /// `{{n}}`). Plain text: escape it to show it.
    pub fn filled(&self, values: &[String]) -> String {
        fill_values(&self.body, values)
    }

    /// The variables' numbers, 1..=n (for the forms).
    pub fn numbers(&self) -> Vec<usize> {
        (1..=usize::try_from(self.variables).unwrap_or(0)).collect()
    }
}

macro_rules! select_templates {
    () => {
        "SELECT id, name, language, category, body, variables, phone_number_id, created_by, created_at, updated_at \
         FROM whatsapp_templates "
    };
}

/// Every template, by name and language.
pub async fn list(db: &Db) -> AppResult<Vec<Template>> {
    let rows: Vec<Row> = with_db!(db, |pool| sqlx::query_as(concat!(
        select_templates!(),
        "ORDER BY name, language, phone_number_id LIMIT $1"
    ))
    .bind(MAX_LIST)
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().map(Template::from).collect())
}

/// The templates that may be sent from number `phone_number_id` (its own and those for
/// every number), by name and language.
pub async fn for_number(db: &Db, phone_number_id: &str) -> AppResult<Vec<Template>> {
    let rows: Vec<Row> = with_db!(db, |pool| sqlx::query_as(concat!(
        select_templates!(),
        "WHERE phone_number_id = '' OR phone_number_id = $1 ORDER BY name, language, phone_number_id DESC LIMIT $2"
    ))
    .bind(phone_number_id)
    .bind(MAX_LIST)
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().map(Template::from).collect())
}

/// One template, or 404.
pub async fn get(db: &Db, id: i64) -> AppResult<Template> {
    let row: Option<Row> = with_db!(db, |pool| sqlx::query_as(concat!(select_templates!(), "WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.map(Template::from).ok_or(AppError::NotFound)
}

/// Why a body's variables are wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariableError {
    /// Something between `{{` and `}}` that is not a number from 1, or an unclosed `{{`.
    Format,
    /// The numbers skip one (`{{1}}` and `{{3}}` without `{{2}}`).
    Gap,
}

/// The variables of `body` as (byte range, number), in order.
fn scan(body: &str) -> Result<Vec<(std::ops::Range<usize>, usize)>, VariableError> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(open) = body.get(rest..).and_then(|s| s.find("{{")) {
        let start = rest + open;
        let inner_start = start + 2;
        let close = body.get(inner_start..).and_then(|s| s.find("}}")).ok_or(VariableError::Format)?;
        let inner = body.get(inner_start..inner_start + close).unwrap_or_default();
        let valid = !inner.is_empty() && inner.len() <= 3 && inner.bytes().all(|b| b.is_ascii_digit());
        let n: usize = if valid { inner.parse().unwrap_or(0) } else { 0 };
        if n == 0 || inner.starts_with('0') {
            return Err(VariableError::Format);
        }
        let end = inner_start + close + 2;
        found.push((start..end, n));
        rest = end;
    }
    Ok(found)
}

/// How many variables `body` has: its `{{n}}` must be numbered 1..n without gaps (one
/// may appear more than once).
pub fn variable_count(body: &str) -> Result<usize, VariableError> {
    let numbers: BTreeSet<usize> = scan(body)?.into_iter().map(|(_, n)| n).collect();
    match numbers.last() {
        None => Ok(0),
        Some(&max) if max == numbers.len() => Ok(max),
        Some(_) => Err(VariableError::Gap),
    }
}

/// `body` with `values[n - 1]` in place of each `{{n}}` (kept as it is without a value).
pub fn fill_values(body: &str, values: &[String]) -> String {
    let Ok(vars) = scan(body) else { return body.to_owned() };
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    for (range, n) in vars {
        out.push_str(body.get(at..range.start).unwrap_or_default());
        match values.get(n - 1) {
            Some(v) => out.push_str(v),
            None => out.push_str(body.get(range.clone()).unwrap_or_default()),
        }
        at = range.end;
    }
    out.push_str(body.get(at..).unwrap_or_default());
    out
}

/// A name as the Cloud API requires it: lowercase letters, digits and underscores.
pub fn parse_name(text: &str) -> Option<String> {
    let n = text.trim();
    let ok = (1..=MAX_NAME).contains(&n.len())
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    ok.then(|| n.to_owned())
}

/// A language code as WhatsApp writes them: `es`, `fil`, `en_US`, `pt_BR` (`en-us` is
/// read as `en_US`).
pub fn parse_language(text: &str) -> Option<String> {
    let t = text.trim().replace('-', "_");
    let (lang, region) = match t.split_once('_') {
        Some((l, r)) => (l.to_ascii_lowercase(), Some(r.to_ascii_uppercase())),
        None => (t.to_ascii_lowercase(), None),
    };
    let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
    let region_ok = region.as_ref().is_none_or(|r| (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    (lang_ok && region_ok).then(|| match region {
        Some(r) => format!("{lang}_{r}"),
        None => lang,
    })
}

/// A body: 1–1,024 characters, lines and tabs but no other control characters,
/// variables numbered 1..n. Returns it with its variable count.
pub fn parse_body(text: &str) -> Result<(String, usize), &'static str> {
    let b = text.replace("\r\n", "\n").trim().to_owned();
    let n = b.chars().count();
    if n == 0 {
        return Err("field.required");
    }
    if n > MAX_BODY {
        return Err("field.wa_template_body_too_long");
    }
    if b.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("field.text_invalid");
    }
    match variable_count(&b) {
        Ok(count) => Ok((b, count)),
        Err(VariableError::Format) => Err("field.wa_template_variable_format"),
        Err(VariableError::Gap) => Err("field.wa_template_variable_gap"),
    }
}

/// Values for a template's variables: exactly `count` of them, each 1–500 characters
/// on one line (the Cloud API refuses parameters with line breaks, tabs or more than
/// four spaces in a row).
pub fn parse_values(values: &[String], count: usize) -> Result<Vec<String>, &'static str> {
    if values.len() != count {
        return Err("field.wa_template_variable_count");
    }
    values
        .iter()
        .map(|v| {
            let v = v.trim();
            let n = v.chars().count();
            if n == 0 {
                Err("field.wa_template_value_empty")
            } else if n > MAX_VALUE || v.chars().any(char::is_control) || v.contains("     ") {
                Err("field.wa_template_value_invalid")
            } else {
                Ok(v.to_owned())
            }
        })
        .collect()
}

/// A template as typed in a form or a JSON body. On `PATCH` a field left out stays
/// as it is; `phone_number_id` empty or `null` means every number.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateForm {
    /// The name approved in WhatsApp Manager: lowercase letters, digits and `_`.
    #[serde(default)]
    pub name: Option<String>,
    /// Its language code (`es`, `en_US`).
    #[serde(default)]
    pub language: Option<String>,
    /// `marketing`, `utility` or `authentication`.
    #[serde(default)]
    pub category: Option<String>,
    /// The body (1–1,024 characters) with `{{1}}`, `{{2}}`… numbered without gaps.
    #[serde(default)]
    pub body: Option<String>,
    /// The number it is for; empty or `null` for every number.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone_number_id: Option<Option<String>>,
}

/// A field that is present (even as `null`) becomes `Some`, so `null` can clear it.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Checked values; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TemplateChange {
    name: Option<String>,
    language: Option<String>,
    category: Option<Category>,
    body: Option<(String, usize)>,
    /// `Some("")`: every number.
    phone_number_id: Option<String>,
}

impl TemplateForm {
    /// Checks every given field; with `complete` (a new template) name, language,
    /// category and body are required. Errors name the fields.
    pub fn parse(&self, complete: bool) -> Result<TemplateChange, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut change = TemplateChange::default();
        match self.name.as_deref().map(parse_name) {
            Some(Some(n)) => change.name = Some(n),
            Some(None) => _ = errors.insert("name", "field.wa_template_name_invalid"),
            None if complete => _ = errors.insert("name", "field.wa_template_name_invalid"),
            None => {}
        }
        match self.language.as_deref().map(parse_language) {
            Some(Some(l)) => change.language = Some(l),
            Some(None) => _ = errors.insert("language", "field.wa_template_language_invalid"),
            None if complete => _ = errors.insert("language", "field.wa_template_language_invalid"),
            None => {}
        }
        match self.category.as_deref().map(Category::parse) {
            Some(Some(c)) => change.category = Some(c),
            Some(None) => _ = errors.insert("category", "field.wa_template_category_invalid"),
            None if complete => _ = errors.insert("category", "field.wa_template_category_invalid"),
            None => {}
        }
        match self.body.as_deref().map(parse_body) {
            Some(Ok(b)) => change.body = Some(b),
            Some(Err(key)) => _ = errors.insert("body", key),
            None if complete => _ = errors.insert("body", "field.required"),
            None => {}
        }
        if let Some(n) = &self.phone_number_id {
            let n = n.as_deref().map(str::trim).unwrap_or_default();
            if n.is_empty() || super::is_provider_id(n) {
                change.phone_number_id = Some(n.to_owned());
            } else {
                errors.insert("phone_number_id", "field.wa_template_number_unknown");
            }
        }
        if errors.is_empty() { Ok(change) } else { Err(errors) }
    }
}

/// A number must be one we answer on (or empty: every number).
async fn check_number(ctx: &Ctx, number: &str) -> AppResult<()> {
    if number.is_empty() || super::number(ctx, number).await?.is_some() {
        return Ok(());
    }
    Err(AppError::Validation(FieldErrors::from([("phone_number_id", "field.wa_template_number_unknown")])))
}

/// A unique violation on (number, name, language) as the 409 staff can act on.
fn taken(err: sqlx::Error) -> AppError {
    if is_unique_violation(&err) { AppError::Conflict(Conflict::WhatsappTemplateTaken) } else { AppError::Database(err) }
}

fn count_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Creates a template.
#[tracing::instrument(skip_all)]
pub async fn create(ctx: &Ctx, cap: &TemplateCap<'_>, c: &TemplateChange, ip: Option<String>) -> AppResult<Template> {
    let (Some(name), Some(language), Some(category), Some((body, count))) =
        (&c.name, &c.language, c.category, &c.body)
    else {
        return Err(AppError::Validation(FieldErrors::from([("name", "field.required")])));
    };
    let number = c.phone_number_id.clone().unwrap_or_default();
    check_number(ctx, &number).await?;
    let me = cap.actor();
    let now = Timestamp::now();
    let id = with_tx!(ctx.db(), |tx| async {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO whatsapp_templates (phone_number_id, name, language, category, body, variables, created_by, \
             updated_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $8) RETURNING id",
        )
        .bind(&number)
        .bind(name)
        .bind(language)
        .bind(category.as_str())
        .bind(body)
        .bind(count_i64(*count))
        .bind(me.id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let entry = Entry::new(Some(me.id), me.username.clone(), "whatsapp_template.create")
            .target(format!("whatsapp_template:{id}"))
            .ip(ip.clone())
            .metadata(serde_json::json!({"name": name, "language": language, "phone_number_id": number}));
        audit_insert!(&entry).execute(&mut *tx).await?;
        Ok::<i64, sqlx::Error>(id)
    }
    .await)
    .map_err(taken)?;
    get(ctx.db(), id).await
}

/// Changes the given fields of a template (audited with the names of the fields that
/// changed; a change that changes nothing writes nothing).
#[tracing::instrument(skip_all, fields(id))]
pub async fn update(
    ctx: &Ctx,
    cap: &TemplateCap<'_>,
    id: i64,
    c: &TemplateChange,
    ip: Option<String>,
) -> AppResult<Template> {
    let before = get(ctx.db(), id).await?;
    let me = cap.actor();
    let name = c.name.clone().unwrap_or_else(|| before.name.clone());
    let language = c.language.clone().unwrap_or_else(|| before.language.clone());
    let category = c.category.unwrap_or(before.category);
    let (body, count) = c
        .body
        .clone()
        .unwrap_or_else(|| (before.body.clone(), usize::try_from(before.variables).unwrap_or(0)));
    let number = c.phone_number_id.clone().unwrap_or_else(|| before.phone_number_id.clone().unwrap_or_default());
    if c.phone_number_id.is_some() {
        check_number(ctx, &number).await?;
    }
    let changed: Vec<&str> = [
        ("name", name != before.name),
        ("language", language != before.language),
        ("category", category != before.category),
        ("body", body != before.body),
        ("phone_number_id", number != before.phone_number_id.clone().unwrap_or_default()),
    ]
    .into_iter()
    .filter_map(|(field, differs)| differs.then_some(field))
    .collect();
    if changed.is_empty() {
        return Ok(before);
    }
    let entry = Entry::new(Some(me.id), me.username.clone(), "whatsapp_template.update")
        .target(format!("whatsapp_template:{id}"))
        .ip(ip)
        .metadata(serde_json::json!({"fields": changed}));
    with_tx!(ctx.db(), |tx| async {
        sqlx::query(
            "UPDATE whatsapp_templates SET phone_number_id = $2, name = $3, language = $4, category = $5, body = $6, \
             variables = $7, updated_by = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(id)
        .bind(&number)
        .bind(&name)
        .bind(&language)
        .bind(category.as_str())
        .bind(&body)
        .bind(count_i64(count))
        .bind(me.id)
        .bind(Timestamp::now())
        .execute(&mut *tx)
        .await?;
        audit_insert!(&entry).execute(&mut *tx).await?;
        Ok::<(), sqlx::Error>(())
    }
    .await)
    .map_err(taken)?;
    get(ctx.db(), id).await
}

/// Deletes a template (messages sent with it keep their text; the audit entry keeps
/// its name and body).
#[tracing::instrument(skip_all, fields(id))]
pub async fn delete(db: &Db, cap: &TemplateCap<'_>, id: i64, ip: Option<String>) -> AppResult<()> {
    let before = get(db, id).await?;
    let me = cap.actor();
    let entry = Entry::new(Some(me.id), me.username.clone(), "whatsapp_template.delete")
        .target(format!("whatsapp_template:{id}"))
        .ip(ip)
        .metadata(serde_json::json!({"name": before.name, "language": before.language, "body": before.body}));
    let deleted = with_tx!(db, |tx| async {
        let n = sqlx::query("DELETE FROM whatsapp_templates WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if n.rows_affected() > 0 {
            audit_insert!(&entry).execute(&mut *tx).await?;
        }
        Ok::<bool, sqlx::Error>(n.rows_affected() > 0)
    }
    .await)?;
    if deleted { Ok(()) } else { Err(AppError::NotFound) }
}

/// A body filled in for a preview.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The text the customer would read (plain text: escape it to show it).
    pub text: String,
    /// How many variables the body has.
    pub variables: usize,
    /// The numbers of the variables no value was given for (left as `{{n}}`).
    pub missing: Vec<usize>,
}

/// `body` filled with `values` (as many as given; extra ones are ignored), or what is
/// wrong with the body.
pub fn preview(body: &str, values: &[String]) -> Result<Preview, FieldErrors> {
    let (body, count) = parse_body(body).map_err(|key| FieldErrors::from([("body", key)]))?;
    let values: Vec<String> = values.iter().map(|v| v.trim().to_owned()).collect();
    let missing = (1..=count).filter(|n| values.get(n - 1).is_none_or(String::is_empty)).collect();
    let shown: Vec<String> = values.into_iter().take(count).collect();
    let text = fill_present(&body, &shown);
    Ok(Preview { text, variables: count, missing })
}

/// Like [`fill_values`], but an empty value also stays as `{{n}}`.
fn fill_present(body: &str, values: &[String]) -> String {
    let Ok(vars) = scan(body) else { return body.to_owned() };
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    for (range, n) in vars {
        out.push_str(body.get(at..range.start).unwrap_or_default());
        match values.get(n - 1).filter(|v| !v.is_empty()) {
            Some(v) => out.push_str(v),
            None => out.push_str(body.get(range.clone()).unwrap_or_default()),
        }
        at = range.end;
    }
    out.push_str(body.get(at..).unwrap_or_default());
    out
}

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
    let conversation = super::conversation::of_call(ctx.db(), call_id)
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
    Ok(Sent {
        call_id,
        message_id,
        template_id: template.id,
        name: template.name,
        language: template.language,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_numbered_from_one_without_gaps() {
        assert_eq!(variable_count("Hola"), Ok(0));
        assert_eq!(variable_count("Hola {{1}}, tu pedido {{2}} llega {{1}}"), Ok(2));
        assert_eq!(variable_count("{{2}} y {{1}}"), Ok(2));
        assert_eq!(variable_count("{{1}} y {{3}}"), Err(VariableError::Gap));
        assert_eq!(variable_count("{{2}}"), Err(VariableError::Gap));
        for bad in ["{{0}}", "{{01}}", "{{name}}", "{{ 1 }}", "{{1", "{{}}", "{{-1}}"] {
            assert_eq!(variable_count(bad), Err(VariableError::Format), "{bad}");
        }
    }

    #[test]
    fn a_body_is_filled_in_and_missing_values_stay_visible() {
        let values = vec!["Ana".to_owned(), "A-17".to_owned()];
        assert_eq!(fill_values("Hola {{1}}, pedido {{2}}. Gracias {{1}}", &values), "Hola Ana, pedido A-17. Gracias Ana");
        assert_eq!(fill_values("Hola {{1}}, pedido {{2}}", &values[..1]), "Hola Ana, pedido {{2}}");
        let p = preview("Hola {{1}}, pedido {{2}}", &["Ana".into(), " ".into()]).unwrap();
        assert_eq!((p.text.as_str(), p.variables, p.missing), ("Hola Ana, pedido {{2}}", 2, vec![2]));
        assert_eq!(preview("{{1}} {{3}}", &[]).unwrap_err().get("body"), Some(&"field.wa_template_variable_gap"));
    }

    #[test]
    fn names_languages_and_values_follow_the_cloud_api() {
        assert_eq!(parse_name("order_update_2").as_deref(), Some("order_update_2"));
        for bad in ["Order", "order-update", "order update", "", "pedido_ñ"] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
        assert_eq!(parse_name(&"a".repeat(MAX_NAME + 1)), None);
        assert_eq!(parse_language("en-us").as_deref(), Some("en_US"));
        assert_eq!(parse_language("es").as_deref(), Some("es"));
        assert_eq!(parse_language("fil").as_deref(), Some("fil"));
        assert_eq!(parse_language("english"), None);
        assert_eq!(parse_values(&["a".into()], 2), Err("field.wa_template_variable_count"));
        assert_eq!(parse_values(&["a\nb".into()], 1), Err("field.wa_template_value_invalid"));
        assert_eq!(parse_values(&["  ".into()], 1), Err("field.wa_template_value_empty"));
        assert_eq!(parse_values(&[" Ana ".into()], 1), Ok(vec!["Ana".to_owned()]));
        assert_eq!(parse_body(&"x".repeat(MAX_BODY + 1)), Err("field.wa_template_body_too_long"));
    }

    #[test]
    fn a_new_template_needs_every_field_and_errors_name_them() {
        let errors = TemplateForm::default().parse(true).unwrap_err();
        for field in ["name", "language", "category", "body"] {
            assert!(errors.contains_key(field), "{field}: {errors:?}");
        }
        assert!(TemplateForm::default().parse(false).is_ok());
    }
}

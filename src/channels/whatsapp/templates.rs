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

use serde::{Deserialize, Serialize};

use crate::audit::{Entry, audit_insert};
use crate::auth::TemplateCap;
use crate::context::Ctx;
use crate::db::{Db, Timestamp, is_unique_violation, with_db, with_tx};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};

mod body;
mod send;

pub use body::{
    MAX_BODY, MAX_NAME, MAX_VALUE, Preview, VariableError, fill_values, parse_body, parse_language, parse_name,
    parse_values, preview, variable_count,
};
pub use send::{SendTemplate, Sent, TemplateRef, send};

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
    #[serde(default, deserialize_with = "crate::input::present")]
    #[schema(value_type = Option<String>)]
    pub phone_number_id: Option<Option<String>>,
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
    if is_unique_violation(&err) {
        AppError::Conflict(Conflict::WhatsappTemplateTaken)
    } else {
        AppError::Database(err)
    }
}

fn count_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Creates a template.
#[tracing::instrument(skip_all)]
pub async fn create(ctx: &Ctx, cap: &TemplateCap<'_>, c: &TemplateChange, ip: Option<String>) -> AppResult<Template> {
    let (Some(name), Some(language), Some(category), Some((body, count))) = (&c.name, &c.language, c.category, &c.body)
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
    let (body, count) =
        c.body.clone().unwrap_or_else(|| (before.body.clone(), usize::try_from(before.variables).unwrap_or(0)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_template_needs_every_field_and_errors_name_them() {
        let errors = TemplateForm::default().parse(true).unwrap_err();
        for field in ["name", "language", "category", "body"] {
            assert!(errors.contains_key(field), "{field}: {errors:?}");
        }
        assert!(TemplateForm::default().parse(false).is_ok());
    }
}

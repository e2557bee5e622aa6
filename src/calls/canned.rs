//! Canned responses: saved replies that staff insert into a call they hold, per
//! language and (optionally) department, with variables filled from the call
//! (`body.rs`). Supervisors and admins manage them ([`CannedCap`]); every change is
//! audited in the transaction that makes it. A shortcut is unique per language, so
//! `/saludo` always means one text for a Spanish call.

pub mod body;

use serde::{Deserialize, Serialize};

use self::body::{Body, BodyError, Values, Variable};
use super::{Call, CallStatus};
use crate::agents::Department;
use crate::audit::{Entry, audit_insert};
use crate::auth::{AgentCap, CannedCap, Principal};
use crate::db::{Db, Money, Timestamp, is_unique_violation, with_db, with_tx};
use crate::error::{AppError, AppResult, Conflict, FieldErrors};
use crate::i18n::Lang;
use crate::users::input::parse_department;

/// Longest title.
pub const MAX_TITLE: usize = 100;
/// Longest text (a filled-in response must still fit in one 4,000-character reply).
pub const MAX_BODY: usize = 2000;
/// Most responses one list shows (the picker and the management page).
const MAX_LIST: i64 = 500;

/// A stored canned response.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CannedResponse {
    /// Id.
    pub id: i64,
    /// What the picker shows.
    pub title: String,
    /// Typed after `/` in the reply box: 2–32 lowercase letters, digits, `_` or `-`.
    pub shortcut: String,
    /// The text, with `{{variables}}`.
    pub body: String,
    /// The department it is for; `null` for every department.
    pub department: Option<Department>,
    /// The language of the calls it is offered in.
    pub language: Lang,
    /// Who created it.
    pub created_by: Option<i64>,
    /// Their name.
    pub created_by_name: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    title: String,
    shortcut: String,
    body: String,
    department: Option<Department>,
    language: String,
    created_by: Option<i64>,
    created_by_name: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<Row> for CannedResponse {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            title: r.title,
            shortcut: r.shortcut,
            body: r.body,
            department: r.department,
            language: Lang::parse(&r.language).unwrap_or_default(),
            created_by: r.created_by,
            created_by_name: r.created_by_name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

macro_rules! select_canned {
    () => {
        "SELECT c.id, c.title, c.shortcut, c.body, c.department, c.language, c.created_by, \
         u.full_name AS created_by_name, c.created_at, c.updated_at \
         FROM canned_responses c LEFT JOIN users u ON u.id = c.created_by "
    };
}

/// Which responses a list shows: those of one language, those usable in one
/// department (its own and the ones for every department).
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter {
    /// Only this language.
    pub language: Option<Lang>,
    /// Only responses usable in this department.
    pub department: Option<Department>,
}

/// Responses matching `filter`, by language and shortcut.
pub async fn list(db: &Db, filter: Filter) -> AppResult<Vec<CannedResponse>> {
    let rows: Vec<Row> = with_db!(db, |pool| sqlx::query_as(concat!(
        select_canned!(),
        "WHERE ($1 IS NULL OR c.language = $1) AND ($2 IS NULL OR c.department IS NULL OR c.department = $2) \
         ORDER BY c.language, c.shortcut LIMIT $3"
    ))
    .bind(filter.language.map(Lang::code))
    .bind(filter.department.map(Department::as_str))
    .bind(MAX_LIST)
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().map(CannedResponse::from).collect())
}

/// One response, or 404.
pub async fn get(db: &Db, id: i64) -> AppResult<CannedResponse> {
    let row: Option<Row> = with_db!(db, |pool| sqlx::query_as(concat!(select_canned!(), "WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.map(CannedResponse::from).ok_or(AppError::NotFound)
}

/// A canned response as typed in a form or a JSON body. On `PATCH` a field left out
/// stays as it is; `department` empty or `null` means every department.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedForm {
    /// Title (1–100 characters).
    #[serde(default)]
    pub title: Option<String>,
    /// Shortcut (2–32 lowercase letters, digits, `_`, `-`; a leading `/` is dropped).
    #[serde(default)]
    pub shortcut: Option<String>,
    /// Text (1–2,000 characters) with `{{customer_name}}`, `{{balance}}`,
    /// `{{ticket_number}}` or `{{agent_name}}`.
    #[serde(default)]
    pub body: Option<String>,
    /// A department code; empty or `null` for every department.
    #[serde(default, deserialize_with = "crate::input::present")]
    #[schema(value_type = Option<String>)]
    pub department: Option<Option<String>>,
    /// `es` or `en`.
    #[serde(default)]
    pub language: Option<String>,
}

/// Checked values; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct CannedChange {
    title: Option<String>,
    shortcut: Option<String>,
    body: Option<String>,
    department: Option<Option<Department>>,
    language: Option<Lang>,
}

/// A title: 1–100 characters, no control characters.
fn parse_title(text: &str) -> Option<String> {
    let t = text.trim();
    let n = t.chars().count();
    ((1..=MAX_TITLE).contains(&n) && !t.chars().any(char::is_control)).then(|| t.to_owned())
}

/// A shortcut: 2–32 of `a-z`, `0-9`, `_`, `-` (typed in any case, with or without the
/// leading `/`).
pub fn parse_shortcut(text: &str) -> Option<String> {
    let s = text.trim().trim_start_matches('/').to_lowercase();
    let ok = (2..=32).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    ok.then_some(s)
}

/// A body: 1–2,000 characters, lines and tabs but no other control characters, and
/// only known variables.
fn parse_body(text: &str) -> Result<String, &'static str> {
    let b = text.replace("\r\n", "\n").trim().to_owned();
    let n = b.chars().count();
    if n == 0 {
        return Err("field.required");
    }
    if n > MAX_BODY {
        return Err("field.canned_body_too_long");
    }
    if b.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("field.text_invalid");
    }
    match Body::parse(&b) {
        Ok(_) => Ok(b),
        Err(BodyError::Variable) => Err("field.canned_variable_unknown"),
    }
}

impl CannedForm {
    /// Checks every given field; with `complete` (a new response) title, shortcut, body
    /// and language are required. Errors name the fields.
    pub fn parse(&self, complete: bool) -> Result<CannedChange, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut change = CannedChange::default();
        match self.title.as_deref().map(parse_title) {
            Some(Some(t)) => change.title = Some(t),
            Some(None) => _ = errors.insert("title", "field.canned_title_invalid"),
            None if complete => _ = errors.insert("title", "field.canned_title_invalid"),
            None => {}
        }
        match self.shortcut.as_deref().map(parse_shortcut) {
            Some(Some(s)) => change.shortcut = Some(s),
            Some(None) => _ = errors.insert("shortcut", "field.canned_shortcut_invalid"),
            None if complete => _ = errors.insert("shortcut", "field.canned_shortcut_invalid"),
            None => {}
        }
        match self.body.as_deref().map(parse_body) {
            Some(Ok(b)) => change.body = Some(b),
            Some(Err(key)) => _ = errors.insert("body", key),
            None if complete => _ = errors.insert("body", "field.required"),
            None => {}
        }
        if let Some(d) = &self.department {
            match parse_department(d.as_deref()) {
                Ok(d) => change.department = Some(d),
                Err(key) => _ = errors.insert("department", key),
            }
        }
        match self.language.as_deref().map(str::trim) {
            Some("es") => change.language = Some(Lang::Es),
            Some("en") => change.language = Some(Lang::En),
            Some(_) => _ = errors.insert("language", "field.language_invalid"),
            None if complete => _ = errors.insert("language", "field.language_invalid"),
            None => {}
        }
        if errors.is_empty() { Ok(change) } else { Err(errors) }
    }
}

/// A unique violation on (language, shortcut) as the 409 staff can act on.
fn shortcut_taken(err: sqlx::Error) -> AppError {
    if is_unique_violation(&err) { AppError::Conflict(Conflict::CannedShortcutTaken) } else { AppError::Database(err) }
}

/// Creates a response.
#[tracing::instrument(skip_all)]
pub async fn create(db: &Db, cap: &CannedCap<'_>, c: &CannedChange, ip: Option<String>) -> AppResult<CannedResponse> {
    let (Some(title), Some(shortcut), Some(body), Some(language)) = (&c.title, &c.shortcut, &c.body, c.language) else {
        return Err(AppError::Validation(FieldErrors::from([("title", "field.required")])));
    };
    let department = c.department.flatten();
    let me = cap.actor();
    let now = Timestamp::now();
    // The body is its own future so that a failed statement comes back here (to be
    // read as a taken shortcut) rather than out of this function through `?`.
    let id = with_tx!(db, |tx| async {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO canned_responses (title, shortcut, body, department, language, created_by, updated_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $7) RETURNING id",
        )
        .bind(title)
        .bind(shortcut)
        .bind(body)
        .bind(department.map(Department::as_str))
        .bind(language.code())
        .bind(me.id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let entry = Entry::new(Some(me.id), me.username.clone(), "canned_response.create")
            .target(format!("canned_response:{id}"))
            .ip(ip.clone())
            .metadata(serde_json::json!({"shortcut": shortcut, "language": language.code()}));
        audit_insert!(&entry).execute(&mut *tx).await?;
        Ok::<i64, sqlx::Error>(id)
    }
    .await)
    .map_err(shortcut_taken)?;
    get(db, id).await
}

/// Changes the given fields of a response (audited with the names of the fields that
/// changed; a change that changes nothing writes nothing).
#[tracing::instrument(skip_all, fields(id))]
pub async fn update(
    db: &Db,
    cap: &CannedCap<'_>,
    id: i64,
    c: &CannedChange,
    ip: Option<String>,
) -> AppResult<CannedResponse> {
    let before = get(db, id).await?;
    let me = cap.actor();
    let title = c.title.clone().unwrap_or_else(|| before.title.clone());
    let shortcut = c.shortcut.clone().unwrap_or_else(|| before.shortcut.clone());
    let body = c.body.clone().unwrap_or_else(|| before.body.clone());
    let department = c.department.unwrap_or(before.department);
    let language = c.language.unwrap_or(before.language);
    let changed: Vec<&str> = [
        ("title", title != before.title),
        ("shortcut", shortcut != before.shortcut),
        ("body", body != before.body),
        ("department", department != before.department),
        ("language", language != before.language),
    ]
    .into_iter()
    .filter_map(|(field, differs)| differs.then_some(field))
    .collect();
    if changed.is_empty() {
        return Ok(before);
    }
    let entry = Entry::new(Some(me.id), me.username.clone(), "canned_response.update")
        .target(format!("canned_response:{id}"))
        .ip(ip)
        .metadata(serde_json::json!({"fields": changed}));
    with_tx!(db, |tx| async {
        sqlx::query(
            "UPDATE canned_responses SET title = $2, shortcut = $3, body = $4, department = $5, language = $6, \
             updated_by = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(&title)
        .bind(&shortcut)
        .bind(&body)
        .bind(department.map(Department::as_str))
        .bind(language.code())
        .bind(me.id)
        .bind(Timestamp::now())
        .execute(&mut *tx)
        .await?;
        audit_insert!(&entry).execute(&mut *tx).await?;
        Ok::<(), sqlx::Error>(())
    }
    .await)
    .map_err(shortcut_taken)?;
    get(db, id).await
}

/// Deletes a response (its text is kept in the audit entry).
#[tracing::instrument(skip_all, fields(id))]
pub async fn delete(db: &Db, cap: &CannedCap<'_>, id: i64, ip: Option<String>) -> AppResult<()> {
    let before = get(db, id).await?;
    let me = cap.actor();
    let entry = Entry::new(Some(me.id), me.username.clone(), "canned_response.delete")
        .target(format!("canned_response:{id}"))
        .ip(ip)
        .metadata(
            serde_json::json!({"shortcut": before.shortcut, "language": before.language.code(), "title": before.title}),
        );
    let deleted = with_tx!(db, |tx| async {
        let n = sqlx::query("DELETE FROM canned_responses WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if n.rows_affected() > 0 {
            audit_insert!(&entry).execute(&mut *tx).await?;
        }
        Ok::<bool, sqlx::Error>(n.rows_affected() > 0)
    }
    .await)?;
    if deleted { Ok(()) } else { Err(AppError::NotFound) }
}

/// A response filled in for one call.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Rendered {
    /// The response's id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its shortcut.
    pub shortcut: String,
    /// The text with the call's values in place (plain text: escape it to show it).
    pub text: String,
    /// Variables the call has no value for (written as nothing).
    pub missing: Vec<&'static str>,
}

/// The values of the variables in `call` for `staff`: the linked customer's name and
/// balance and their latest ticket that is not resolved or closed.
pub async fn values(db: &Db, call: &Call, staff: &Principal) -> AppResult<Values> {
    let mut values = Values { agent_name: staff.full_name.clone(), ..Values::default() };
    let Some(customer_id) = call.customer_id else { return Ok(values) };
    let found: Option<(String, Money, Option<i64>)> = with_db!(db, |pool| sqlx::query_as(
        "SELECT c.name, c.balance_cents, (SELECT MAX(t.id) FROM tickets t WHERE t.customer_id = c.id \
         AND t.status NOT IN ('resolved', 'closed')) FROM customers c WHERE c.id = $1",
    )
    .bind(customer_id)
    .fetch_optional(pool)
    .await)?;
    if let Some((name, balance, ticket)) = found {
        values.customer_name = Some(name);
        values.balance = Some(balance);
        values.ticket_number = ticket;
    }
    Ok(values)
}

fn render_one(r: &CannedResponse, values: &Values) -> Rendered {
    // A stored body was checked when saved; one that no longer parses (written by
    // hand in the database) is offered as it stands.
    let (text, missing) = match Body::parse(&r.body) {
        Ok(body) => body.render(values),
        Err(_) => (r.body.clone(), Vec::new()),
    };
    Rendered {
        id: r.id,
        title: r.title.clone(),
        shortcut: r.shortcut.clone(),
        text,
        missing: missing.into_iter().map(Variable::name).collect(),
    }
}

/// The responses offered in `call` (its language — Spanish until the AI detected one —
/// and its department), filled in for `staff`.
pub async fn for_call(db: &Db, call: &Call, staff: &Principal) -> AppResult<Vec<Rendered>> {
    let language = call.language.as_deref().and_then(Lang::parse).unwrap_or_default();
    let filter = Filter { language: Some(language), department: call.department };
    let responses = list(db, filter).await?;
    if responses.is_empty() {
        return Ok(Vec::new());
    }
    let values = values(db, call, staff).await?;
    Ok(responses.iter().map(|r| render_one(r, &values)).collect())
}

/// Response `id` filled in for the person holding call `call_id` (the picker without
/// JavaScript): anyone else is refused as a reply would be (409, naming the holder).
pub async fn for_holder(db: &Db, cap: &AgentCap<'_>, call_id: i64, id: i64) -> AppResult<Rendered> {
    let me = cap.actor();
    let call = super::get(db, call_id).await?;
    if call.status != CallStatus::Human || call.assigned_to != Some(me.id) {
        return Err(super::staff::not_allowed(db, &call, me.id, Conflict::CallNotHeld).await);
    }
    one_for_call(db, &call, me, id).await
}

/// One response filled in for `call`; 404 unless it is among those the call offers.
pub async fn one_for_call(db: &Db, call: &Call, staff: &Principal, id: i64) -> AppResult<Rendered> {
    let r = get(db, id).await?;
    let language = call.language.as_deref().and_then(Lang::parse).unwrap_or_default();
    let fits = r.language == language && (r.department.is_none() || r.department == call.department);
    if !fits {
        return Err(AppError::NotFound);
    }
    Ok(render_one(&r, &values(db, call, staff).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_response_needs_every_field_and_errors_name_them() {
        let errors = CannedForm::default().parse(true).unwrap_err();
        for field in ["title", "shortcut", "body", "language"] {
            assert!(errors.contains_key(field), "{field}: {errors:?}");
        }
        assert!(CannedForm::default().parse(false).is_ok(), "a patch may change nothing");
        let form = CannedForm {
            title: Some("Saludo".into()),
            shortcut: Some("/Saludo".into()),
            body: Some("Hola {{customer_name}}".into()),
            department: Some(Some(String::new())),
            language: Some("es".into()),
        };
        let change = form.parse(true).unwrap();
        assert_eq!(change.shortcut.as_deref(), Some("saludo"));
        assert_eq!(change.department, Some(None));
    }

    #[test]
    fn bad_values_are_refused_with_their_reason() {
        let form = CannedForm {
            title: Some(" ".into()),
            shortcut: Some("a b".into()),
            body: Some("Hola {{nombre}}".into()),
            department: Some(Some("marketing".into())),
            language: Some("fr".into()),
        };
        let e = form.parse(false).unwrap_err();
        assert_eq!(e.get("title"), Some(&"field.canned_title_invalid"));
        assert_eq!(e.get("shortcut"), Some(&"field.canned_shortcut_invalid"));
        assert_eq!(e.get("body"), Some(&"field.canned_variable_unknown"));
        assert_eq!(e.get("department"), Some(&"field.department_invalid"));
        assert_eq!(e.get("language"), Some(&"field.language_invalid"));
        let long = CannedForm { body: Some("x".repeat(MAX_BODY + 1)), ..CannedForm::default() };
        assert_eq!(long.parse(false).unwrap_err().get("body"), Some(&"field.canned_body_too_long"));
        assert_eq!(parse_shortcut("x"), None);
        assert_eq!(parse_shortcut(&"x".repeat(33)), None);
    }
}

//! The numbers admins add (the settings page): listed without their secrets, added or
//! changed by their provider id, audited. A token, app secret or verify token is
//! written, never shown again; left blank on a number already stored, it is kept.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::AdminCap;
use crate::config::{WHATSAPP_API_BASE, is_provider_id};
use crate::context::Ctx;
use crate::db::{Timestamp, with_db};
use crate::error::{AppError, AppResult, FieldErrors};

/// A number as the settings page shows it (no secret).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct NumberRow {
    /// The number's id at the provider.
    pub phone_number_id: String,
    /// A name for staff.
    pub label: String,
    /// The provider's base URL.
    pub api_base: String,
    /// Answered on.
    pub active: bool,
    /// Last change.
    pub updated_at: Timestamp,
}

/// The stored numbers.
pub async fn list(ctx: &Ctx) -> AppResult<Vec<NumberRow>> {
    Ok(with_db!(ctx.db(), |pool| sqlx::query_as(
        "SELECT phone_number_id, label, api_base, active, updated_at FROM whatsapp_numbers ORDER BY label, id"
    )
    .fetch_all(pool)
    .await)?)
}

/// The settings form.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberForm {
    /// A name for staff.
    #[serde(default)]
    pub label: String,
    /// The number's id at the provider.
    #[serde(default)]
    pub phone_number_id: String,
    /// The provider's base URL (Meta's Graph API when blank).
    #[serde(default)]
    pub api_base: String,
    /// Bearer token (blank: keep the stored one).
    #[serde(default)]
    pub token: String,
    /// App secret (blank: keep).
    #[serde(default)]
    pub app_secret: String,
    /// Verify token (blank: keep).
    #[serde(default)]
    pub verify_token: String,
    /// A checkbox: answered on.
    #[serde(default)]
    pub active: Option<String>,
    /// The form's CSRF token (checked by the CSRF layer).
    #[serde(default)]
    pub csrf_token: Option<String>,
}

impl NumberForm {
    /// The form as it is shown again after an error: no secret goes back to the page.
    pub fn without_secrets(self) -> Self {
        Self { token: String::new(), app_secret: String::new(), verify_token: String::new(), csrf_token: None, ..self }
    }
}

/// Adds the number, or changes the stored one with the same id; audited as
/// `whatsapp.number` (which secrets changed, never their values).
pub async fn save(ctx: &Ctx, cap: &AdminCap<'_>, form: &NumberForm) -> AppResult<()> {
    let mut errors = FieldErrors::new();
    let label = form.label.trim();
    let id = form.phone_number_id.trim();
    let api_base = match form.api_base.trim().trim_end_matches('/') {
        "" => WHATSAPP_API_BASE,
        other => other,
    };
    if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
        errors.insert("label", "field.required");
    }
    if !is_provider_id(id) {
        errors.insert("phone_number_id", "wa.field_provider_id");
    }
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) || api_base.len() > 300 {
        errors.insert("api_base", "wa.field_api_base");
    }
    let exists: bool = with_db!(ctx.db(), |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM whatsapp_numbers WHERE phone_number_id = $1"
    )
    .bind(id)
    .fetch_one(pool)
    .await)?
        > 0;
    let secrets = [("token", &form.token), ("app_secret", &form.app_secret), ("verify_token", &form.verify_token)];
    for (field, value) in secrets {
        let v = value.trim();
        let missing = v.is_empty() && !exists;
        if missing || (!v.is_empty() && (v.len() < 8 || v.len() > 1000 || v.chars().any(char::is_control))) {
            errors.insert(field, "wa.field_secret");
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let now = Timestamp::now();
    let active = form.active.is_some();
    let (token, app_secret, verify_token) = (form.token.trim(), form.app_secret.trim(), form.verify_token.trim());
    with_db!(ctx.db(), |pool| {
        sqlx::query(
        "INSERT INTO whatsapp_numbers (phone_number_id, label, api_base, token, app_secret, verify_token, active, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         ON CONFLICT (phone_number_id) DO UPDATE SET label = excluded.label, api_base = excluded.api_base, \
         token = CASE WHEN excluded.token = '' THEN whatsapp_numbers.token ELSE excluded.token END, \
         app_secret = CASE WHEN excluded.app_secret = '' THEN whatsapp_numbers.app_secret ELSE excluded.app_secret END, \
         verify_token = CASE WHEN excluded.verify_token = '' THEN whatsapp_numbers.verify_token \
         ELSE excluded.verify_token END, active = excluded.active, updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(label)
    .bind(api_base)
    .bind(token)
    .bind(app_secret)
    .bind(verify_token)
    .bind(active)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())
    })?;
    let me = cap.actor();
    let entry = crate::audit::Entry::new(Some(me.id), me.username.clone(), "whatsapp.number")
        .target(format!("whatsapp_number:{id}"))
        .metadata(json!({
            "added": !exists, "label": label, "api_base": api_base, "active": active,
            "token_changed": !token.is_empty(), "app_secret_changed": !app_secret.is_empty(),
            "verify_token_changed": !verify_token.is_empty(),
        }));
    crate::audit::record(ctx.db(), &entry).await?;
    Ok(())
}

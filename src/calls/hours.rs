//! The business hours in force: `CENTRALITA_BUSINESS_HOURS`, unless an admin saved
//! others on the settings page (kept in `settings` under `business_hours`, in the same
//! text form, so every node reads the same hours). What the AI adds to a hand-over
//! outside hours, and what the board shows per department.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::agents::Department;
use crate::auth::AdminCap;
use crate::context::Ctx;
use crate::db::{Db, with_db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::hours::{Availability, BusinessHours, Week, parse_dates, words};
use crate::i18n::Lang;

/// The `settings` key of the saved hours.
const KEY: &str = "business_hours";

/// Longest text accepted in one field of the form.
const MAX_FIELD: usize = 2_000;

/// Where the hours in force come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `CENTRALITA_BUSINESS_HOURS` (or none set).
    Environment,
    /// Saved on the settings page.
    Settings,
}

/// The hours in force and where they come from.
pub async fn in_force(ctx: &Ctx) -> AppResult<(BusinessHours, Source)> {
    let stored = stored(ctx.db()).await?;
    match stored.map(|text| BusinessHours::parse(&text)) {
        Some(Ok(hours)) => Ok((hours, Source::Settings)),
        Some(Err(err)) => {
            // Saved text is validated first; should it ever not parse, the
            // environment's hours stand rather than nobody's.
            tracing::warn!(error = %err, "stored business hours do not parse; using the environment's");
            Ok((ctx.config().business_hours.clone(), Source::Environment))
        }
        None => Ok((ctx.config().business_hours.clone(), Source::Environment)),
    }
}

async fn stored(db: &Db) -> AppResult<Option<String>> {
    Ok(with_db!(db, |pool| sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(KEY)
        .fetch_optional(pool)
        .await)?)
}

/// The sentence the AI adds when it hands a conversation of `department` to a person
/// while that department is closed; `None` while it is open (nothing changes then).
pub async fn closed_note(ctx: &Ctx, department: Option<Department>, lang: Lang) -> AppResult<Option<String>> {
    let department = department.unwrap_or(Department::General).as_str();
    let (hours, _) = in_force(ctx).await?;
    Ok(match hours.availability(department, ctx.clock().now()) {
        Availability::Open => None,
        Availability::Closed(opening) => Some(words::handover_note(lang, department, opening.as_ref())),
    })
}

/// A department as the board shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DepartmentHours {
    /// The department.
    pub department: &'static str,
    /// True while a person can pick up its conversations.
    pub open: bool,
    /// When closed: the next opening, local date and time in the hours' zone
    /// (`2026-12-07 09:00`), absent when none is set.
    pub opens_at: Option<String>,
    /// The hours' zone (IANA name).
    pub zone: String,
}

/// Every department, open or closed now.
pub async fn departments_now(ctx: &Ctx) -> AppResult<Vec<DepartmentHours>> {
    let (hours, _) = in_force(ctx).await?;
    let now = ctx.clock().now();
    Ok(Department::ALL
        .iter()
        .map(|d| {
            let (open, opens_at) = match hours.availability(d.as_str(), now) {
                Availability::Open => (true, None),
                Availability::Closed(o) => (false, o.map(|o| o.local.strftime("%Y-%m-%d %H:%M").to_string())),
            };
            DepartmentHours { department: d.as_str(), open, opens_at, zone: hours.zone_name().to_owned() }
        })
        .collect())
}

/// The settings form: one field a department, the default (`*`), zone and holidays.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursForm {
    /// IANA zone name (blank: UTC).
    #[serde(default)]
    pub timezone: String,
    /// Hours of every department left blank.
    #[serde(default)]
    pub default: String,
    /// Sales.
    #[serde(default)]
    pub sales: String,
    /// Support.
    #[serde(default)]
    pub support: String,
    /// Billing.
    #[serde(default)]
    pub billing: String,
    /// Complaints.
    #[serde(default)]
    pub complaints: String,
    /// General.
    #[serde(default)]
    pub general: String,
    /// Holidays, `YYYY-MM-DD` separated by spaces.
    #[serde(default)]
    pub closed: String,
    /// The form's CSRF token (checked by the CSRF layer).
    #[serde(default)]
    pub csrf_token: Option<String>,
}

impl HoursForm {
    /// The form showing `hours`.
    pub fn of(hours: &BusinessHours) -> Self {
        let week = |w: Option<&Week>| w.map(ToString::to_string).unwrap_or_default();
        let mut form = Self {
            timezone: if hours.zone_name() == "UTC" { String::new() } else { hours.zone_name().to_owned() },
            default: week(hours.fallback()),
            closed: hours.closed_text(),
            ..Self::default()
        };
        for d in Department::ALL {
            *form.field_mut(*d) = week(hours.department(d.as_str()));
        }
        form
    }

    fn field(&self, d: Department) -> &str {
        match d {
            Department::Sales => &self.sales,
            Department::Support => &self.support,
            Department::Billing => &self.billing,
            Department::Complaints => &self.complaints,
            Department::General => &self.general,
        }
    }

    fn field_mut(&mut self, d: Department) -> &mut String {
        match d {
            Department::Sales => &mut self.sales,
            Department::Support => &mut self.support,
            Department::Billing => &mut self.billing,
            Department::Complaints => &mut self.complaints,
            Department::General => &mut self.general,
        }
    }

    /// The hours the form describes, or an error message key per field.
    pub fn parse(&self) -> Result<BusinessHours, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut hours = BusinessHours::default();
        let too_long = |s: &str| s.len() > MAX_FIELD;
        if let Err(e) = hours.set_zone(&self.timezone) {
            errors.insert("timezone", e.key());
        }
        let mut week = |field: &'static str, text: &str| -> Option<Week> {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            if too_long(text) {
                errors.insert(field, "hours.err_time");
                return None;
            }
            Week::parse(text).map_err(|e| errors.insert(field, e.key())).ok()
        };
        let fallback = week("default", &self.default);
        let mut own = Vec::new();
        for d in Department::ALL {
            own.push((*d, week(d.as_str(), self.field(*d))));
        }
        hours.set_fallback(fallback);
        for (d, w) in own {
            hours.set_department(d.as_str(), w);
        }
        match parse_dates(&self.closed) {
            Ok(_) if too_long(&self.closed) => {
                errors.insert("closed", "hours.err_date");
            }
            Ok(dates) => hours.set_closed(dates),
            Err(e) => {
                errors.insert("closed", e.key());
            }
        }
        if errors.is_empty() { Ok(hours) } else { Err(errors) }
    }
}

/// Saves the hours of the form, overriding the environment's; audited as
/// `settings.business_hours` with the hours before and after.
pub async fn save(ctx: &Ctx, cap: &AdminCap<'_>, form: &HoursForm) -> AppResult<BusinessHours> {
    let hours = form.parse().map_err(AppError::Validation)?;
    let (before, _) = in_force(ctx).await?;
    let text = hours.to_string();
    with_db!(ctx.db(), |pool| sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    )
    .bind(KEY)
    .bind(&text)
    .execute(pool)
    .await
    .map(|_| ()))?;
    audit(ctx, cap, "settings.business_hours", &before, Some(&text)).await?;
    Ok(hours)
}

/// Forgets the saved hours: the environment's are in force again. Audited.
pub async fn reset(ctx: &Ctx, cap: &AdminCap<'_>) -> AppResult<()> {
    let (before, source) = in_force(ctx).await?;
    if source == Source::Environment {
        return Ok(());
    }
    with_db!(ctx.db(), |pool| sqlx::query("DELETE FROM settings WHERE key = $1")
        .bind(KEY)
        .execute(pool)
        .await
        .map(|_| ()))?;
    audit(ctx, cap, "settings.business_hours_reset", &before, None).await
}

async fn audit(
    ctx: &Ctx,
    cap: &AdminCap<'_>,
    action: &'static str,
    before: &BusinessHours,
    after: Option<&str>,
) -> AppResult<()> {
    let me = cap.actor();
    let entry = crate::audit::Entry::new(Some(me.id), me.username.clone(), action)
        .target("settings:business_hours")
        .metadata(json!({"before": before.to_string(), "after": after}));
    crate::audit::record(ctx.db(), &entry).await?;
    Ok(())
}

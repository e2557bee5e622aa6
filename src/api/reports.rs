//! Reports: `GET /api/v1/stats` (the figures of a range of days) and
//! `GET /api/v1/reports/{calls|tickets|payments|agents}.csv` (streamed CSV downloads,
//! also served to signed-in pages at `/reports/{name}.csv`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::audit::{self, Entry};
use crate::auth::Principal;
use crate::auth::extract::{ApiAuth, ClientIp};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::period::Period;
use crate::reports::export::{self, ExportJob};
use crate::reports::{ExportCap, Report, Stats, stats};

/// Days a range covers when `from` is not given.
pub const DEFAULT_DAYS: i32 = 7;

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD`, both optional (to: today; from: six days before).
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First day.
    #[serde(default)]
    pub from: Option<String>,
    /// Last day, inclusive.
    #[serde(default)]
    pub to: Option<String>,
}

impl RangeQuery {
    /// The range in the team's time zone; 422 naming the field when a date is wrong.
    pub fn period(&self, state: &AppState) -> AppResult<Period> {
        Ok(Period::parse(self.from.as_deref(), self.to.as_deref(), &state.config().timezone, DEFAULT_DAYS)?)
    }
}

/// `GET /api/v1/stats?from=&to=`: any staff role.
#[utoipa::path(
    get, path = "/api/v1/stats", tag = "reports", summary = "The figures of a range of days",
    params(RangeQuery),
    responses(
        (status = 200, description = "The figures", body = Stats),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "Bad dates", body = ErrorBody),
    )
)]
pub async fn stats_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Query(q): Query<RangeQuery>,
) -> AppResult<Json<Stats>> {
    let period = q.period(&state)?;
    let config = state.config();
    Ok(Json(stats::load(state.db(), &period, &config.timezone, config.token_prices).await?))
}

/// `GET /api/v1/reports/{name}.csv?from=&to=`: supervisors and admins.
#[utoipa::path(
    get, path = "/api/v1/reports/{file}", tag = "reports", summary = "A CSV report download (supervisors and admins)",
    params(("file" = String, Path, description = "`calls.csv`, `tickets.csv`, `payments.csv` or `agents.csv`"), RangeQuery),
    responses(
        (status = 200, description = "The rows, streamed as CSV", content_type = "text/csv", body = String),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 404, description = "No such report", body = ErrorBody),
        (status = 422, description = "Bad dates", body = ErrorBody),
    )
)]
pub async fn csv_get(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(file): Path<String>,
    Query(q): Query<RangeQuery>,
) -> AppResult<Response> {
    csv_response(&state, &auth.principal, ip, &file, &q).await
}

/// The CSV download for `file` (`calls.csv`...): 403 below supervisor, 404 for a report
/// that does not exist, 422 for bad dates; else the rows as they come from the database.
/// Each export is audited (`report.export`): it carries customer data out.
pub async fn csv_response(
    state: &AppState,
    who: &Principal,
    ip: Option<String>,
    file: &str,
    q: &RangeQuery,
) -> AppResult<Response> {
    let cap = ExportCap::of(who).ok_or(AppError::Forbidden)?;
    let report = Report::from_file(file).ok_or(AppError::NotFound)?;
    let period = q.period(state)?;
    let config = state.config();
    let entry = Entry::new(Some(who.id), who.username.clone(), "report.export")
        .target(report.as_str())
        .ip(ip)
        .metadata(serde_json::json!({"from": period.from.to_string(), "to": period.to.to_string()}));
    audit::record(state.db(), &entry).await?;
    let filename = report.filename(&period);
    let job = ExportJob { db: state.db().clone(), period, zone: config.timezone.clone(), prices: config.token_prices };
    let body = Body::from_stream(export::stream(&cap, report, job));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

//! Customers and payments over the API: search and read (any staff), create, edit,
//! deactivate and register payments (supervisors and admins).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::extract::{ApiAuth, ApiOverseer, ClientIp};
use crate::customers::history::{self, CallLine, EmailLine, TicketLine};
use crate::customers::payments::{self, Payment, PaymentFilter, PaymentForm};
use crate::customers::records::{self, Customer, CustomerForm};
use crate::db::Timestamp;
use crate::db::paging::{Page, Paging};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::period::Period;

/// A customer as the API shows it: the balance (what they owe; negative is credit) as a
/// decimal string and in cents.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerOut {
    id: i64,
    name: String,
    email: String,
    phone: Option<String>,
    notes: String,
    verified: bool,
    active: bool,
    balance: String,
    balance_cents: i64,
    created_at: Timestamp,
    updated_at: Option<Timestamp>,
}

impl From<Customer> for CustomerOut {
    fn from(c: Customer) -> Self {
        Self {
            id: c.id,
            balance: c.balance_cents.to_string(),
            balance_cents: c.balance_cents.cents(),
            name: c.name,
            email: c.email,
            phone: c.phone,
            notes: c.notes,
            verified: c.verified,
            active: c.active,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A payment as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentOut {
    id: i64,
    customer_id: i64,
    customer_name: String,
    amount: String,
    amount_cents: i64,
    method: String,
    description: String,
    processed_by: Option<i64>,
    processed_by_name: Option<String>,
    call_id: Option<i64>,
    at: Timestamp,
}

impl From<Payment> for PaymentOut {
    fn from(p: Payment) -> Self {
        Self {
            id: p.id,
            customer_id: p.customer_id,
            customer_name: p.customer_name,
            amount: p.amount_cents.to_string(),
            amount_cents: p.amount_cents.cents(),
            method: p.method,
            description: p.description,
            processed_by: p.processed_by,
            processed_by_name: p.processed_by_name,
            call_id: p.call_id,
            at: p.at,
        }
    }
}

/// `GET /api/v1/customers/{id}`: the record with its history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerDetail {
    #[serde(flatten)]
    customer: CustomerOut,
    open_tickets: i64,
    tickets: Vec<TicketLine>,
    payments: Vec<PaymentOut>,
    calls: Vec<CallLine>,
    /// Only for staff who may read email (not viewers).
    #[serde(skip_serializing_if = "Option::is_none")]
    emails: Option<Vec<EmailLine>>,
}

/// `?q=&page=&per_page=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomersQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    per_page: Option<String>,
}

/// `GET /api/v1/customers`: search by name, email or phone.
#[utoipa::path(
    get, path = "/api/v1/customers", tag = "customers", summary = "Search customers by name, email or phone",
    params(CustomersQuery),
    responses(
        (status = 200, description = "A page of customers", body = Page<CustomerOut>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "Bad paging values", body = ErrorBody),
    )
)]
pub async fn customers_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Query(q): Query<CustomersQuery>,
) -> AppResult<Json<Page<CustomerOut>>> {
    let paging = Paging::parse(q.page.as_deref(), q.per_page.as_deref())?;
    let page = records::search(state.db(), q.q.as_deref().unwrap_or_default(), paging).await?;
    Ok(Json(Page::new(page.items.into_iter().map(CustomerOut::from).collect(), page.total, paging)))
}

/// `GET /api/v1/customers/{id}`.
#[utoipa::path(
    get, path = "/api/v1/customers/{id}", tag = "customers", summary = "A customer with tickets, payments, calls (and emails for agents and up)",
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The record", body = CustomerDetail),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such customer", body = ErrorBody),
    )
)]
pub async fn customer_get(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> AppResult<Json<CustomerDetail>> {
    let reads_email = auth.principal.agent().is_some();
    let r = history::record(state.db(), id, reads_email).await?;
    Ok(Json(CustomerDetail {
        customer: r.customer.into(),
        open_tickets: r.open_tickets,
        tickets: r.tickets,
        payments: r.payments.into_iter().map(PaymentOut::from).collect(),
        calls: r.calls,
        emails: reads_email.then_some(r.emails),
    }))
}

/// `POST /api/v1/customers`.
#[utoipa::path(
    post, path = "/api/v1/customers", tag = "customers", summary = "Create a customer (supervisors and admins)",
    request_body = CustomerForm,
    responses(
        (status = 201, description = "Created", body = CustomerOut),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 422, description = "Invalid or taken fields (`fields`)", body = ErrorBody),
    )
)]
pub async fn customers_post(
    State(state): State<AppState>,
    ApiOverseer(auth): ApiOverseer,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<CustomerForm>,
) -> AppResult<(StatusCode, Json<CustomerOut>)> {
    let cap = auth.principal.records().ok_or(AppError::Forbidden)?;
    let change = body.parse(true).map_err(AppError::Validation)?;
    let customer = records::create(state.db(), &cap, &change, ip).await?;
    Ok((StatusCode::CREATED, Json(customer.into())))
}

/// `PATCH /api/v1/customers/{id}`: name, email, phone, notes and `active`.
#[utoipa::path(
    patch, path = "/api/v1/customers/{id}", tag = "customers", summary = "Edit, deactivate or reactivate a customer (supervisors and admins)",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = CustomerForm,
    responses(
        (status = 200, description = "The changed customer", body = CustomerOut),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 422, description = "Invalid or taken fields (`fields`)", body = ErrorBody),
    )
)]
pub async fn customer_patch(
    State(state): State<AppState>,
    ApiOverseer(auth): ApiOverseer,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<CustomerForm>,
) -> AppResult<Json<CustomerOut>> {
    let cap = auth.principal.records().ok_or(AppError::Forbidden)?;
    let change = body.parse(false).map_err(AppError::Validation)?;
    let customer = records::update(&state, &cap, id, &change, ip).await?;
    Ok(Json(customer.into()))
}

/// `?customer_id=&from=&to=&page=&per_page=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PaymentsQuery {
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    per_page: Option<String>,
}

/// `GET /api/v1/payments`: newest first; a date range only when `from` or `to` is given.
#[utoipa::path(
    get, path = "/api/v1/payments", tag = "customers", summary = "Payments, newest first, by customer and date range",
    params(PaymentsQuery),
    responses(
        (status = 200, description = "A page of payments", body = Page<PaymentOut>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "Bad customer id, dates or paging values", body = ErrorBody),
    )
)]
pub async fn payments_get(
    State(state): State<AppState>,
    _auth: ApiAuth,
    Query(q): Query<PaymentsQuery>,
) -> AppResult<Json<Page<PaymentOut>>> {
    let paging = Paging::parse(q.page.as_deref(), q.per_page.as_deref())?;
    let customer_id = match q.customer_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| AppError::Unprocessable(format!("customer_id must be a customer's number, got {s:?}")))?,
        ),
    };
    let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let period = if given(&q.from) || given(&q.to) {
        Some(Period::parse(q.from.as_deref(), q.to.as_deref(), &state.config().timezone, 3650)?)
    } else {
        None
    };
    let page = payments::list(state.db(), &PaymentFilter { customer_id, period }, paging).await?;
    Ok(Json(Page::new(page.items.into_iter().map(PaymentOut::from).collect(), page.total, paging)))
}

/// `POST /api/v1/payments` answer: the payment and the balance it left.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentCreated {
    payment: PaymentOut,
    customer_id: i64,
    balance: String,
    balance_cents: i64,
}

/// `POST /api/v1/payments` `{"customer_id", "amount": "50.00", "method", "description", "call_id"?}`.
#[utoipa::path(
    post, path = "/api/v1/payments", tag = "customers", summary = "Register a payment (supervisors and admins)",
    request_body = PaymentForm,
    responses(
        (status = 201, description = "The payment and the balance it left", body = PaymentCreated),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a supervisor or admin", body = ErrorBody),
        (status = 422, description = "Invalid fields, or an unknown or inactive customer (`fields`)", body = ErrorBody),
    )
)]
pub async fn payments_post(
    State(state): State<AppState>,
    ApiOverseer(auth): ApiOverseer,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<PaymentForm>,
) -> AppResult<(StatusCode, Json<PaymentCreated>)> {
    let cap = auth.principal.records().ok_or(AppError::Forbidden)?;
    let input = body.parse().map_err(AppError::Validation)?;
    let done = payments::register(&state, &cap, &input, ip).await?;
    Ok((
        StatusCode::CREATED,
        Json(PaymentCreated {
            customer_id: done.payment.customer_id,
            payment: done.payment.into(),
            balance: done.balance.to_string(),
            balance_cents: done.balance.cents(),
        }),
    ))
}

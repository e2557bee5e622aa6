//! Staff pages for customers: the searchable list, a customer's page (details, balance,
//! tickets, payments, calls, emails) with the payment form, the create and edit forms,
//! and deactivate / reactivate. Any staff member may look; supervisors and admins
//! change records and register payments (checked here, whatever the page shows).

use super::form::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::path::WebPath;
use super::{PageCtx, require_ready};
use crate::app::AppState;
use crate::auth::RecordsCap;
use crate::auth::extract::{ClientIp, WebAuth};
use crate::customers::history::{self, Record};
use crate::customers::payments::{self, PaymentForm, PaymentMethod};
use crate::customers::records::{self, Customer, CustomerForm};
use crate::db::paging::{Page, Paging};
use crate::error::{AppError, AppResult, FieldErrors};

#[derive(Template, WebTemplate)]
#[template(path = "customers/list.html")]
/// The `customers/list.html` template.
pub struct CustomersPage {
    page: PageCtx,
    q: String,
    list: Page<Customer>,
    can_edit: bool,
}

impl CustomersPage {
    /// The list's link for page `n`, keeping the search.
    pub fn page_link(&self, n: i64) -> String {
        let query = serde_urlencoded::to_string([("q", self.q.as_str()), ("page", &n.to_string())]).unwrap_or_default();
        format!("/customers?{query}")
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "customers/form.html")]
/// The `customers/form.html` template (new and edit).
pub struct CustomerFormPage {
    page: PageCtx,
    /// The record being edited; `None` for a new one.
    id: Option<i64>,
    form: FormFields,
    errors: FieldErrors,
}

/// What the create/edit form shows, as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FormFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    notes: String,
}

impl FormFields {
    fn of(c: &Customer) -> Self {
        Self {
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone().unwrap_or_default(),
            notes: c.notes.clone(),
        }
    }

    fn parse(&self, complete: bool) -> Result<records::CustomerChange, FieldErrors> {
        CustomerForm {
            name: Some(self.name.clone()),
            email: Some(self.email.clone()),
            phone: Some(self.phone.clone()),
            notes: Some(self.notes.clone()),
            active: None,
        }
        .parse(complete)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "customers/detail.html")]
/// The `customers/detail.html` template.
pub struct CustomerPage {
    page: PageCtx,
    r: Record,
    can_edit: bool,
    can_read_email: bool,
    methods: &'static [PaymentMethod],
    pay: PayFields,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

/// The payment form as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PayFields {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    description: String,
}

fn records_cap(auth: &WebAuth) -> AppResult<RecordsCap<'_>> {
    require_ready(auth)?;
    auth.principal.records().ok_or(AppError::Forbidden)
}

/// `?q=&page=&per_page=` of the list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    per_page: Option<String>,
}

/// `GET /customers`: search by name, email or phone.
pub async fn customers_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> AppResult<CustomersPage> {
    require_ready(&auth)?;
    let paging = Paging::parse(q.page.as_deref(), q.per_page.as_deref())?;
    let text = q.q.unwrap_or_default();
    let list = records::search(state.db(), &text, paging).await?;
    Ok(CustomersPage {
        page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "customers").await?,
        q: text,
        list,
        can_edit: auth.principal.records().is_some(),
    })
}

async fn form_page(
    auth: &WebAuth,
    headers: &HeaderMap,
    id: Option<i64>,
    form: FormFields,
    errors: FieldErrors,
) -> AppResult<CustomerFormPage> {
    let page = PageCtx::new(&auth.session, headers, Some(&auth.principal), "customers").await?;
    Ok(CustomerFormPage { page, id, form, errors })
}

/// `GET /customers/new`.
pub async fn new_get(auth: WebAuth, headers: HeaderMap) -> AppResult<CustomerFormPage> {
    records_cap(&auth)?;
    form_page(&auth, &headers, None, FormFields::default(), FieldErrors::new()).await
}

/// `POST /customers`: creates the record, or shows the form again with its errors.
pub async fn customers_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<FormFields>,
) -> AppResult<Response> {
    let cap = records_cap(&auth)?;
    let result = match form.parse(true) {
        Ok(change) => records::create(state.db(), &cap, &change, ip).await,
        Err(errors) => Err(AppError::Validation(errors)),
    };
    match result {
        Ok(c) => Ok(Redirect::to(&format!("/customers/{}", c.id)).into_response()),
        Err(AppError::Validation(errors)) => {
            let page = form_page(&auth, &headers, None, form, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// `GET /customers/{id}/edit`.
pub async fn edit_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
) -> AppResult<CustomerFormPage> {
    records_cap(&auth)?;
    let c = records::get(state.db(), id).await?;
    form_page(&auth, &headers, Some(id), FormFields::of(&c), FieldErrors::new()).await
}

/// `POST /customers/{id}/edit`.
pub async fn edit_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
    Form(form): Form<FormFields>,
) -> AppResult<Response> {
    let cap = records_cap(&auth)?;
    let result = match form.parse(true) {
        Ok(change) => records::update(&state, &cap, id, &change, ip).await,
        Err(errors) => Err(AppError::Validation(errors)),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/customers/{id}?saved=1")).into_response()),
        Err(AppError::Validation(errors)) => {
            let page = form_page(&auth, &headers, Some(id), form, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// `?saved=1` / `?paid=1` after a change.
#[derive(Debug, Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    paid: Option<String>,
}

async fn detail_page(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    id: i64,
    pay: PayFields,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> AppResult<CustomerPage> {
    let can_read_email = auth.principal.agent().is_some();
    Ok(CustomerPage {
        page: PageCtx::new(&auth.session, headers, Some(&auth.principal), "customers").await?,
        r: history::record(state.db(), id, can_read_email).await?,
        can_edit: auth.principal.records().is_some(),
        can_read_email,
        methods: PaymentMethod::ALL,
        pay,
        errors,
        notice,
    })
}

/// `GET /customers/{id}`.
pub async fn customer_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
    Query(q): Query<DetailQuery>,
) -> AppResult<CustomerPage> {
    require_ready(&auth)?;
    let notice = match (q.saved.is_some(), q.paid.is_some()) {
        (true, _) => Some("customers.saved"),
        (_, true) => Some("customers.paid"),
        _ => None,
    };
    detail_page(&state, &auth, &headers, id, PayFields::default(), FieldErrors::new(), notice).await
}

/// `POST /customers/{id}/payments`: registers a payment; errors are shown beside the
/// form, with what was typed kept.
pub async fn payment_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
    Form(pay): Form<PayFields>,
) -> AppResult<Response> {
    let cap = records_cap(&auth)?;
    records::get(state.db(), id).await?;
    let form = PaymentForm {
        customer_id: Some(id),
        amount: pay.amount.clone(),
        method: pay.method.clone(),
        description: pay.description.clone(),
        call_id: None,
    };
    let result = match form.parse() {
        Ok(input) => payments::register(&state, &cap, &input, ip).await.map(|_| ()),
        Err(errors) => Err(AppError::Validation(errors)),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/customers/{id}?paid=1")).into_response()),
        Err(AppError::Validation(errors)) => {
            let page = detail_page(&state, &auth, &headers, id, pay, errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn set_active(
    state: &AppState,
    auth: &WebAuth,
    ip: Option<String>,
    id: i64,
    active: bool,
) -> AppResult<Response> {
    let cap = records_cap(auth)?;
    let change =
        CustomerForm { active: Some(active), ..CustomerForm::default() }.parse(false).map_err(AppError::Validation)?;
    records::update(state, &cap, id, &change, ip).await?;
    Ok(Redirect::to(&format!("/customers/{id}?saved=1")).into_response())
}

/// `POST /customers/{id}/deactivate`: the record stays, with its history.
pub async fn deactivate_post(
    State(state): State<AppState>,
    auth: WebAuth,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    set_active(&state, &auth, ip, id, false).await
}

/// `POST /customers/{id}/reactivate`.
pub async fn reactivate_post(
    State(state): State<AppState>,
    auth: WebAuth,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    set_active(&state, &auth, ip, id, true).await
}

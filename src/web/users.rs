//! Admin user management pages: list, create, change role, disable/enable, reset
//! password. Every handler asks for the admin capability; non-admins get 403.

use super::form::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::path::WebPath;
use super::{PageCtx, is_htmx, require_ready};
use crate::app::AppState;
use crate::auth::extract::{ClientIp, WebAuth};
use crate::auth::{AdminCap, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::users::input::{NewUserForm, UserChange};
use crate::users::{self, User};

/// What a row or detail page shows of a user.
#[derive(Clone, Debug)]
pub struct UserView {
    id: i64,
    username: String,
    email: String,
    full_name: String,
    role: Role,
    language: String,
    disabled: bool,
    must_change_password: bool,
    created: String,
    is_self: bool,
    department: String,
}

impl UserView {
    fn new(u: &User, viewer_id: i64) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            role: u.role(),
            language: format!("lang.{}", u.lang().code()),
            disabled: u.disabled,
            must_change_password: u.must_change_password,
            created: u.created_at.display_minutes(),
            is_self: u.id == viewer_id,
            department: u.department.clone().unwrap_or_default(),
        }
    }
}

/// A table row plus an optional error to show in it.
#[derive(Clone, Debug)]
pub struct RowView {
    u: UserView,
    error_key: Option<&'static str>,
}

#[derive(Template, WebTemplate)]
#[template(path = "users/list.html")]
/// The `users/list.html` template.
pub struct UsersPage {
    page: PageCtx,
    rows: Vec<RowView>,
    roles: [Role; 4],
    form: NewUserForm,
    errors: FieldErrors,
    created: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "users/_row.html")]
/// The `users/_row.html` template.
pub struct UserRowPartial {
    page: PageCtx,
    row: RowView,
    roles: [Role; 4],
}

#[derive(Template, WebTemplate)]
#[template(path = "users/detail.html")]
/// The `users/detail.html` template.
pub struct UserDetailPage {
    page: PageCtx,
    u: UserView,
    roles: [Role; 4],
    error_key: Option<&'static str>,
    saved: bool,
    departments: &'static [crate::agents::Department],
}

fn admin(auth: &WebAuth) -> AppResult<AdminCap<'_>> {
    require_ready(auth)?;
    auth.principal.admin().ok_or(AppError::Forbidden)
}

async fn list_page(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    form: NewUserForm,
    errors: FieldErrors,
    created: Option<String>,
) -> AppResult<UsersPage> {
    let rows = users::list(state.db())
        .await?
        .iter()
        .map(|u| RowView { u: UserView::new(u, auth.principal.id), error_key: None })
        .collect();
    Ok(UsersPage {
        page: PageCtx::new(&auth.session, headers, Some(&auth.principal), "users").await?,
        rows,
        roles: Role::ALL,
        form,
        errors,
        created,
    })
}

/// Query flags of the users page.
#[derive(Debug, Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    created: Option<String>,
}

/// `GET /users`.
pub async fn users_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<UsersQuery>,
) -> AppResult<UsersPage> {
    admin(&auth)?;
    let form = NewUserForm { role: Role::Agent.as_str().into(), language: "es".into(), ..NewUserForm::default() };
    // Only a well-formed username is echoed back, so a crafted link cannot put
    // arbitrary text in the notice.
    let created = q.created.as_deref().and_then(crate::users::input::Username::parse).map(|u| u.as_str().to_owned());
    list_page(&state, &auth, &headers, form, FieldErrors::new(), created).await
}

/// `POST /users`: create a user.
pub async fn users_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<NewUserForm>,
) -> AppResult<Response> {
    let cap = admin(&auth)?;
    let result = match form.parse() {
        Ok(new) => users::create(state.db(), &cap, &new, ip).await.map_err(|e| match e {
            AppError::Validation(f) => Ok(f),
            other => Err(other),
        }),
        Err(fields) => Err(Ok(fields)),
    };
    match result {
        Ok(user) => Ok(Redirect::to(&format!("/users?created={}", user.username)).into_response()),
        Err(Ok(errors)) => {
            // Keep what was typed except the password.
            let kept = NewUserForm { password: String::new(), csrf_token: None, ..form };
            let page = list_page(&state, &auth, &headers, kept, errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(Err(e)) => Err(e),
    }
}

async fn load(state: &AppState, id: i64) -> AppResult<User> {
    users::get(state.db(), id).await?.ok_or(AppError::NotFound)
}

/// Query flags of the detail page.
#[derive(Debug, Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /users/{id}`.
pub async fn user_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    WebPath(id): WebPath<i64>,
    Query(q): Query<DetailQuery>,
) -> AppResult<UserDetailPage> {
    admin(&auth)?;
    let user = load(&state, id).await?;
    Ok(UserDetailPage {
        page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "users").await?,
        u: UserView::new(&user, auth.principal.id),
        roles: Role::ALL,
        error_key: None,
        saved: q.saved.is_some(),
        departments: crate::agents::Department::ALL,
    })
}

/// Applies a change and answers with the row fragment (htmx) or a redirect; a rule
/// violation is shown in the row or on the detail page.
async fn apply(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    id: i64,
    change: UserChange,
    ip: Option<String>,
) -> AppResult<Response> {
    let cap = admin(auth)?;
    let (user, error_key) = match users::update(state.db(), &cap, id, &change, ip).await {
        Ok(user) => (user, None),
        Err(AppError::Validation(fields)) => (load(state, id).await?, fields.values().next().copied()),
        Err(e) => return Err(e),
    };
    let page = PageCtx::new(&auth.session, headers, Some(&auth.principal), "users").await?;
    let u = UserView::new(&user, auth.principal.id);
    let status = if error_key.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    if is_htmx(headers) {
        // htmx only swaps 2xx answers by default, so the row with its error comes as 200.
        return Ok(UserRowPartial { page, row: RowView { u, error_key }, roles: Role::ALL }.into_response());
    }
    if error_key.is_none() {
        return Ok(Redirect::to(&format!("/users/{id}?saved=1")).into_response());
    }
    let departments = crate::agents::Department::ALL;
    Ok((status, UserDetailPage { page, u, roles: Role::ALL, error_key, saved: false, departments }).into_response())
}

/// Body of the role form.
#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

/// `POST /users/{id}/role`.
pub async fn user_role_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
    Form(form): Form<RoleForm>,
) -> AppResult<Response> {
    admin(&auth)?;
    let role = Role::parse(&form.role)
        .ok_or_else(|| AppError::Validation(FieldErrors::from([("role", "field.role_invalid")])))?;
    apply(&state, &auth, &headers, id, UserChange { role: Some(role), ..UserChange::default() }, ip).await
}

/// `POST /users/{id}/disable`: also ends the user's sessions and tokens.
pub async fn user_disable_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    apply(&state, &auth, &headers, id, UserChange { disabled: Some(true), ..UserChange::default() }, ip).await
}

/// `POST /users/{id}/enable`.
pub async fn user_enable_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
) -> AppResult<Response> {
    apply(&state, &auth, &headers, id, UserChange { disabled: Some(false), ..UserChange::default() }, ip).await
}

/// Body of the reset-password form.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    password: String,
}

/// `POST /users/{id}/password`: sets a new temporary password.
pub async fn user_password_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
    Form(form): Form<ResetForm>,
) -> AppResult<Response> {
    admin(&auth)?;
    if let Err(key) = crate::auth::password::check_strength(&form.password) {
        let user = load(&state, id).await?;
        let page = PageCtx::new(&auth.session, &headers, Some(&auth.principal), "users").await?;
        let u = UserView::new(&user, auth.principal.id);
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            UserDetailPage {
                page,
                u,
                roles: Role::ALL,
                error_key: Some(key),
                saved: false,
                departments: crate::agents::Department::ALL,
            },
        )
            .into_response());
    }
    apply(&state, &auth, &headers, id, UserChange { password: Some(form.password), ..UserChange::default() }, ip).await
}

/// Body of the department form.
#[derive(Debug, Deserialize)]
pub struct DepartmentForm {
    #[serde(default)]
    department: String,
}

/// `POST /users/{id}/department`: the department whose queue the user works (empty
/// clears it).
pub async fn user_department_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    WebPath(id): WebPath<i64>,
    Form(form): Form<DepartmentForm>,
) -> AppResult<Response> {
    admin(&auth)?;
    let department = crate::users::input::parse_department(Some(&form.department))
        .map_err(|key| AppError::Validation(FieldErrors::from([("department", key)])))?;
    apply(&state, &auth, &headers, id, UserChange { department: Some(department), ..UserChange::default() }, ip).await
}

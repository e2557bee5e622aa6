//! User management API (admins only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::ApiJson;
use crate::app::AppState;
use crate::auth::AdminCap;
use crate::auth::extract::{ApiAuth, ClientIp};
use crate::db::Timestamp;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::users::input::{NewUserForm, UserPatch};
use crate::users::{self, User};

fn admin(auth: &ApiAuth) -> AppResult<AdminCap<'_>> {
    auth.principal.admin().ok_or(AppError::Forbidden)
}

/// A staff account as admins see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Id.
    pub id: i64,
    /// Login name (lowercase).
    pub username: String,
    /// Email (lowercase).
    pub email: String,
    /// Display name.
    pub full_name: String,
    /// viewer, agent, supervisor or admin.
    pub role: String,
    /// es or en.
    pub language: String,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
    /// The department (code) the person works in, if any.
    pub department: Option<String>,
    /// True until a temporary password is replaced.
    pub must_change_password: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            role: u.role.clone(),
            language: u.language.clone(),
            disabled: u.disabled,
            department: u.department.clone(),
            must_change_password: u.must_change_password,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// `GET /api/v1/users` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// Every account.
    pub users: Vec<UserView>,
}

/// `GET /api/v1/users`.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users", summary = "Every staff account (admins)",
    responses(
        (status = 200, description = "The accounts", body = UserList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub async fn users_get(State(state): State<AppState>, auth: ApiAuth) -> AppResult<Json<UserList>> {
    admin(&auth)?;
    let list = users::list(state.db()).await?;
    Ok(Json(UserList { users: list.iter().map(UserView::from).collect() }))
}

/// `POST /api/v1/users`.
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users", summary = "Create a staff account with a temporary password (admins)",
    request_body = NewUserForm,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "Invalid or taken fields (`fields`)", body = ErrorBody),
    )
)]
pub async fn users_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<NewUserForm>,
) -> AppResult<(StatusCode, Json<UserView>)> {
    let cap = admin(&auth)?;
    let new = body.parse().map_err(AppError::Validation)?;
    let user = users::create(state.db(), &cap, &new, ip).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// `GET /api/v1/users/{id}`.
#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "users", summary = "One staff account (admins)",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn user_get(State(state): State<AppState>, auth: ApiAuth, Path(id): Path<i64>) -> AppResult<Json<UserView>> {
    admin(&auth)?;
    let user = users::get(state.db(), id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(UserView::from(&user)))
}

/// `PATCH /api/v1/users/{id}`.
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", tag = "users",
    summary = "Change role, name, email, language, disable/enable or reset the password (admins)",
    params(("id" = i64, Path, description = "User id")),
    request_body = UserPatch,
    responses(
        (status = 200, description = "The changed account", body = UserView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Invalid fields, or the change would leave no enabled admin (`fields`)", body = ErrorBody),
    )
)]
pub async fn user_patch(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<UserPatch>,
) -> AppResult<Json<UserView>> {
    let cap = admin(&auth)?;
    let change = body.parse().map_err(AppError::Validation)?;
    let user = users::update(state.db(), &cap, id, &change, ip).await?;
    Ok(Json(UserView::from(&user)))
}

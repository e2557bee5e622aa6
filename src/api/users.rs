//! User management API (admins only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::AdminCap;
use crate::auth::extract::{ApiAuth, ClientIp};
use crate::error::{AppError, AppResult};
use crate::users::input::{NewUserForm, UserPatch};
use crate::users::{self, User};

fn admin(auth: &ApiAuth) -> AppResult<AdminCap<'_>> {
    auth.principal.admin().ok_or(AppError::Forbidden)
}

fn view(u: &User) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "email": u.email,
        "full_name": u.full_name,
        "role": u.role,
        "language": u.language,
        "disabled": u.disabled,
        "department": u.department,
        "must_change_password": u.must_change_password,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

/// `GET /api/v1/users`.
pub async fn users_get(State(state): State<AppState>, auth: ApiAuth) -> AppResult<Json<Value>> {
    admin(&auth)?;
    let list = users::list(state.db()).await?;
    Ok(Json(json!({ "users": list.iter().map(view).collect::<Vec<_>>() })))
}

/// `POST /api/v1/users`.
pub async fn users_post(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<NewUserForm>,
) -> AppResult<(StatusCode, Json<Value>)> {
    let cap = admin(&auth)?;
    let new = body.parse().map_err(AppError::Validation)?;
    let user = users::create(state.db(), &cap, &new, ip).await?;
    Ok((StatusCode::CREATED, Json(view(&user))))
}

/// `GET /api/v1/users/{id}`.
pub async fn user_get(State(state): State<AppState>, auth: ApiAuth, Path(id): Path<i64>) -> AppResult<Json<Value>> {
    admin(&auth)?;
    let user = users::get(state.db(), id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(view(&user)))
}

/// `PATCH /api/v1/users/{id}`.
pub async fn user_patch(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<UserPatch>,
) -> AppResult<Json<Value>> {
    let cap = admin(&auth)?;
    let change = body.parse().map_err(AppError::Validation)?;
    let user = users::update(state.db(), &cap, id, &change, ip).await?;
    Ok(Json(view(&user)))
}

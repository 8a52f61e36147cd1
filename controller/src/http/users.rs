//! `/api/me` and `/api/users`: thin handlers over `users`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::state::AppState;
use crate::users::{CreateUser, EditUser, NewPassword};

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(own_password))
        .routes(routes!(list, create))
        .routes(routes!(edit))
}

/// `GET /api/me`: who the session belongs to.
#[utoipa::path(get, path = "/api/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "id, name, role, scopes", body = Value),
        (status = 401, body = ErrorBody)))]
async fn me(user: AuthUser) -> Json<Value> {
    Json(crate::users::me(&user))
}

/// `POST /api/me/password`: a user changes their own password (the current one first);
/// every session of theirs ends.
#[utoipa::path(post, path = "/api/me/password", tag = "users", security(("bearer" = [])),
    request_body = NewPassword,
    responses((status = 200, description = "changed; log in again", body = Value),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "the current password is not right", body = ErrorBody)))]
async fn own_password(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<NewPassword>,
) -> Result<Json<Value>, AppError> {
    crate::users::change_own_password(&state, &user, req)?;
    Ok(Json(serde_json::json!({"changed": true})))
}

/// `GET /api/users` (admins): every account.
#[utoipa::path(get, path = "/api/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "id, name, role, scopes, disabled of each", body = Vec<Value>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    Ok(Json(crate::users::list(&state, &user)?))
}

/// `POST /api/users` (admins): a generated password is shown once.
#[utoipa::path(post, path = "/api/users", tag = "users", security(("bearer" = [])),
    request_body = CreateUser,
    responses((status = 201, description = "the user; `password` if one was generated", body = Value),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<CreateUser>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let created = crate::users::create(&state, &user, req)?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `PATCH /api/users/{id}` (admins): role, scopes, password, disabled. The last enabled
/// admin cannot be disabled or demoted.
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the user's id")), request_body = EditUser,
    responses((status = 200, description = "the user", body = Value),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn edit(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<EditUser>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(crate::users::edit(&state, &user, id, req)?))
}

//! `/api/me` and `/api/users`: thin handlers over `users`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;
use crate::users::{CreateUser, EditUser};

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/users", get(list).post(create))
        .route("/api/users/{id}", patch(edit))
}

/// `GET /api/me`: who the session belongs to.
async fn me(user: AuthUser) -> Json<Value> {
    Json(crate::users::me(&user))
}

/// `GET /api/users` (admins)
async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    Ok(Json(crate::users::list(&state, &user)?))
}

/// `POST /api/users` (admins): a generated password is shown once.
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateUser>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let created = crate::users::create(&state, &user, req)?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `PATCH /api/users/{id}` (admins): role, scopes, password, disabled.
async fn edit(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
    Json(req): Json<EditUser>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(crate::users::edit(&state, &user, id, req)?))
}

//! `/api/alerts*`: thin handlers over `alert` (CAP messages: `http::cap`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::alert::{self, AlertRequest};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/alerts", get(list).post(create))
        .route("/api/alerts/{id}", get(one))
        .route("/api/alerts/{id}/cancel", post(cancel))
        .route("/api/alerts/{id}/approve", post(approve))
        .route("/api/alerts/{id}/reject", post(reject))
}

/// `GET /api/alerts`: newest first.
async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    Ok(Json(alert::list(&state, &user)?))
}

/// `POST /api/alerts`: issues an alert now.
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<AlertRequest>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(alert::create(&state, &user, req).await?),
    ))
}

/// `GET /api/alerts/{id}`
async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(alert::get(&state, &user, id)?))
}

/// `POST /api/alerts/{id}/cancel`: by its issuer or an admin.
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(alert::cancel_for(&state, &user, id)?))
}

/// `POST /api/alerts/{id}/approve`: sends a held alert (refused once expired).
async fn approve(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(alert::approve(&state, &user, id).await?))
}

/// `POST /api/alerts/{id}/reject`: refuses a held alert.
async fn reject(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(alert::reject(&state, &user, id)?))
}

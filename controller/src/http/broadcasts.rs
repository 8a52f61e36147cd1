//! `/api/broadcasts*`: thin handlers over `broadcast`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::AuthUser;
use crate::broadcast::{self, CreateBroadcast, ListQuery, Made, WaitQuery};
use crate::error::AppError;
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/broadcasts", get(list).post(create))
        .route("/api/broadcasts/{id}", get(one))
        .route("/api/broadcasts/{id}/stop", post(stop))
        .route("/api/broadcasts/{id}/approve", post(approve))
}

/// `POST /api/broadcasts`: 201 when sent, 202 when held for a second person's approval.
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateBroadcast>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    Ok(match broadcast::create(&state, &user, req)? {
        Made::Sent(body) => (StatusCode::CREATED, Json(body)),
        Made::Held(body) => (StatusCode::ACCEPTED, Json(body)),
    })
}

/// `POST /api/broadcasts/{id}/approve`: a second authorised user sends a held broadcast
/// (starting 3 s from now if its planned start has passed).
async fn approve(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(broadcast::approve(&state, &user, id)?))
}

/// `GET /api/broadcasts/{id}`: the broadcast and one receipt per agent.
async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
    Query(q): Query<WaitQuery>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(broadcast::get(&state, &user, id, q).await?))
}

/// `POST /api/broadcasts/{id}/stop`
async fn stop(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<StatusCode, AppError> {
    broadcast::stop(&state, &user, id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/broadcasts`: the broadcast log, newest first: every broadcast (manual,
/// scheduled, live, alert) with its receipts per agent and its coverage, the share of
/// targeted speakers that confirmed playing.
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(broadcast::list(&state, &user, q)?))
}

//! `/api/broadcasts*`: thin handlers over `broadcast`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::broadcast::{self, CreateBroadcast, ListQuery, Made, WaitQuery};
use crate::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one))
        .routes(routes!(stop))
        .routes(routes!(approve))
        .routes(routes!(reject))
}

/// `POST /api/broadcasts`: 201 when sent, 202 when held for a second person's approval.
#[utoipa::path(post, path = "/api/broadcasts", tag = "broadcasts", security(("bearer" = [])), request_body = CreateBroadcast, responses((status = 201, description = "sent: `id`, `start_at`, `agents`, `unreachable`", body = Value), (status = 202, description = "held for a second person's approval: `held`, `approve_url`", body = Value), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<CreateBroadcast>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    Ok(match broadcast::create(&state, &user, req).await? {
        Made::Sent(body) => (StatusCode::CREATED, Json(body)),
        Made::Held(body) => (StatusCode::ACCEPTED, Json(body)),
    })
}

/// `POST /api/broadcasts/{id}/approve`: a second authorised user sends a held broadcast
/// (starting 3 s from now if its planned start has passed).
#[utoipa::path(post, path = "/api/broadcasts/{id}/approve", tag = "broadcasts", security(("bearer" = [])), params(("id" = u64, Path, description = "the broadcast's id")), responses((status = 200, description = "approved and sent", body = Value), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(broadcast::approve(&state, &user, id)?))
}

/// `POST /api/broadcasts/{id}/reject`: a second authorised user (or its author) turns a
/// held broadcast down; it is never sent.
#[utoipa::path(post, path = "/api/broadcasts/{id}/reject", tag = "broadcasts", security(("bearer" = [])), params(("id" = u64, Path, description = "the broadcast's id")), responses((status = 200, description = "turned down", body = Value), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn reject(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(broadcast::reject(&state, &user, id)?))
}

/// `GET /api/broadcasts/{id}`: the broadcast and one receipt per agent.
#[utoipa::path(get, path = "/api/broadcasts/{id}", tag = "broadcasts", security(("bearer" = [])), params(("id" = u64, Path, description = "the broadcast's id"), WaitQuery), responses((status = 200, description = "the broadcast and one receipt per agent", body = Value), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
    Query(q): Query<WaitQuery>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(broadcast::get(&state, &user, id, q).await?))
}

/// `POST /api/broadcasts/{id}/stop`: stops a broadcast on every agent.
#[utoipa::path(post, path = "/api/broadcasts/{id}/stop", tag = "broadcasts", security(("bearer" = [])), params(("id" = u64, Path, description = "the broadcast's id")), responses((status = 204, description = "stopped on every agent"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
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
#[utoipa::path(get, path = "/api/broadcasts", tag = "broadcasts", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "the broadcast log, newest first, with receipts and coverage", body = Vec<Value>), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(broadcast::list(&state, &user, q)?))
}

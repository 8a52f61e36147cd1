//! `/api/alerts*`: thin handlers over `alert` (CAP messages: `http::cap`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::alert::{self, AlertRequest};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one))
        .routes(routes!(cancel))
        .routes(routes!(approve))
        .routes(routes!(reject))
}

/// `GET /api/alerts`: the alerts, newest first.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts", security(("bearer" = [])), responses((status = 200, description = "the alerts the caller sees, newest first", body = Vec<Value>), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    Ok(Json(alert::list(&state, &user)?))
}

/// `POST /api/alerts`: issues an alert now.
#[utoipa::path(post, path = "/api/alerts", tag = "alerts", security(("bearer" = [])), request_body = AlertRequest, responses((status = 201, description = "issued: the alert with its broadcast", body = Value), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<AlertRequest>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(alert::create(&state, &user, req).await?),
    ))
}

/// `GET /api/alerts/{id}`: one alert.
#[utoipa::path(get, path = "/api/alerts/{id}", tag = "alerts", security(("bearer" = [])), params(("id" = u64, Path, description = "the alert's id")), responses((status = 200, body = Value), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(alert::get(&state, &user, id)?))
}

/// `POST /api/alerts/{id}/cancel`: by its issuer or an admin.
#[utoipa::path(post, path = "/api/alerts/{id}/cancel", tag = "alerts", security(("bearer" = [])), params(("id" = u64, Path, description = "the alert's id")), responses((status = 200, description = "cancelled: stopped on every agent", body = Value), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(alert::cancel_for(&state, &user, id).await?))
}

/// `POST /api/alerts/{id}/approve`: sends a held alert (refused once expired).
#[utoipa::path(post, path = "/api/alerts/{id}/approve", tag = "alerts", security(("bearer" = [])), params(("id" = u64, Path, description = "the alert's id")), responses((status = 200, description = "sent", body = Value), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(alert::approve(&state, &user, id).await?))
}

/// `POST /api/alerts/{id}/reject`: refuses a held alert.
#[utoipa::path(post, path = "/api/alerts/{id}/reject", tag = "alerts", security(("bearer" = [])), params(("id" = u64, Path, description = "the alert's id")), responses((status = 200, description = "rejected", body = Value), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn reject(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(alert::reject(&state, &user, id)?))
}

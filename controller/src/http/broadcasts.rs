//! `/api/broadcasts*`: thin handlers over `broadcast`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::broadcast::{self, CreateBroadcast, Made, WaitQuery};
use crate::broadcast_log::{ListQuery, LogEntry};
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
    Ok(Json(broadcast::approve(&state, &user, id).await?))
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

/// `GET /api/broadcasts/{id}`: the broadcast, how many speakers are in each state, and
/// (unless `counts=true`) one receipt per agent.
#[utoipa::path(get, path = "/api/broadcasts/{id}", tag = "broadcasts", security(("bearer" = [])), params(("id" = u64, Path, description = "the broadcast's id"), WaitQuery), responses((status = 200, description = "the broadcast: `receipt_counts`, `targeted`, `final`, and unless `counts=true` its `agents` and one receipt per agent", body = Value), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
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
    broadcast::stop(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/broadcasts`: the broadcast log, newest first: every broadcast (manual,
/// scheduled, live, alert) with its receipts per agent and its coverage, overall and per
/// village; filtered by kind, area and time, or the approvals queue (`held=true`);
/// `format=csv` writes a row per broadcast and per village.
#[utoipa::path(get, path = "/api/broadcasts", tag = "broadcasts", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "the broadcast log, newest first, with receipts and coverage (JSON, or CSV with `format=csv`)", body = Vec<LogEntry>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    // Every broadcast's speakers and receipts, read and counted on the blocking pool.
    let format = q.format.clone();
    let log = crate::http::over_agents(state, user, move |s, u| {
        crate::broadcast_log::list(s, u, &q)
    })
    .await?;
    match format.as_deref() {
        None | Some("json") => Ok(Json(log).into_response()),
        Some("csv") => {
            use crate::http::csv::{field, response, time};
            let row =
                |b: &LogEntry, village: &str, name: &str, c: &crate::broadcast_log::Coverage| {
                    format!(
                        "{},{},{},{},{},{},{},{},{:.3}",
                        b.id,
                        b.kind.as_str(),
                        time(b.start_at.or(Some(b.created_at))),
                        field(b.created_by_name.as_deref().unwrap_or("")),
                        village,
                        field(name),
                        c.targeted,
                        c.confirmed_playing,
                        c.ratio,
                    )
                };
            Ok(response(
                "dalaba-broadcasts.csv",
                "id,kind,start_utc,created_by,village_code,village_name,targeted,confirmed_playing,coverage",
                log.iter().flat_map(|b| {
                    std::iter::once(row(b, "", "", &b.coverage)).chain(
                        b.villages
                            .iter()
                            .map(|v| row(b, &v.code, v.name.as_deref().unwrap_or(""), &v.coverage)),
                    )
                }),
            ))
        }
        Some(other) => Err(AppError::BadRequest(format!(
            "format {other:?}: json or csv"
        ))),
    }
}

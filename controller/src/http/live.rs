//! `/api/live*`: announcing a live call, and its source's WebSocket (the relay itself is
//! `live`).

use axum::Json;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::live::{self, CreateLive};
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(source))
}

/// `POST /api/live`: announces a live stream to its target. The source then connects to
/// `source_url`.
#[utoipa::path(post, path = "/api/live", tag = "live", security(("bearer" = [])), request_body = CreateLive, responses((status = 201, description = "announced: `id`, `stream_id`, `latency_ms`, `agents`, `unreachable`, `source_url`", body = Value), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<CreateLive>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(live::create(&state, &user, req).await?),
    ))
}

/// `GET /api/live/{id}/source`: the source's WebSocket.
#[utoipa::path(get, path = "/api/live/{id}/source", tag = "live", security(("bearer" = [])), params(("id" = u64, Path, description = "the live call's id")), responses((status = 101, description = "switching protocols: the source's WebSocket (24-byte-header Opus frames, ping/pong text)"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn source(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Response, AppError> {
    let spec = live::source_of(&state, &user, id)?;
    // Who may speak is decided before the upgrade is even looked at.
    let ws = ws.map_err(|e| AppError::BadRequest(format!("live source: {e}")))?;
    tracing::info!(user = %user.name, broadcast = id, "live source connected");
    Ok(ws
        // A browser offered `dalaba` (with its token as a second subprotocol): agree to it.
        .protocols(["dalaba"])
        .max_message_size(live::MAX_SOURCE_MESSAGE)
        .on_upgrade(move |socket| live::relay(socket, state, id, spec)))
}

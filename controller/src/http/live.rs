//! `/api/live*`: announcing a live call, and its source's WebSocket (the relay itself is
//! `live`).

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::live::{self, CreateLive};
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/live", post(create))
        .route("/api/live/{id}/source", get(source))
}

/// `POST /api/live`: announces a live stream to its target. The source then connects to
/// `source_url`.
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateLive>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    Ok((StatusCode::CREATED, Json(live::create(&state, &user, req)?)))
}

/// `GET /api/live/{id}/source`: the source's WebSocket.
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

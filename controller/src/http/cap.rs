//! `POST /api/alerts/cap`: a CAP 1.2 message, in its own body limit (embedded audio).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use axum::{Json, Router};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::audit::AuditNote;
use crate::state::AppState;

/// This module's route, with its own body limit.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/alerts/cap",
        post(import).layer(DefaultBodyLimit::max(crate::cap::MAX_CAP_BYTES)),
    )
}

/// `POST /api/alerts/cap`: the body is the CAP XML; `X-Dalaba-Signature` an optional
/// detached signature. The audit log keeps the message's identifier, sender and areas.
async fn import(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let signature = headers
        .get("x-dalaba-signature")
        .and_then(|v| v.to_str().ok());
    let (detail, result) = crate::cap::import_for(&state, &user, &body, signature).await?;
    let mut response = match result {
        Ok(result) => (StatusCode::CREATED, Json(result)).into_response(),
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(AuditNote {
        user: None,
        detail: Some(detail),
    });
    Ok(response)
}

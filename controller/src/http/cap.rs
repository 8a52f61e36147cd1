//! `POST /api/alerts/cap`: a CAP 1.2 message, in its own body limit (embedded audio).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::audit::AuditNote;
use crate::http::openapi::ErrorBody;
use crate::state::AppState;

/// This module's route, with its own body limit.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import).layer(DefaultBodyLimit::max(crate::cap::MAX_CAP_BYTES)))
}

/// `POST /api/alerts/cap`: the body is the CAP XML; `X-Dalaba-Signature` an optional
/// detached signature. The audit log keeps the message's identifier, sender and areas.
#[utoipa::path(post, path = "/api/alerts/cap", tag = "alerts", security(("bearer" = [])),
    params(("X-Dalaba-Signature" = Option<String>, Header, description = "detached Ed25519 signature of the body (base64)")),
    request_body(content_type = "application/xml", description = "a CAP 1.2 message"),
    responses((status = 201, description = "`result` (`sent` or `held`), `alert_id`, `cancelled`", body = serde_json::Value),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
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

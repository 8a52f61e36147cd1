//! `/api/settings/*`: the approval rule, the CAP senders, speech and the map, thin
//! handlers over `approval`, `cap_senders`, `tts` and `map`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::access::Action;
use crate::approval::ApprovalRule;
use crate::auth::AuthUser;
use crate::cap_senders::CapSender;
use crate::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::map::MapSettings;
use crate::state::AppState;
use crate::tts::TtsSettings;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_approval, put_approval))
        .routes(routes!(get_cap_senders, put_cap_senders))
        .routes(routes!(get_tts, put_tts))
        .routes(routes!(get_map, put_map))
}

/// The area outlines, with their own body limit (a county's village outlines run to a
/// few megabytes).
pub fn outline_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(
        routes!(get_outlines, put_outlines, delete_outlines)
            .layer(DefaultBodyLimit::max(OUTLINE_BYTES)),
    )
}

/// Largest outline file, bytes.
const OUTLINE_BYTES: usize = 8 << 20;

/// `GET /api/map/outlines`: the deployment's own area outlines (GeoJSON), or `null`.
#[utoipa::path(get, path = "/api/map/outlines", tag = "settings", security(("bearer" = [])),
    responses((status = 200, description = "a GeoJSON FeatureCollection, or null", body = serde_json::Value), (status = 401, body = ErrorBody)))]
async fn get_outlines(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Option<serde_json::Value>>, AppError> {
    Ok(Json(crate::map::outlines(&state, &user)?.0))
}

/// `PUT /api/map/outlines` (admins): a GeoJSON FeatureCollection of area outlines in WGS-84
/// (Polygon, MultiPolygon or lines; a feature's `name` property is shown), up to 8 MiB.
#[utoipa::path(put, path = "/api/map/outlines", tag = "settings", security(("bearer" = [])),
    request_body(content = serde_json::Value, description = "GeoJSON FeatureCollection"),
    responses((status = 200, description = "`features`: how many were stored", body = serde_json::Value), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_outlines(
    State(state): State<AppState>,
    user: AuthUser,
    body: Bytes,
) -> Result<Json<serde_json::Value>, AppError> {
    let doc: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("not a JSON (GeoJSON) file: {e}")))?;
    let features = crate::map::set_outlines(&state, &user, Some(doc))?;
    Ok(Json(serde_json::json!({ "features": features })))
}

/// `DELETE /api/map/outlines` (admins): removes the outlines.
#[utoipa::path(delete, path = "/api/map/outlines", tag = "settings", security(("bearer" = [])),
    responses((status = 204, description = "removed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn delete_outlines(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<axum::http::StatusCode, AppError> {
    crate::map::set_outlines(&state, &user, None)?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `GET /api/settings/map`: where the map's tiles come from (none: a plain background).
#[utoipa::path(get, path = "/api/settings/map", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = MapSettings), (status = 401, body = ErrorBody)))]
async fn get_map(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<MapSettings>, AppError> {
    Ok(Json(crate::map::settings(&state, &user)?))
}

/// `PUT /api/settings/map` (admins): replaces the map's tile server.
#[utoipa::path(put, path = "/api/settings/map", tag = "settings", security(("bearer" = [])),
    request_body = MapSettings,
    responses((status = 200, body = MapSettings), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_map(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(new): JsonBody<MapSettings>,
) -> Result<Json<MapSettings>, AppError> {
    Ok(Json(crate::map::set_settings(&state, &user, new)?))
}

/// `GET /api/settings/tts`: how this deployment speaks (engine, voices, rate, lexicon).
#[utoipa::path(get, path = "/api/settings/tts", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = TtsSettings), (status = 401, body = ErrorBody)))]
async fn get_tts(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<TtsSettings>, AppError> {
    Ok(Json(crate::tts::settings(&state, &user)?))
}

/// `PUT /api/settings/tts` (admins): replaces how this deployment speaks.
#[utoipa::path(put, path = "/api/settings/tts", tag = "settings", security(("bearer" = [])),
    request_body = TtsSettings,
    responses((status = 200, body = TtsSettings), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_tts(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(new): JsonBody<TtsSettings>,
) -> Result<Json<TtsSettings>, AppError> {
    Ok(Json(crate::tts::set_settings(&state, &user, new)?))
}

/// `GET /api/settings/approval`: when a broadcast needs a second person.
#[utoipa::path(get, path = "/api/settings/approval", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = ApprovalRule), (status = 401, body = ErrorBody)))]
async fn get_approval(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<ApprovalRule>, AppError> {
    user.require(Action::View)?;
    Ok(Json(crate::approval::rule(&state)?))
}

/// `PUT /api/settings/approval` (admins): replaces the rule.
#[utoipa::path(put, path = "/api/settings/approval", tag = "settings", security(("bearer" = [])),
    request_body = ApprovalRule,
    responses((status = 200, body = ApprovalRule), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_approval(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(new): JsonBody<ApprovalRule>,
) -> Result<Json<ApprovalRule>, AppError> {
    Ok(Json(crate::approval::set_rule(&state, &user, new)?))
}

/// `GET /api/settings/cap-senders` (admins): who may speak through CAP.
#[utoipa::path(get, path = "/api/settings/cap-senders", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = Vec<CapSender>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn get_cap_senders(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<CapSender>>, AppError> {
    Ok(Json(crate::cap_senders::senders_for(&state, &user)?))
}

/// `PUT /api/settings/cap-senders` (admins): replaces the table.
#[utoipa::path(put, path = "/api/settings/cap-senders", tag = "settings", security(("bearer" = [])),
    request_body = Vec<CapSender>,
    responses((status = 200, body = Vec<CapSender>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_cap_senders(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(new): JsonBody<Vec<CapSender>>,
) -> Result<Json<Vec<CapSender>>, AppError> {
    Ok(Json(crate::cap_senders::set_senders(&state, &user, new)?))
}

//! `/api/alarms` and `/api/settings/alarms`: thin handlers over `alarms`.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::alarms::{AlarmSettings, AlarmView};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(acknowledge))
        .routes(routes!(get_settings, put_settings))
}

/// `GET /api/alarms`: the active alarms and the latest cleared ones on speakers in the
/// user's areas, newest first.
#[utoipa::path(get, path = "/api/alarms", tag = "alarms", security(("bearer" = [])),
    responses((status = 200, description = "alarms, newest first", body = Vec<AlarmView>),
        (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<AlarmView>>, AppError> {
    Ok(Json(crate::alarms::list(&state, &user)?))
}

/// `POST /api/alarms/{id}/ack`: the user has seen alarm `id` (kept with who and when).
#[utoipa::path(post, path = "/api/alarms/{id}/ack", tag = "alarms", security(("bearer" = [])),
    params(("id" = u64, Path, description = "the alarm")),
    responses((status = 200, description = "acknowledged", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn acknowledge(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<serde_json::Value>, AppError> {
    crate::alarms::acknowledge(&state, &user, id)?;
    Ok(Json(serde_json::json!({"acknowledged": id})))
}

/// `GET /api/settings/alarms` (admins): thresholds and webhooks.
#[utoipa::path(get, path = "/api/settings/alarms", tag = "settings", security(("bearer" = [])),
    responses((status = 200, description = "the settings", body = AlarmSettings),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_settings(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<AlarmSettings>, AppError> {
    Ok(Json(crate::alarms::settings(&state, &user)?))
}

/// `PUT /api/settings/alarms` (admins): thresholds and webhooks, checked.
#[utoipa::path(put, path = "/api/settings/alarms", tag = "settings", security(("bearer" = [])),
    request_body = AlarmSettings,
    responses((status = 200, description = "the settings in force", body = AlarmSettings),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn put_settings(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(settings): JsonBody<AlarmSettings>,
) -> Result<Json<AlarmSettings>, AppError> {
    Ok(Json(crate::alarms::set_settings(&state, &user, settings)?))
}

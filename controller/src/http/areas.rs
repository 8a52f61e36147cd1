//! `/api/areas/names`: area names, thin handlers over `areas`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::areas::{self, AreaName};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::extract::csv_text;
use crate::http::openapi::ErrorBody;
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_names, put_names))
}

/// Query of `GET /api/areas/names`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct NamesQuery {
    /// An area code prefix, at least a province's 2 digits.
    prefix: String,
    /// At most this many (default 5000, at most 50000).
    limit: Option<usize>,
}

/// `GET /api/areas/names?prefix=330106`: the names of that area and every area under it,
/// the deployment's first, then the shipped ones (to township).
#[utoipa::path(get, path = "/api/areas/names", tag = "agents", security(("bearer" = [])),
    params(NamesQuery),
    responses((status = 200, body = Vec<AreaName>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn get_names(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<NamesQuery>,
) -> Result<Json<Vec<AreaName>>, AppError> {
    let limit = q.limit.unwrap_or(5000).min(50_000);
    Ok(Json(areas::list(&state, &user, &q.prefix, limit)?))
}

/// `PUT /api/areas/names` (admins): names for codes, as JSON (`[{"code", "name"}]`) or as
/// CSV (`text/csv`: `code,name` lines, a header allowed). An empty name removes the
/// deployment's own. One bad entry and nothing changes; the answer says how many changed.
#[utoipa::path(put, path = "/api/areas/names", tag = "agents", security(("bearer" = [])),
    request_body(content = Vec<AreaName>, description = "JSON, or text/csv with code,name lines"),
    responses((status = 200, description = "`changed`: how many names changed", body = serde_json::Value),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_names(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, AppError> {
    let names: Vec<AreaName> = if let Some(text) = csv_text(&headers, &body)? {
        areas::parse_csv(text).map_err(AppError::BadRequest)?
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            AppError::BadRequest(format!(
                "expected [{{\"code\": \"330106001001\", \"name\": \"东村\"}}] or text/csv: {e}"
            ))
        })?
    };
    let changed = areas::set(&state, &user, &names)?;
    Ok(Json(serde_json::json!({"changed": changed})))
}

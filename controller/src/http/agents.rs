//! `/api/agents*` and `/api/areas`: thin handlers over `agent_admin`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::agent_admin::{
    self, AgentView, AreaNode, CreateAgent, CreatedAgent, EditAgent, MoveAgents, MoveResult,
    PushConfig,
};
use crate::agent_history::{self, History};
use crate::agent_import;
use crate::auth::AuthUser;
use crate::broadcast::Made;
use crate::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::extract::csv_text;
use crate::http::openapi::ErrorBody;
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, edit, retire))
        .routes(routes!(areas))
        .routes(routes!(push_config))
        .routes(routes!(history))
        .routes(routes!(test_tone))
        .routes(routes!(move_agents))
}

/// The installation-list import, with its own body limit (a county's list of 20,000 lines
/// is about 2.5 MB; every other request stays under the operators' 1 MiB).
pub fn import_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import).layer(DefaultBodyLimit::max(IMPORT_BYTES)))
}

/// Largest installation list, bytes.
const IMPORT_BYTES: usize = 8 << 20;

/// `GET /api/agents`: the agents in the caller's areas.
#[utoipa::path(get, path = "/api/agents", tag = "agents", security(("bearer" = [])),
    responses((status = 200, description = "every agent in the caller's areas, with live status", body = Vec<AgentView>), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<AgentView>>, AppError> {
    Ok(Json(agent_admin::list(&state, &user)?))
}

/// `GET /api/agents/{id}`: one agent.
#[utoipa::path(get, path = "/api/agents/{id}", tag = "agents", security(("bearer" = [])), params(("id" = String, Path, description = "the agent's id")),
    responses((status = 200, body = AgentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, AppError> {
    Ok(Json(agent_admin::get(&state, &user, &id)?))
}

/// `POST /api/agents`: the enrolment token is shown once.
#[utoipa::path(post, path = "/api/agents", tag = "agents", security(("bearer" = [])),
    request_body = CreateAgent,
    responses((status = 201, description = "created; its one-time enrolment token, or none when `public_key` was given", body = CreatedAgent),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<CreateAgent>,
) -> Result<(StatusCode, Json<CreatedAgent>), AppError> {
    let created = agent_admin::create(&state, &user, req)?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `PATCH /api/agents/{id}`: name, area, groups, location (`null` removes it).
#[utoipa::path(patch, path = "/api/agents/{id}", tag = "agents", security(("bearer" = [])), params(("id" = String, Path, description = "the agent's id")),
    request_body = EditAgent,
    responses((status = 200, body = AgentView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn edit(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<EditAgent>,
) -> Result<Json<AgentView>, AppError> {
    Ok(Json(agent_admin::edit(&state, &user, &id, req)?))
}

/// `DELETE /api/agents/{id}`: retires the agent.
#[utoipa::path(delete, path = "/api/agents/{id}", tag = "agents", security(("bearer" = [])), params(("id" = String, Path, description = "the agent's id")),
    responses((status = 204, description = "retired: disconnected, and it cannot log in again"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn retire(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    agent_admin::retire(&state, &user, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/areas`: the area tree with agent counts.
#[utoipa::path(get, path = "/api/areas", tag = "agents", security(("bearer" = [])),
    responses((status = 200, description = "province → city → county → township → village", body = Vec<AreaNode>), (status = 401, body = ErrorBody)))]
async fn areas(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<AreaNode>>, AppError> {
    Ok(Json(agent_admin::areas(&state, &user)?))
}

/// `POST /api/agents/{id}/config`: a new configuration file for one agent.
#[utoipa::path(post, path = "/api/agents/{id}/config", tag = "agents", security(("bearer" = [])), params(("id" = String, Path, description = "the agent's id")),
    request_body = PushConfig,
    responses((status = 202, description = "sent (signed); checked here with the agent's own parser first"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn push_config(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<PushConfig>,
) -> Result<StatusCode, AppError> {
    agent_admin::push_config(&state, &user, &id, req)?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /api/agents/move` (administrators): agents handed to another controller.
#[utoipa::path(post, path = "/api/agents/move", tag = "agents", security(("bearer" = [])),
    request_body = MoveAgents,
    responses((status = 202, description = "`sent` and `not_sent` (with the reason) per agent", body = MoveResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn move_agents(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<MoveAgents>,
) -> Result<(StatusCode, Json<MoveResult>), AppError> {
    let moved = agent_admin::move_agents(&state, &user, req)?;
    Ok((StatusCode::ACCEPTED, Json(moved)))
}

/// Query of `POST /api/agents/import`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ImportQuery {
    /// Where the speakers reach this controller (`wss://host:8443/agent/ws`): given, each
    /// answer holds its terminal's configuration file.
    agent_url: Option<String>,
}

/// `POST /api/agents/import`: many speakers at once, as CSV (`text/csv`:
/// `id,name,area_code,groups,lat,lon` lines, groups separated by `;`, a header allowed)
/// or as JSON (a list of `POST /api/agents` bodies). All or none: one bad line and
/// nothing is created, and the answer names every bad line. Each new speaker's
/// enrolment token (and terminal file) is shown once.
#[utoipa::path(post, path = "/api/agents/import", tag = "agents", security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = Vec<CreateAgent>, description = "JSON, or text/csv with id,name,area_code,groups,lat,lon lines"),
    responses((status = 201, description = "every speaker created, with its one-time token", body = Vec<CreatedAgent>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn import(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Vec<CreatedAgent>>), AppError> {
    let rows = match csv_text(&headers, &body)? {
        Some(text) => agent_import::parse_csv(text),
        None => serde_json::from_slice::<Vec<CreateAgent>>(&body)
            .map_err(|e| {
                AppError::BadRequest(format!(
                    "expected a list of speakers ({{\"id\", \"name\", \"area_code\"}}) or text/csv with {}: {e}",
                    agent_import::COLUMNS
                ))
            })?
            .into_iter()
            .enumerate()
            .map(|(i, row)| (i + 1, Ok(row)))
            .collect(),
    };
    let created = agent_import::import(&state, &user, rows, q.agent_url.as_deref())?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/agents/{id}/history`: what the speaker played (newest first, with what each
/// broadcast was and its receipt) and its log (online, offline, faults appearing and
/// clearing).
#[utoipa::path(get, path = "/api/agents/{id}/history", tag = "agents", security(("bearer" = [])), params(("id" = String, Path, description = "the agent's id")),
    responses((status = 200, body = History), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn history(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<History>, AppError> {
    Ok(Json(agent_history::history(&state, &user, &id)?))
}

/// `POST /api/agents/{id}/test-tone`: 2 s of 1 kHz on this speaker alone, marked as a
/// test; the answer is the broadcast, as `POST /api/broadcasts` gives it.
#[utoipa::path(post, path = "/api/agents/{id}/test-tone", tag = "agents", security(("bearer" = [])), params(("id" = String, Path, description = "the agent's id")),
    responses((status = 201, description = "sent", body = serde_json::Value), (status = 202, description = "held for approval", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn test_tone(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    Ok(match agent_history::test_tone(&state, &user, &id).await? {
        Made::Sent(body) => (StatusCode::CREATED, Json(body)),
        Made::Held(body) => (StatusCode::ACCEPTED, Json(body)),
    })
}

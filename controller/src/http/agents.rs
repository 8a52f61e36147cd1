//! `/api/agents*` and `/api/areas`: thin handlers over `agent_admin`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::agent_admin::{
    self, AgentView, AreaNode, CreateAgent, CreatedAgent, EditAgent, MoveAgents, MoveResult,
    PushConfig,
};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/agents", get(list).post(create))
        .route("/api/agents/{id}", get(one).patch(edit).delete(retire))
        .route("/api/areas", get(areas))
        .route("/api/agents/{id}/config", post(push_config))
        .route("/api/agents/move", post(move_agents))
}

/// `GET /api/agents`: the agents in the caller's areas.
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<AgentView>>, AppError> {
    Ok(Json(agent_admin::list(&state, &user)?))
}

/// `GET /api/agents/{id}`
async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, AppError> {
    Ok(Json(agent_admin::get(&state, &user, &id)?))
}

/// `POST /api/agents`: the enrolment token is shown once.
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateAgent>,
) -> Result<(StatusCode, Json<CreatedAgent>), AppError> {
    let created = agent_admin::create(&state, &user, req)?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `PATCH /api/agents/{id}`: name, area, groups.
async fn edit(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<EditAgent>,
) -> Result<Json<AgentView>, AppError> {
    Ok(Json(agent_admin::edit(&state, &user, &id, req)?))
}

/// `DELETE /api/agents/{id}`: retires the agent.
async fn retire(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    agent_admin::retire(&state, &user, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/areas`: the area tree with agent counts.
async fn areas(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<AreaNode>>, AppError> {
    Ok(Json(agent_admin::areas(&state, &user)?))
}

/// `POST /api/agents/{id}/config`: a new configuration file for one agent.
async fn push_config(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<PushConfig>,
) -> Result<StatusCode, AppError> {
    agent_admin::push_config(&state, &user, &id, req)?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /api/agents/move` (administrators): agents handed to another controller.
async fn move_agents(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<MoveAgents>,
) -> Result<(StatusCode, Json<MoveResult>), AppError> {
    let moved = agent_admin::move_agents(&state, &user, req)?;
    Ok((StatusCode::ACCEPTED, Json(moved)))
}

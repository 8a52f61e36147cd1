//! The HTTP API: `fn router(state) -> Router`, thin handlers, the HTTP face of
//! [`AppError`] (status and `{"error": {"code", "message"}}`, internals hidden),
//! authentication as the [`AuthUser`] extractor.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dalaba_protocol::AreaCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::{Action, agent_in_scope, parse_agent_id};
use crate::auth::{self, AuthUser};
use crate::error::AppError;
use crate::hub::Outgoing;
use crate::now_us;
use crate::state::AppState;
use crate::storage::AgentRecord;

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::BadLogin => (StatusCode::UNAUTHORIZED, "bad_login"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::TooSlow => (StatusCode::REQUEST_TIMEOUT, "too_slow"),
            Self::Internal(e) => {
                tracing::error!("internal error: {e:#}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        (
            status,
            Json(json!({"error": {"code": code, "message": self.to_string()}})),
        )
            .into_response()
    }
}

/// The whole HTTP surface, agents' endpoint included (in-process tests).
pub fn router(state: AppState) -> Router {
    router_for(state, true)
}

/// The agents' listener: only what agents need (`/agent/ws`, media downloads, a health
/// check). Anything else is refused with a pointer to the operators' listener, so the API
/// and the console are not exposed where every speaker on the network can reach them.
pub fn agents_router(state: AppState) -> Router {
    Router::new()
        .route("/agent/ws", get(agent_ws))
        .route("/media/{hash}", get(crate::media::download))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async {
            AppError::NotFound(
                "this is the agents' listener (/agent/ws and media only); the console and \
                 the API are on the operators' listener"
                    .into(),
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

/// The operators' listener: console, API and live sources; the agents' endpoint only if
/// `agents` (it is left out so agents can only connect over their own TLS listener).
pub fn router_for(state: AppState, agents: bool) -> Router {
    let agent_ws = if agents {
        get(agent_ws)
    } else {
        get(|| async {
            AppError::NotFound(
                "the agent endpoint is served over TLS only (the controller's agent listener)"
                    .into(),
            )
        })
    };
    Router::new()
        .route("/", get(crate::http::console::index))
        .route("/talk", get(crate::http::console::talk))
        .route("/console/{file}", get(crate::http::console::file))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route(
            "/api/openapi.json",
            get(|| async { Json(crate::http::openapi::document()) }),
        )
        .route("/api/login", post(crate::http::login::login))
        .route("/api/logout", post(crate::http::login::logout))
        .route("/api/me", get(crate::users::me))
        .route(
            "/api/users",
            get(crate::users::list).post(crate::users::create),
        )
        .route("/api/users/{id}", axum::routing::patch(crate::users::edit))
        .route("/api/audit", get(crate::http::audit::list))
        .route("/api/controller", get(controller_info))
        .route("/api/agents", get(list_agents).post(create_agent))
        .route(
            "/api/agents/{id}",
            get(get_agent).patch(edit_agent).delete(retire_agent),
        )
        .route("/api/areas", get(areas))
        .route(
            "/api/agents/{id}/config",
            post(crate::agent_config::push_config),
        )
        .route("/api/agents/move", post(crate::agent_config::move_agents))
        .route("/agent/ws", agent_ws)
        .route("/api/media", get(crate::media::list))
        .route("/api/media/{id}", get(crate::media::get))
        .route("/api/media/{id}/approval", post(crate::media::approve))
        .route("/media/{hash}", get(crate::media::download))
        .route(
            "/api/broadcasts",
            get(crate::broadcast::list).post(crate::broadcast::create),
        )
        .route(
            "/api/playlists",
            get(crate::programme::list_playlists).post(crate::programme::create_playlist),
        )
        .route(
            "/api/playlists/{id}",
            get(crate::programme::get_playlist)
                .put(crate::programme::update_playlist)
                .delete(crate::programme::delete_playlist),
        )
        .route(
            "/api/schedules",
            get(crate::programme::list_schedules).post(crate::programme::create_schedule),
        )
        .route(
            "/api/schedules/{id}",
            get(crate::programme::get_schedule)
                .put(crate::programme::update_schedule)
                .delete(crate::programme::delete_schedule),
        )
        .route(
            "/api/alerts",
            get(crate::alert::list).post(crate::alert::create),
        )
        .route("/api/alerts/{id}", get(crate::alert::get))
        .route("/api/alerts/{id}/cancel", post(crate::alert::cancel_route))
        .route("/api/alerts/{id}/approve", post(crate::alert::approve))
        .route("/api/alerts/{id}/reject", post(crate::alert::reject))
        .route(
            "/api/quiet-hours",
            get(crate::programme::get_quiet_hours).put(crate::programme::put_quiet_hours),
        )
        .route("/api/broadcasts/{id}", get(crate::broadcast::get))
        .route("/api/broadcasts/{id}/stop", post(crate::broadcast::stop))
        .route(
            "/api/broadcasts/{id}/approve",
            post(crate::broadcast::approve),
        )
        .route(
            "/api/schedules/{id}/approve",
            post(crate::programme::approve_schedule),
        )
        .merge(crate::http::settings::routes())
        .route("/api/live", post(crate::live::create))
        .route("/api/live/{id}/source", get(crate::live::source))
        // Request bodies: 1 MiB for everything but uploads, which the upload handler
        // limits itself while streaming them to disk, and CAP messages (embedded audio).
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .route(
            "/api/media",
            post(crate::media::upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::media::MAX_UPLOAD as usize + 64 * 1024,
            )),
        )
        .route(
            "/api/alerts/cap",
            post(crate::cap::import).layer(axum::extract::DefaultBodyLimit::max(
                crate::cap::MAX_CAP_BYTES,
            )),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::audit::record,
        ))
        .with_state(state)
}

/// `GET /agent/ws`: an agent's connection (`agent_link.rs` speaks the protocol).
async fn agent_ws(
    ws: axum::extract::ws::WebSocketUpgrade,
    State(state): State<AppState>,
) -> Response {
    crate::agent_link::limits(ws).on_upgrade(move |socket| crate::agent_link::run(socket, state))
}

async fn controller_info(
    State(state): State<AppState>,
    _user: AuthUser,
) -> Json<serde_json::Value> {
    Json(json!({
        "controller_id": state.identity.controller_id,
        "public_key": state.identity.signer.public_key().to_base64(),
        "tls_fingerprint": state.tls.fingerprint,
        "protocol_versions": dalaba_protocol::SUPPORTED_VERSIONS,
    }))
}

/// An agent as the API shows it.
#[derive(Serialize)]
struct AgentView {
    id: String,
    name: String,
    area_code: String,
    groups: Vec<String>,
    enrolled: bool,
    /// The agent's identity key once enrolled (base64), to move it to another controller.
    public_key: Option<String>,
    retired: bool,
    online: bool,
    last_seen: Option<u64>,
    status: Option<serde_json::Value>,
}

fn view(state: &AppState, a: AgentRecord) -> AgentView {
    AgentView {
        online: state.hub.is_online(&a.id),
        id: a.id.to_string(),
        name: a.name,
        area_code: a.area_code.to_string(),
        groups: a.groups,
        enrolled: a.public_key.is_some(),
        public_key: a.public_key.map(|k| k.to_base64()),
        retired: a.retired,
        last_seen: a.last_seen,
        status: a.status_json.and_then(|s| serde_json::from_str(&s).ok()),
    }
}

async fn list_agents(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<AgentView>>, AppError> {
    user.require(Action::View)?;
    let agents = state.storage.agents()?;
    Ok(Json(
        agents
            .into_iter()
            .filter(|a| user.covers(a.area_code.as_str()))
            .map(|a| view(&state, a))
            .collect(),
    ))
}

async fn get_agent(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, AppError> {
    user.require(Action::View)?;
    let id = parse_agent_id(&id)?;
    let agent = agent_in_scope(&state, &user, &id)?;
    Ok(Json(view(&state, agent)))
}

#[derive(Deserialize)]
struct CreateAgent {
    id: String,
    name: String,
    area_code: String,
    #[serde(default)]
    groups: Vec<String>,
    /// The agent's identity key, for an agent moved here from another controller (whose
    /// `GET /api/agents/{id}` shows it): such an agent logs in with its key, no enrolment
    /// token is made.
    #[serde(default)]
    public_key: Option<String>,
}

/// An agent's display name is 1 to 200 characters, each group name 1 to 64.
fn check_name_and_groups(name: &str, groups: &[String]) -> Result<(), AppError> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(AppError::BadRequest("name: 1 to 200 characters".into()));
    }
    if let Some(g) = groups.iter().find(|g| g.trim().is_empty() || g.len() > 64) {
        return Err(AppError::BadRequest(format!(
            "group {g:?}: 1 to 64 characters"
        )));
    }
    Ok(())
}

/// Enrolment tokens are valid for 7 days.
const TOKEN_MICROS: u64 = 7 * 24 * 3600 * 1_000_000;

async fn create_agent(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateAgent>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    user.require(Action::ManageAgents)?;
    let id = parse_agent_id(&req.id)?;
    let area_code: AreaCode = req
        .area_code
        .parse()
        .map_err(|e| AppError::BadRequest(format!("area_code: {e}")))?;
    if !user.covers(area_code.as_str()) {
        return Err(AppError::Forbidden(format!(
            "area {area_code} is outside your areas"
        )));
    }
    check_name_and_groups(&req.name, &req.groups)?;
    let public_key = req
        .public_key
        .as_deref()
        .map(|k| {
            dalaba_protocol::keys::PublicKey::from_base64(k.trim()).map_err(|e| {
                AppError::BadRequest(format!(
                    "public_key: {e}; copy it from the agent's page on its old controller"
                ))
            })
        })
        .transpose()?;
    // An agent that brings its key needs no enrolment token.
    let token = public_key.is_none().then(|| auth::random_secret(18));
    let expires = token.as_ref().map(|_| now_us() + TOKEN_MICROS);
    state.storage.create_agent(&AgentRecord {
        id: id.clone(),
        name: req.name,
        area_code,
        groups: req.groups,
        public_key,
        token_hash: token.as_deref().map(auth::token_hash),
        token_expires_at: expires,
        last_seq: 0,
        retired: false,
        last_seen: None,
        status_json: None,
    })?;
    tracing::info!(user = %user.name, agent = %id, "agent created");
    let agent = state
        .storage
        .agent(&id)?
        .ok_or_else(|| AppError::NotFound(format!("agent {id}")))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "agent": view(&state, agent),
            "enrolment_token": token,
            "enrolment_token_expires_at": expires,
        })),
    ))
}

#[derive(Deserialize)]
struct EditAgent {
    name: Option<String>,
    area_code: Option<String>,
    groups: Option<Vec<String>>,
}

async fn edit_agent(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<EditAgent>,
) -> Result<Json<AgentView>, AppError> {
    user.require(Action::ManageAgents)?;
    let id = parse_agent_id(&id)?;
    let agent = agent_in_scope(&state, &user, &id)?;
    let name = req.name.unwrap_or(agent.name);
    let area_code = match req.area_code {
        Some(a) => a
            .parse()
            .map_err(|e| AppError::BadRequest(format!("area_code: {e}")))?,
        None => agent.area_code,
    };
    if !user.covers(area_code.as_str()) {
        return Err(AppError::Forbidden(format!(
            "area {area_code} is outside your areas"
        )));
    }
    let groups = req.groups.unwrap_or(agent.groups);
    check_name_and_groups(&name, &groups)?;
    state
        .storage
        .update_agent(&id, &name, &area_code, &groups)?;
    tracing::info!(user = %user.name, agent = %id, "agent edited");
    let agent = state
        .storage
        .agent(&id)?
        .ok_or_else(|| AppError::NotFound(format!("agent {id}")))?;
    Ok(Json(view(&state, agent)))
}

/// One node of the area tree.
#[derive(Serialize)]
struct AreaNode {
    code: String,
    level: &'static str,
    agents: usize,
    online: usize,
    children: Vec<AreaNode>,
}

const LEVELS: [(usize, &str); 5] = [
    (2, "province"),
    (4, "city"),
    (6, "county"),
    (9, "township"),
    (12, "village"),
];

fn area_tree(agents: &[(String, bool)], prefix: &str, level: usize) -> Vec<AreaNode> {
    let Some(&(len, name)) = LEVELS.get(level) else {
        return Vec::new();
    };
    let mut codes: Vec<&str> = agents
        .iter()
        .filter(|(code, _)| code.starts_with(prefix))
        .map(|(code, _)| &code[..len])
        .collect();
    codes.dedup();
    codes
        .into_iter()
        .map(|code| {
            let inside: Vec<_> = agents.iter().filter(|(c, _)| c.starts_with(code)).collect();
            AreaNode {
                code: code.to_owned(),
                level: name,
                agents: inside.len(),
                online: inside.iter().filter(|(_, online)| *online).count(),
                children: area_tree(agents, code, level + 1),
            }
        })
        .collect()
}

/// `GET /api/areas`: the area tree (province → city → county → township → village) of
/// the agents' area codes, with agent counts.
async fn areas(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<AreaNode>>, AppError> {
    user.require(Action::View)?;
    let mut agents: Vec<(String, bool)> = state
        .storage
        .agents()?
        .into_iter()
        .filter(|a| !a.retired && user.covers(a.area_code.as_str()))
        .map(|a| (a.area_code.to_string(), state.hub.is_online(&a.id)))
        .collect();
    agents.sort();
    Ok(Json(area_tree(&agents, "", 0)))
}

async fn retire_agent(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    user.require(Action::ManageAgents)?;
    let id = parse_agent_id(&id)?;
    agent_in_scope(&state, &user, &id)?;
    if !state.storage.retire_agent(&id)? {
        return Err(AppError::NotFound(format!("agent {id}")));
    }
    let _ = state.hub.send(
        &id,
        Outgoing::Close(
            dalaba_protocol::control::ErrorCode::Revoked,
            "this agent has been retired".into(),
        ),
    );
    tracing::info!(user = %user.name, agent = %id, "agent retired");
    Ok(StatusCode::NO_CONTENT)
}

async fn metrics(State(state): State<AppState>) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &state.hub.metrics;
    format!(
        "# HELP dalaba_agents_online Agents connected now.\n# TYPE dalaba_agents_online gauge\ndalaba_agents_online {}\n\
         # HELP dalaba_messages_sent_total Messages queued to agents.\n# TYPE dalaba_messages_sent_total counter\ndalaba_messages_sent_total {}\n\
         # HELP dalaba_messages_dropped_total Messages dropped because an agent's queue was full.\n# TYPE dalaba_messages_dropped_total counter\ndalaba_messages_dropped_total {}\n\
         # HELP dalaba_broadcasts_active Broadcasts still running.\n# TYPE dalaba_broadcasts_active gauge\ndalaba_broadcasts_active {}\n\
         # HELP dalaba_receipts_total Receipts agents sent.\n# TYPE dalaba_receipts_total counter\ndalaba_receipts_total {}\n\
         # HELP dalaba_receipts_ignored_total Receipts not recorded: not this agent's broadcast, or after a final state.\n# TYPE dalaba_receipts_ignored_total counter\ndalaba_receipts_ignored_total {}\n",
        state.hub.online_count(),
        m.sent.load(Relaxed),
        m.dropped.load(Relaxed),
        crate::dispatch::active(&state).count(crate::now_us()),
        m.receipts.load(Relaxed),
        m.receipts_ignored.load(Relaxed),
    ) + &state.edge.metrics()
}

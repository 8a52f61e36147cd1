//! Changing what agents run with: a configuration file pushed to one agent, and agents
//! moved to another controller (a signed `move_controller` command, the only way their
//! pinned controller URL, key and certificate change; see SECURITY.md).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dalaba_protocol::command::{Command, ConfigPush, MoveController};
use dalaba_protocol::keys::PublicKey;
use serde::{Deserialize, Serialize};

use crate::access::Action;
use crate::access::{agent_in_scope, parse_agent_id};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

/// Body of `POST /api/agents/{id}/config`.
#[derive(Debug, Deserialize)]
pub struct PushConfig {
    config_version: String,
    document: String,
}

/// A configuration version label: 1 to 64 characters.
fn check_version(version: &str) -> Result<(), AppError> {
    if version.trim().is_empty() || version.len() > 64 {
        return Err(AppError::BadRequest(
            "config_version: 1 to 64 characters".into(),
        ));
    }
    Ok(())
}

/// `POST /api/agents/{id}/config`: sends the agent a new configuration file (signed). The
/// agent validates it, reconnects with it, and rolls it back if it cannot reach the
/// controller with it; its status shows the version in use.
pub async fn push_config(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<PushConfig>,
) -> Result<StatusCode, AppError> {
    user.require(Action::ManageAgents)?;
    let id = parse_agent_id(&id)?;
    agent_in_scope(&state, &user, &id)?;
    check_version(&req.config_version)?;
    if req.document.len() > dalaba_protocol::limits::MAX_CONFIG_DOCUMENT {
        return Err(AppError::TooLarge("document: larger than 64 KiB".into()));
    }
    // Checked with the agent's own parser, so a file the speaker would refuse is refused
    // here, with its line, instead of travelling to the pole to be rolled back.
    if let Err(e) = dalaba_firmware_config::Config::parse(&req.document) {
        return Err(AppError::BadRequest(format!(
            "document: not a configuration the agent accepts: {e}"
        )));
    }
    let command = Command::ConfigPush(ConfigPush {
        config_version: req.config_version,
        document: req.document,
    });
    crate::dispatch::send_command(&state, &id, command)
        .map_err(|why| AppError::Conflict(format!("agent {id}: {why}")))?;
    tracing::info!(user = %user.name, agent = %id, "configuration pushed");
    Ok(StatusCode::ACCEPTED)
}

/// Most agents one move request names (a county has about 1,900).
const MAX_MOVE: usize = 5_000;

/// Body of `POST /api/agents/move`.
#[derive(Debug, Deserialize)]
pub struct MoveAgents {
    /// Agent ids to move.
    agents: Vec<String>,
    /// The other controller's agent endpoint, `wss://host:port/agent/ws`.
    url: String,
    /// The other controller's command key (`public_key` of its `GET /api/controller`).
    public_key: String,
    /// The other controller's certificate (`tls_fingerprint` of its `GET /api/controller`).
    #[serde(default)]
    tls_fingerprint: Option<String>,
    /// Version label the agents report after the move; `move-<unix seconds>` if absent.
    #[serde(default)]
    config_version: Option<String>,
}

/// One agent that was not sent the move, and why.
#[derive(Debug, Serialize)]
pub struct NotMoved {
    id: String,
    error: String,
}

/// Answer of `POST /api/agents/move`.
#[derive(Debug, Serialize)]
pub struct MoveResult {
    config_version: String,
    /// Agents sent the command; each reconnects to the other controller and keeps the new
    /// pins only once it is in session there (else it comes back here after its trial).
    sent: Vec<String>,
    not_sent: Vec<NotMoved>,
}

/// A certificate pin as the agents' configuration takes it.
fn check_fingerprint(fp: &str) -> Result<(), AppError> {
    match dalaba_protocol::keys::parse_tls_fingerprint(fp.trim()) {
        Some(_) => Ok(()),
        None => Err(AppError::BadRequest(
            "tls_fingerprint: 64 hex digits (sha256:… allowed), as the other controller's GET /api/controller shows it".into(),
        )),
    }
}

/// The destination of a move, checked before anything is sent: an agent given pins it
/// cannot load refuses the command, and one given pins of a controller that does not
/// know it comes back only after its trial.
fn check_destination(req: &MoveAgents) -> Result<PublicKey, AppError> {
    let url = req.url.trim();
    let wss = url.starts_with("wss://");
    if !(wss || url.starts_with("ws://")) || !url.ends_with("/agent/ws") {
        return Err(AppError::BadRequest(
            "url: the other controller's agent endpoint, wss://host:port/agent/ws".into(),
        ));
    }
    let key = PublicKey::from_base64(req.public_key.trim()).map_err(|e| {
        AppError::BadRequest(format!(
            "public_key: {e}; copy it from the other controller's GET /api/controller"
        ))
    })?;
    match (&req.tls_fingerprint, wss) {
        (Some(fp), _) => check_fingerprint(fp)?,
        (None, true) => {
            return Err(AppError::BadRequest(
                "tls_fingerprint: required with wss://, so the agents know the other controller's certificate".into(),
            ));
        }
        (None, false) => {}
    }
    Ok(key)
}

/// `POST /api/agents/move` (administrators): hands agents to another controller. Each
/// online agent named is sent a signed `move_controller` with the other controller's URL,
/// key and certificate; the other controller must already know each agent (created there
/// with the agent's `public_key`, which `GET /api/agents/{id}` shows here). Offline agents
/// and unknown ids are listed in `not_sent`, and nothing is sent if the destination is
/// invalid.
pub async fn move_agents(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<MoveAgents>,
) -> Result<(StatusCode, Json<MoveResult>), AppError> {
    user.require(Action::Administer)?;
    if req.agents.is_empty() || req.agents.len() > MAX_MOVE {
        return Err(AppError::BadRequest(format!(
            "agents: 1 to {MAX_MOVE} agent ids"
        )));
    }
    let key = check_destination(&req)?;
    let config_version = match &req.config_version {
        Some(v) => {
            check_version(v)?;
            v.clone()
        }
        None => format!("move-{}", crate::now_us() / 1_000_000),
    };
    let command = Command::MoveController(MoveController {
        config_version: config_version.clone(),
        url: req.url.trim().to_owned(),
        public_key: key,
        tls_fingerprint: req
            .tls_fingerprint
            .as_deref()
            .map(str::trim)
            .map(str::to_owned),
    });
    let mut result = MoveResult {
        config_version,
        sent: Vec::new(),
        not_sent: Vec::new(),
    };
    for raw in &req.agents {
        let sent = parse_agent_id(raw)
            .and_then(|id| agent_in_scope(&state, &user, &id).map(|_| id))
            .and_then(|id| {
                crate::dispatch::send_command(&state, &id, command.clone())
                    .map_err(|why| AppError::Conflict(format!("{why}; move it when it is online")))
            });
        match sent {
            Ok(_) => result.sent.push(raw.clone()),
            Err(e) => result.not_sent.push(NotMoved {
                id: raw.clone(),
                error: e.to_string(),
            }),
        }
    }
    tracing::info!(
        user = %user.name,
        url = %req.url,
        key = %key.key_id(),
        sent = result.sent.len(),
        not_sent = result.not_sent.len(),
        "agents moved to another controller"
    );
    Ok((StatusCode::ACCEPTED, Json(result)))
}

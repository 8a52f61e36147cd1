//! Managing agents: creating (with an enrolment token, or the key of an agent moved here),
//! editing, retiring and listing them, the area tree, a configuration file pushed to one
//! agent, and agents moved to another controller (a signed `move_controller` command, the
//! only way their pinned controller URL, key and certificate change; see SECURITY.md).
//! The HTTP face is `http::agents`.

use dalaba_protocol::AreaCode;
use dalaba_protocol::command::{Command, ConfigPush, MoveController};
use dalaba_protocol::keys::PublicKey;
use serde::{Deserialize, Serialize};

use crate::access::Action;
use crate::access::{agent_in_scope, parse_agent_id};
use crate::areas::Names;
use crate::auth::{self, AuthUser};
use crate::error::AppError;
use crate::hub::Outgoing;
use crate::state::AppState;
use crate::storage::{AgentRecord, Location};

/// Body of `POST /api/agents/{id}/config`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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

/// Sends agent `id` a new configuration file (signed). The agent validates it, reconnects
/// with it, and rolls it back if it cannot reach the controller with it; its status shows
/// the version in use.
pub fn push_config(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    req: PushConfig,
) -> Result<(), AppError> {
    user.require(Action::ManageAgents)?;
    let id = parse_agent_id(id)?;
    agent_in_scope(state, user, &id)?;
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
    crate::dispatch::send_command(state, &id, command)
        .map_err(|why| AppError::Conflict(format!("agent {id}: {why}")))?;
    tracing::info!(user = %user.name, agent = %id, "configuration pushed");
    Ok(())
}

/// Most agents one move request names (a county has about 1,900).
const MAX_MOVE: usize = 5_000;

/// Body of `POST /api/agents/move`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotMoved {
    id: String,
    error: String,
}

/// Answer of `POST /api/agents/move`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// Hands agents to another controller (administrators). Each
/// online agent named is sent a signed `move_controller` with the other controller's URL,
/// key and certificate; the other controller must already know each agent (created there
/// with the agent's `public_key`, which `GET /api/agents/{id}` shows here). Offline agents
/// and unknown ids are listed in `not_sent`, and nothing is sent if the destination is
/// invalid.
pub fn move_agents(
    state: &AppState,
    user: &AuthUser,
    req: MoveAgents,
) -> Result<MoveResult, AppError> {
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
        None => format!("move-{}", state.clock.now_us() / 1_000_000),
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
            .and_then(|id| agent_in_scope(state, user, &id).map(|_| id))
            .and_then(|id| {
                crate::dispatch::send_command(state, &id, command.clone())
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
    Ok(result)
}

/// An agent as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    id: String,
    name: String,
    area_code: String,
    /// Its area's name, county to village (`西湖区 北山街道 东村`), where known.
    area_name: Option<String>,
    groups: Vec<String>,
    enrolled: bool,
    /// The agent's identity key once enrolled (base64), to move it to another controller.
    public_key: Option<String>,
    retired: bool,
    online: bool,
    last_seen: Option<u64>,
    /// Its last status report (PROTOCOL.md 4.5).
    status: Option<serde_json::Value>,
    /// Where it stands (WGS-84), if known.
    location: Option<Location>,
}

fn view(state: &AppState, names: &Names, a: AgentRecord) -> AgentView {
    AgentView {
        online: state.hub.is_online(&a.id),
        id: a.id.to_string(),
        name: a.name,
        area_name: names.full(a.area_code.as_str()),
        area_code: a.area_code.to_string(),
        groups: a.groups,
        enrolled: a.public_key.is_some(),
        public_key: a.public_key.map(|k| k.as_base64().to_owned()),
        retired: a.retired,
        last_seen: a.last_seen,
        status: a.status_json.and_then(|s| serde_json::from_str(&s).ok()),
        location: a.location,
    }
}

/// The agents in `user`'s areas.
pub fn list(state: &AppState, user: &AuthUser) -> Result<Vec<AgentView>, AppError> {
    user.require(Action::View)?;
    let agents = state.storage.agents()?;
    let names = Names::load(state)?;
    Ok(agents
        .into_iter()
        .filter(|a| user.covers(a.area_code.as_str()))
        .map(|a| view(state, &names, a))
        .collect())
}

/// Agent `id`, if it is in `user`'s areas.
pub fn get(state: &AppState, user: &AuthUser, id: &str) -> Result<AgentView, AppError> {
    user.require(Action::View)?;
    let id = parse_agent_id(id)?;
    let agent = agent_in_scope(state, user, &id)?;
    Ok(view(state, &Names::load(state)?, agent))
}

/// Body of `POST /api/agents` (and one entry of `POST /api/agents/import`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateAgent {
    pub(crate) id: String,
    name: String,
    area_code: String,
    #[serde(default)]
    groups: Vec<String>,
    /// The agent's identity key, for an agent moved here from another controller (whose
    /// `GET /api/agents/{id}` shows it): such an agent logs in with its key, no enrolment
    /// token is made.
    #[serde(default)]
    public_key: Option<String>,
    /// Where the speaker reaches this controller's agent endpoint
    /// (`wss://host:8443/agent/ws`): given, the answer holds the speaker's configuration
    /// file, ready to install.
    #[serde(default)]
    pub(crate) agent_url: Option<String>,
    /// Where it stands (WGS-84 degrees, as a GPS or a phone gives them), for the map.
    #[serde(default)]
    location: Option<Location>,
}

impl CreateAgent {
    /// A new agent to be enrolled with a token.
    pub fn new(
        id: String,
        name: String,
        area_code: String,
        groups: Vec<String>,
        location: Option<Location>,
    ) -> Self {
        Self {
            id,
            name,
            area_code,
            groups,
            public_key: None,
            agent_url: None,
            location,
        }
    }
}

/// A new agent and, unless it brought its key, its enrolment token (shown once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedAgent {
    agent: AgentView,
    enrolment_token: Option<String>,
    enrolment_token_expires_at: Option<u64>,
    /// The speaker's `/etc/dalaba/agent.toml` (with the token; shown once), when
    /// `agent_url` was given.
    agent_config: Option<String>,
}

/// The configuration file of a new speaker: checked by the terminal's own parser.
fn agent_config(
    state: &AppState,
    area_code: &str,
    name: &str,
    url: &str,
    token: &str,
) -> Result<String, AppError> {
    let public_key = state.identity.signer.public_key().to_base64();
    dalaba_firmware_config::enrolment_document(&dalaba_firmware_config::Enrolment {
        area_code,
        name: Some(name),
        pins: dalaba_firmware_config::ControllerPins {
            url: url.trim(),
            public_key: &public_key,
            tls_fingerprint: Some(&state.tls.fingerprint),
        },
        enrolment_token: token,
        audio_device: None,
        cache_dir: None,
    })
    .map_err(|e| AppError::BadRequest(format!("agent_url: {e}")))
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

/// An area code `user` may manage.
fn area_in_scope(user: &AuthUser, code: &str) -> Result<AreaCode, AppError> {
    let area_code: AreaCode = code
        .parse()
        .map_err(|e| AppError::BadRequest(format!("area_code: {e}")))?;
    if !user.covers(area_code.as_str()) {
        return Err(AppError::Forbidden(format!(
            "area {area_code} is outside your areas"
        )));
    }
    Ok(area_code)
}

/// Enrolment tokens are valid for 7 days.
const TOKEN_MICROS: u64 = 7 * 24 * 3600 * 1_000_000;

/// An agent checked and ready to store, with its token and terminal file (not yet shown).
#[derive(Debug)]
pub(crate) struct NewAgent {
    pub(crate) record: AgentRecord,
    token: Option<String>,
    config: Option<String>,
}

/// Creates an agent: with an enrolment token, or with the key it brings from another
/// controller.
pub fn create(
    state: &AppState,
    user: &AuthUser,
    req: CreateAgent,
) -> Result<CreatedAgent, AppError> {
    user.require(Action::ManageAgents)?;
    let agent = new_agent(state, user, req)?;
    state.storage.create_agent(&agent.record)?;
    tracing::info!(user = %user.name, agent = %agent.record.id, "agent created");
    state.changes.bump();
    Ok(created(state, &Names::load(state)?, agent))
}

/// What the API shows of a new agent, once stored.
pub(crate) fn created(state: &AppState, names: &Names, agent: NewAgent) -> CreatedAgent {
    CreatedAgent {
        enrolment_token_expires_at: agent.record.token_expires_at,
        enrolment_token: agent.token,
        agent_config: agent.config,
        agent: view(state, names, agent.record),
    }
}

/// Checks a new agent (everything `create` refuses, but that its id is taken) and makes
/// its token and its terminal's file; stores nothing.
pub(crate) fn new_agent(
    state: &AppState,
    user: &AuthUser,
    req: CreateAgent,
) -> Result<NewAgent, AppError> {
    let id = parse_agent_id(&req.id)?;
    let area_code = area_in_scope(user, &req.area_code)?;
    check_name_and_groups(&req.name, &req.groups)?;
    let location = checked_location(req.location)?;
    let public_key = req
        .public_key
        .as_deref()
        .map(|k| {
            PublicKey::from_base64(k.trim()).map_err(|e| {
                AppError::BadRequest(format!(
                    "public_key: {e}; copy it from the agent's page on its old controller"
                ))
            })
        })
        .transpose()?;
    // An agent that brings its key needs no enrolment token.
    let token = public_key.is_none().then(|| auth::random_secret(18));
    let expires = token.as_ref().map(|_| state.clock.now_us() + TOKEN_MICROS);
    // Made before the agent, so a wrong address creates nothing.
    let config = match (&token, req.agent_url.as_deref()) {
        (Some(token), Some(url)) => Some(agent_config(
            state,
            area_code.as_str(),
            &req.name,
            url,
            token,
        )?),
        _ => None,
    };
    let mut record = AgentRecord::new(id, req.name, area_code, req.groups);
    record.public_key = public_key.as_ref().map(crate::storage::StoredKey::from);
    record.token_hash = token.as_deref().map(auth::token_hash);
    record.token_expires_at = expires;
    record.location = location;
    Ok(NewAgent {
        record,
        token,
        config,
    })
}

/// A location as given, checked.
fn checked_location(location: Option<Location>) -> Result<Option<Location>, AppError> {
    location
        .map(|l| {
            l.checked()
                .map_err(|e| AppError::BadRequest(format!("location: {e}")))
        })
        .transpose()
}

/// Body of `PATCH /api/agents/{id}`: what is given changes, the rest stays.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EditAgent {
    name: Option<String>,
    area_code: Option<String>,
    groups: Option<Vec<String>>,
    /// A new location; `null` removes the one it had.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Location>)]
    location: Option<Option<Location>>,
}

/// A field that is present, even as `null` (absent is `None`, `null` is `Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Renames agent `id`, moves it to another area or changes its groups.
pub fn edit(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    req: EditAgent,
) -> Result<AgentView, AppError> {
    user.require(Action::ManageAgents)?;
    let id = parse_agent_id(id)?;
    let mut agent = agent_in_scope(state, user, &id)?;
    if let Some(name) = req.name {
        agent.name = name;
    }
    if let Some(a) = req.area_code {
        agent.area_code = area_in_scope(user, &a)?;
    }
    if let Some(groups) = req.groups {
        agent.groups = groups;
    }
    if let Some(location) = req.location {
        agent.location = checked_location(location)?;
    }
    check_name_and_groups(&agent.name, &agent.groups)?;
    state.storage.update_agent(&agent)?;
    tracing::info!(user = %user.name, agent = %id, "agent edited");
    state.changes.bump();
    let agent = state
        .storage
        .agent(&id)?
        .ok_or_else(|| AppError::NotFound(format!("agent {id}")))?;
    Ok(view(state, &Names::load(state)?, agent))
}

/// Retires agent `id`: it can no longer log in, and its connection is closed.
pub fn retire(state: &AppState, user: &AuthUser, id: &str) -> Result<(), AppError> {
    user.require(Action::ManageAgents)?;
    let id = parse_agent_id(id)?;
    agent_in_scope(state, user, &id)?;
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
    state.changes.bump();
    Ok(())
}

/// One node of the area tree.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AreaNode {
    code: String,
    /// Its name, where known (shipped to township; villages as the deployment named them).
    name: Option<String>,
    level: &'static str,
    agents: usize,
    online: usize,
    #[schema(no_recursion)]
    children: Vec<AreaNode>,
}

const LEVELS: [(usize, &str); 5] = [
    (2, "province"),
    (4, "city"),
    (6, "county"),
    (9, "township"),
    (12, "village"),
];

fn area_tree(
    agents: &[(String, bool)],
    names: &Names,
    prefix: &str,
    level: usize,
) -> Vec<AreaNode> {
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
                name: names.name(code).map(str::to_owned),
                level: name,
                agents: inside.len(),
                online: inside.iter().filter(|(_, online)| *online).count(),
                children: area_tree(agents, names, code, level + 1),
            }
        })
        .collect()
}

/// The area tree (province → city → county → township → village) of the agents' area
/// codes in `user`'s areas, with agent counts.
pub fn areas(state: &AppState, user: &AuthUser) -> Result<Vec<AreaNode>, AppError> {
    user.require(Action::View)?;
    let mut agents: Vec<(String, bool)> = state
        .storage
        .agents()?
        .into_iter()
        .filter(|a| !a.retired && user.covers(a.area_code.as_str()))
        .map(|a| (a.area_code.to_string(), state.hub.is_online(&a.id)))
        .collect();
    agents.sort();
    Ok(area_tree(&agents, &Names::load(state)?, "", 0))
}

/// What `dalaba-agent enrol` asks with a one-time token, over TLS it has pinned: which
/// speaker the token is for and the command key to pin with it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EnrolmentQuery {
    /// The speaker's one-time enrolment token.
    pub token: String,
}

/// The speaker a token is for, and the command key it pins.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnrolmentDetails {
    /// The speaker's id (it enrols as this).
    pub agent_id: String,
    /// Its name.
    pub name: String,
    /// Its village's area code.
    pub area_code: String,
    /// The controller's command key (base64), which the speaker pins.
    pub public_key: String,
}

/// The speaker an unused, unexpired enrolment `token` is for. Nothing changes: the token
/// is spent only when the speaker enrols with it.
pub fn enrolment_details(state: &AppState, token: &str) -> Result<EnrolmentDetails, AppError> {
    let agent = state
        .storage
        .agent_by_token(&auth::token_hash(token.trim()), state.clock.now_us())?
        .ok_or_else(|| {
            AppError::NotFound(
                "unknown, used or expired enrolment token: ask for a new one (the console's speaker page makes one)"
                    .into(),
            )
        })?;
    Ok(EnrolmentDetails {
        agent_id: agent.id.to_string(),
        name: agent.name,
        area_code: agent.area_code.to_string(),
        public_key: state.identity.signer.public_key().to_base64(),
    })
}

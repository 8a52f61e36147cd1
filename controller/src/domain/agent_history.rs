//! One speaker, looked at closely: what it played (its receipts, newest first, with what
//! each broadcast was), its log (online, offline, a fault appearing or clearing), and a
//! short test tone played on it alone, so an installer or an operator hears that it works.

use dalaba_audio::tone::{Pattern, ToneSpec};
use dalaba_protocol::Mode;
use dalaba_protocol::Priority;
use serde::Serialize;

use crate::access::{Action, agent_in_scope, parse_agent_id};
use crate::auth::AuthUser;
use crate::broadcast::{self, CreateBroadcast, Made};
use crate::broadcast_spec::{BroadcastSpec, Target};
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::{AgentEvent, ReceiptStatus};

/// How many plays and log entries a history shows.
const SHOWN: usize = 50;

/// A broadcast a speaker played (or was sent), as its history shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Played {
    broadcast_id: u64,
    /// `media`, `live`, `alert` or `scheduled`.
    kind: crate::broadcast_spec::BroadcastKind,
    /// What it was: the library item's name, or the alert's event and mode.
    what: Option<String>,
    /// The speaker's receipt.
    #[schema(value_type = String)]
    state: ReceiptStatus,
    detail: Option<String>,
    /// The receipt's time, µs.
    at: u64,
    /// When it started playing, µs.
    started_at: Option<u64>,
}

/// A speaker's history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    /// What it played, newest first.
    played: Vec<Played>,
    /// Its log, newest first.
    log: Vec<AgentEvent>,
}

/// What speaker `id` played and what happened to it (the user's areas only).
pub fn history(state: &AppState, user: &AuthUser, id: &str) -> Result<History, AppError> {
    user.require(Action::View)?;
    let id = parse_agent_id(id)?;
    agent_in_scope(state, user, &id)?;
    let mut played = Vec::new();
    for r in state.storage.receipts_of_agent(id.as_str(), SHOWN)? {
        let spec = state.storage.broadcast_spec(r.broadcast_id)?;
        let media_name = |media_id: u64| -> Result<Option<String>, AppError> {
            Ok(state.storage.media(media_id)?.map(|m| m.name))
        };
        let what = match &spec {
            Some(BroadcastSpec::Media(m)) => media_name(m.media_id)?,
            Some(BroadcastSpec::Scheduled(s)) => media_name(s.media_id)?,
            Some(BroadcastSpec::Alert(a)) => Some(format!("{} ({:?})", a.event, a.mode)),
            Some(BroadcastSpec::Live(_) | BroadcastSpec::Pending) | None => None,
        };
        played.push(Played {
            broadcast_id: r.broadcast_id,
            kind: spec.as_ref().map_or(
                crate::broadcast_spec::BroadcastKind::Pending,
                BroadcastSpec::kind,
            ),
            what,
            state: r.state,
            detail: r.detail,
            at: r.at,
            started_at: r.started_at,
        });
    }
    Ok(History {
        played,
        log: state.storage.agent_log(id.as_str(), SHOWN)?,
    })
}

/// The test tone: 2 s of 1 kHz, made once and kept in the library.
const TEST_TONE_KEY: &str = "media.test_tone.v1";

/// Plays a short test tone on speaker `id` alone, marked as a test (as `POST
/// /api/broadcasts` would, with the same rights and checks).
pub async fn test_tone(state: &AppState, user: &AuthUser, id: &str) -> Result<Made, AppError> {
    user.require(Action::Broadcast)?;
    let id = parse_agent_id(id)?;
    agent_in_scope(state, user, &id)?;
    let media_id = match crate::media::remembered(state, TEST_TONE_KEY)? {
        Some(m) => m,
        None => {
            let samples = ToneSpec {
                frequencies_hz: vec![1000.0],
                pattern: Pattern::Chord,
                duration_ms: 2000,
                level_dbfs: -12.0,
                fade_ms: 20,
            }
            .render()
            .map_err(|e| AppError::Internal(e.into()))?;
            let m = crate::media::make_from_samples(state, "测试音 test tone", samples).await?;
            crate::media::remember(state, TEST_TONE_KEY, m)?;
            m
        }
    };
    let request = CreateBroadcast {
        media_id: Some(media_id),
        text: None,
        voices: None,
        target: Target {
            agents: vec![id.to_string()],
            ..Target::default()
        },
        priority: Priority::Scheduled,
        volume: None,
        start_in_ms: None,
        repeat: 1,
        gap_ms: 0,
        mode: Mode::Test,
    };
    broadcast::create(state, user, request).await
}

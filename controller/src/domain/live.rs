//! Live broadcasts: a source (the operator's browser, a village head's handheld,
//! `dalaba-talk`) streams Opus audio frames over a WebSocket; the controller checks each
//! frame's header and forwards the very same bytes, shared, to every targeted agent's
//! queue. It never decodes audio. Frames that arrive after their play time are dropped,
//! and a slow agent's full queue drops frames for that agent only.
//!
//! Capture times are controller time: a source keeps its clock in step by sending `ping`
//! text messages on the same socket, answered with `pong` as for agents.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use dalaba_protocol::audio_frame::{self, FrameFlags};
use dalaba_protocol::command::{Command, StartLive, StopLive};
use dalaba_protocol::control::{ControllerMessage, Pong};
use dalaba_protocol::limits::MAX_AUDIO_FRAME;
use dalaba_protocol::{AgentId, BroadcastId, Mode, Priority, StreamId, Volume};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::json;

use crate::access::{Action, Content};
use crate::auth::AuthUser;
use crate::broadcast_spec::{BroadcastSpec, LiveSpec, Target};
use crate::dispatch::send_command;
use crate::error::AppError;
use crate::hub::Outgoing;
use crate::state::AppState;

/// Body of `POST /api/live`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateLive {
    /// Who hears it.
    pub target: Target,
    /// Default `live`.
    #[serde(default = "live_priority")]
    #[schema(value_type = String, example = "live")]
    pub priority: Priority,
    /// Volume for the call.
    #[schema(value_type = Option<u8>, maximum = 100)]
    pub volume: Option<Volume>,
    /// Play each frame this long after capture (default 150 ms), the same on every agent.
    pub latency_ms: Option<u32>,
    /// Real, test or drill.
    #[serde(default)]
    #[schema(value_type = String, example = "real")]
    pub mode: Mode,
}

fn live_priority() -> Priority {
    Priority::Live
}

/// Default live latency, ms.
pub const DEFAULT_LATENCY_MS: u32 = 150;

/// Announces a live stream to its target. The source then connects to `source_url`.
pub fn create(
    state: &AppState,
    user: &AuthUser,
    req: CreateLive,
) -> Result<serde_json::Value, AppError> {
    user.require(Action::Live)?;
    let all = state.storage.agents()?;
    let agents = req.target.resolve_for(user, &all)?;
    // Priority is capped by the user's role, the level is their scope's.
    user.check_priority(Content::Live, req.priority)?;
    let priority = req.priority;
    let level = user.level_over(
        all.iter()
            .filter(|a| agents.contains(&a.id))
            .map(|a| a.area_code.as_str()),
    );
    let latency_ms = req.latency_ms.unwrap_or(DEFAULT_LATENCY_MS).clamp(20, 5000);
    let stream_id: u32 = rand::random();
    let spec = LiveSpec {
        stream_id,
        latency_ms,
        target: req.target.clone(),
        agents: agents.iter().map(ToString::to_string).collect(),
        start_at: state.clock.now_us(),
    };
    let id = state.storage.create_broadcast(
        Some(user.id),
        spec.start_at,
        &BroadcastSpec::Live(spec.clone()),
    )?;
    let start = StartLive {
        broadcast_id: BroadcastId(id),
        stream_id: StreamId(stream_id),
        priority,
        level,
        volume: req.volume,
        mode: req.mode,
        latency_ms,
        idle_timeout_ms: 5000,
    };
    let unreachable = crate::dispatch::launch(
        state,
        id,
        &agents,
        Command::StartLive(start.clone()),
        u64::MAX,
    )?;
    tracing::info!(user = %user.name, broadcast = id, agents = agents.len(), "live call announced");
    Ok(json!({
        "id": id,
        "stream_id": stream_id,
        "latency_ms": latency_ms,
        "agents": spec.agents,
        "unreachable": unreachable,
        "source_url": format!("/api/live/{id}/source"),
    }))
}

/// Live call `id`, if `user` may be its source: only whoever announced it.
pub fn source_of(state: &AppState, user: &AuthUser, id: u64) -> Result<LiveSpec, AppError> {
    let spec = state
        .storage
        .broadcast_spec(id)?
        .ok_or_else(|| AppError::NotFound(format!("live broadcast {id}")))?;
    let BroadcastSpec::Live(spec) = spec else {
        return Err(AppError::BadRequest(format!(
            "broadcast {id} is not a live call"
        )));
    };
    // Only whoever announced the call may speak into it.
    let record = state
        .storage
        .broadcast(id)?
        .ok_or_else(|| AppError::NotFound(format!("live broadcast {id}")))?;
    if record.created_by != Some(user.id) {
        return Err(AppError::Forbidden(
            "only the user who announced this call may be its source".into(),
        ));
    }
    Ok(spec)
}

/// The source's messages, up to this size: an audio frame, or a control message.
pub const MAX_SOURCE_MESSAGE: usize = if MAX_AUDIO_FRAME > 64 * 1024 {
    MAX_AUDIO_FRAME
} else {
    64 * 1024
};

/// How long a frame held for pairing waits for the next one (a frame is 20 ms).
const PAIR_WAIT: Duration = Duration::from_millis(30);

/// Relays the source on `socket` for live call `id` until it ends.
pub async fn relay(mut socket: WebSocket, state: AppState, id: u64, spec: LiveSpec) {
    let agents: Vec<AgentId> = spec.agents.iter().filter_map(|a| a.parse().ok()).collect();
    let mut fanout = state.hub.fanout(agents.clone());
    let latency_us = u64::from(spec.latency_ms) * 1000;
    let (mut forwarded, mut late, mut invalid) = (0u64, 0u64, 0u64);
    // Frames in pairs for a large audience (a setting): half the writes and wake-ups per
    // agent, for 20 ms more latency on every other frame.
    let pairs = state.live.pairs_for(agents.len());
    let mut held: Option<(Bytes, tokio::time::Instant)> = None;
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        let wait = match &held {
            // A held frame waits for its partner no longer than one frame and a half.
            Some((_, since)) => {
                (*since + PAIR_WAIT).saturating_duration_since(tokio::time::Instant::now())
            }
            None => (quiet_since + Duration::from_secs(10))
                .saturating_duration_since(tokio::time::Instant::now()),
        };
        let frame = match tokio::time::timeout(wait, socket.next()).await {
            Ok(Some(Ok(f))) => f,
            Err(_) if held.is_some() => {
                if let Some((first, _)) = held.take() {
                    state.hub.send_to_all(&mut fanout, &Outgoing::Binary(first));
                }
                continue;
            }
            _ => break,
        };
        quiet_since = tokio::time::Instant::now();
        match frame {
            Message::Binary(bytes) => {
                let Ok(parsed) = audio_frame::decode_message(&bytes) else {
                    invalid += 1;
                    continue;
                };
                let header = parsed.header;
                if header.stream_id.0 != spec.stream_id {
                    invalid += 1;
                    continue;
                }
                // Too late to be played anywhere: do not send it.
                if header.capture_time.0 + latency_us < state.clock.now_us() {
                    late += 1;
                    state
                        .hub
                        .metrics
                        .dropped
                        .fetch_add(agents.len() as u64, Ordering::Relaxed);
                    continue;
                }
                let shared: Bytes = bytes;
                forwarded += 1;
                let end = header.flags.contains(FrameFlags::END_OF_STREAM);
                if pairs && held.is_none() && !end {
                    held = Some((shared, tokio::time::Instant::now()));
                    continue;
                }
                if let Some((first, _)) = held.take() {
                    state.hub.send_to_all(&mut fanout, &Outgoing::Binary(first));
                }
                state
                    .hub
                    .send_to_all(&mut fanout, &Outgoing::Binary(shared));
                if end {
                    break;
                }
            }
            Message::Text(text) => {
                // Clock sync for the source.
                if let Ok(dalaba_protocol::AgentMessage::Ping(ping)) =
                    dalaba_protocol::decode_agent_message(text.as_bytes())
                {
                    let t2 = state.clock.now_us();
                    let pong = ControllerMessage::Pong(Pong {
                        id: ping.id,
                        t1: ping.t1,
                        t2,
                        t3: state.clock.now_us(),
                    });
                    if socket
                        .send(Message::Text(pong.to_json().into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    if let Some((first, _)) = held.take() {
        state.hub.send_to_all(&mut fanout, &Outgoing::Binary(first));
    }
    crate::dispatch::active(&state).remove(id);
    for agent in &agents {
        let _ = send_command(
            &state,
            agent,
            Command::StopLive(StopLive {
                broadcast_id: BroadcastId(id),
                stream_id: StreamId(spec.stream_id),
            }),
        );
    }
    tracing::info!(
        broadcast = id,
        forwarded,
        late,
        invalid,
        pairs,
        "live call ended"
    );
}

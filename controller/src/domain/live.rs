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
use crate::error::AppError;
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
    /// Play each frame this long after capture, the same on every agent. Default 150 ms,
    /// or more for a call large enough to be written several frames at a time (twice the
    /// wait of its group: `[live] frames_per_write`).
    pub latency_ms: Option<u32>,
    /// Real, test or drill.
    #[serde(default)]
    #[schema(value_type = String, example = "real")]
    pub mode: Mode,
}

fn live_priority() -> Priority {
    Priority::Live
}

/// Announces a live stream to its target. The source then connects to `source_url`.
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    req: CreateLive,
) -> Result<serde_json::Value, AppError> {
    user.require(Action::Live)?;
    let reach = req.target.reach(state, Some(user)).await?;
    // Priority is capped by the user's role, the level is their scope's.
    user.check_priority(Content::Live, req.priority)?;
    let priority = req.priority;
    let level = user.level_over(reach.records.iter().map(|a| a.area_code.as_str()));
    let agents = reach.chosen;
    let latency_ms = req
        .latency_ms
        .unwrap_or_else(|| state.live.default_latency_ms(agents.len()))
        .clamp(20, 5000);
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
    )
    .await?;
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

/// Relays the source on `socket` for live call `id` until it ends.
pub async fn relay(mut socket: WebSocket, state: AppState, id: u64, spec: LiveSpec) {
    let agents: Vec<AgentId> = spec.agents.iter().filter_map(|a| a.parse().ok()).collect();
    let mut fanout = state.hub.fanout(agents.clone());
    let latency_us = u64::from(spec.latency_ms) * 1000;
    let (mut forwarded, mut late, mut invalid) = (0u64, 0u64, 0u64);
    // Frames in groups for a large audience (a setting): one write, TLS record and task
    // wake-up per agent for `group` frames, for 20 ms more latency per frame held, at
    // most half the call's latency.
    let latency = Duration::from_micros(latency_us);
    let group = state.live.frames_within(agents.len(), latency);
    if group < state.live.frames_per_write(agents.len()) {
        tracing::info!(
            broadcast = id,
            latency_ms = spec.latency_ms,
            group,
            "frames a write held to half the call's latency"
        );
    }
    let hold = crate::state::live_writes::hold(group);
    let mut held: Vec<Bytes> = Vec::with_capacity(group);
    let mut held_since = tokio::time::Instant::now();
    let mut quiet_since = tokio::time::Instant::now();
    // When the last frame forwarded is due to play (µs).
    let mut last_due = 0;
    loop {
        let wait = if held.is_empty() {
            (quiet_since + Duration::from_secs(10))
                .saturating_duration_since(tokio::time::Instant::now())
        } else {
            // Until half a frame after the group's last frame is due.
            (held_since + hold).saturating_duration_since(tokio::time::Instant::now())
        };
        let frame = match tokio::time::timeout(wait, socket.next()).await {
            Ok(Some(Ok(f))) => f,
            Err(_) if !held.is_empty() => {
                send_held(&state, &mut fanout, &mut held);
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
                forwarded += 1;
                last_due = header.capture_time.0 + latency_us;
                let end = header.flags.contains(FrameFlags::END_OF_STREAM);
                if held.is_empty() {
                    held_since = tokio::time::Instant::now();
                }
                held.push(bytes);
                if end || held.len() >= group {
                    send_held(&state, &mut fanout, &mut held);
                }
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
    send_held(&state, &mut fanout, &mut held);
    crate::dispatch::active(&state).remove(id);
    // `stop_live` once the last frame is due to play: agents play what they hold and end
    // on the end-of-stream frame anyway, and signing it for every speaker before then
    // takes the core from writing the call's last frames (on one core, at 5,000 agents,
    // the last second came late).
    let due = last_due.saturating_sub(state.clock.now_us());
    tokio::time::sleep(Duration::from_micros(due)).await;
    let stop = Command::StopLive(StopLive {
        broadcast_id: BroadcastId(id),
        stream_id: StreamId(spec.stream_id),
    });
    let _ = crate::dispatch::send_all(&state, agents, stop).await;
    tracing::info!(
        broadcast = id,
        forwarded,
        late,
        invalid,
        group,
        "live call ended"
    );
}

/// Queues the frames held for one write to every agent of the call, back to back: each
/// agent's task finds them all queued when it next runs and writes them at once.
fn send_held(state: &AppState, fanout: &mut crate::hub::Fanout, held: &mut Vec<Bytes>) {
    if !held.is_empty() {
        state.hub.send_frames_to_all(fanout, held);
        held.clear();
    }
}

//! The agents' WebSocket endpoint (`/agent/ws`): the controller's side of
//! `PROTOCOL.md` section 3. One task per connection owns the socket.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use dalaba_protocol::auth::{enrol_message, login_message, verify_proof};
use dalaba_protocol::control::{
    AgentMessage, ControllerMessage, Enrolled, ErrorCode, ErrorMessage, LoginOk, Pong, Welcome,
};
use dalaba_protocol::keys::Challenge;
use dalaba_protocol::limits::MAX_CONTROL_MESSAGE;
use dalaba_protocol::{AgentId, Timestamp, decode_agent_message, version};
use futures_util::{SinkExt as _, StreamExt as _};

use crate::auth::token_hash;
use crate::hub::Outgoing;
use crate::state::AppState;
use crate::storage::AgentEventKind;

/// Agents send a heartbeat this often.
pub const HEARTBEAT_MS: u32 = 10_000;
/// And a full status this often.
pub const STATUS_MS: u32 = 60_000;
/// Time allowed for `hello` and for `enrol`/`login`.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// The limits of an agent's WebSocket, set on its upgrade (`GET /agent/ws`, in `api.rs`).
pub fn limits(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(MAX_CONTROL_MESSAGE)
        // tungstenite zero-fills its read buffer up to this size on every read attempt,
        // and the session loop polls the socket after every frame it sends: at the default
        // 128 KiB that memset was 55 % of the controller's CPU with 1,000 agents on a live
        // stream (perf). Agents send small messages (a larger one is read in several):
        // 1 KiB reads keep 3 KB less per connected agent than 4 KiB did (controller RSS per
        // agent at 1,000 agents 7.0 → 4.2 KB, at 5,000 17.0 → 13.8 KB; BENCHMARKS.md).
        .read_buffer_size(1024)
}

/// One agent connection, from `hello` to its end.
pub async fn run(socket: WebSocket, state: AppState) {
    if let Err(reason) = serve(socket, state).await {
        tracing::info!("agent connection ended: {reason}");
    }
}

fn error(code: ErrorCode, message: impl Into<String>) -> Message {
    text(&ControllerMessage::Error(ErrorMessage {
        code,
        message: message.into(),
        supported_versions: if code == ErrorCode::UnsupportedVersion {
            version::SUPPORTED_VERSIONS.to_vec()
        } else {
            Vec::new()
        },
    }))
}

fn text(m: &ControllerMessage) -> Message {
    Message::Text(m.to_json().into())
}

/// Why reading the next message failed.
enum ReadError {
    /// The frame was not a valid agent message (answer `malformed_message`, keep going).
    Malformed(String),
    /// The connection is over (closed, broken, or silent past the deadline).
    Gone(String),
}

/// Reads the next text frame as an agent message, by `deadline`.
async fn next_message(
    socket: &mut WebSocket,
    deadline: tokio::time::Instant,
) -> Result<AgentMessage, ReadError> {
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| ReadError::Gone("timed out waiting for the agent".to_owned()))?
            .ok_or_else(|| ReadError::Gone("connection closed".to_owned()))?
            .map_err(|e| ReadError::Gone(e.to_string()))?;
        match frame {
            Message::Text(t) => {
                return decode_agent_message(t.as_bytes())
                    .map_err(|e| ReadError::Malformed(e.to_string()));
            }
            Message::Close(_) => {
                return Err(ReadError::Gone("agent closed the connection".into()));
            }
            _ => continue,
        }
    }
}

/// Reads the next well-formed message of the handshake, by `deadline`: malformed frames
/// are answered with `malformed_message` and the connection stays open (section 10).
async fn next_handshake_message(
    socket: &mut WebSocket,
    deadline: tokio::time::Instant,
) -> Result<AgentMessage, String> {
    loop {
        match next_message(socket, deadline).await {
            Ok(m) => return Ok(m),
            Err(ReadError::Malformed(why)) => {
                socket
                    .send(error(ErrorCode::MalformedMessage, why))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Err(ReadError::Gone(why)) => return Err(why),
        }
    }
}

/// Refuses the connection: `error` with `code`, then a close frame (1008, policy).
async fn refuse(socket: &mut WebSocket, code: ErrorCode, why: &str) {
    let _ = socket.send(error(code, why)).await;
    let _ = socket
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: axum::extract::ws::close_code::POLICY,
            reason: why.chars().take(100).collect::<String>().into(),
        })))
        .await;
}

async fn serve(mut socket: WebSocket, state: AppState) -> Result<(), String> {
    // hello → welcome, within the handshake time.
    let deadline = tokio::time::Instant::now() + HANDSHAKE;
    let hello = match next_handshake_message(&mut socket, deadline).await? {
        AgentMessage::Hello(h) => h,
        _ => {
            let why = "the first message must be hello";
            refuse(&mut socket, ErrorCode::UnexpectedMessage, why).await;
            return Err(why.into());
        }
    };
    let Some(v) = version::negotiate(version::SUPPORTED_VERSIONS, &hello.versions) else {
        let why = "no common protocol version";
        refuse(&mut socket, ErrorCode::UnsupportedVersion, why).await;
        return Err(format!("unsupported versions {:?}", hello.versions));
    };
    let challenge = Challenge(rand::random());
    let controller_id = state.identity.controller_id.clone();
    socket
        .send(text(&ControllerMessage::Welcome(Welcome {
            version: v,
            controller_id: controller_id.clone(),
            challenge,
            server_time: Timestamp(state.clock.now_us()),
        })))
        .await
        .map_err(|e| e.to_string())?;

    // enrol or login
    let deadline = tokio::time::Instant::now() + HANDSHAKE;
    let authenticated = authenticate(&mut socket, &state, &controller_id, &challenge, deadline);
    let (agent_id, ok) = match authenticated.await {
        Ok(v) => v,
        Err((code, why)) => {
            refuse(&mut socket, code, &why).await;
            return Err(why);
        }
    };
    // Registered before the agent hears it is in, so it is online as soon as it knows.
    let (conn_id, mut outbox) = state.hub.register(agent_id.clone());
    state.changes.bump();
    if let Err(e) = socket.send(text(&ok)).await {
        state.hub.unregister(&agent_id, conn_id);
        state.changes.bump();
        return Err(e.to_string());
    }
    tracing::info!(agent = %agent_id, "agent online");
    let online = AgentEventKind::Online;
    state
        .liveness
        .log(&agent_id, state.clock.now_us(), online, None);
    state.agent_events.logged_in(&state, &agent_id);
    let result = session(&mut socket, &state, &agent_id, &mut outbox).await;
    state.hub.unregister(&agent_id, conn_id);
    state.changes.bump();
    let why = result.as_ref().err().cloned();
    let offline = AgentEventKind::Offline;
    state
        .liveness
        .log(&agent_id, state.clock.now_us(), offline, why);
    tracing::info!(agent = %agent_id, "agent offline");
    result
}

async fn authenticate(
    socket: &mut WebSocket,
    state: &AppState,
    controller_id: &str,
    challenge: &Challenge,
    deadline: tokio::time::Instant,
) -> Result<(AgentId, ControllerMessage), (ErrorCode, String)> {
    let message = next_handshake_message(socket, deadline)
        .await
        .map_err(|e| (ErrorCode::Internal, e))?;
    let storage_err = |e: crate::storage::StorageError| (ErrorCode::Internal, e.to_string());
    match message {
        AgentMessage::Enrol(enrol) => {
            let refused = || {
                (
                    ErrorCode::EnrolmentRefused,
                    "unknown, used or expired enrolment token".to_owned(),
                )
            };
            let agent = state
                .storage
                .agent_by_token(&token_hash(&enrol.token), state.clock.now_us())
                .map_err(storage_err)?
                .ok_or_else(refused)?;
            let proof = enrol_message(controller_id, challenge, &enrol.public_key, &enrol.token);
            verify_proof(&enrol.public_key, &proof, &enrol.signature).map_err(|_| {
                (
                    ErrorCode::EnrolmentRefused,
                    "bad enrolment proof".to_owned(),
                )
            })?;
            state
                .storage
                .enrol_agent(&agent.id, &enrol.public_key)
                .map_err(storage_err)?;
            tracing::info!(agent = %agent.id, "agent enrolled");
            let ok = ControllerMessage::Enrolled(Enrolled {
                agent_id: agent.id.clone(),
                heartbeat_interval_ms: HEARTBEAT_MS,
                status_interval_ms: STATUS_MS,
            });
            Ok((agent.id, ok))
        }
        AgentMessage::Login(login) => {
            let refused = || {
                (
                    ErrorCode::LoginRefused,
                    "unknown agent or bad proof".to_owned(),
                )
            };
            let agent = state
                .storage
                .agent(&login.agent_id)
                .map_err(storage_err)?
                .ok_or_else(refused)?;
            if agent.retired {
                return Err((ErrorCode::Revoked, "this agent has been retired".into()));
            }
            let key = agent.public_key.ok_or_else(refused)?;
            let proof = login_message(controller_id, challenge, &login.agent_id);
            verify_proof(&key, &proof, &login.signature).map_err(|_| refused())?;
            // A fresh block of sequence numbers, above the agent's last one (a controller
            // restored from an old backup continues above it).
            state
                .sequences
                .login(&state.storage, &agent.id, login.last_command_seq)
                .await
                .map_err(|e| (ErrorCode::Internal, e))?;
            let ok = ControllerMessage::LoginOk(LoginOk {
                agent_id: agent.id.clone(),
                heartbeat_interval_ms: HEARTBEAT_MS,
                status_interval_ms: STATUS_MS,
            });
            Ok((agent.id, ok))
        }
        _ => Err((
            ErrorCode::UnexpectedMessage,
            "expected enrol or login".into(),
        )),
    }
}

/// Most queued messages written to an agent at once.
const WRITE_BATCH: usize = 16;

async fn session(
    socket: &mut WebSocket,
    state: &AppState,
    agent_id: &AgentId,
    outbox: &mut crate::state::outbox::Receiver,
) -> Result<(), String> {
    let idle = Duration::from_millis(u64::from(HEARTBEAT_MS) * 3);
    state.liveness.heard(agent_id, state.clock.now_us(), None);
    // The fault it last reported (before this session too), so its log has an entry when
    // one appears or clears, not one per report.
    let mut fault = last_error(state, agent_id);
    loop {
        tokio::select! {
            frame = tokio::time::timeout(idle, socket.next()) => {
                let frame = frame
                    .map_err(|_| "no heartbeat for three intervals".to_owned())?
                    .ok_or_else(|| "connection closed".to_owned())?
                    .map_err(|e| e.to_string())?;
                let received = state.clock.now_us();
                let bytes = match frame {
                    Message::Text(t) => t,
                    Message::Close(_) => return Ok(()),
                    _ => continue,
                };
                let message = match decode_agent_message(bytes.as_bytes()) {
                    Ok(m) => m,
                    Err(e) => {
                        socket.send(error(ErrorCode::MalformedMessage, e.to_string())).await.map_err(|e| e.to_string())?;
                        continue;
                    }
                };
                match message {
                    AgentMessage::Ping(ping) => {
                        let pong = ControllerMessage::Pong(Pong { id: ping.id, t1: ping.t1, t2: received, t3: state.clock.now_us() });
                        socket.send(text(&pong)).await.map_err(|e| e.to_string())?;
                    }
                    AgentMessage::Heartbeat(_) => {
                        state.liveness.heard(agent_id, received, None);
                    }
                    AgentMessage::Status(status) => {
                        if status.last_error != fault {
                            let kind = match status.last_error {
                                Some(_) => AgentEventKind::Fault,
                                None => AgentEventKind::Recovered,
                            };
                            state.liveness.log(agent_id, received, kind, status.last_error.clone());
                            fault = status.last_error.clone();
                        }
                        let json = serde_json::to_string(&status).unwrap_or_default();
                        state.liveness.heard(agent_id, received, Some(json));
                    }
                    AgentMessage::Goodbye(g) => {
                        tracing::info!(agent = %agent_id, reason = %g.reason, "agent said goodbye");
                        return Ok(());
                    }
                    AgentMessage::Rejected(r) => {
                        tracing::warn!(agent = %agent_id, reason = ?r.reason, detail = %r.detail, "agent refused a command");
                    }
                    AgentMessage::Receipt(r) => {
                        tracing::info!(agent = %agent_id, broadcast = %r.broadcast_id, state = ?r.state, "receipt");
                        let (status, detail) = crate::storage::ReceiptStatus::of_receipt(&r.state);
                        let record = crate::storage::ReceiptRecord::new(r.broadcast_id.0, agent_id.as_str(), status, detail, r.at.0);
                        crate::edge::Edge::count(&state.hub.metrics.receipts);
                        state.receipts.push(agent_id.clone(), record);
                    }
                    other => {
                        tracing::debug!(agent = %agent_id, message = ?other, "agent message");
                        state.liveness.heard(agent_id, received, None);
                    }
                }
            }
            out = outbox.recv() => {
                // Everything already queued goes out in one write (one TLS record, one
                // syscall): frames the relay sends in pairs, a burst of commands.
                let mut next = Some(out);
                let mut fed = 0;
                while let Some(out) = next {
                    let frame = match out {
                        Outgoing::Text(t) => Message::Text(t.into()),
                        Outgoing::Binary(b) => Message::Binary(b),
                        Outgoing::Close(code, why) => {
                            let _ = socket.send(error(code, why.clone())).await;
                            return Err(why);
                        }
                    };
                    socket.feed(frame).await.map_err(|e| e.to_string())?;
                    fed += 1;
                    next = if fed < WRITE_BATCH { outbox.try_recv() } else { None };
                }
                socket.flush().await.map_err(|e| e.to_string())?;
            }
        }
    }
}

/// The error `agent` last reported, as stored.
fn last_error(state: &AppState, agent: &AgentId) -> Option<String> {
    let stored = state.storage.agent(agent).ok().flatten()?.status_json?;
    serde_json::from_str::<dalaba_protocol::control::StatusReport>(&stored)
        .ok()?
        .last_error
}

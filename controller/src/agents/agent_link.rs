//! The agents' WebSocket endpoint (`/agent/ws`): the controller's side of
//! `PROTOCOL.md` section 3. One task per connection owns the socket.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use dalaba_protocol::auth::{enrol_message, login_message, verify_proof};
use dalaba_protocol::control::{
    AgentMessage, ControllerMessage, Enrolled, ErrorCode, ErrorMessage, LoginOk, Pong, Welcome,
};
use dalaba_protocol::keys::Challenge;
use dalaba_protocol::limits::MAX_CONTROL_MESSAGE;
use dalaba_protocol::{AgentId, Timestamp, decode_agent_message, version};
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};

use crate::auth::token_hash;
use crate::hub::Outgoing;
use crate::state::AppState;
use crate::storage::AgentEventKind;

/// Agents send a heartbeat this often (`AppState::heartbeat` unless a test shortens it).
pub const HEARTBEAT: Duration = Duration::from_secs(10);
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
        // stream (perf). Agents send small messages (a heartbeat ~50 bytes, a status report
        // a few hundred; a larger one is read in several): 1 KiB reads kept 3 KB less per
        // connected agent than 4 KiB did (controller RSS per agent at 1,000 agents 7.0 →
        // 4.2 KB, at 5,000 17.0 → 13.8 KB), 512 bytes another half KB (BENCHMARKS.md).
        .read_buffer_size(512)
}

/// One agent connection, from `hello` to its end.
pub fn run(socket: WebSocket, state: AppState) -> impl Future<Output = ()> {
    serve(socket, state).map(|served| {
        if let Err(reason) = served {
            tracing::info!("agent connection ended: {reason}");
        }
    })
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

/// `interval` in the protocol's milliseconds.
fn interval_ms(interval: Duration) -> u32 {
    u32::try_from(interval.as_millis()).unwrap_or(u32::MAX)
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

/// One agent's connection: the handshake, then its session.
///
/// A connection lives for days, and a county has 10,000: its task is kept as small as
/// the session needs. The handshake's futures are on the heap, gone once it is over, and
/// this is an `async` block rather than an `async fn`, whose arguments the compiler would
/// keep twice (584 bytes more a connection).
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
fn serve(mut socket: WebSocket, state: AppState) -> impl Future<Output = Result<(), String>> {
    async move {
        let (agent_id, ok) = Box::pin(handshake(&mut socket, &state)).await?;
        online(&mut socket, &state, agent_id, ok).await
    }
}

/// `hello` → `welcome`, then `enrol` or `login`, each within the handshake time: the
/// agent's id and the message that lets it in; a refusal is answered and closed.
async fn handshake(
    socket: &mut WebSocket,
    state: &AppState,
) -> Result<(AgentId, ControllerMessage), String> {
    let deadline = tokio::time::Instant::now() + HANDSHAKE;
    let hello = match next_handshake_message(socket, deadline).await? {
        AgentMessage::Hello(h) => h,
        _ => {
            let why = "the first message must be hello";
            refuse(socket, ErrorCode::UnexpectedMessage, why).await;
            return Err(why.into());
        }
    };
    let Some(v) = version::negotiate(version::SUPPORTED_VERSIONS, &hello.versions) else {
        let why = "no common protocol version";
        refuse(socket, ErrorCode::UnsupportedVersion, why).await;
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
    match authenticate(socket, state, &controller_id, &challenge, deadline).await {
        Ok(v) => Ok(v),
        Err((code, why)) => {
            refuse(socket, code, &why).await;
            Err(why)
        }
    }
}

/// Agent `agent_id`, let in with `ok`: online from now until its session ends. An `async`
/// block, its arguments kept once (see [`serve`]).
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
fn online<'a>(
    socket: &'a mut WebSocket,
    state: &'a AppState,
    agent_id: AgentId,
    ok: ControllerMessage,
) -> impl Future<Output = Result<(), String>> + 'a {
    async move {
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
        state.agent_events.logged_in(state, &agent_id);
        let result = session(socket, state, &agent_id, &mut outbox).await;
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
                heartbeat_interval_ms: interval_ms(state.heartbeat),
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
            let key = key.parse().map_err(storage_err)?;
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
                heartbeat_interval_ms: interval_ms(state.heartbeat),
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

/// Why a session ends when the agent says nothing (PROTOCOL.md section 3).
const SILENT: &str = "no heartbeat for three intervals";

/// `write`, unless `silence` runs out first: a write waits only while the agent is still
/// heard from (an agent that reads nothing more leaves the controller's writes waiting
/// for room in its socket, for as long as TCP keeps the connection). An `async` block, so
/// that `write` is kept once in the session's task (see [`serve`]).
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
fn unless_silent<'a, T, E: std::fmt::Display>(
    silence: &'a mut Pin<&mut tokio::time::Sleep>,
    write: impl Future<Output = Result<T, E>> + 'a,
) -> impl Future<Output = Result<T, String>> + 'a {
    async move {
        tokio::select! {
            biased;
            done = write => done.map_err(|e| e.to_string()),
            () = silence.as_mut() => Err(SILENT.to_owned()),
        }
    }
}

/// What a session does after a frame from its agent.
enum Next {
    /// Go on.
    Listen,
    /// Answer the agent with this.
    Answer(Message),
    /// The session is over.
    End(Result<(), String>),
}

/// Takes one frame from the agent, `received` at that time (µs): what it says recorded,
/// and what to answer. Apart from the session's loop, so that the decoded message is not
/// kept in every connection's task while it waits.
fn on_frame(
    state: &AppState,
    agent_id: &AgentId,
    fault: &mut Option<String>,
    received: u64,
    frame: Message,
) -> Next {
    let bytes = match frame {
        Message::Text(t) => t,
        Message::Close(_) => return Next::End(Ok(())),
        _ => return Next::Listen,
    };
    let message = match decode_agent_message(bytes.as_bytes()) {
        Ok(m) => m,
        Err(e) => return Next::Answer(error(ErrorCode::MalformedMessage, e.to_string())),
    };
    match message {
        AgentMessage::Ping(ping) => {
            let pong = ControllerMessage::Pong(Pong {
                id: ping.id,
                t1: ping.t1,
                t2: received,
                t3: state.clock.now_us(),
            });
            return Next::Answer(text(&pong));
        }
        AgentMessage::Heartbeat(_) => {
            state.liveness.heard(agent_id, received, None);
        }
        AgentMessage::Status(status) => {
            if status.last_error != *fault {
                let kind = match status.last_error {
                    Some(_) => AgentEventKind::Fault,
                    None => AgentEventKind::Recovered,
                };
                let error = status.last_error.clone();
                state.liveness.log(agent_id, received, kind, error);
                fault.clone_from(&status.last_error);
            }
            let json = serde_json::to_string(&status).unwrap_or_default();
            state.liveness.heard(agent_id, received, Some(json));
        }
        AgentMessage::Goodbye(g) => {
            tracing::info!(agent = %agent_id, reason = %g.reason, "agent said goodbye");
            return Next::End(Ok(()));
        }
        AgentMessage::Rejected(r) => {
            tracing::warn!(agent = %agent_id, reason = ?r.reason, detail = %r.detail, "agent refused a command");
        }
        AgentMessage::Receipt(r) => {
            // Debug: a county-wide alert brings 10,000-20,000 of them in seconds, and each
            // is in the broadcast log.
            tracing::debug!(agent = %agent_id, broadcast = %r.broadcast_id, state = ?r.state, "receipt");
            let (status, detail) = crate::storage::ReceiptStatus::of_receipt(&r.state);
            let record = crate::storage::ReceiptRecord::new(
                r.broadcast_id.0,
                agent_id.as_str(),
                status,
                detail,
                r.at.0,
            );
            crate::edge::Edge::count(&state.hub.metrics.receipts);
            state.receipts.push(agent_id.clone(), record);
        }
        other => {
            tracing::debug!(agent = %agent_id, message = ?other, "agent message");
            state.liveness.heard(agent_id, received, None);
        }
    }
    Next::Listen
}

async fn session(
    socket: &mut WebSocket,
    state: &AppState,
    agent_id: &AgentId,
    outbox: &mut crate::state::outbox::Receiver,
) -> Result<(), String> {
    let idle = state.heartbeat * 3;
    state.liveness.heard(agent_id, state.clock.now_us(), None);
    // The fault it last reported (before this session too), so its log has an entry when
    // one appears or clears, not one per report.
    let mut fault = last_error(state, agent_id);
    // Runs from the last frame the agent sent, whatever is sent to it meanwhile; one
    // timer for the session, moved on when a frame arrives (not one per write).
    let silence = tokio::time::sleep(idle);
    tokio::pin!(silence);
    loop {
        tokio::select! {
            () = silence.as_mut() => return Err(SILENT.to_owned()),
            frame = socket.next() => {
                let frame = frame
                    .ok_or_else(|| "connection closed".to_owned())?
                    .map_err(|e| e.to_string())?;
                silence.as_mut().reset(tokio::time::Instant::now() + idle);
                let received = state.clock.now_us();
                match on_frame(state, agent_id, &mut fault, received, frame) {
                    Next::Listen => {}
                    Next::Answer(answer) => unless_silent(&mut silence, socket.send(answer)).await?,
                    Next::End(result) => return result,
                }
            }
            out = outbox.recv() => {
                let queued = write_queued(socket, outbox, out);
                if let Some(why) = unless_silent(&mut silence, queued).await? {
                    return Err(why);
                }
            }
        }
    }
}

/// Writes `first` and what else is queued (at most [`WRITE_BATCH`]) in one flush: one TLS
/// record, one syscall for frames the relay sends in groups or a burst of commands. An
/// [`Outgoing::Close`] ends the connection: its error goes out, its reason comes back.
async fn write_queued(
    socket: &mut WebSocket,
    outbox: &mut crate::state::outbox::Receiver,
    first: Outgoing,
) -> Result<Option<String>, String> {
    let mut next = Some(first);
    let mut fed = 0;
    while let Some(out) = next {
        let frame = match out {
            Outgoing::Text(t) => Message::Text(t.into()),
            Outgoing::Binary(b) => Message::Binary(b),
            Outgoing::Close(code, why) => {
                let _ = socket.send(error(code, why.clone())).await;
                return Ok(Some(why));
            }
        };
        socket.feed(frame).await.map_err(|e| e.to_string())?;
        fed += 1;
        next = if fed < WRITE_BATCH {
            outbox.try_recv()
        } else {
            None
        };
    }
    socket.flush().await.map_err(|e| e.to_string())?;
    Ok(None)
}

/// The error `agent` last reported, as stored.
fn last_error(state: &AppState, agent: &AgentId) -> Option<String> {
    let stored = state.storage.agent(agent).ok().flatten()?.status_json?;
    serde_json::from_str::<dalaba_protocol::control::StatusReport>(&stored)
        .ok()?
        .last_error
}

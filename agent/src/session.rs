//! The agent's side of one controller connection, as a sans-IO state machine.
//!
//! It follows `PROTOCOL.md` section 3: `hello` → `welcome` → `enrol` or `login` →
//! `enrolled`/`login_ok` → session. Feed it every text frame with
//! [`Session::handle_message`]; send what [`Session::poll_transmit`] returns; act on what
//! [`Session::poll_event`] returns; call again at [`Session::poll_timeout`]. It never reads
//! a clock, never touches a socket: `now` is the agent's clock in microseconds.
//!
//! In the session it runs clock sync, sends heartbeats, and checks every signed command
//! with the protocol's [`CommandVerifier`]: a command that passes becomes an
//! [`Event::Command`], one that fails is answered with `rejected` and reported as
//! [`Event::Rejected`], and is never obeyed.

use std::collections::VecDeque;
use std::time::Duration;

use dalaba_protocol::auth::{enrol_message, login_message, sign_proof};
use dalaba_protocol::clock::{ClockSync, Estimate};
use dalaba_protocol::control::{
    AgentMessage, ControllerMessage, Enrol, ErrorCode, ErrorMessage, Heartbeat, Hello, Login,
    Rejected,
};
use dalaba_protocol::envelope::{CommandVerifier, VerifyError};
use dalaba_protocol::keys::{PublicKey, Signature};
use dalaba_protocol::{AgentId, SignedCommand, Timestamp, decode_controller_message, version};
use ed25519_dalek::SigningKey;

/// What the session needs to know about this agent.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The agent's id, once enrolled.
    pub agent_id: Option<AgentId>,
    /// The one-time enrolment token (used only without an id).
    pub enrolment_token: Option<String>,
    /// The controller's pinned command key.
    pub controller_key: PublicKey,
    /// Agent software name and version, for `hello`.
    pub software: String,
    /// Highest command sequence number accepted so far (persisted by the caller).
    pub last_command_seq: u64,
}

/// Something the owner of the session must act on.
#[derive(Debug)]
pub enum Event {
    /// Enrolment succeeded: persist this id (and the key) before anything else.
    Enrolled(AgentId),
    /// The session is up (after `enrolled` or `login_ok`).
    Ready,
    /// A verified command. Persist `seq` as the new `last_command_seq`, then obey.
    Command(Box<SignedCommand>),
    /// A signed command was refused (already answered with `rejected`).
    Rejected(VerifyError),
    /// The controller reported a problem that does not end the session.
    ControllerError(ErrorMessage),
    /// The controller is going away on purpose: close, and reconnect at a random moment
    /// within `within` (not a fault; the backoff starts afresh).
    Leaving {
        /// Why, as the controller said.
        reason: String,
        /// The window to come back in.
        within: Duration,
    },
    /// The session is over; close the connection. Reconnect with backoff if `retry`.
    Closed {
        /// Why.
        reason: String,
        /// Whether reconnecting can help (`false` for revoked or refused enrolment).
        retry: bool,
    },
}

/// The longest window a controller's `goodbye` may ask agents to come back in.
pub const MAX_RECONNECT_WINDOW: Duration = Duration::from_secs(600);

#[derive(Debug)]
enum State {
    AwaitWelcome,
    AwaitAuth,
    Ready {
        heartbeat: Duration,
        next_heartbeat: u64,
    },
    Closed,
}

/// One connection's state.
pub struct Session {
    config: SessionConfig,
    key: SigningKey,
    state: State,
    verifier: Option<CommandVerifier>,
    clock: ClockSync,
    started_us: u64,
    outbox: VecDeque<AgentMessage>,
    events: VecDeque<Event>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the identity key.
        f.debug_struct("Session")
            .field("agent_id", &self.config.agent_id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new connection, opened at agent time `now`; queues `hello`. `key` is the agent's
    /// identity key (generated once, at first start, and kept).
    pub fn new(config: SessionConfig, key: SigningKey, now: u64) -> Self {
        let verifier = config
            .agent_id
            .clone()
            .map(|id| CommandVerifier::new(config.controller_key, id, config.last_command_seq));
        let mut outbox = VecDeque::new();
        outbox.push_back(AgentMessage::Hello(Hello {
            versions: version::SUPPORTED_VERSIONS.to_vec(),
            software: config.software.clone(),
            agent_id: config.agent_id.clone(),
        }));
        Self {
            config,
            key,
            state: State::AwaitWelcome,
            verifier,
            clock: ClockSync::default(),
            started_us: now,
            outbox,
            events: VecDeque::new(),
        }
    }

    /// The agent's public identity key.
    pub fn public_key(&self) -> PublicKey {
        self.key.verifying_key().into()
    }

    /// Whether the session is up.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    /// The current clock estimate (controller minus agent).
    pub fn clock(&self) -> Option<Estimate> {
        self.clock.estimate()
    }

    /// Agent time `now` as controller time, once the clock is known.
    pub fn controller_time(&self, now: u64) -> Option<Timestamp> {
        self.clock.estimate().map(|e| e.to_controller_time(now))
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self, now: u64) -> Option<AgentMessage> {
        if let Some(m) = self.outbox.pop_front() {
            return Some(m);
        }
        let State::Ready {
            heartbeat,
            next_heartbeat,
        } = &mut self.state
        else {
            return None;
        };
        if let Some(ping) = self.clock.poll_ping(now) {
            return Some(AgentMessage::Ping(ping));
        }
        if now >= *next_heartbeat {
            *next_heartbeat = now + heartbeat.as_micros() as u64;
            return Some(AgentMessage::Heartbeat(Heartbeat {
                uptime_s: now.saturating_sub(self.started_us) / 1_000_000,
            }));
        }
        None
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Self::poll_transmit`] again, agent time.
    pub fn poll_timeout(&self) -> Option<u64> {
        match &self.state {
            State::Ready { next_heartbeat, .. } => {
                Some((*next_heartbeat).min(self.clock.poll_timeout()))
            }
            _ => None,
        }
    }

    /// Queues a message of the owner's (status, receipts, cache reports) for sending.
    pub fn send(&mut self, message: AgentMessage) {
        if self.is_ready() {
            self.outbox.push_back(message);
        }
    }

    fn close(&mut self, reason: String, retry: bool) {
        self.state = State::Closed;
        self.events.push_back(Event::Closed { reason, retry });
    }

    /// Takes one text frame from the controller, received at agent time `now`.
    pub fn handle_message(&mut self, bytes: &[u8], now: u64) {
        if matches!(self.state, State::Closed) {
            return;
        }
        let message = match decode_controller_message(bytes) {
            Ok(m) => m,
            Err(e) => {
                // Refuse, say why, stay connected (PROTOCOL.md section 10).
                self.outbox.push_back(AgentMessage::Error(ErrorMessage {
                    code: e.code(),
                    message: e.to_string(),
                    supported_versions: Vec::new(),
                }));
                return;
            }
        };
        match (&self.state, message) {
            (_, ControllerMessage::Error(e)) => self.handle_error(e),
            (_, ControllerMessage::Goodbye(g)) => {
                self.state = State::Closed;
                self.events.push_back(Event::Leaving {
                    reason: g.reason,
                    within: Duration::from_millis(u64::from(g.reconnect_within_ms))
                        .min(MAX_RECONNECT_WINDOW),
                });
            }
            (State::AwaitWelcome, ControllerMessage::Welcome(w)) => {
                if !version::SUPPORTED_VERSIONS.contains(&w.version) {
                    self.close(
                        format!(
                            "controller chose protocol version {}, which this agent does not speak",
                            w.version
                        ),
                        true,
                    );
                    return;
                }
                // A rough clock from the welcome until the first ping exchange.
                let _ = self
                    .clock
                    .handle_exchange(dalaba_protocol::clock::Exchange {
                        t1: now,
                        t2: w.server_time.0,
                        t3: w.server_time.0,
                        t4: now,
                    });
                let message = match (&self.config.agent_id, &self.config.enrolment_token) {
                    (Some(id), _) => {
                        let proof = login_message(&w.controller_id, &w.challenge, id);
                        AgentMessage::Login(Login {
                            agent_id: id.clone(),
                            signature: sign_proof(&self.key, &proof),
                            last_command_seq: self
                                .verifier
                                .as_ref()
                                .map_or(0, CommandVerifier::last_seq),
                        })
                    }
                    (None, Some(token)) => {
                        let public = self.public_key();
                        let proof = enrol_message(&w.controller_id, &w.challenge, &public, token);
                        let signature: Signature = sign_proof(&self.key, &proof);
                        AgentMessage::Enrol(Enrol {
                            token: token.clone(),
                            public_key: public,
                            signature,
                        })
                    }
                    (None, None) => {
                        self.close(
                            "no agent id and no enrolment token in the configuration".into(),
                            false,
                        );
                        return;
                    }
                };
                self.outbox.push_back(message);
                self.state = State::AwaitAuth;
            }
            (State::AwaitAuth, ControllerMessage::Enrolled(e)) => {
                self.config.agent_id = Some(e.agent_id.clone());
                self.verifier = Some(CommandVerifier::new(
                    self.config.controller_key,
                    e.agent_id.clone(),
                    0,
                ));
                self.events.push_back(Event::Enrolled(e.agent_id));
                self.start(
                    Duration::from_millis(u64::from(e.heartbeat_interval_ms)),
                    now,
                );
            }
            (State::AwaitAuth, ControllerMessage::LoginOk(ok)) => {
                if Some(&ok.agent_id) != self.config.agent_id.as_ref() {
                    self.close(
                        format!(
                            "controller logged us in as {}, not as ourselves",
                            ok.agent_id
                        ),
                        true,
                    );
                    return;
                }
                self.start(
                    Duration::from_millis(u64::from(ok.heartbeat_interval_ms)),
                    now,
                );
            }
            (State::Ready { .. }, ControllerMessage::Pong(pong)) => {
                // A stray or forged pong is simply not used.
                let _ = self.clock.handle_pong(&pong, now);
            }
            (State::Ready { .. }, ControllerMessage::Signed(envelope)) => {
                let controller_now = self
                    .clock
                    .estimate()
                    .map_or(Timestamp(now), |e| e.to_controller_time(now));
                let Some(verifier) = self.verifier.as_mut() else {
                    return;
                };
                match verifier.accept(&envelope, controller_now) {
                    Ok(command) => self.events.push_back(Event::Command(Box::new(command))),
                    Err(e) => {
                        let seq = serde_json::from_slice::<SignedCommand>(&envelope.payload.0)
                            .ok()
                            .filter(|_| {
                                !matches!(
                                    e,
                                    VerifyError::BadSignature | VerifyError::UnknownKey { .. }
                                )
                            })
                            .map(|c| c.seq);
                        self.outbox.push_back(AgentMessage::Rejected(Rejected {
                            seq,
                            reason: e.reason(),
                            detail: e.to_string(),
                        }));
                        self.events.push_back(Event::Rejected(e));
                    }
                }
            }
            (state, other) => {
                let kind = message_kind(&other);
                self.outbox.push_back(AgentMessage::Error(ErrorMessage {
                    code: ErrorCode::UnexpectedMessage,
                    message: format!("{kind:?} is not expected while {}", state_name(state)),
                    supported_versions: Vec::new(),
                }));
            }
        }
    }

    fn start(&mut self, heartbeat: Duration, now: u64) {
        let heartbeat = heartbeat.max(Duration::from_secs(1));
        self.state = State::Ready {
            heartbeat,
            next_heartbeat: now + heartbeat.as_micros() as u64,
        };
        self.events.push_back(Event::Ready);
    }

    fn handle_error(&mut self, e: ErrorMessage) {
        let (fatal, retry) = match e.code {
            ErrorCode::MalformedMessage | ErrorCode::UnexpectedMessage => (false, true),
            ErrorCode::EnrolmentRefused | ErrorCode::Revoked => (true, false),
            _ => (true, true),
        };
        if fatal {
            self.close(format!("controller: {:?}: {}", e.code, e.message), retry);
        } else {
            self.events.push_back(Event::ControllerError(e));
        }
    }
}

fn message_kind(m: &ControllerMessage) -> &'static str {
    match m {
        ControllerMessage::Welcome(_) => "welcome",
        ControllerMessage::Enrolled(_) => "enrolled",
        ControllerMessage::LoginOk(_) => "login_ok",
        ControllerMessage::Pong(_) => "pong",
        ControllerMessage::Signed(_) => "signed",
        ControllerMessage::Error(_) => "error",
        ControllerMessage::Goodbye(_) => "goodbye",
    }
}

fn state_name(state: &State) -> &'static str {
    match state {
        State::AwaitWelcome => "waiting for welcome",
        State::AwaitAuth => "waiting for enrolment or login",
        State::Ready { .. } => "in session",
        State::Closed => "closed",
    }
}

/// Reconnection delays: exponential from 1 s to a maximum (`controller.reconnect_max_s`,
/// 60 s by default), each multiplied by a jitter factor in [0.5, 1.5) so that thousands of
/// agents do not return in the same second.
#[derive(Clone, Debug)]
pub struct Backoff {
    attempt: u32,
    base: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::up_to(Duration::from_secs(
            dalaba_firmware_config::DEFAULT_RECONNECT_MAX_S,
        ))
    }
}

impl Backoff {
    /// Delays from 1 s doubling up to `max` (at least the base).
    pub fn up_to(max: Duration) -> Self {
        let base = Duration::from_secs(1);
        Self {
            attempt: 0,
            base,
            max: max.max(base),
        }
    }

    /// The delay before the next attempt. `random` is uniform in [0, 1) (the caller's
    /// random source; tests pass fixed values).
    pub fn next_delay(&mut self, random: f64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16));
        self.attempt = self.attempt.saturating_add(1);
        exp.min(self.max).mul_f64(0.5 + random.clamp(0.0, 1.0))
    }

    /// A connection lasted long enough (60 s): start again from the base delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let mut b = Backoff::default();
        let secs: Vec<f64> = (0..9).map(|_| b.next_delay(0.5).as_secs_f64()).collect();
        assert_eq!(secs, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]);
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(500));
        assert_eq!(b.next_delay(0.999_999).as_millis(), 2999);
    }

    #[test]
    fn backoff_stops_growing_at_the_configured_maximum() {
        let mut b = Backoff::up_to(Duration::from_secs(5));
        let secs: Vec<f64> = (0..5).map(|_| b.next_delay(0.5).as_secs_f64()).collect();
        assert_eq!(secs, [1.0, 2.0, 4.0, 5.0, 5.0]);
        // Never below the 1 s base, so a mistaken maximum cannot make agents hammer.
        let mut b = Backoff::up_to(Duration::ZERO);
        assert_eq!(b.next_delay(0.5), Duration::from_secs(1));
    }
}

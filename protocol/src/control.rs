//! Control messages: JSON objects in WebSocket text frames, tagged by their `type` field.
//!
//! [`AgentMessage`] is everything an agent sends, [`ControllerMessage`] everything the
//! controller sends. Decode them with [`decode_agent_message`] and
//! [`decode_controller_message`], which check the size limit before parsing and say exactly
//! what was wrong; encode them with their `to_json` methods.

use serde::{Deserialize, Serialize};

use crate::command::LimitError;
use crate::envelope::SignedEnvelope;
use crate::keys::{Challenge, PublicKey, Signature};
use crate::limits::MAX_CONTROL_MESSAGE;
use crate::types::{
    AgentId, BroadcastId, MediaHash, Mode, Priority, RelayState, StreamId, Timestamp, Volume,
};

/// A message from an agent to the controller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// First message on every connection: the protocol versions the agent speaks.
    Hello(Hello),
    /// First connection of a new agent: trade a one-time token for an identity.
    Enrol(Enrol),
    /// Every later connection: prove the agent's identity.
    Login(Login),
    /// "Still here", every `heartbeat_interval_ms`.
    Heartbeat(Heartbeat),
    /// Full status, on every change and every `status_interval_ms`.
    Status(StatusReport),
    /// Clock-sync request.
    Ping(Ping),
    /// Progress of one broadcast on this agent.
    Receipt(Receipt),
    /// Progress of a media download or eviction.
    Cache(CacheReport),
    /// A signed command was refused.
    Rejected(Rejected),
    /// Something the controller sent could not be handled.
    Error(ErrorMessage),
    /// The agent is closing the connection on purpose (shutdown, reboot, config change).
    Goodbye(Goodbye),
}

/// A message from the controller to an agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControllerMessage {
    /// Answer to `hello`: the chosen version and the login challenge.
    Welcome(Welcome),
    /// Enrolment succeeded; the agent is logged in under this id.
    Enrolled(Enrolled),
    /// Login succeeded.
    LoginOk(LoginOk),
    /// Clock-sync answer.
    Pong(Pong),
    /// A signed command (the only way a command travels).
    Signed(SignedEnvelope),
    /// The agent's last message was refused, or the connection is being closed.
    Error(ErrorMessage),
    /// The controller is going away on purpose (shutdown, restart, upgrade).
    Goodbye(Leaving),
}

/// `hello`: opens the connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol versions the agent speaks (1 to 16 entries).
    pub versions: Vec<u16>,
    /// Agent software name and version, e.g. `dalaba-agent/0.1.0`.
    pub software: String,
    /// The agent's id, once enrolled; `null` before enrolment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// `welcome`: the controller accepts the connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The version both sides use from now on.
    pub version: u16,
    /// The controller's stable id; part of every signed login proof.
    pub controller_id: String,
    /// Fresh random bytes to sign in `enrol` or `login`.
    pub challenge: Challenge,
    /// The controller's clock when it sent this (a first, rough clock estimate).
    pub server_time: Timestamp,
}

/// `enrol`: a new agent registers its public key with a one-time token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrol {
    /// The one-time enrolment token the controller issued when the agent was created.
    pub token: String,
    /// The Ed25519 public key the agent generated for itself.
    pub public_key: PublicKey,
    /// Signature over [`crate::auth::enrol_message`] with the matching private key.
    pub signature: Signature,
}

/// `enrolled`: the token was good; the key is registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    /// The agent's id from now on.
    pub agent_id: AgentId,
    /// Heartbeat and status intervals (as in `login_ok`).
    pub heartbeat_interval_ms: u32,
    /// Full status interval.
    pub status_interval_ms: u32,
}

/// `login`: an enrolled agent proves who it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// The agent's id.
    pub agent_id: AgentId,
    /// Signature over [`crate::auth::login_message`] with the agent's key.
    pub signature: Signature,
    /// The highest command sequence number the agent has accepted. A controller whose own
    /// counter is lower (restored from a backup) must continue above it.
    pub last_command_seq: u64,
}

/// `login_ok`: the agent is logged in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginOk {
    /// The agent's id, echoed.
    pub agent_id: AgentId,
    /// Send `heartbeat` at least this often.
    pub heartbeat_interval_ms: u32,
    /// Send a full `status` at least this often.
    pub status_interval_ms: u32,
}

/// `heartbeat`: liveness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Seconds since the agent started.
    pub uptime_s: u64,
}

/// `status`: everything the console shows about a speaker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// What is audible now; `null` when silent.
    pub playing: Option<NowPlaying>,
    /// Broadcasts waiting for their start time or for the speaker to be free.
    #[serde(default)]
    pub queued: Vec<BroadcastId>,
    /// Every relay channel's state as last read back from the board.
    pub relays: Vec<RelayStatus>,
    /// Base output volume.
    pub volume: Volume,
    /// The most recent error, for the console (`null` if none since start).
    pub last_error: Option<String>,
    /// Agent firmware/software version.
    pub firmware_version: String,
    /// Version label of the active configuration.
    pub config_version: String,
    /// Version of the stored schedule (0 if none).
    pub schedule_version: u64,
    /// Media cache use.
    pub cache: CacheUsage,
    /// The agent's current clock offset estimate (controller minus agent), µs.
    pub clock_offset_us: Option<i64>,
    /// Seconds since the agent started.
    pub uptime_s: u64,
}

/// What a speaker is playing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NowPlaying {
    /// The broadcast.
    pub broadcast_id: BroadcastId,
    /// Stored media or a live stream.
    pub source: PlaySource,
    /// Its priority.
    pub priority: Priority,
    /// Real, test or drill.
    pub mode: Mode,
    /// When it became audible (controller time).
    pub since: Timestamp,
}

/// The source of what is playing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlaySource {
    /// A stored media file.
    Media {
        /// The file's hash.
        hash: MediaHash,
    },
    /// A live stream.
    Live {
        /// The stream's id.
        stream_id: StreamId,
    },
}

/// One relay channel's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayStatus {
    /// Channel number, from 1.
    pub channel: u8,
    /// `null` when the board did not answer.
    pub state: Option<RelayState>,
}

/// Media cache use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheUsage {
    /// Bytes used.
    pub used_bytes: u64,
    /// Bytes allowed.
    pub capacity_bytes: u64,
    /// Files cached.
    pub items: u32,
}

/// `ping`: the agent's half of a clock-sync exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Matches the `pong` to the `ping`.
    pub id: u32,
    /// Agent clock when sent, µs since the epoch.
    pub t1: u64,
}

/// `pong`: the controller's half of a clock-sync exchange. The agent notes `t4`, its own
/// clock when the pong arrives, and feeds all four to [`crate::clock::ClockSync`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// The ping's id.
    pub id: u32,
    /// The ping's `t1`, echoed.
    pub t1: u64,
    /// Controller clock when the ping arrived, µs.
    pub t2: u64,
    /// Controller clock when the pong left, µs.
    pub t3: u64,
}

/// `receipt`: one broadcast's progress on one agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The broadcast.
    pub broadcast_id: BroadcastId,
    /// For scheduled plays: the schedule entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<u64>,
    /// The new state.
    #[serde(flatten)]
    pub state: ReceiptState,
    /// When the state was reached (controller time, as estimated by the agent).
    pub at: Timestamp,
}

/// The states of a receipt. On the wire, the `state` field of the receipt, plus `reason` and
/// `detail` for `failed` and `by` for `preempted`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReceiptState {
    /// Accepted; waiting for the start time, the media or a free speaker.
    Waiting,
    /// Audible now.
    Playing,
    /// Played to the end (every repetition).
    Done,
    /// Will not play.
    Failed {
        /// Why.
        reason: FailReason,
        /// Human-readable detail for the log.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Cut off by something of higher priority (it may resume: a later `playing`).
    Preempted {
        /// The broadcast that took the speaker.
        by: BroadcastId,
    },
    /// Stopped by a `stop`, `stop_live` or `stop_all`.
    Cancelled,
}

impl ReceiptState {
    /// `done`, `failed` and `cancelled`: the broadcast will not play on this agent again,
    /// whatever restarts and re-sends follow (PROTOCOL.md rules A9–A11 and C1–C2).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Done | Self::Failed { .. } | Self::Cancelled)
    }
}

/// Why a broadcast failed on an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// The media could not be downloaded.
    FetchFailed,
    /// The media downloaded but its hash or format is wrong.
    MediaCorrupt,
    /// The media is not in the cache and the controller is unreachable.
    MediaMissing,
    /// Its window (`expires_at`) passed before it could start or resume.
    Expired,
    /// The sound device failed.
    DeviceError,
    /// The relay board failed, so the amplifier could not be powered.
    RelayError,
    /// A live stream sent no frames for `idle_timeout_ms`.
    StreamTimeout,
    /// Skipped after preemption (`on_preempt: skip`).
    Skipped,
    /// A reason this version does not know (sent by a newer peer).
    #[serde(other)]
    Other,
}

/// `cache`: a media file's progress in the agent's cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheReport {
    /// The file.
    pub hash: MediaHash,
    /// Where it stands.
    pub state: CacheState,
    /// Detail for failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A media file's state in the agent's cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheState {
    /// Downloading.
    Fetching,
    /// Downloaded and verified.
    Cached,
    /// Download or verification failed.
    Failed,
    /// Removed.
    Evicted,
}

/// `rejected`: the agent refused a signed command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The command's sequence number, if the payload could be authenticated and read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Why.
    pub reason: RejectReason,
    /// Human-readable detail.
    pub detail: String,
}

/// Why an agent refused a signed command (see [`crate::envelope::VerifyError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Over a size limit.
    TooLarge,
    /// Signed with a key the agent has not pinned.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// Signed, but not a command this agent understands.
    Malformed,
    /// Signed for another agent.
    WrongAudience,
    /// Sequence number already used.
    Replayed,
    /// Inverted or too long validity window.
    BadWindow,
    /// Validity window not open yet.
    NotYetValid,
    /// Validity window closed.
    Stale,
    /// A reason this version does not know.
    #[serde(other)]
    Other,
}

/// `error`: either side refuses a message or closes the connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable text (never contains secrets).
    pub message: String,
    /// For `unsupported_version`: the versions the sender speaks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_versions: Vec<u16>,
}

/// Error codes. What the receiver must do with each is in `PROTOCOL.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No common protocol version. The connection closes.
    UnsupportedVersion,
    /// The message could not be decoded. The connection stays open.
    MalformedMessage,
    /// The message is not allowed in the current state (e.g. `status` before login).
    UnexpectedMessage,
    /// Enrolment refused: unknown, used or expired token, or a bad proof. Closes.
    EnrolmentRefused,
    /// Login refused: unknown agent or bad proof. Closes.
    LoginRefused,
    /// The agent was retired or revoked. Closes; the agent must not retry until
    /// reconfigured.
    Revoked,
    /// Too many attempts; retry later with backoff. Closes.
    RateLimited,
    /// A fault on the sender's side. Closes; retry with backoff.
    Internal,
    /// A code this version does not know.
    #[serde(other)]
    Other,
}

/// `goodbye`: a deliberate disconnect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goodbye {
    /// Why the agent is leaving, e.g. `shutdown`.
    pub reason: String,
}

/// `goodbye` from the controller: it is going away on purpose. The agent closes, waits a
/// random time within `reconnect_within_ms` and reconnects, so a county's agents do not
/// all return in the same second.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leaving {
    /// Why, e.g. `shutdown`.
    pub reason: String,
    /// Reconnect at a uniformly random moment within this many milliseconds.
    pub reconnect_within_ms: u32,
}

/// Why a control message could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The message is larger than [`MAX_CONTROL_MESSAGE`]; nothing was parsed.
    #[error("control message of {len} bytes exceeds the limit of {MAX_CONTROL_MESSAGE} bytes")]
    TooLarge {
        /// The message length.
        len: usize,
    },
    /// Not UTF-8 (WebSocket text frames must be).
    #[error("control message is not UTF-8: invalid byte at offset {valid_up_to}")]
    NotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// Not a JSON object.
    #[error("control message is not a JSON object")]
    NotObject,
    /// Not valid JSON (or not UTF-8).
    #[error("control message is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// A JSON object without a string `type` field.
    #[error("control message has no \"type\" field")]
    MissingType,
    /// A `type` this side does not know (for this direction).
    #[error("unknown control message type {0:?}")]
    UnknownType(String),
    /// A known `type` whose fields are wrong: missing, mistyped or out of range.
    #[error("invalid {kind:?} message: {source}")]
    Invalid {
        /// The message's `type`.
        kind: String,
        /// What serde found wrong (names the field, line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A field is longer than the protocol allows.
    #[error(transparent)]
    Limit(#[from] LimitError),
}

impl ControlError {
    /// The error code to send back to the peer.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::MalformedMessage
    }
}

/// Decodes one control message sent by an agent.
pub fn decode_agent_message(bytes: &[u8]) -> Result<AgentMessage, ControlError> {
    use AgentMessage as M;
    let kind = read_type(bytes)?;
    let message = match kind.as_str() {
        "hello" => M::Hello(parse(bytes, kind)?),
        "enrol" => M::Enrol(parse(bytes, kind)?),
        "login" => M::Login(parse(bytes, kind)?),
        "heartbeat" => M::Heartbeat(parse(bytes, kind)?),
        "status" => M::Status(parse(bytes, kind)?),
        "ping" => M::Ping(parse(bytes, kind)?),
        "receipt" => M::Receipt(parse(bytes, kind)?),
        "cache" => M::Cache(parse(bytes, kind)?),
        "rejected" => M::Rejected(parse(bytes, kind)?),
        "error" => M::Error(parse(bytes, kind)?),
        "goodbye" => M::Goodbye(parse(bytes, kind)?),
        _ => return Err(ControlError::UnknownType(kind)),
    };
    if let M::Hello(hello) = &message {
        if hello.versions.is_empty() || hello.versions.len() > 16 {
            return Err(LimitError {
                field: "hello.versions",
                len: hello.versions.len(),
                max: 16,
            }
            .into());
        }
    }
    Ok(message)
}

/// Decodes one control message sent by the controller.
///
/// A `signed` message is decoded only as far as its envelope; its payload is parsed by
/// [`crate::envelope::CommandVerifier`] once the signature has been checked.
pub fn decode_controller_message(bytes: &[u8]) -> Result<ControllerMessage, ControlError> {
    use ControllerMessage as M;
    let kind = read_type(bytes)?;
    Ok(match kind.as_str() {
        "welcome" => M::Welcome(parse(bytes, kind)?),
        "enrolled" => M::Enrolled(parse(bytes, kind)?),
        "login_ok" => M::LoginOk(parse(bytes, kind)?),
        "pong" => M::Pong(parse(bytes, kind)?),
        "signed" => M::Signed(parse(bytes, kind)?),
        "error" => M::Error(parse(bytes, kind)?),
        "goodbye" => M::Goodbye(parse(bytes, kind)?),
        _ => return Err(ControlError::UnknownType(kind)),
    })
}

/// Checks the size and shape of a control message and returns its `type`.
fn read_type(bytes: &[u8]) -> Result<String, ControlError> {
    if bytes.len() > MAX_CONTROL_MESSAGE {
        return Err(ControlError::TooLarge { len: bytes.len() });
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(ControlError::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        });
    }
    // serde would also read a JSON array as a struct; the protocol allows objects only.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ControlError::NotObject);
    }
    #[derive(Deserialize)]
    struct Tag<'a> {
        #[serde(rename = "type", borrow, default)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    let tag: Tag<'_> = serde_json::from_slice(bytes).map_err(ControlError::NotJson)?;
    tag.kind
        .map(std::borrow::Cow::into_owned)
        .ok_or(ControlError::MissingType)
}

/// Parses the message body. The body types ignore unknown fields, `type` among them, so
/// each is read straight from the bytes and serde's errors keep their line and column.
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], kind: String) -> Result<T, ControlError> {
    serde_json::from_slice(bytes).map_err(|source| ControlError::Invalid { kind, source })
}

impl AgentMessage {
    /// The message as a JSON text frame.
    pub fn to_json(&self) -> String {
        // Cannot fail: every map key in these types is a string.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl ControllerMessage {
    /// The message as a JSON text frame.
    pub fn to_json(&self) -> String {
        // Cannot fail: every map key in these types is a string.
        serde_json::to_string(self).unwrap_or_default()
    }
}

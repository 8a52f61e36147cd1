//! Commands: everything the controller asks an agent to *do*.
//!
//! A command never travels on its own. It is the body of a [`SignedCommand`], whose exact
//! JSON bytes the controller signs (see [`crate::envelope`]). The types make the rule
//! structural: [`crate::control::ControllerMessage`] has no variant that carries a
//! [`Command`] except the signed envelope, so there is no way to send one unsigned.

use serde::{Deserialize, Serialize};

use crate::keys::PublicKey;
use crate::limits::{MAX_CONFIG_DOCUMENT, MAX_MEDIA_ITEMS, MAX_SCHEDULE_ENTRIES};
use crate::types::{
    AgentId, BroadcastId, MediaHash, Mode, PlatformLevel, Priority, RelayState, Severity, StreamId,
    Timestamp, Volume,
};

/// The signed body of a command: who it is for, when it is valid, its sequence number, and
/// the command itself. Serialised as JSON, these bytes are what the signature covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCommand {
    /// Strictly increasing per agent. An agent refuses any command whose `seq` is not
    /// greater than the last one it accepted (replay protection).
    pub seq: u64,
    /// The one agent this command is for. A command signed for one agent is refused by
    /// every other, so it cannot be replayed elsewhere.
    pub audience: AgentId,
    /// When the controller signed it (controller time). Informational.
    pub issued_at: Timestamp,
    /// The command is refused before this time (controller time).
    pub not_before: Timestamp,
    /// The command is refused after this time (controller time). At most
    /// [`crate::limits::MAX_VALIDITY_WINDOW_MICROS`] after `not_before`.
    pub not_after: Timestamp,
    /// What to do.
    pub command: Command,
}

/// What the controller asks an agent to do. On the wire: a JSON object whose `type` names
/// the variant in `snake_case`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Play a stored media file at a given controller time.
    PlayMedia(PlayMedia),
    /// Start playing a live stream whose audio frames follow as binary messages.
    StartLive(StartLive),
    /// Stop a live stream (normally after its end-of-stream frame).
    StopLive(StopLive),
    /// Stop one broadcast, stored or live.
    Stop(Stop),
    /// Stop everything that is playing or waiting, and turn the relays off after the hold.
    StopAll,
    /// Set the base output volume.
    SetVolume(SetVolume),
    /// Switch one relay channel.
    RelaySet(RelaySet),
    /// Switch every relay channel off now, whatever is playing.
    RelayAllOff,
    /// Download media into the cache ahead of use.
    FetchMedia(FetchMedia),
    /// Remove media from the cache.
    EvictMedia(EvictMedia),
    /// Replace the agent's configuration.
    ConfigPush(ConfigPush),
    /// Replace the agent's stored schedule (what it plays if the controller is unreachable).
    ScheduleSync(ScheduleSync),
    /// Pin another controller URL, command key or certificate: move the speaker to another
    /// controller, or rotate this controller's key or certificate.
    MoveController(MoveController),
}

impl Command {
    /// The command's `type` string on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PlayMedia(_) => "play_media",
            Self::StartLive(_) => "start_live",
            Self::StopLive(_) => "stop_live",
            Self::Stop(_) => "stop",
            Self::StopAll => "stop_all",
            Self::SetVolume(_) => "set_volume",
            Self::RelaySet(_) => "relay_set",
            Self::RelayAllOff => "relay_all_off",
            Self::FetchMedia(_) => "fetch_media",
            Self::EvictMedia(_) => "evict_media",
            Self::ConfigPush(_) => "config_push",
            Self::ScheduleSync(_) => "schedule_sync",
            Self::MoveController(_) => "move_controller",
        }
    }

    /// Checks the per-field limits that the overall message size does not already imply.
    pub fn check_limits(&self) -> Result<(), LimitError> {
        match self {
            Self::FetchMedia(f) => check_len("fetch_media.items", f.items.len(), MAX_MEDIA_ITEMS),
            Self::EvictMedia(e) => check_len("evict_media.hashes", e.hashes.len(), MAX_MEDIA_ITEMS),
            Self::ConfigPush(c) => check_len(
                "config_push.document",
                c.document.len(),
                MAX_CONFIG_DOCUMENT,
            ),
            Self::ScheduleSync(s) => check_len(
                "schedule_sync.entries",
                s.entries.len(),
                MAX_SCHEDULE_ENTRIES,
            ),
            _ => Ok(()),
        }
    }
}

/// A field is longer than the protocol allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} has {len} elements, the limit is {max}")]
pub struct LimitError {
    /// The field, as `message.field`.
    pub field: &'static str,
    /// Its length.
    pub len: usize,
    /// The limit.
    pub max: usize,
}

fn check_len(field: &'static str, len: usize, max: usize) -> Result<(), LimitError> {
    if len > max {
        Err(LimitError { field, len, max })
    } else {
        Ok(())
    }
}

/// Where to get a stored media file and how to check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// SHA-256 of the Ogg Opus file; the agent verifies it after download.
    pub hash: MediaHash,
    /// Size of the file in bytes.
    pub size: u64,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Download path, relative to the controller's base URL (for example
    /// `/media/<hash>`); the server supports HTTP range requests.
    pub url: String,
}

/// What a preempted item does when the speaker is free again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnPreempt {
    /// Continue from where it was cut off, if its window has not passed.
    #[default]
    Resume,
    /// Play again from the beginning, if its window has not passed.
    Restart,
    /// Give up (receipt `preempted`).
    Skip,
}

/// Play a stored media file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayMedia {
    /// The broadcast this play belongs to (receipts use it).
    pub broadcast_id: BroadcastId,
    /// The file. If it is not cached the agent fetches it first.
    pub media: MediaRef,
    /// When to start, in controller time; every targeted agent starts the same sample at
    /// this instant. A time in the past means "as soon as possible".
    pub start_at: Timestamp,
    /// Arbitration priority.
    pub priority: Priority,
    /// The issuing platform level (tie-break within one priority).
    pub level: PlatformLevel,
    /// Volume for this broadcast; `null` keeps the agent's current volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Volume>,
    /// How many times to play the file (at least 1).
    pub repeat: u16,
    /// Silence between repetitions, in milliseconds.
    #[serde(default)]
    pub gap_ms: u32,
    /// Real, test or drill content.
    pub mode: Mode,
    /// Alert severity, for alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// What to do if something of higher priority cuts in.
    #[serde(default)]
    pub on_preempt: OnPreempt,
    /// Never start or resume after this time (controller time); receipt `failed` with
    /// reason `expired`. `null`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Start playing a live stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartLive {
    /// The broadcast this stream belongs to.
    pub broadcast_id: BroadcastId,
    /// Audio frames with this stream id belong to the stream.
    pub stream_id: StreamId,
    /// Arbitration priority (normally `live`; `emergency` for a live alert).
    pub priority: Priority,
    /// The issuing platform level.
    pub level: PlatformLevel,
    /// Volume for this broadcast; `null` keeps the agent's current volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Volume>,
    /// Real, test or drill content.
    pub mode: Mode,
    /// Play each frame at `capture_time + latency_ms`. The same for every agent of the
    /// broadcast, so neighbouring speakers play in step.
    pub latency_ms: u32,
    /// Give up (receipt `failed`, reason `stream_timeout`) when no frame arrives for this
    /// long, in milliseconds.
    pub idle_timeout_ms: u32,
}

/// Stop a live stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopLive {
    /// The broadcast.
    pub broadcast_id: BroadcastId,
    /// The stream.
    pub stream_id: StreamId,
}

/// Stop one broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    /// The broadcast to stop; receipt `cancelled`.
    pub broadcast_id: BroadcastId,
}

/// Set the base output volume. Per-priority caps and quiet hours from the agent's
/// configuration still apply on top (emergency ignores them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetVolume {
    /// The new volume.
    pub volume: Volume,
}

/// Switch one relay channel. A channel switched on by command stays on until switched off,
/// at most the configured maximum on-time (the agent's watchdog).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelaySet {
    /// Channel number, from 1.
    pub channel: u8,
    /// The state to set.
    pub state: RelayState,
}

/// Download media ahead of use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchMedia {
    /// Files to fetch, most urgent first. At most [`MAX_MEDIA_ITEMS`].
    pub items: Vec<MediaRef>,
}

/// Remove media from the cache (files in use are removed when they finish).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvictMedia {
    /// Files to remove. At most [`MAX_MEDIA_ITEMS`].
    pub hashes: Vec<MediaHash>,
}

/// Replace the agent's configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigPush {
    /// Version label of the new configuration, reported back in status.
    pub config_version: String,
    /// The whole configuration file (TOML). The agent validates it before applying and
    /// keeps the old one if it is invalid. At most [`MAX_CONFIG_DOCUMENT`] bytes.
    pub document: String,
}

/// Pin a new controller: its agent endpoint, command key and certificate. The only way
/// these change remotely (a [`ConfigPush`] may not touch them), and accepted only under the
/// key the agent pins now, like every command. The agent writes them into its
/// configuration file on trial: if it cannot reach the new controller with them within
/// its confirmation window it goes back to the old pins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveController {
    /// Version label of the configuration that results, reported back in status.
    pub config_version: String,
    /// The agent endpoint, `wss://host[:port]/agent/ws` (or `ws://` on a trusted link).
    pub url: String,
    /// The controller's Ed25519 command key that signs every later command.
    pub public_key: PublicKey,
    /// SHA-256 of the controller's TLS certificate (DER) as `sha256:` and 64 hex digits
    /// (colons allowed); required with `wss://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_fingerprint: Option<String>,
}

/// Replace the agent's stored schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSync {
    /// Version of the schedule, increasing; reported back in status.
    pub schedule_version: u64,
    /// Every upcoming item, in start order. At most [`MAX_SCHEDULE_ENTRIES`].
    pub entries: Vec<ScheduleEntry>,
}

/// One scheduled play.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleEntry {
    /// Identifies the entry in receipts (with the play's broadcast id).
    pub entry_id: u64,
    /// What to play and when. `play.expires_at` bounds how late it may still start.
    pub play: PlayMedia,
}

//! # dalaba-protocol
//!
//! The wire protocol between the Dalaba controller and its speaker agents, as plain data
//! and pure functions. `PROTOCOL.md` at the repository root is the specification; this
//! crate is its reference implementation.
//!
//! What it is:
//! - [`control`]: JSON control messages (WebSocket text frames), one enum per direction,
//!   with decoders that check size limits first and return typed errors;
//! - [`command`]: the commands an agent obeys, which only ever travel signed;
//! - [`envelope`]: the Ed25519 signing envelope and the agent's [`envelope::CommandVerifier`]
//!   (bad signature, wrong key, wrong agent, replayed, stale, not yet valid);
//! - [`audio_frame`]: the binary audio frame (fixed 24-byte header + one Opus packet);
//! - [`clock`]: the clock-sync estimator (NTP-style exchanges, median of the best samples);
//! - [`auth`]: the enrolment and login proofs;
//! - [`types`], [`keys`], [`limits`], [`version`]: the shared vocabulary.
//!
//! What it is not: it does no I/O. No sockets, no tokio, no clock reads, no randomness:
//! bytes and `now` go in, messages and decisions come out. The controller and the agent own
//! the connections, the clocks and the keys' storage.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audio_frame;
pub mod auth;
pub mod clock;
pub mod command;
pub mod control;
pub mod envelope;
pub mod keys;
pub mod limits;
pub mod types;
pub mod version;

pub use audio_frame::{AudioFrame, AudioHeader, FrameError, FrameFlags};
pub use command::{Command, SignedCommand};
pub use control::{
    AgentMessage, ControlError, ControllerMessage, decode_agent_message, decode_controller_message,
};
pub use envelope::{CommandSigner, CommandVerifier, SignedEnvelope, VerifyError};
pub use types::{
    AgentId, AreaCode, BroadcastId, MediaHash, Mode, PlatformLevel, Priority, StreamId, Timestamp,
    Volume,
};
pub use version::{PROTOCOL_VERSION, SUPPORTED_VERSIONS};

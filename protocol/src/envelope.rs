//! The signing envelope: how a [`SignedCommand`] travels, and how an agent decides whether
//! to obey it.
//!
//! The controller serialises the [`SignedCommand`] to JSON once, signs
//! [`COMMAND_SIGNING_DOMAIN`] followed by exactly those bytes with its Ed25519 key, and sends
//! the bytes base64-encoded beside the signature. The agent checks the signature over the
//! bytes it received and only then parses them: nothing is re-serialised to verify, so two
//! JSON encoders that disagree on whitespace or key order can never make a valid command
//! look forged, or a forged one valid.
//!
//! [`CommandVerifier`] is sans-IO: give it the pinned key, the agent's id, the last
//! sequence number accepted and the current controller time, and it accepts the envelope
//! or says exactly why not.

use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};

use crate::command::{LimitError, SignedCommand};
use crate::control::RejectReason;
use crate::keys::{Base64Bytes, KeyId, PublicKey, Signature};
use crate::limits::{MAX_SIGNED_PAYLOAD, MAX_VALIDITY_WINDOW_MICROS};
use crate::types::{AgentId, Timestamp};

/// Prefix of every signed command message, so a signature made for a command can never be
/// taken for a login proof or anything else signed with the same key.
pub const COMMAND_SIGNING_DOMAIN: &[u8] = b"dalaba/command/v1\0";

/// A signed command as it travels inside `{"type":"signed", ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEnvelope {
    /// Which controller key signed it.
    pub key_id: KeyId,
    /// The exact JSON bytes of a [`SignedCommand`], base64-encoded.
    pub payload: Base64Bytes,
    /// Ed25519 signature over [`COMMAND_SIGNING_DOMAIN`] followed by the payload bytes.
    pub signature: Signature,
}

/// The controller's side: signs commands with its Ed25519 key.
pub struct CommandSigner {
    key: SigningKey,
    key_id: KeyId,
}

impl std::fmt::Debug for CommandSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret key.
        f.debug_struct("CommandSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl CommandSigner {
    /// A signer using `key`.
    pub fn new(key: SigningKey) -> Self {
        let key_id = KeyId::of(&key.verifying_key());
        Self { key, key_id }
    }

    /// The public key agents must pin.
    pub fn public_key(&self) -> PublicKey {
        self.key.verifying_key().into()
    }

    /// The id of the signing key.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Serialises `command` and signs the bytes.
    pub fn sign(&self, command: &SignedCommand) -> SignedEnvelope {
        // Serialising these types cannot fail: every map key is a string.
        let payload = serde_json::to_vec(command).unwrap_or_default();
        self.sign_bytes(payload)
    }

    /// Signs `payload` as it is. For tests and tools that need to sign hand-made bytes;
    /// [`Self::sign`] is the normal way.
    pub fn sign_bytes(&self, payload: Vec<u8>) -> SignedEnvelope {
        let signature = self.key.sign(&signing_message(&payload)).into();
        SignedEnvelope {
            key_id: self.key_id,
            payload: Base64Bytes(payload),
            signature,
        }
    }
}

fn signing_message(payload: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(COMMAND_SIGNING_DOMAIN.len() + payload.len());
    msg.extend_from_slice(COMMAND_SIGNING_DOMAIN);
    msg.extend_from_slice(payload);
    msg
}

/// Why an agent refused a signed command. Checked in this order; the first failure wins.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The signed payload is larger than [`MAX_SIGNED_PAYLOAD`].
    #[error("signed payload of {len} bytes exceeds the limit of {MAX_SIGNED_PAYLOAD}")]
    TooLarge {
        /// Payload length.
        len: usize,
    },
    /// The envelope names a key this agent has not pinned.
    #[error("signed by unknown key {got}, the pinned controller key is {pinned}")]
    UnknownKey {
        /// The key id in the envelope.
        got: KeyId,
        /// The pinned key's id.
        pinned: KeyId,
    },
    /// The signature does not match the payload and the pinned key: forged or corrupted.
    #[error("bad signature: the payload was not signed by the pinned controller key")]
    BadSignature,
    /// Correctly signed, but the payload is not a command this agent understands (a newer
    /// controller, or a controller bug).
    #[error("signed payload is not a valid command: {0}")]
    Malformed(#[source] serde_json::Error),
    /// Correctly signed, but a field is over its limit.
    #[error("signed command over a limit: {0}")]
    Limit(#[from] LimitError),
    /// Signed for another agent.
    #[error("command is for agent {audience}, not for this agent ({expected})")]
    WrongAudience {
        /// The command's audience.
        audience: AgentId,
        /// This agent's id.
        expected: AgentId,
    },
    /// The sequence number is not above the last accepted one: a replay.
    #[error("replayed command: sequence {seq} is not above the last accepted {last_seq}")]
    Replayed {
        /// The command's sequence number.
        seq: u64,
        /// The last sequence number accepted.
        last_seq: u64,
    },
    /// `not_after` is before `not_before`, or the window is longer than
    /// [`MAX_VALIDITY_WINDOW_MICROS`].
    #[error(
        "validity window {not_before}..{not_after} is inverted or longer than {MAX_VALIDITY_WINDOW_MICROS}µs"
    )]
    BadWindow {
        /// Start of the window.
        not_before: Timestamp,
        /// End of the window.
        not_after: Timestamp,
    },
    /// The window has not opened yet (beyond the clock tolerance).
    #[error("command not valid yet: valid from {not_before}, now is {now}")]
    NotYetValid {
        /// Start of the window.
        not_before: Timestamp,
        /// The agent's estimate of controller time.
        now: Timestamp,
    },
    /// The window has closed (beyond the clock tolerance).
    #[error("stale command: valid until {not_after}, now is {now}")]
    Stale {
        /// End of the window.
        not_after: Timestamp,
        /// The agent's estimate of controller time.
        now: Timestamp,
    },
}

impl VerifyError {
    /// The reason code to report to the controller in a `rejected` message.
    pub fn reason(&self) -> RejectReason {
        match self {
            Self::TooLarge { .. } | Self::Limit(_) => RejectReason::TooLarge,
            Self::UnknownKey { .. } => RejectReason::UnknownKey,
            Self::BadSignature => RejectReason::BadSignature,
            Self::Malformed(_) => RejectReason::Malformed,
            Self::WrongAudience { .. } => RejectReason::WrongAudience,
            Self::Replayed { .. } => RejectReason::Replayed,
            Self::BadWindow { .. } => RejectReason::BadWindow,
            Self::NotYetValid { .. } => RejectReason::NotYetValid,
            Self::Stale { .. } => RejectReason::Stale,
        }
    }
}

/// The agent's side: decides whether a signed command may be obeyed.
///
/// Holds the pinned controller key, this agent's id and the highest sequence number
/// accepted so far. The agent must persist [`Self::last_seq`] before acting on a command,
/// so that a reboot does not reopen the replay window.
#[derive(Debug, Clone)]
pub struct CommandVerifier {
    key: PublicKey,
    key_id: KeyId,
    audience: AgentId,
    last_seq: u64,
    tolerance_micros: u64,
}

impl CommandVerifier {
    /// Default allowance for clock error when checking validity windows: 5 seconds.
    pub const DEFAULT_TOLERANCE_MICROS: u64 = 5_000_000;

    /// A verifier for agent `audience`, trusting `pinned`, that has accepted sequence
    /// numbers up to `last_seq` (0 for none).
    pub fn new(pinned: PublicKey, audience: AgentId, last_seq: u64) -> Self {
        Self {
            key_id: pinned.key_id(),
            key: pinned,
            audience,
            last_seq,
            tolerance_micros: Self::DEFAULT_TOLERANCE_MICROS,
        }
    }

    /// Sets how far `now` may be outside a command's window, in microseconds, before the
    /// command is refused (the uncertainty of the agent's clock estimate).
    #[must_use]
    pub fn with_tolerance_micros(mut self, micros: u64) -> Self {
        self.tolerance_micros = micros;
        self
    }

    /// The highest sequence number accepted so far.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Checks `envelope` at controller time `now` and, if it passes, records its sequence
    /// number so the same command can never be accepted again.
    pub fn accept(
        &mut self,
        envelope: &SignedEnvelope,
        now: Timestamp,
    ) -> Result<SignedCommand, VerifyError> {
        let command = self.check(envelope, now)?;
        self.last_seq = command.seq;
        Ok(command)
    }

    /// Checks `envelope` at controller time `now` without recording anything.
    pub fn check(
        &self,
        envelope: &SignedEnvelope,
        now: Timestamp,
    ) -> Result<SignedCommand, VerifyError> {
        let payload = &envelope.payload.0;
        if payload.len() > MAX_SIGNED_PAYLOAD {
            return Err(VerifyError::TooLarge { len: payload.len() });
        }
        if envelope.key_id != self.key_id {
            return Err(VerifyError::UnknownKey {
                got: envelope.key_id,
                pinned: self.key_id,
            });
        }
        self.key
            .verifying_key()
            .verify_strict(&signing_message(payload), &envelope.signature.0)
            .map_err(|_| VerifyError::BadSignature)?;

        // Only now, with the bytes authenticated, parse them.
        let command: SignedCommand =
            serde_json::from_slice(payload).map_err(VerifyError::Malformed)?;
        command.command.check_limits()?;
        if command.audience != self.audience {
            return Err(VerifyError::WrongAudience {
                audience: command.audience,
                expected: self.audience.clone(),
            });
        }
        if command.seq <= self.last_seq {
            return Err(VerifyError::Replayed {
                seq: command.seq,
                last_seq: self.last_seq,
            });
        }
        let (not_before, not_after) = (command.not_before, command.not_after);
        let window_ok =
            not_after >= not_before && not_after.0 - not_before.0 <= MAX_VALIDITY_WINDOW_MICROS;
        if !window_ok {
            return Err(VerifyError::BadWindow {
                not_before,
                not_after,
            });
        }
        if now.saturating_add_micros(self.tolerance_micros) < not_before {
            return Err(VerifyError::NotYetValid { not_before, now });
        }
        if now.saturating_sub_micros(self.tolerance_micros) > not_after {
            return Err(VerifyError::Stale { not_after, now });
        }
        Ok(command)
    }
}

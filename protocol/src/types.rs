//! Identifiers and small value types shared by control messages and commands.
//!
//! Every type here parses its wire form once (on deserialisation) and is valid from then
//! on: an [`AgentId`] is never empty, a [`Volume`] never exceeds 100, an [`AreaCode`] is
//! always twelve digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Microseconds since the Unix epoch on the controller's clock ("controller time").
///
/// Agents convert their own clock to controller time with the offset estimated by
/// [`crate::clock::ClockSync`]. Every start time, validity window and receipt time on the
/// wire is controller time. Values stay below 2^53 until the year 2255, so they are exact in
/// JSON readers that use doubles.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The timestamp `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// This time plus `micros`, saturating at the far future.
    pub const fn saturating_add_micros(self, micros: u64) -> Self {
        Self(self.0.saturating_add(micros))
    }

    /// This time minus `micros`, saturating at the epoch.
    pub const fn saturating_sub_micros(self, micros: u64) -> Self {
        Self(self.0.saturating_sub(micros))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}µs", self.0)
    }
}

/// Why a textual identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// An agent id must be 1 to 64 bytes.
    #[error("agent id must be 1 to {max} characters, got {len}", max = AgentId::MAX_LEN)]
    AgentIdLength {
        /// The length that was given.
        len: usize,
    },
    /// An agent id may only hold `A-Z a-z 0-9 . _ -`.
    #[error("agent id may only contain A-Z, a-z, 0-9, '.', '_' and '-' (found {found:?})")]
    AgentIdChar {
        /// The first character that is not allowed.
        found: char,
    },
    /// An area code is exactly twelve ASCII digits.
    #[error(
        "area code must be exactly 12 digits (province 2, city 2, county 2, township 3, village 3), got {0:?}"
    )]
    AreaCode(String),
    /// A media hash is 64 lowercase hex digits.
    #[error("media hash must be 64 lowercase hex digits (SHA-256), got {0:?}")]
    MediaHash(String),
    /// A volume is a percentage.
    #[error("volume must be 0 to 100 (percent), got {0}")]
    Volume(u16),
}

/// An agent's identifier, assigned by the controller when the agent is created.
///
/// 1 to 64 characters from `A-Z a-z 0-9 . _ -`, so it is safe in file names, URLs and logs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgentId(String);

impl AgentId {
    /// Longest accepted agent id, in bytes.
    pub const MAX_LEN: usize = 64;

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AgentId {
    type Error = IdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(IdError::AgentIdLength { len: value.len() });
        }
        if let Some(found) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(IdError::AgentIdChar { found });
        }
        Ok(Self(value))
    }
}

impl FromStr for AgentId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl From<AgentId> for String {
    fn from(id: AgentId) -> Self {
        id.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 12-digit administrative area code in the GB/T 2260 style:
/// province 2, city 2, county 2, township 3, village 3 digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AreaCode([u8; 12]);

impl AreaCode {
    /// The code as its twelve digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Whether this code lies inside the area named by `prefix` (e.g. a county's 6 digits).
    /// An empty prefix matches every code.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.as_str().starts_with(prefix)
    }
}

impl FromStr for AreaCode {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        match <[u8; 12]>::try_from(bytes) {
            Ok(digits) if digits.iter().all(u8::is_ascii_digit) => Ok(Self(digits)),
            _ => Err(IdError::AreaCode(s.to_owned())),
        }
    }
}

impl TryFrom<String> for AreaCode {
    type Error = IdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<AreaCode> for String {
    fn from(code: AreaCode) -> Self {
        code.as_str().to_owned()
    }
}

impl fmt::Display for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SHA-256 of a stored media file (the transcoded Ogg Opus bytes), its address in the
/// controller's library and the agents' caches. On the wire: 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MediaHash([u8; 32]);

impl MediaHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Wraps an already computed SHA-256 digest.
    pub const fn from_digest(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// The raw digest.
    pub const fn digest(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for MediaHash {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut digest = [0u8; 32];
        let lowercase = s.bytes().all(|b| !b.is_ascii_uppercase());
        match hex::decode_to_slice(s, &mut digest) {
            Ok(()) if lowercase => Ok(Self(digest)),
            _ => Err(IdError::MediaHash(s.to_owned())),
        }
    }
}

impl TryFrom<String> for MediaHash {
    type Error = IdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<MediaHash> for String {
    fn from(hash: MediaHash) -> Self {
        hex::encode(hash.0)
    }
}

impl fmt::Display for MediaHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for MediaHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaHash({self})")
    }
}

/// A broadcast's identifier, assigned by the controller. One broadcast reaches many agents;
/// each agent reports receipts under this id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BroadcastId(pub u64);

impl fmt::Display for BroadcastId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}", self.0)
    }
}

/// A live stream's identifier; it ties audio frames to the `start_live` command that
/// announced them. Agents drop frames of streams they were not told to play.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(pub u32);

/// Playback priority, highest first: emergency > live > scheduled > background.
///
/// `Ord` follows priority: `Priority::Emergency > Priority::Live`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Filler content; anything preempts it.
    Background,
    /// Playlists and scheduled programming.
    Scheduled,
    /// Live calls from an operator or a village head.
    Live,
    /// Emergency alerts: bypass volume caps and quiet hours.
    Emergency,
}

/// The platform level that issued a broadcast. Within one [`Priority`], the higher level
/// wins; `Ord` follows that rule (`National` is highest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformLevel {
    /// A village (the village head's handheld).
    Village,
    /// A township platform.
    Township,
    /// A county platform: the usual controller.
    County,
    /// A prefecture-level city platform.
    City,
    /// A provincial platform.
    Province,
    /// The national platform.
    National,
}

/// Whether content is real, a technical test, or an exercise. Travels end to end so that
/// test content is never presented as real.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Real content.
    #[default]
    Real,
    /// A technical test.
    Test,
    /// A drill (exercise).
    Drill,
}

/// Alert severity (describes content; separate from [`Priority`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Red: especially serious.
    Red,
    /// Orange: serious.
    Orange,
    /// Yellow: relatively serious.
    Yellow,
    /// Blue: general.
    Blue,
}

/// A volume in percent of the device's range, 0 to 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Volume(u8);

impl Volume {
    /// Silence.
    pub const MUTE: Self = Self(0);
    /// Full volume.
    pub const MAX: Self = Self(100);

    /// `percent` as a volume, if it is at most 100.
    pub const fn new(percent: u8) -> Option<Self> {
        if percent <= 100 {
            Some(Self(percent))
        } else {
            None
        }
    }

    /// The volume in percent.
    pub const fn percent(self) -> u8 {
        self.0
    }
}

impl TryFrom<u16> for Volume {
    type Error = IdError;

    fn try_from(value: u16) -> Result<Self, Self::Error> {
        u8::try_from(value)
            .ok()
            .and_then(Self::new)
            .ok_or(IdError::Volume(value))
    }
}

impl From<Volume> for u16 {
    fn from(v: Volume) -> Self {
        u16::from(v.0)
    }
}

/// A relay output's state (like embedded-hal's `PinState`: a name, not a `bool`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayState {
    /// Contact open: the amplifier is unpowered.
    Off,
    /// Contact closed: the amplifier is powered.
    On,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids() {
        assert!("village-001.a_b".parse::<AgentId>().is_ok());
        assert_eq!(
            "".parse::<AgentId>(),
            Err(IdError::AgentIdLength { len: 0 })
        );
        assert_eq!(
            "a/b".parse::<AgentId>(),
            Err(IdError::AgentIdChar { found: '/' })
        );
        assert_eq!(
            "x".repeat(65).parse::<AgentId>(),
            Err(IdError::AgentIdLength { len: 65 })
        );
        assert_eq!(
            "喇叭".parse::<AgentId>(),
            Err(IdError::AgentIdChar { found: '喇' })
        );
    }

    #[test]
    fn area_codes() {
        let code: AreaCode = "330106001002".parse().expect("valid");
        assert!(code.has_prefix("330106"));
        assert!(code.has_prefix(""));
        assert!(!code.has_prefix("330107"));
        for bad in [
            "33010600100",
            "3301060010021",
            "33010600100a",
            "３３０１０６００１００２",
        ] {
            assert_eq!(bad.parse::<AreaCode>(), Err(IdError::AreaCode(bad.into())));
        }
    }

    #[test]
    fn media_hash_is_lowercase_hex_sha256() {
        let h = MediaHash::of(b"abc");
        assert_eq!(
            h.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.to_string().parse::<MediaHash>(), Ok(h));
        let upper = h.to_string().to_uppercase();
        assert!(upper.parse::<MediaHash>().is_err());
        assert!("abc".parse::<MediaHash>().is_err());
    }

    #[test]
    fn volume_and_priority_order() {
        assert_eq!(Volume::try_from(100).map(Volume::percent), Ok(100));
        assert_eq!(Volume::try_from(101), Err(IdError::Volume(101)));
        assert_eq!(Volume::try_from(300), Err(IdError::Volume(300)));
        assert!(Priority::Emergency > Priority::Live);
        assert!(Priority::Live > Priority::Scheduled);
        assert!(Priority::Scheduled > Priority::Background);
        assert!(PlatformLevel::National > PlatformLevel::County);
        assert!(PlatformLevel::Township > PlatformLevel::Village);
    }
}

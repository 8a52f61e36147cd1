//! Keys, signatures and challenges in their wire form (standard base64 with padding).
//!
//! Each type checks its bytes when it is parsed: a [`PublicKey`] is always a valid Ed25519
//! point, a [`Challenge`] always 32 bytes.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Why a key, signature or challenge was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not valid standard base64.
    #[error("invalid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Decoded to the wrong number of bytes.
    #[error("expected {expected} bytes, got {got}")]
    Length {
        /// Bytes the type holds.
        expected: usize,
        /// Bytes decoded.
        got: usize,
    },
    /// 32 bytes that are not an Ed25519 public key, or a weak (small-order) one.
    #[error("not a valid Ed25519 public key (bad point or small order)")]
    InvalidPoint,
    /// A key id is 16 lowercase hex digits.
    #[error("key id must be 16 lowercase hex digits, got {0:?}")]
    KeyId(String),
}

fn decode_fixed<const N: usize>(text: &str) -> Result<[u8; N], KeyError> {
    // Refuse long input before decoding it: N bytes are at most 4*ceil(N/3) characters.
    let max_chars = N.div_ceil(3) * 4;
    if text.len() > max_chars {
        return Err(KeyError::Length {
            expected: N,
            got: text.len() / 4 * 3,
        });
    }
    let bytes = B64.decode(text)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length {
        expected: N,
        got: bytes.len(),
    })
}

/// An Ed25519 public key: the controller's command key (pinned by agents) or an agent's
/// identity key (registered at enrolment). On the wire: 44 characters of base64.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses the base64 form, checking that the bytes are a valid key.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = decode_fixed::<32>(text)?;
        match VerifyingKey::from_bytes(&bytes) {
            // A small-order key would accept signatures anyone can make.
            Ok(key) if !key.is_weak() => Ok(Self(key)),
            _ => Err(KeyError::InvalidPoint),
        }
    }

    /// The base64 form.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0.as_bytes())
    }

    /// The key for verifying.
    pub const fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// The short id that names this key in signed envelopes.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.0)
    }
}

impl From<VerifyingKey> for PublicKey {
    fn from(key: VerifyingKey) -> Self {
        Self(key)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// First 8 bytes of the SHA-256 of a public key, as 16 lowercase hex digits. Names the
/// signing key in an envelope so that keys can be rotated.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &VerifyingKey) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl std::str::FromStr for KeyId {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; 8];
        let lowercase = s.bytes().all(|b| !b.is_ascii_uppercase());
        match hex::decode_to_slice(s, &mut id) {
            Ok(()) if lowercase => Ok(Self(id)),
            _ => Err(KeyError::KeyId(s.to_owned())),
        }
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 signature (64 bytes). On the wire: 88 characters of base64.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub(crate) DalekSignature);

impl Signature {
    /// Parses the base64 form.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        decode_fixed::<64>(text).map(|b| Self(DalekSignature::from_bytes(&b)))
    }

    /// The base64 form.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0.to_bytes())
    }

    /// The raw 64 bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0.to_bytes()
    }
}

impl From<DalekSignature> for Signature {
    fn from(sig: DalekSignature) -> Self {
        Self(sig)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_base64())
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// 32 random bytes the controller sends in `welcome`; the agent proves its identity by
/// signing them. On the wire: 44 characters of base64.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Challenge(pub [u8; 32]);

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Challenge({})", B64.encode(self.0))
    }
}

impl Serialize for Challenge {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Challenge {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        decode_fixed::<32>(&text)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

/// Bytes carried as standard base64 in JSON (the signed payload of an envelope).
#[derive(Clone, PartialEq, Eq)]
pub struct Base64Bytes(pub Vec<u8>);

impl fmt::Debug for Base64Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        B64.decode(text.as_bytes())
            .map(Self)
            .map_err(|e| serde::de::Error::custom(KeyError::Base64(e)))
    }
}

/// A pinned TLS certificate as people write it (`tls_fingerprint` in an agent's
/// configuration, `GET /api/controller`, `move_controller`): the SHA-256 of its DER as 64
/// hex digits, colons allowed between them, optionally prefixed `sha256:`. `None` if
/// `text` is not that.
pub fn parse_tls_fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex: String = text
        .strip_prefix("sha256:")
        .unwrap_or(text)
        .chars()
        .filter(|c| *c != ':')
        .collect();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn public_key_round_trip_and_errors() {
        let key = PublicKey::from(SigningKey::from_bytes(&[3; 32]).verifying_key());
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        assert_eq!(PublicKey::from_base64(&text), Ok(key));
        assert_eq!(
            PublicKey::from_base64("AAAA"),
            Err(KeyError::Length {
                expected: 32,
                got: 3
            })
        );
        assert!(matches!(
            PublicKey::from_base64("not base64!"),
            Err(KeyError::Base64(_))
        ));
        // The identity point (small order): decodes as a point, but is refused.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey::from_base64(&B64.encode(identity)),
            Err(KeyError::InvalidPoint)
        );
        assert!(matches!(
            PublicKey::from_base64(&"A".repeat(10_000)),
            Err(KeyError::Length { expected: 32, .. })
        ));
    }

    #[test]
    fn key_id_is_sha256_prefix() {
        let key = SigningKey::from_bytes(&[3; 32]).verifying_key();
        let id = KeyId::of(&key);
        let full = hex::encode(Sha256::digest(key.as_bytes()));
        assert_eq!(id.to_string(), full[..16]);
        assert_eq!(id.to_string().parse::<KeyId>(), Ok(id));
        assert!(full[..16].to_uppercase().parse::<KeyId>().is_err());
    }
}

//! Who may speak through CAP: each feed is configured as *sender → keys → scope*, and a
//! message is accepted only as the sender it names, inside that sender's areas.
//!
//! A message acts as its sender (may alert, update or cancel that sender's alerts) when:
//! - it carries a detached Ed25519 signature by one of **that sender's** keys (a key of
//!   another feed is refused); a sender with keys always needs one; or
//! - the sender has no keys, signatures are not required (`DALABA_CAP_REQUIRE_SIGNATURE`),
//!   and the message comes from the watched directory (local to the controller) or from a
//!   user whose areas cover **all** of the sender's: a village operator cannot speak for a
//!   county feed, so can neither cancel its alerts nor take its next identifier.
//!
//! Whatever the path, the alert's areas must lie inside the sender's scope, and a user who
//! imports through the API must cover them too (`POST /api/alerts` would ask the same).
//! Identifiers are unique per sender. The alert's platform level is the sender's scope's.
//!
//! The table is `GET`/`PUT /api/settings/cap-senders` (admins); it starts empty, so no CAP
//! message is accepted until a sender is configured.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use dalaba_protocol::PlatformLevel;
use serde::{Deserialize, Serialize};

use crate::access::{Action, level_within};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::Setting;

/// One configured CAP feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapSender {
    /// The `<sender>` it writes, exactly.
    pub sender: String,
    /// A name for people (e.g. 西湖区气象台).
    #[serde(default)]
    pub name: String,
    /// Its Ed25519 public keys, base64; empty: an unsigned feed.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Area-code prefixes it may alert (2 to 12 digits each).
    pub areas: Vec<String>,
}

impl CapSender {
    fn check(&self) -> Result<(), String> {
        let s = &self.sender;
        if s.trim().is_empty() || s.chars().count() > 200 {
            return Err(format!("sender {s:?}: 1 to 200 characters"));
        }
        if self.areas.is_empty() || self.areas.len() > 256 {
            return Err(format!("sender {s}: areas: 1 to 256 area-code prefixes"));
        }
        for a in &self.areas {
            if !(2..=12).contains(&a.len()) || !a.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("sender {s}: area {a:?}: 2 to 12 digits"));
            }
        }
        for k in &self.keys {
            key(k).map_err(|e| format!("sender {s}: {e}"))?;
        }
        Ok(())
    }

    /// Whether area prefix `area` lies inside the sender's scope.
    pub fn covers(&self, area: &str) -> bool {
        self.areas.iter().any(|s| area.starts_with(s.as_str()))
    }

    /// The sender's platform level over `areas`.
    pub fn level_over<'a>(&self, areas: impl IntoIterator<Item = &'a str>) -> PlatformLevel {
        level_within(&self.areas, areas)
    }
}

fn key(k: &str) -> Result<ed25519_dalek::VerifyingKey, String> {
    let bytes: [u8; 32] = B64
        .decode(k.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("key {k:?} is not a base64 Ed25519 public key"))?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| format!("key {k:?}: {e}"))
}

/// The configured senders.
pub fn senders(state: &AppState) -> Result<Vec<CapSender>, AppError> {
    Ok(state.storage.setting::<Vec<CapSender>>()?)
}

impl Setting for Vec<CapSender> {
    const KEY: &'static str = "cap_senders";
}

/// Where a CAP message came from.
#[derive(Clone, Copy, Debug)]
pub enum Importer<'a> {
    /// `POST /api/alerts/cap` by this user.
    User(&'a AuthUser),
    /// The watched directory.
    Directory,
}

/// The import policy, from the environment.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Broadcast at once (else hold for review).
    pub auto: bool,
    /// Refuse unsigned messages, from every sender.
    pub require_signature: bool,
}

impl Policy {
    /// Reads `DALABA_CAP_POLICY` and `DALABA_CAP_REQUIRE_SIGNATURE`.
    pub fn from_env() -> Result<Self, String> {
        let auto = match std::env::var("DALABA_CAP_POLICY").as_deref() {
            Ok("auto") => true,
            Ok("review") | Err(_) => false,
            Ok(other) => return Err(format!("DALABA_CAP_POLICY={other:?}: use review or auto")),
        };
        if std::env::var_os("DALABA_CAP_TRUSTED_KEYS").is_some() {
            return Err(
                "DALABA_CAP_TRUSTED_KEYS is gone: keys now belong to one sender each \
                 (PUT /api/settings/cap-senders)"
                    .into(),
            );
        }
        Ok(Self {
            auto,
            require_signature: std::env::var("DALABA_CAP_REQUIRE_SIGNATURE").as_deref() == Ok("1"),
        })
    }

    /// The configured sender that message `bytes` (naming `sender`, with an optional
    /// detached base64 `signature`) may act as, from `importer`; or why not.
    pub fn authenticate<'s>(
        &self,
        senders: &'s [CapSender],
        sender: &str,
        bytes: &[u8],
        signature: Option<&str>,
        importer: Importer<'_>,
    ) -> Result<&'s CapSender, AppError> {
        let Some(configured) = senders.iter().find(|s| s.sender == sender) else {
            return Err(AppError::Forbidden(format!(
                "CAP sender {sender:?} is not configured: an admin adds it with its keys and \
                 areas (PUT /api/settings/cap-senders)"
            )));
        };
        if let Some(sig) = signature {
            let sig: [u8; 64] = B64
                .decode(sig.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    AppError::BadRequest("CAP signature: not a base64 Ed25519 signature".into())
                })?;
            let sig = ed25519_dalek::Signature::from_bytes(&sig);
            let verifies = configured
                .keys
                .iter()
                .filter_map(|k| key(k).ok())
                .any(|k| k.verify_strict(bytes, &sig).is_ok());
            return if verifies {
                Ok(configured)
            } else {
                Err(AppError::Forbidden(format!(
                    "CAP signature does not verify with any key of sender {sender}"
                )))
            };
        }
        if !configured.keys.is_empty() {
            return Err(AppError::Forbidden(format!(
                "unsigned CAP refused: messages from {sender} must be signed with its key"
            )));
        }
        if self.require_signature {
            return Err(AppError::Forbidden(
                "unsigned CAP refused: this controller requires a signature from a trusted sender"
                    .into(),
            ));
        }
        match importer {
            Importer::Directory => Ok(configured),
            Importer::User(user) if configured.areas.iter().all(|a| user.covers_area(a)) => {
                Ok(configured)
            }
            Importer::User(_) => Err(AppError::Forbidden(format!(
                "only a user whose areas cover all of {sender}'s ({}) may import its unsigned \
                 messages",
                configured.areas.join(", ")
            ))),
        }
    }
}

/// The table (administrators).
pub fn senders_for(state: &AppState, user: &AuthUser) -> Result<Vec<CapSender>, AppError> {
    user.require(Action::Administer)?;
    senders(state)
}

/// Replaces the table (administrators), each sender checked; the table now in force.
pub fn set_senders(
    state: &AppState,
    user: &AuthUser,
    new: Vec<CapSender>,
) -> Result<Vec<CapSender>, AppError> {
    user.require(Action::Administer)?;
    for (i, s) in new.iter().enumerate() {
        s.check().map_err(AppError::BadRequest)?;
        if new[..i].iter().any(|o| o.sender == s.sender) {
            return Err(AppError::BadRequest(format!(
                "sender {} appears twice",
                s.sender
            )));
        }
    }
    state.storage.set_setting(&new)?;
    tracing::info!(user = %user.name, senders = new.len(), "CAP senders set");
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use ed25519_dalek::Signer as _;

    fn sender(name: &str, seed: Option<u8>, areas: &[&str]) -> CapSender {
        CapSender {
            sender: name.into(),
            name: String::new(),
            keys: seed
                .map(|s| {
                    B64.encode(
                        ed25519_dalek::SigningKey::from_bytes(&[s; 32])
                            .verifying_key()
                            .as_bytes(),
                    )
                })
                .into_iter()
                .collect(),
            areas: areas.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    fn sign(seed: u8, bytes: &[u8]) -> String {
        B64.encode(
            ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
                .sign(bytes)
                .to_bytes(),
        )
    }

    fn user(role: Role, scopes: &[&str]) -> AuthUser {
        AuthUser {
            id: 1,
            name: "u".into(),
            role,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn a_message_acts_only_as_a_configured_sender_with_its_own_key() {
        let table = [
            sender("county@feed", Some(1), &["330106"]),
            sender("city@feed", Some(2), &["3301"]),
            sender("plain@feed", None, &["330106"]),
        ];
        let policy = Policy::default();
        let msg = b"<alert/>";
        let dir = Importer::Directory;
        let auth = |name: &str, sig: Option<String>, who: Importer<'_>| {
            policy
                .authenticate(&table, name, msg, sig.as_deref(), who)
                .map(|s| s.sender.clone())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            auth("county@feed", Some(sign(1, msg)), dir).unwrap(),
            "county@feed"
        );
        // Another trusted feed's key does not speak for this one.
        let err = auth("county@feed", Some(sign(2, msg)), dir).unwrap_err();
        assert!(err.contains("any key of sender county@feed"), "{err}");
        // A changed byte, garbage: refused.
        assert!(
            policy
                .authenticate(
                    &table,
                    "county@feed",
                    b"<alert />",
                    Some(&sign(1, msg)),
                    dir
                )
                .is_err()
        );
        let err = auth("county@feed", Some("nope".into()), dir).unwrap_err();
        assert!(err.contains("not a base64"), "{err}");
        // A sender with keys is never taken unsigned.
        let err = auth("county@feed", None, dir).unwrap_err();
        assert!(err.contains("must be signed"), "{err}");
        // Unknown senders are refused, and say how to configure one.
        let err = auth("nobody@feed", Some(sign(1, msg)), dir).unwrap_err();
        assert!(err.contains("not configured"), "{err}");
        // An unsigned feed: from the directory, or a user covering all its areas.
        assert!(auth("plain@feed", None, dir).is_ok());
        let village_op = user(Role::Operator, &["330106001"]);
        let err = auth("plain@feed", None, Importer::User(&village_op)).unwrap_err();
        assert!(err.contains("cover all of plain@feed's"), "{err}");
        let county_op = user(Role::Operator, &["330106"]);
        assert!(auth("plain@feed", None, Importer::User(&county_op)).is_ok());
        // ...unless signatures are required everywhere.
        let strict = Policy {
            require_signature: true,
            ..Policy::default()
        };
        assert!(
            strict
                .authenticate(&table, "plain@feed", msg, None, dir)
                .is_err()
        );
        assert_eq!(
            table[1].level_over(["330106001"]),
            PlatformLevel::City,
            "a city feed alerts at city level"
        );
    }
}

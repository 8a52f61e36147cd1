//! Guessing passwords, slowed: device tokens (an HMAC of the account name under a key
//! derived from the controller's) and the per-account, per-device and per-address limiter
//! that `POST /api/login` consults (`login.rs` says how the two fit together).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};

/// HMAC-SHA-256 (RFC 2104).
fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn device_mac(secret: &[u8; 32], name: &str, nonce: &[u8]) -> [u8; 32] {
    let mut message = b"dalaba login device\0".to_vec();
    message.extend_from_slice(name.as_bytes());
    message.push(0);
    message.extend_from_slice(nonce);
    hmac(secret, &message)
}

/// A new device token for `name`: a random nonce and its MAC.
pub fn device_token(secret: &[u8; 32], name: &str) -> String {
    let nonce: [u8; 16] = rand::random();
    let mut raw = nonce.to_vec();
    raw.extend_from_slice(&device_mac(secret, name, &nonce)[..16]);
    B64.encode(raw)
}

/// Whether `token` is a device token this controller made for `name`.
pub fn device_valid(secret: &[u8; 32], name: &str, token: &str) -> bool {
    let Ok(raw) = B64.decode(token) else {
        return false;
    };
    if raw.len() != 32 {
        return false;
    }
    let expected = device_mac(secret, name, &raw[..16]);
    // Constant time: a difference anywhere takes as long as a difference at the end.
    raw[16..]
        .iter()
        .zip(&expected[..16])
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// One login attempt, as the limiter sees it.
#[derive(Debug)]
pub struct Attempt<'a> {
    /// The account named.
    pub name: &'a str,
    /// A valid device token for that account, if the client sent one.
    pub device: Option<&'a str>,
    /// Where it came from.
    pub address: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Device(String),
    Address(IpAddr),
}

/// Failed logins by account, device and address.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: std::sync::Mutex<HashMap<Key, (u32, Instant)>>,
}

impl LoginLimiter {
    /// Free attempts per account (without a device token) and per device token.
    pub const FREE: u32 = 5;
    /// Free attempts per address (without a device token).
    pub const FREE_PER_ADDRESS: u32 = 20;

    fn delay(count: u32, free: u32) -> Duration {
        if count < free {
            Duration::ZERO
        } else {
            Duration::from_secs(1u64 << (count - free).min(10)).min(Duration::from_secs(900))
        }
    }

    /// What an attempt counts against, with its free attempts.
    fn keys(attempt: &Attempt<'_>) -> Vec<(Key, u32)> {
        match attempt.device {
            Some(device) => vec![(Key::Device(device.to_owned()), Self::FREE)],
            None => std::iter::once((Key::Account(attempt.name.to_owned()), Self::FREE))
                .chain(
                    attempt
                        .address
                        .map(|a| (Key::Address(a), Self::FREE_PER_ADDRESS)),
                )
                .collect(),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (u32, Instant)>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long this attempt must still wait, if at all.
    pub fn wait(&self, attempt: &Attempt<'_>) -> Option<Duration> {
        let map = self.map();
        Self::keys(attempt)
            .into_iter()
            .filter_map(|(key, free)| {
                let &(n, last) = map.get(&key)?;
                Self::delay(n, free)
                    .checked_sub(last.elapsed())
                    .filter(|d| !d.is_zero())
            })
            .max()
    }

    /// Records a failure.
    pub fn failed(&self, attempt: &Attempt<'_>) {
        let mut map = self.map();
        if map.len() > 100_000 {
            // Bounded: forget the oldest half rather than grow without limit.
            let mut by_age: Vec<_> = map.iter().map(|(k, v)| (v.1, k.clone())).collect();
            by_age.sort_by_key(|(at, _)| *at);
            for (_, k) in by_age.into_iter().take(50_000) {
                map.remove(&k);
            }
        }
        for (key, _) in Self::keys(attempt) {
            let e = map.entry(key).or_insert((0, Instant::now()));
            e.0 += 1;
            e.1 = Instant::now();
        }
    }

    /// Records a success: clears what the attempt counted against, except the address
    /// (one user's success does not make the address's other guesses free).
    pub fn succeeded(&self, attempt: &Attempt<'_>) {
        let mut map = self.map();
        for (key, _) in Self::keys(attempt) {
            if !matches!(key, Key::Address(_)) {
                map.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str, device: Option<&'static str>, address: &str) -> Attempt<'static> {
        Attempt {
            name: Box::leak(name.to_owned().into_boxed_str()),
            device,
            address: address.parse().ok(),
        }
    }

    #[test]
    fn an_account_backs_off_but_its_known_device_still_gets_in() {
        let l = LoginLimiter::default();
        let guesser = at("li", None, "10.0.0.9");
        for _ in 0..4 {
            l.failed(&guesser);
            assert_eq!(l.wait(&guesser), None);
        }
        l.failed(&guesser);
        let w = l.wait(&guesser).expect("must wait");
        assert!(
            w <= Duration::from_secs(1) && w > Duration::from_millis(900),
            "{w:?}"
        );
        // Another address without a device token: the account is backing off.
        assert!(l.wait(&at("li", None, "10.0.0.10")).is_some());
        // The owner's device is not held by the guesser's failures.
        let owner = at("li", Some("device-of-li"), "10.0.0.9");
        assert_eq!(l.wait(&owner), None);
        // Another account from elsewhere is not affected; the doubling caps at 15 min.
        assert_eq!(l.wait(&at("wang", None, "10.0.0.10")), None);
        assert_eq!(LoginLimiter::delay(40, 5), Duration::from_secs(900));
        // A device's own failures hold that device only.
        for _ in 0..5 {
            l.failed(&owner);
        }
        assert!(l.wait(&owner).is_some());
        assert_eq!(l.wait(&at("li", Some("another-device"), "10.0.0.9")), None);
    }

    #[test]
    fn device_tokens_are_bound_to_their_account_and_key() {
        let key = [7u8; 32];
        let token = device_token(&key, "li");
        assert!(device_valid(&key, "li", &token));
        assert!(!device_valid(&key, "admin", &token));
        assert!(!device_valid(&[8u8; 32], "li", &token));
        assert!(!device_valid(&key, "li", "not base64!"));
        let mut forged = B64.decode(&token).unwrap();
        forged[31] ^= 1;
        assert!(!device_valid(&key, "li", &B64.encode(forged)));
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2_shape() {
        // RFC 4231 test case 2 uses a 4-byte key ("Jefe"), zero-padded as HMAC does.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex::encode(hmac(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

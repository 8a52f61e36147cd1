//! What the controller's edge counts and bounds for requests that are not (yet) anyone's:
//! anonymous refusals and failed logins are counters here and in `/metrics`, never audit
//! records (so they cannot flood the log), and the costly work an upload can ask for (CAP
//! parsing, transcoding) is bounded by slots.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// CAP imports parsed at once, at most.
pub const CAP_IMPORTS: usize = 2;
/// Media transcodes at once, at most.
pub const TRANSCODES: usize = 2;

/// Counters and slots of the edge.
#[derive(Debug)]
pub struct Edge {
    /// Requests refused because they came without a valid session.
    pub anonymous_refused: AtomicU64,
    /// Failed logins (wrong name or password, or refused while backing off).
    pub login_failures: AtomicU64,
    /// Request bodies that arrived below the minimum pace (answered 408).
    pub bodies_too_slow: AtomicU64,
    /// Requests refused because all their slots were busy (CAP, transcodes).
    pub busy_refused: AtomicU64,
    /// Alert texts that could not be spoken (the alert went out with its tone alone).
    pub speech_failures: AtomicU64,
    /// CAP messages being parsed.
    pub cap_imports: tokio::sync::Semaphore,
    /// Uploads being transcoded.
    pub transcodes: tokio::sync::Semaphore,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`DALABA_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for Edge {
    fn default() -> Self {
        Self {
            anonymous_refused: AtomicU64::new(0),
            login_failures: AtomicU64::new(0),
            bodies_too_slow: AtomicU64::new(0),
            busy_refused: AtomicU64::new(0),
            speech_failures: AtomicU64::new(0),
            cap_imports: tokio::sync::Semaphore::new(CAP_IMPORTS),
            transcodes: tokio::sync::Semaphore::new(TRANSCODES),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Parses a comma-separated list of proxy addresses.
pub fn parse_proxies(text: &str) -> anyhow::Result<Vec<std::net::IpAddr>> {
    text.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse().map_err(|_| {
                anyhow::anyhow!(
                    "DALABA_TRUSTED_PROXIES: {a:?} is not an IP address (give the proxies' \
                     addresses, comma-separated, e.g. 127.0.0.1,10.0.0.2)"
                )
            })
        })
        .collect()
}

impl Edge {
    /// The defaults, with the trusted proxies from `DALABA_TRUSTED_PROXIES`.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            trusted_proxies: parse_proxies(
                &std::env::var("DALABA_TRUSTED_PROXIES").unwrap_or_default(),
            )?,
            ..Self::default()
        })
    }

    /// The counters in Prometheus text format.
    pub fn metrics(&self) -> String {
        let mut out = String::new();
        for (name, help, value) in [
            (
                "dalaba_http_anonymous_refused_total",
                "Requests refused for want of a valid session (not in the audit log).",
                &self.anonymous_refused,
            ),
            (
                "dalaba_login_failures_total",
                "Failed or refused logins.",
                &self.login_failures,
            ),
            (
                "dalaba_http_bodies_too_slow_total",
                "Request bodies cut off for arriving below the minimum pace.",
                &self.bodies_too_slow,
            ),
            (
                "dalaba_http_busy_refused_total",
                "CAP imports and uploads refused because every slot was busy.",
                &self.busy_refused,
            ),
            (
                "dalaba_tts_failures_total",
                "Alert texts not spoken (engine missing, failed or too slow); the tone went out alone.",
                &self.speech_failures,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Relaxed)
            ));
        }
        out
    }

    /// Counts one more of `counter`.
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}

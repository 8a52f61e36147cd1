//! The numbered MUST rules of PROTOCOL.md section 14, as the kit reports them. A test
//! (`tests/rules_doc.rs`) keeps this table and the document's identical.

/// One rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// `A1`… for agents, `C1`… for controllers.
    pub id: &'static str,
    /// What it asks, as PROTOCOL.md words it.
    pub what: &'static str,
}

const fn rule(id: &'static str, what: &'static str) -> Rule {
    Rule { id, what }
}

/// The agents' rules.
pub const AGENT_RULES: &[Rule] = &[
    rule(
        "A1",
        "Pin the controller's leaf certificate (SHA-256 of its DER) and check the handshake signature before sending anything, not even the upgrade request",
    ),
    rule(
        "A2",
        "Send `hello` first; act on nothing but `welcome`, `enrolled`, `login_ok` and `error` before login",
    ),
    rule(
        "A3",
        "Enrol once with a new Ed25519 key that never leaves the agent; store the id; log in on every later connection with the login proof and the highest `seq` accepted",
    ),
    rule("A4", "Reconnect with exponential backoff and jitter"),
    rule(
        "A5",
        "Heartbeat within `heartbeat_interval_ms`; `status` within `status_interval_ms` and when what is playing, a relay or a fault changes",
    ),
    rule(
        "A6",
        "Refuse, without acting, a command that fails any check of 7.2, in that order, and answer `rejected` with the reason",
    ),
    rule(
        "A7",
        "Verify strictly: canonical `S`, no small-order key or `R`",
    ),
    rule(
        "A8",
        "Persist `last_seq` before acting on a command; refuse any `seq` not above it, across restarts",
    ),
    rule(
        "A9",
        "Report `receipt`s for every broadcast; nothing after a final state; a broadcast already accepted is not started again",
    ),
    rule(
        "A10",
        "Remember finished broadcasts across restarts (until `expires_at`, else 7 days) and answer a repeat with the same final receipt, playing nothing",
    ),
    rule(
        "A11",
        "Never play a `play_media` whose whole timeline has passed: `failed`/`expired`",
    ),
    rule(
        "A12",
        "Arbitrate by priority, then level, then first come; preempt with `preempted`; follow `on_preempt` and `expires_at`",
    ),
    rule(
        "A13",
        "Play live frames at `capture_time + latency_ms`; drop late frames and frames of streams not started; end at end-of-stream with `done`",
    ),
    rule(
        "A14",
        "Check audio frame headers as in section 8 before buffering payloads",
    ),
    rule("A15", "Verify a downloaded file's SHA-256 before using it"),
    rule(
        "A16",
        "Refuse malformed messages without acting and without closing",
    ),
    rule(
        "A17",
        "Keep clock sync running; discard pongs that answer nothing or are inconsistent",
    ),
    rule(
        "A18",
        "Store a schedule only with a higher version; play it offline and after restarts; play each broadcast id at most once",
    ),
    rule(
        "A19",
        "Validate a pushed configuration fully; keep the pins unless moved by `move_controller`; roll back one that cannot reach the controller",
    ),
    rule("A20", "Present `test` and `drill` content as such"),
];

/// The controllers' rules.
pub const CONTROLLER_RULES: &[Rule] = &[
    rule(
        "C1",
        "On login, send again only the running broadcasts this agent has not reported final",
    ),
    rule("C2", "Never let a receipt leave a final state"),
    rule("C3", "Keep the first start apart from resumes"),
    rule(
        "C4",
        "Issue strictly increasing `seq` per agent, above the agent's `last_command_seq`",
    ),
    rule(
        "C5",
        "Before login, answer a well-formed message other than `hello`/`enrol`/`login`/`error` with `unexpected_message` and close",
    ),
    rule(
        "C6",
        "Answer a frame that does not decode with `malformed_message` and keep the connection, before `hello` too",
    ),
    rule(
        "C7",
        "Answer a `hello` without a common version with `unsupported_version` and `supported_versions`, and close",
    ),
    rule("C8", "Accept each enrolment token once, before it expires"),
    rule(
        "C9",
        "Verify proofs strictly; never register a small-order key",
    ),
    rule(
        "C10",
        "Check a configuration with the agent's checker before pushing it",
    ),
    rule(
        "C11",
        "Send commands only signed, with a window of at most 1 hour",
    ),
    rule(
        "C12",
        "Disable Nagle's algorithm on connections that carry live audio",
    ),
];

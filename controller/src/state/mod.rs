//! The composition root: [`AppState`], what every handler, connection task and background
//! loop shares. Plain data and handles; no routes, no HTTP.

pub mod backup;
pub mod changes;
pub mod config;
pub mod edge;
pub mod error;
pub mod hub;
pub mod identity;
pub mod live_writes;
pub mod liveness;
pub mod lockout;
pub mod outbox;
pub mod outcomes;
pub mod password;
pub mod receipt_queue;
pub mod sent;
pub mod sequence;
pub mod tls;

use std::sync::Arc;

use dalaba_protocol::AgentId;

use crate::hub::Hub;
use crate::identity::Identity;
use crate::storage::Storage;

/// Shared by every handler and connection task.
#[derive(Clone)]
pub struct AppState {
    /// Persistent state.
    pub storage: Arc<dyn Storage>,
    /// Connected agents.
    pub hub: Arc<Hub>,
    /// The controller's id and command key.
    pub identity: Arc<Identity>,
    /// Where transcoded media files live.
    pub media_dir: std::path::PathBuf,
    /// Largest upload, bytes.
    pub max_upload: u64,
    /// Broadcasts still running, resent to an agent that reconnects.
    pub active: Arc<std::sync::Mutex<crate::sent::Active>>,
    /// Signalled whenever a receipt arrives (for long-polling clients).
    pub receipts_changed: Arc<tokio::sync::Notify>,
    /// Controller time (injected, so the scheduler can be tested without waiting).
    pub clock: Arc<dyn crate::clock::Clock>,
    /// The scheduler's wake-up signal and what it last sent each agent.
    pub scheduler: Arc<crate::sent::ScheduleSent>,
    /// Failed logins, for the rate limit.
    pub logins: Arc<crate::lockout::LoginLimiter>,
    /// The TLS certificate agents pin.
    pub tls: Arc<crate::tls::TlsIdentity>,
    /// When agents were last heard from, written once a second.
    pub liveness: Arc<crate::liveness::Liveness>,
    /// Command sequence numbers, from blocks reserved in the database.
    pub sequences: Arc<crate::sequence::Sequences>,
    /// Counters of anonymous and refused traffic, and slots for costly work.
    pub edge: Arc<crate::edge::Edge>,
    /// Goes up whenever what the operators' pages show changes (the live-status stream).
    pub changes: Arc<crate::changes::Changes>,
    /// How each speaker's last broadcast ended (the `broadcast_failed` alarm's condition).
    pub outcomes: Arc<outcomes::Outcomes>,
    /// Receipts from agents, waiting for the one writer.
    pub receipts: Arc<receipt_queue::ReceiptQueue>,
    /// How live frames are written to agents (`serve` sets it from its configuration).
    pub live: config::LiveWrites,
    /// How often agents send a heartbeat (told them at login): one silent three times as
    /// long is offline and its connection closed. 10 s; tests shorten it.
    pub heartbeat: std::time::Duration,
    /// What the domain does when an agent logs in: the agents' link calls it and so need
    /// not know the domain (set by `open`: `agent_events::DomainEvents`). Its receipts go
    /// to `receipts`.
    pub agent_events: Arc<dyn AgentEvents>,
}

/// The domain's side of an agent connection.
pub trait AgentEvents: Send + Sync {
    /// Agent `agent` logged in: send it what it must hear again (running broadcasts it
    /// has not reported final, its schedule).
    fn logged_in(&self, state: &AppState, agent: &AgentId);
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

thread_local! {
    /// Set on a blocking-pool thread while it runs work for [`off_runtime`].
    static OFF_RUNTIME: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as running [`off_runtime`] work until dropped (a panic included: the
/// blocking pool keeps the thread).
struct OffRuntime;

impl OffRuntime {
    fn mark() -> Self {
        OFF_RUNTIME.set(true);
        Self
    }
}

impl Drop for OffRuntime {
    fn drop(&mut self) {
        OFF_RUNTIME.set(false);
    }
}

/// Whether this thread is one of the async runtime's: inside a runtime and not running
/// [`off_runtime`] work. Work over every agent checks it (in debug builds, so that the
/// tests find a path that breaks the invariant: ARCHITECTURE.md, Invariants).
pub fn on_runtime_thread() -> bool {
    tokio::runtime::Handle::try_current().is_ok() && !OFF_RUNTIME.get()
}

/// The runtime is shutting down: work handed to the blocking pool was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the controller is shutting down")]
pub struct ShuttingDown;

/// Runs `work` on the blocking pool and waits for it without holding a runtime thread:
/// for work over every agent, which would otherwise delay the live frames queued to all
/// of them (ARCHITECTURE.md, Invariants). A panic in `work` goes on here.
pub async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ShuttingDown> {
    let marked = move || {
        let _off = OffRuntime::mark();
        work()
    };
    match tokio::task::spawn_blocking(marked).await {
        Ok(done) => Ok(done),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(ShuttingDown),
    }
}

//! The composition root: [`AppState`], what every handler, connection task and background
//! loop shares. Plain data and handles; no routes, no HTTP.

use std::sync::Arc;

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
    pub active: Arc<std::sync::Mutex<crate::dispatch::Active>>,
    /// Signalled whenever a receipt arrives (for long-polling clients).
    pub receipts_changed: Arc<tokio::sync::Notify>,
    /// Controller time (injected, so the scheduler can be tested without waiting).
    pub clock: Arc<dyn crate::clock::Clock>,
    /// The scheduler's wake-up signal and what it last sent each agent.
    pub scheduler: Arc<crate::scheduler::SchedulerState>,
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
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

//! # dalaba-controller
//!
//! The central service: the HTTP API and web console, the agents' WebSocket endpoint, the
//! scheduler, live-stream fan-out, alerts and CAP, the media library, and storage.
//!
//! What it is not: it never decodes audio on the live path, and never touches speaker
//! hardware.
//!
//! [`serve`] takes a bound listener and a shutdown future, so tests bind port 0 and never
//! wait for start-up.

#![forbid(unsafe_code)]

// One folder per layer, top to bottom (ARCHITECTURE.md, Invariants); the root re-exports
// every module so paths stay short (`crate::broadcast`, not `crate::domain::broadcast`).
pub mod http;

pub mod domain;
pub use domain::{
    agent_admin, agent_events, agent_history, agent_import, alarm_hooks, alarms, alert, approval,
    areas, broadcast, broadcast_log, calendar, cap, cap_senders, demo, live, map, media, programme,
    schedule, scheduler, tts, users, week,
};

pub mod access;
pub mod agents;
pub use access::auth;
pub use agents::{agent_link, dispatch};

pub mod state;
pub use state::{
    backup, changes, config, edge, error, hub, identity, liveness, lockout, password, sent,
    sequence, tls,
};

pub mod clock;
pub mod storage;
pub use storage::{broadcast_spec, receipt, role};

use std::future::Future;
use std::sync::Arc;

use crate::state::AppState;
use crate::storage::{SqliteStorage, Storage};

/// Microseconds since the epoch, from the system clock: what `clock::SystemClock` reads.
/// Code that has an `AppState` reads `state.clock` instead, so tests control time.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What the first start did.
#[derive(Debug)]
pub struct FirstStart {
    /// The admin's generated password, to show once.
    pub admin_password: Option<String>,
    /// The admin was made with the password in `DALABA_ADMIN_PASSWORD` (not shown).
    pub admin_from_env: bool,
}

/// Opens the data directory: database, identity, first admin.
pub fn open(data_dir: &std::path::Path) -> anyhow::Result<(AppState, FirstStart)> {
    std::fs::create_dir_all(data_dir)?;
    let db = data_dir.join("dalaba.sqlite");
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&db)?);
    // The database holds password hashes and sessions: the owner's only, and so is the
    // directory beside it (keys, media).
    private(data_dir, 0o700)?;
    for file in ["dalaba.sqlite", "dalaba.sqlite-wal", "dalaba.sqlite-shm"] {
        let path = data_dir.join(file);
        if path.exists() {
            private(&path, 0o600)?;
        }
    }
    let identity = Arc::new(identity::load_or_create(data_dir)?);
    let tls = Arc::new(tls::load_or_create(data_dir)?);
    let mut first = FirstStart {
        admin_password: None,
        admin_from_env: false,
    };
    if storage.user_count()? == 0 {
        // No default credentials: a random password, shown once, or one set in the
        // environment for unattended installs (checked like any other, and never printed).
        let password = match std::env::var("DALABA_ADMIN_PASSWORD") {
            Ok(p) => {
                if let Some(why) = password::problem(&p, "admin") {
                    anyhow::bail!("DALABA_ADMIN_PASSWORD: {why}");
                }
                first.admin_from_env = true;
                p
            }
            Err(_) => {
                let p = auth::random_secret(15);
                first.admin_password = Some(p.clone());
                p
            }
        };
        storage.create_user(
            "admin",
            &auth::hash_password(&password)?,
            crate::role::Role::Admin,
        )?;
    }
    Ok((
        AppState {
            storage,
            hub: Arc::default(),
            identity,
            media_dir: media::media_dir(data_dir),
            receipts_changed: Arc::default(),
            changes: Arc::default(),
            outcomes: Arc::default(),
            receipts: Arc::default(),
            live: config::LiveWrites::default(),
            heartbeat: agent_link::HEARTBEAT,
            active: Arc::default(),
            clock: Arc::new(clock::SystemClock),
            scheduler: Arc::default(),
            logins: Arc::default(),
            liveness: Arc::default(),
            sequences: Arc::default(),
            edge: Arc::new(edge::Edge::from_env()?),
            agent_events: Arc::new(agent_events::DomainEvents),
            tls,
            max_upload: std::env::var("DALABA_MAX_UPLOAD_MB")
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(media::MAX_UPLOAD, |mb| mb * 1024 * 1024),
        },
        first,
    ))
}

/// Sets `path`'s permission bits (on Unix).
fn private(path: &std::path::Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| anyhow::anyhow!("{}: cannot make it private: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Where the controller listens.
#[derive(Debug)]
pub struct Listeners {
    /// The operators: the console, the API, live sources. Plain HTTP for a reverse proxy
    /// in front (or loopback), unless `operators_tls` is given.
    pub operators: tokio::net::TcpListener,
    /// Serve the operators' listener over HTTPS with this certificate (the controller's
    /// own, or one the admin provides), so browsers elsewhere get microphone access.
    pub operators_tls: Option<Arc<tls::TlsIdentity>>,
    /// The agents (TLS with the controller's certificate, which agents pin): only what
    /// agents need, `/agent/ws` and media downloads.
    pub agents: Option<tokio::net::TcpListener>,
}

impl Listeners {
    /// Plain operators' listener and the agents' listener.
    pub fn new(
        operators: tokio::net::TcpListener,
        agents: Option<tokio::net::TcpListener>,
    ) -> Self {
        Self {
            operators,
            operators_tls: None,
            agents,
        }
    }
}

/// Serves the operators' API and the agents' endpoint until `shutdown` completes. Agents
/// cannot connect to the operators' listener unless `DALABA_PLAIN_AGENTS=1` (tests of
/// agents against a plain controller); operators cannot use the agents' listener.
pub async fn serve(
    listeners: Listeners,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let scheduler = tokio::spawn(scheduler::run(state.clone()));
    let alarms = tokio::spawn(alarms::run(state.clone()));
    let receipts = tokio::spawn(broadcast::write_receipts(state.clone()));
    let liveness = tokio::spawn(
        Arc::clone(&state.liveness).run(Arc::clone(&state.storage), Arc::clone(&state.changes)),
    );
    // CAP files dropped into a directory (a feed's gateway writes them there).
    let cap_watch = std::env::var_os("DALABA_CAP_DIR")
        .map(|dir| tokio::spawn(cap::watch(state.clone(), dir.into())));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let plain_agents = std::env::var("DALABA_PLAIN_AGENTS").as_deref() == Ok("1");
    let edge = http::server::EdgeLimits {
        pace: http::server::BodyPace::from_env(),
        edge: Arc::clone(&state.edge),
    };
    let operators_router = http::api::router_for(state.clone(), plain_agents);
    let operators = match &listeners.operators_tls {
        Some(id) => {
            let tls = tls::TlsListener::new(listeners.operators, tls::server_config(id)?)?;
            tokio::spawn(http::server::serve(
                tls,
                operators_router,
                edge.clone(),
                stop_rx.clone(),
            ))
        }
        None => {
            // Small live frames go out at once (no Nagle).
            let plain = axum::serve::ListenerExt::tap_io(listeners.operators, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            tokio::spawn(http::server::serve(
                plain,
                operators_router,
                edge.clone(),
                stop_rx.clone(),
            ))
        }
    };
    let agents = match listeners.agents {
        Some(l) => {
            let tls = tls::TlsListener::new(l, tls::server_config(&state.tls)?)?;
            let router = http::api::agents_router(state.clone());
            Some(tokio::spawn(http::server::serve(
                tls, router, edge, stop_rx,
            )))
        }
        None => None,
    };
    let leaving = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        say_goodbye(&leaving).await;
        let _ = stop_tx.send(true);
    });
    let _ = operators.await;
    if let Some(agents) = agents {
        let _ = agents.await;
    }
    scheduler.abort();
    alarms.abort();
    liveness.abort();
    let _ = state.liveness.flush(&state.storage).await;
    receipts.abort();
    broadcast::flush_receipts(&state).await;
    if let Some(w) = cap_watch {
        w.abort();
    }
    Ok(())
}

/// How long agents are given to come back after a `goodbye`, per connected agent (10,000
/// agents: 30 s), between 1 s and 60 s.
const RETURN_MS_PER_AGENT: u64 = 3;

/// Tells every connected agent the controller is going away and the window to come back
/// in (PROTOCOL.md 5.7), so a county's agents return spread out, not in one second; waits
/// (at most 2 s) for them to close.
async fn say_goodbye(state: &AppState) {
    let agents = state.hub.online_count() as u64;
    if agents == 0 {
        return;
    }
    let within = (agents * RETURN_MS_PER_AGENT).clamp(1_000, 60_000) as u32;
    let goodbye = dalaba_protocol::ControllerMessage::Goodbye(dalaba_protocol::control::Leaving {
        reason: "shutdown".into(),
        reconnect_within_ms: within,
    });
    let Ok(text) = serde_json::to_string(&goodbye) else {
        return;
    };
    let told = state.hub.leave(&hub::Outgoing::Text(text));
    tracing::info!(
        agents = told,
        within_ms = within,
        "told the agents the controller is going away"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let changed = state.hub.changed.notified();
        if state.hub.online_count() == 0 {
            return;
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return;
        }
    }
}

//! # dalaba-controller
//!
//! The central service: the HTTP API, the agents' WebSocket endpoint, storage, and (to
//! come) the scheduler, live-stream fan-out, media library and web console.
//!
//! What it is not: it never decodes audio on the live path, and never touches speaker
//! hardware.
//!
//! [`serve`] takes a bound listener and a shutdown future, so tests bind port 0 and never
//! wait for start-up.

#![forbid(unsafe_code)]
// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "512"]

pub mod access;
pub mod agent_config;
pub mod agent_link;
pub mod alert;
pub mod api;
pub mod approval;
pub mod audit;
pub mod auth;
pub mod broadcast;
pub mod cap;
pub mod cap_senders;
pub mod clock;
pub mod console;
pub mod demo;
pub mod hub;
pub mod identity;
pub mod live;
pub mod liveness;
pub mod media;
pub mod openapi;
pub mod programme;
pub mod schedule;
pub mod scheduler;
pub mod sequence;
pub mod server;
pub mod storage;
pub mod tls;
pub mod users;

use std::future::Future;
use std::sync::Arc;

use crate::api::AppState;
use crate::storage::{SqliteStorage, Storage};

/// Microseconds since the epoch: controller time.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What the first start did.
#[derive(Debug)]
pub struct FirstStart {
    /// The admin's password, to show once.
    pub admin_password: Option<String>,
}

/// Opens the data directory: database, identity, first admin.
pub fn open(data_dir: &std::path::Path) -> anyhow::Result<(AppState, FirstStart)> {
    std::fs::create_dir_all(data_dir)?;
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&data_dir.join("dalaba.sqlite"))?);
    let identity = Arc::new(identity::load_or_create(data_dir)?);
    let tls = Arc::new(tls::load_or_create(data_dir)?);
    let mut first = FirstStart {
        admin_password: None,
    };
    if storage.user_count()? == 0 {
        // No default credentials: a random password, shown once (or set from the
        // environment for unattended installs).
        let password = std::env::var("DALABA_ADMIN_PASSWORD")
            .ok()
            .filter(|p| p.len() >= 12)
            .unwrap_or_else(|| auth::random_secret(15));
        storage.create_user("admin", &auth::hash_password(&password)?, "admin")?;
        first.admin_password = Some(password);
    }
    Ok((
        AppState {
            storage,
            hub: Arc::default(),
            identity,
            media_dir: media::media_dir(data_dir),
            receipts_changed: Arc::default(),
            active: Arc::default(),
            clock: Arc::new(clock::SystemClock),
            scheduler: Arc::default(),
            logins: Arc::default(),
            liveness: Arc::default(),
            sequences: Arc::default(),
            tls,
            max_upload: std::env::var("DALABA_MAX_UPLOAD_MB")
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(media::MAX_UPLOAD, |mb| mb * 1024 * 1024),
        },
        first,
    ))
}

/// Serves the API on `listener` (plain HTTP, for operators; behind a reverse proxy in
/// production) and, on `agents` (TLS with the controller's certificate), the API *and* the
/// agents' endpoint, until `shutdown` completes. Agents cannot connect over plain HTTP
/// unless `DALABA_PLAIN_AGENTS=1` (tests of agents against a plain controller).
pub async fn serve(
    listener: tokio::net::TcpListener,
    agents: Option<tokio::net::TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let scheduler = tokio::spawn(scheduler::run(state.clone()));
    let liveness = tokio::spawn(Arc::clone(&state.liveness).run(Arc::clone(&state.storage)));
    // CAP files dropped into a directory (a feed's gateway writes them there).
    let cap_watch = std::env::var_os("DALABA_CAP_DIR")
        .map(|dir| tokio::spawn(cap::watch(state.clone(), dir.into())));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let plain_agents = std::env::var("DALABA_PLAIN_AGENTS").as_deref() == Ok("1");
    // Small live frames go out at once (no Nagle), on both listeners.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let plain = server::serve(
        listener,
        api::router_for(state.clone(), plain_agents),
        stop_rx.clone(),
    );
    let secure = match agents {
        Some(l) => {
            let config = tls::server_config(&state.tls)?;
            let tls = tls::TlsListener::new(l, config)?;
            Some(server::serve(tls, api::router(state.clone()), stop_rx))
        }
        None => None,
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    match secure {
        Some(secure) => {
            tokio::join!(plain, secure);
        }
        None => plain.await,
    }
    scheduler.abort();
    liveness.abort();
    state.liveness.flush(&state.storage).await;
    if let Some(w) = cap_watch {
        w.abort();
    }
    Ok(())
}

//! The agent daemon: keeps one connection to the controller alive, forever.
//!
//! The connection driver: it owns the [`Session`] (the protocol), the WebSocket (the
//! transport) and the agent's persistent state (identity key, enrolled id, last command
//! sequence), and feeds the [`Runtime`] (what the agent does) commands, live frames and
//! receipts. It reconnects with exponential backoff and jitter.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dalaba_firmware_config::Config;
use dalaba_protocol::Timestamp;
use dalaba_protocol::control::AgentMessage;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

use crate::clock::AgentClock;
use crate::config_store::ConfigStore;
use crate::durable::AgentState;
use crate::runtime::Runtime;
use crate::session::{Backoff, Event, Session, SessionConfig};
use crate::status;

/// How a connection ended.
enum Ended {
    /// A pushed configuration was applied: reconnect with it at once.
    Reload,
    /// Reconnect after a backoff.
    Retry(String),
    /// The controller is going away on purpose: reconnect after this long (a random
    /// moment within the window it gave), the backoff reset.
    Later(String, Duration),
    /// Do not reconnect (revoked, enrolment refused).
    Stop(String),
    /// Shutdown requested.
    Shutdown,
}

/// How long a pushed configuration has to prove itself (the agent reaching the controller
/// with it) before it is rolled back: `DALABA_CONFIG_CONFIRM_S`, default 300 s.
fn confirm_window() -> Duration {
    Duration::from_secs(
        std::env::var("DALABA_CONFIG_CONFIRM_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
    )
}

/// The one stop signal every part of the daemon watches: `true` once shutdown is asked.
type Stop = tokio::sync::watch::Receiver<bool>;

/// Resolves once `stop` says stop (or its sender is gone).
async fn stopped(stop: &mut Stop) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Runs the agent with the configuration file at `config_path` until `shutdown` resolves
/// or the controller revokes it. On shutdown a connected agent says `goodbye`; every relay
/// is switched off before this returns.
pub async fn run(
    config_path: &Path,
    state_dir: &Path,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let agent = run_until(config_path, state_dir, stop);
    tokio::pin!(agent, shutdown);
    tokio::select! {
        result = &mut agent => return result,
        () = &mut shutdown => {
            let _ = stop_tx.send(true);
        }
    }
    agent.await
}

async fn run_until(config_path: &Path, state_dir: &Path, mut stop: Stop) -> anyhow::Result<()> {
    let store = ConfigStore::load(config_path, state_dir, Instant::now(), confirm_window())?;
    let config = store.config().clone();
    let mut state = AgentState::load(state_dir)?;
    let clock = AgentClock::new();
    let mut backoff = Backoff::up_to(config.controller.reconnect_max);
    let mut runtime = Runtime::start(config.clone(), store, state_dir, clock)?;
    status::watch_relays(
        runtime.relay.clone(),
        Arc::clone(&runtime.relay_status),
        Arc::clone(&runtime.status_changed),
    );
    runtime.play_stored_schedule(&clock);
    loop {
        runtime.roll_back_if_due();
        let started = Instant::now();
        let config = runtime.config.clone();
        let ended = connect_once(&config, &mut state, &clock, &mut runtime, &mut stop).await;
        let ended = match ended {
            // A configuration on trial that the controller refuses is rolled back at its
            // deadline, not given up on: the agent must find its way back to the old one.
            Ended::Stop(why) if runtime.store.on_trial() => Ended::Retry(format!(
                "{why}; with the configuration on trial, retrying until it is confirmed or rolled back"
            )),
            other => other,
        };
        match ended {
            Ended::Reload => {
                backoff = Backoff::up_to(runtime.config.controller.reconnect_max);
                tracing::info!(version = %runtime.config_version, "reconnecting with the pushed configuration");
            }
            Ended::Shutdown => {
                runtime.relay.shutdown().await;
                return Ok(());
            }
            Ended::Stop(why) => {
                runtime.relay.shutdown().await;
                anyhow::bail!("the controller refused this agent: {why}")
            }
            Ended::Retry(_) | Ended::Later(..) => {
                let mut delay = match &ended {
                    Ended::Later(why, delay) => {
                        backoff.reset();
                        // A line on stdout that scripts and tests can wait for.
                        println!(
                            "controller going away ({why}); reconnecting in {} ms",
                            delay.as_millis()
                        );
                        *delay
                    }
                    _ => {
                        if started.elapsed() > Duration::from_secs(60) {
                            backoff.reset();
                        }
                        backoff.next_delay(rand::random::<f64>())
                    }
                };
                // Wake in time to roll back a pushed configuration that cannot connect.
                if let Some(deadline) = runtime.store.poll_timeout() {
                    delay = delay.min(deadline.saturating_duration_since(Instant::now()));
                }
                if let Ended::Retry(why) = &ended {
                    tracing::warn!(
                        "disconnected ({why}); reconnecting in {:.1} s",
                        delay.as_secs_f64()
                    );
                }
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopped(&mut stop) => {
                        runtime.relay.shutdown().await;
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Connecting, the TLS handshake and the WebSocket handshake each get this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

async fn connect_once(
    config: &Config,
    state: &mut AgentState,
    clock: &AgentClock,
    runtime: &mut Runtime,
    stop: &mut Stop,
) -> Ended {
    let url = config.controller.url.as_str();
    match runtime.fetcher.reconfigure(config) {
        Ok(()) => {}
        Err(e) => return Ended::Stop(format!("TLS configuration: {e}")),
    }
    if config.controller.url.scheme() != "wss" {
        // Plain WebSocket: for a lab or a test controller only (see the installer's guide).
        let connect = tokio_tungstenite::connect_async(url);
        return match connecting(stop, "connecting to", url, connect).await {
            Ok((ws, _)) => session_loop(ws, config, state, clock, runtime, stop).await,
            Err(ended) => ended,
        };
    }
    let Some(pin) = config.controller.tls_fingerprint else {
        return Ended::Stop("a wss:// controller needs controller.tls_fingerprint".into());
    };
    let (Some(host), Some(port)) = (
        config.controller.url.host_str(),
        config.controller.url.port_or_known_default(),
    ) else {
        return Ended::Stop(format!("{url}: no host or port"));
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    let tcp = match connecting(stop, "connecting to", url, connect).await {
        Ok(s) => s,
        Err(ended) => return ended,
    };
    let _ = tcp.set_nodelay(true);
    let tls = match crate::tls::client_config(pin) {
        Ok(c) => tokio_rustls::TlsConnector::from(Arc::new(c)),
        Err(e) => return Ended::Stop(format!("TLS configuration: {e}")),
    };
    let Ok(name) = rustls::pki_types::ServerName::try_from(host.clone()) else {
        return Ended::Stop(format!("{host}: not a valid server name"));
    };
    // A certificate other than the pinned one ends here: a man in the middle, or a
    // controller whose certificate changed. Keep trying (and say so in the log).
    let stream = match connecting(stop, "TLS handshake with", url, tls.connect(name, tcp)).await {
        Ok(s) => s,
        Err(ended) => return ended,
    };
    let handshake = tokio_tungstenite::client_async(url, stream);
    match connecting(stop, "WebSocket handshake with", url, handshake).await {
        Ok((ws, _)) => session_loop(ws, config, state, clock, runtime, stop).await,
        Err(ended) => ended,
    }
}

/// One step of connecting (`what` the controller at `url`), within [`CONNECT_TIMEOUT`];
/// a failure is retried, and a stop asked for meanwhile ends it at once.
async fn connecting<T, E: std::fmt::Display>(
    stop: &mut Stop,
    what: &str,
    url: &str,
    step: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Ended> {
    tokio::select! {
        result = tokio::time::timeout(CONNECT_TIMEOUT, step) => match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Ended::Retry(format!("{what} {url}: {e}"))),
            Err(_) => Err(Ended::Retry(format!(
                "{what} {url}: no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        },
        () = stopped(stop) => Err(Ended::Shutdown),
    }
}

/// One connection's life, over any transport.
async fn session_loop<S>(
    mut ws: tokio_tungstenite::WebSocketStream<S>,
    config: &Config,
    state: &mut AgentState,
    clock: &AgentClock,
    runtime: &mut Runtime,
    stop: &mut Stop,
) -> Ended
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut session = Session::new(
        SessionConfig {
            agent_id: state.agent_id.clone(),
            enrolment_token: config.controller.enrolment_token.clone(),
            controller_key: config.controller.public_key,
            software: concat!("dalaba-agent/", env!("CARGO_PKG_VERSION")).into(),
            last_command_seq: state.last_seq,
        },
        state.key.clone(),
        clock.now(),
    );
    let status_every = Duration::from_secs(60);
    let mut next_status = Instant::now() + status_every;
    loop {
        // Send everything the session has, then handle its events.
        while let Some(message) = session.poll_transmit(clock.now()) {
            if let Err(e) = ws.send(Message::Text(message.to_json().into())).await {
                return Ended::Retry(format!("sending: {e}"));
            }
        }
        while let Some(event) = session.poll_event() {
            match event {
                Event::Enrolled(id) => {
                    tracing::info!(agent = %id, "enrolled");
                    if let Err(e) = state.set_agent_id(id) {
                        return Ended::Stop(format!("cannot store the agent id: {e}"));
                    }
                }
                Event::Ready => {
                    if runtime.store.on_trial() {
                        // Reached the controller with the pushed configuration: keep it.
                        match runtime.store.confirm() {
                            Ok(()) => {
                                tracing::info!(version = %runtime.config_version, "pushed configuration confirmed")
                            }
                            Err(e) => tracing::error!("confirming the configuration: {e}"),
                        }
                    }
                    // A line on stdout that scripts and tests can wait for.
                    println!(
                        "session ready as {}",
                        state.agent_id.as_ref().map_or("?", |a| a.as_str())
                    );
                    session.send(AgentMessage::Status(status::report(runtime, &session)));
                    while let Some(r) = runtime.pending.pop_front() {
                        session.send(AgentMessage::Receipt(r));
                    }
                }
                Event::Command(command) => {
                    if let Err(e) = state.set_last_seq(command.seq) {
                        tracing::error!("cannot persist the command sequence, not obeying: {e}");
                        continue;
                    }
                    runtime.obey(command.command, &session, clock);
                    session.send(AgentMessage::Status(status::report(runtime, &session)));
                }
                Event::Rejected(e) => tracing::warn!("refused a command: {e}"),
                Event::ControllerError(e) => {
                    tracing::warn!("controller: {:?}: {}", e.code, e.message)
                }
                Event::Leaving { reason, within } => {
                    let _ = ws.close(None).await;
                    let delay = within.mul_f64(rand::random::<f64>());
                    return Ended::Later(reason, delay);
                }
                Event::Closed { reason, retry } => {
                    let _ = ws.close(None).await;
                    return if retry {
                        Ended::Retry(reason)
                    } else {
                        Ended::Stop(reason)
                    };
                }
            }
        }
        if runtime.reload {
            runtime.reload = false;
            let _ = ws.close(None).await;
            return Ended::Reload;
        }
        if session.is_ready() && Instant::now() >= next_status {
            next_status = Instant::now() + status_every;
            session.send(AgentMessage::Status(status::report(runtime, &session)));
            continue;
        }
        let wake = session
            .poll_timeout()
            .map(|t| clock.instant_of(t))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
            .min(next_status);
        if let Some(e) = session.clock() {
            *crate::runtime::lock(&runtime.clock_estimate) = Some(e);
        }
        tokio::select! {
            Some(receipt) = runtime.receipts_rx.recv() => {
                let now = session.controller_time(clock.now()).unwrap_or(Timestamp(clock.now()));
                if let Err(e) = runtime.ledger.settle(&receipt, now) {
                    tracing::error!(broadcast = %receipt.broadcast_id, "remembering a finished broadcast: {e}");
                }
                if session.is_ready() {
                    session.send(AgentMessage::Receipt(receipt));
                    // What is playing changed: the console sees it at once.
                    session.send(AgentMessage::Status(status::report(runtime, &session)));
                } else {
                    runtime.pending.push_back(receipt);
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => session.handle_message(text.as_bytes(), clock.now()),
                Some(Ok(Message::Binary(bytes))) => runtime.live_frame(&bytes),
                Some(Ok(Message::Close(_))) | None => return Ended::Retry("the controller closed the connection".into()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ended::Retry(format!("receiving: {e}")),
            },
            () = runtime.status_changed.notified() => {
                if session.is_ready() {
                    session.send(AgentMessage::Status(status::report(runtime, &session)));
                }
            }
            () = tokio::time::sleep_until(wake.into()) => {}
            () = stopped(stop) => {
                // The amplifier first: off at once, whatever the network does.
                runtime.relay.shutdown().await;
                // Say why before closing, so the console shows "shut down", not a lost line.
                if session.is_ready() {
                    let goodbye = AgentMessage::Goodbye(dalaba_protocol::control::Goodbye {
                        reason: "shutdown".into(),
                    });
                    let bye = ws.send(Message::Text(goodbye.to_json().into()));
                    let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
                }
                // The closing handshake: wait (1 s at most) for the controller's close, so
                // nothing it sent meanwhile is left unread (which would reset the
                // connection and could lose the goodbye on its side).
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    let _ = ws.close(None).await;
                    while let Some(Ok(m)) = ws.next().await {
                        if matches!(m, Message::Close(_)) {
                            break;
                        }
                    }
                })
                .await;
                return Ended::Shutdown;
            }
        }
    }
}

//! The agent daemon: keeps one connection to the controller alive, forever.
//!
//! It owns the [`Session`] (the protocol), the WebSocket (the transport), the agent's
//! persistent state (identity key, enrolled id, last command sequence) and the relay task.
//! It reconnects with exponential backoff and jitter.

use std::path::Path;
use std::time::{Duration, Instant};

use dalaba_firmware_config::{Config, ControllerPins};
use dalaba_protocol::command::Command;
use std::sync::{Arc, Mutex};

use dalaba_audio::sink::SinkSpec;
use dalaba_protocol::command::PlayMedia;
use dalaba_protocol::control::{AgentMessage, FailReason, Receipt, ReceiptState, StatusReport};
use dalaba_protocol::{BroadcastId, Timestamp, Volume};

use crate::cache::MediaCache;
use crate::config_store::ConfigStore;
use crate::durable::AgentState;
use crate::fetch::Fetcher;
use crate::ledger::{Admit, Ledger};
use crate::output::effective_volume;
use crate::player::{LiveJob, PlayerHandle};
use crate::relay::sequencer::Timing;
use dalaba_audio::jitter::Frame;
use dalaba_firmware_config::Relay;
use dalaba_protocol::StreamId;
use dalaba_protocol::audio_frame::{self, FrameFlags};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

use crate::session::{Backoff, Event, Session, SessionConfig};

/// The agent's clock: monotonic, expressed as microseconds since the epoch at start, so a
/// wall-clock step never corrupts clock-sync samples (PROTOCOL.md section 9).
#[derive(Debug, Clone, Copy)]
pub struct AgentClock {
    start: Instant,
    start_us: u64,
}

impl AgentClock {
    /// Starts the clock now.
    pub fn new() -> Self {
        let start_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Self {
            start: Instant::now(),
            start_us,
        }
    }

    /// Microseconds.
    pub fn now(&self) -> u64 {
        self.start_us + self.start.elapsed().as_micros() as u64
    }

    /// The `Instant` of agent time `us`.
    pub fn instant_of(&self, us: u64) -> Instant {
        self.start + Duration::from_micros(us.saturating_sub(self.start_us))
    }
}

impl Default for AgentClock {
    fn default() -> Self {
        Self::new()
    }
}

/// How a connection ended.
enum Ended {
    /// A pushed configuration was applied: reconnect with it at once.
    Reload,
    /// Reconnect after a backoff.
    Retry(String),
    /// Do not reconnect (revoked, enrolment refused).
    Stop(String),
    /// Shutdown requested.
    Shutdown,
}

/// The relays as last read back, and the board's current fault.
/// The latest clock estimate, shared with the player's clock.
type ClockCell = Arc<Mutex<Option<dalaba_protocol::clock::Estimate>>>;
type RelayCell = Arc<Mutex<(Vec<dalaba_protocol::control::RelayStatus>, Option<String>)>>;

/// What the daemon is doing, and the services its connections share.
struct Runtime {
    config: Config,
    volume: Volume,
    config_version: String,
    uptime_start: Instant,
    /// The clock estimate (controller against agent clock) as last made, for the player.
    clock_estimate: ClockCell,
    /// Media downloads into the cache.
    fetcher: Fetcher,
    player: PlayerHandle,
    receipts_tx: tokio::sync::mpsc::UnboundedSender<Receipt>,
    receipts_rx: tokio::sync::mpsc::UnboundedReceiver<Receipt>,
    /// Receipts made while disconnected, sent on reconnect.
    pending: std::collections::VecDeque<Receipt>,
    /// Broadcasts accepted since start, and those finished (across restarts): none
    /// plays twice.
    ledger: Ledger,
    /// The configuration file, and a pushed one on trial.
    store: ConfigStore,
    /// A pushed configuration was applied: reconnect with it.
    reload: bool,
    /// The last error worth showing in the console.
    last_error: Option<String>,
    /// What the player is playing.
    playing: crate::player::NowPlayingCell,
    /// The relay task.
    relay: crate::relay::controller::RelayHandle,
    /// The relays as last read, and the board's fault, for status.
    relay_status: RelayCell,
    /// Told when the relays or their fault change: status goes out at once.
    status_changed: Arc<tokio::sync::Notify>,
    /// Live streams being played: where their frames go.
    live: std::collections::HashMap<StreamId, std::sync::mpsc::Sender<Frame>>,
    /// The offline schedule.
    schedule: crate::schedule::ScheduleStore,
}

/// Runs the agent until `shutdown` resolves or the controller revokes it.
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

/// Runs the agent with the configuration file at `config_path` until `shutdown` resolves
/// or the controller revokes it.
pub async fn run(
    config_path: &Path,
    state_dir: &Path,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let store = ConfigStore::load(config_path, Instant::now(), confirm_window())?;
    let config = store.config().clone();
    let mut state = AgentState::load(state_dir)?;
    let clock = AgentClock::new();
    let mut backoff = Backoff::default();
    let clock_estimate = ClockCell::default();
    let (receipts_tx, receipts_rx) = tokio::sync::mpsc::unbounded_channel();
    let sink: SinkSpec = config.audio.device.parse()?;
    let playing: crate::player::NowPlayingCell = Arc::default();
    // Amplifier relays: switched off now (the task's first act), on around playback.
    let (relay, _relay_task) = match &config.relay {
        Relay::None => crate::relay::controller::spawn(
            Box::new(crate::relay::NoBoard),
            Vec::new(),
            Timing {
                warm_up: Duration::ZERO,
                hold: Duration::ZERO,
                max_on: Duration::from_secs(24 * 3600),
            },
        ),
        Relay::Board(b) => crate::relay::controller::spawn(
            crate::relay::board_for(&config.relay),
            b.channels.clone(),
            Timing {
                warm_up: b.warm_up,
                hold: b.hold,
                max_on: b.max_on,
            },
        ),
    };
    let warm_up = match &config.relay {
        Relay::Board(b) => b.warm_up,
        Relay::None => Duration::ZERO,
    };
    // Without a relay board there is nothing to switch: no round trip before each start.
    let power = matches!(config.relay, Relay::Board(_)).then(|| crate::player::Power {
        relay: relay.clone(),
        runtime: tokio::runtime::Handle::current(),
        warm_up,
    });
    let player = crate::player::spawn(
        sink,
        {
            let estimate = Arc::clone(&clock_estimate);
            Box::new(move || {
                let now = clock.now();
                match *lock(&estimate) {
                    Some(e) => e.to_controller_time(now),
                    None => Timestamp(now),
                }
            })
        },
        receipts_tx.clone(),
        Arc::clone(&playing),
        power,
    );
    let cache = MediaCache::open(&config.cache.dir, config.cache.max_bytes)?;
    let relay_status: RelayCell = Arc::default();
    let status_changed = Arc::new(tokio::sync::Notify::new());
    {
        // Read the relays back every few seconds, and at once when they switch, for
        // status reports: a change is reported when it happens.
        let (relay, cell, notify) = (
            relay.clone(),
            Arc::clone(&relay_status),
            Arc::clone(&status_changed),
        );
        let mut changes = relay.changes();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    changed = changes.changed() => if changed.is_err() { break },
                }
                let Some(s) = relay.status().await else { break };
                let states = s
                    .channels
                    .iter()
                    .map(|c| dalaba_protocol::control::RelayStatus {
                        channel: c.channel,
                        state: c.state,
                    })
                    .collect();
                let now = (states, s.fault.clone());
                let changed = {
                    let mut cell = lock(&cell);
                    let changed = *cell != now;
                    *cell = now;
                    changed
                };
                if changed {
                    notify.notify_one();
                }
            }
        });
    }
    let mut runtime = Runtime {
        volume: config.audio.volume,
        config_version: "local".into(),
        uptime_start: Instant::now(),
        clock_estimate,
        fetcher: Fetcher::new(&config, cache)?,
        player,
        receipts_tx,
        receipts_rx,
        pending: std::collections::VecDeque::new(),
        live: std::collections::HashMap::new(),
        playing,
        relay: relay.clone(),
        relay_status,
        status_changed,
        ledger: Ledger::load(state_dir),
        schedule: crate::schedule::ScheduleStore::load(state_dir),
        config: config.clone(),
        reload: false,
        last_error: None,
        store,
    };
    runtime.config_version = runtime.store.version().to_owned();
    // The stored schedule plays whether or not the controller is reachable (unless
    // `schedule.offline = false`: then it waits for the controller's next schedule_sync).
    // Until a clock estimate exists, controller time is taken to be this machine's clock.
    let upcoming: Vec<_> = if config.offline_schedule {
        runtime
            .schedule
            .upcoming(Timestamp(clock.now()))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    if !upcoming.is_empty() {
        tracing::info!(
            entries = upcoming.len(),
            version = runtime.schedule.version(),
            "playing the stored schedule"
        );
    }
    for entry in upcoming {
        let admitted = runtime
            .ledger
            .admit_play(&entry.play, Timestamp(clock.now()));
        if leave_alone(&runtime, admitted) {
            continue;
        }
        queue_play(
            &runtime,
            entry.play,
            Some(entry.entry_id),
            Timestamp(clock.now()),
        );
    }
    tokio::pin!(shutdown);
    loop {
        roll_back_if_due(&mut runtime);
        let started = Instant::now();
        let config = runtime.config.clone();
        let ended = tokio::select! {
            ended = connect_once(&config, &mut state, &clock, &mut runtime) => ended,
            () = &mut shutdown => Ended::Shutdown,
        };
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
            Ended::Retry(why) => {
                if started.elapsed() > Duration::from_secs(60) {
                    backoff.reset();
                }
                let mut delay = backoff.next_delay(rand::random::<f64>());
                // Wake in time to roll back a pushed configuration that cannot connect.
                if let Some(deadline) = runtime.store.poll_timeout() {
                    delay = delay.min(deadline.saturating_duration_since(Instant::now()));
                }
                tracing::warn!(
                    "disconnected ({why}); reconnecting in {:.1} s",
                    delay.as_secs_f64()
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = &mut shutdown => {
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
) -> Ended {
    let url = config.controller.url.as_str();
    let limit = |what: &str| {
        format!(
            "{what} {url}: no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        )
    };
    match runtime.fetcher.reconfigure(config) {
        Ok(()) => {}
        Err(e) => return Ended::Stop(format!("TLS configuration: {e}")),
    }
    if config.controller.url.scheme() != "wss" {
        // Plain WebSocket: for a lab or a test controller only (see the installer's guide).
        return match tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(url))
            .await
        {
            Ok(Ok((ws, _))) => session_loop(ws, config, state, clock, runtime).await,
            Ok(Err(e)) => Ended::Retry(format!("connecting to {url}: {e}")),
            Err(_) => Ended::Retry(limit("connecting to")),
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
    let tcp = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Ended::Retry(format!("connecting to {url}: {e}")),
        Err(_) => return Ended::Retry(limit("connecting to")),
    };
    let _ = tcp.set_nodelay(true);
    let tls = match crate::tls::client_config(pin) {
        Ok(c) => tokio_rustls::TlsConnector::from(Arc::new(c)),
        Err(e) => return Ended::Stop(format!("TLS configuration: {e}")),
    };
    let Ok(name) = rustls::pki_types::ServerName::try_from(host.clone()) else {
        return Ended::Stop(format!("{host}: not a valid server name"));
    };
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(name, tcp)).await {
        Ok(Ok(s)) => s,
        // A certificate other than the pinned one ends here: a man in the middle, or a
        // controller whose certificate changed. Keep trying (and say so in the log).
        Ok(Err(e)) => return Ended::Retry(format!("TLS with {url}: {e}")),
        Err(_) => return Ended::Retry(limit("TLS handshake with")),
    };
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::client_async(url, stream),
    )
    .await
    {
        Ok(Ok((ws, _))) => session_loop(ws, config, state, clock, runtime).await,
        Ok(Err(e)) => Ended::Retry(format!("WebSocket with {url}: {e}")),
        Err(_) => Ended::Retry(limit("WebSocket handshake with")),
    }
}

/// One connection's life, over any transport.
async fn session_loop<S>(
    mut ws: tokio_tungstenite::WebSocketStream<S>,
    config: &Config,
    state: &mut AgentState,
    clock: &AgentClock,
    runtime: &mut Runtime,
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
                    session.send(AgentMessage::Status(status(runtime, &session)));
                    while let Some(r) = runtime.pending.pop_front() {
                        session.send(AgentMessage::Receipt(r));
                    }
                }
                Event::Command(command) => {
                    if let Err(e) = state.set_last_seq(command.seq) {
                        tracing::error!("cannot persist the command sequence, not obeying: {e}");
                        continue;
                    }
                    obey(command.command, runtime, &session, clock);
                    session.send(AgentMessage::Status(status(runtime, &session)));
                }
                Event::Rejected(e) => tracing::warn!("refused a command: {e}"),
                Event::ControllerError(e) => {
                    tracing::warn!("controller: {:?}: {}", e.code, e.message)
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
            session.send(AgentMessage::Status(status(runtime, &session)));
            continue;
        }
        let wake = session
            .poll_timeout()
            .map(|t| clock.instant_of(t))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
            .min(next_status);
        if let Some(e) = session.clock() {
            *lock(&runtime.clock_estimate) = Some(e);
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
                    session.send(AgentMessage::Status(status(runtime, &session)));
                } else {
                    runtime.pending.push_back(receipt);
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => session.handle_message(text.as_bytes(), clock.now()),
                Some(Ok(Message::Binary(bytes))) => live_frame(runtime, &bytes),
                Some(Ok(Message::Close(_))) | None => return Ended::Retry("the controller closed the connection".into()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ended::Retry(format!("receiving: {e}")),
            },
            () = runtime.status_changed.notified() => {
                if session.is_ready() {
                    session.send(AgentMessage::Status(status(runtime, &session)));
                }
            }
            () = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

fn obey(command: Command, runtime: &mut Runtime, session: &Session, clock: &AgentClock) {
    let now = session
        .controller_time(clock.now())
        .unwrap_or(Timestamp(clock.now()));
    if admit(runtime, &command, now) {
        return;
    }
    match command {
        Command::SetVolume(v) => {
            tracing::info!(volume = v.volume.percent(), "volume set");
            runtime.volume = v.volume;
        }
        Command::PlayMedia(play) => {
            let at = session.controller_time(clock.now()).unwrap_or_default();
            let _ = runtime.receipts_tx.send(Receipt {
                broadcast_id: play.broadcast_id,
                entry_id: None,
                state: ReceiptState::Waiting,
                at,
            });
            if session.clock().is_none() {
                fail(
                    runtime,
                    play.broadcast_id,
                    FailReason::Other,
                    "no clock estimate yet",
                    session,
                    clock,
                );
                return;
            }
            queue_play(runtime, play, None, at);
        }
        Command::ScheduleSync(sync) => {
            let version = sync.schedule_version;
            match runtime.schedule.replace(sync) {
                Ok(change) => {
                    tracing::info!(
                        version,
                        added = change.added.len(),
                        withdrawn = change.withdrawn.len(),
                        "schedule stored"
                    );
                    // A line on stdout that scripts and tests can wait for.
                    println!(
                        "schedule version {version} stored: {} entries",
                        runtime.schedule.len()
                    );
                    for b in change.withdrawn {
                        runtime.player.stop(b);
                    }
                    // Every upcoming entry not queued yet: the new ones, and (with
                    // `schedule.offline = false`) the stored ones held back at start-up.
                    let at = session.controller_time(clock.now()).unwrap_or_default();
                    let upcoming: Vec<_> = runtime.schedule.upcoming(at).cloned().collect();
                    for entry in upcoming {
                        let admitted = runtime.ledger.admit_play(&entry.play, at);
                        if !leave_alone(runtime, admitted) {
                            queue_play(runtime, entry.play, Some(entry.entry_id), at);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    runtime.last_error = Some(e.to_string());
                }
            }
        }
        Command::StartLive(live) => {
            let (tx, frames) = std::sync::mpsc::channel();
            runtime.live.insert(live.stream_id, tx);
            let now = session.controller_time(clock.now()).unwrap_or_default();
            let volume = effective_volume(
                &runtime.config.audio,
                live.priority,
                live.volume.or(Some(runtime.volume)),
                crate::output::local_time_of_day(now),
            );
            runtime.player.live(LiveJob {
                broadcast: live.broadcast_id,
                stream_id: live.stream_id,
                level: live.level,
                mode: live.mode,
                latency_us: u64::from(live.latency_ms) * 1000,
                volume,
                priority: live.priority,
                frames,
                idle_timeout: Duration::from_millis(u64::from(live.idle_timeout_ms.max(500))),
            });
        }
        Command::StopLive(stop) => {
            // Dropping the sender ends the stream once what is buffered has played.
            runtime.live.remove(&stop.stream_id);
        }
        Command::ConfigPush(push) => {
            let applied = runtime
                .store
                .push(&push.config_version, &push.document, Instant::now())
                .cloned();
            use_pushed(runtime, push.config_version, applied);
        }
        Command::MoveController(to) => {
            let key = to.public_key.to_base64();
            let pins = ControllerPins {
                url: &to.url,
                public_key: &key,
                tls_fingerprint: to.tls_fingerprint.as_deref(),
            };
            tracing::info!(url = %to.url, key = %to.public_key.key_id(), "moving to another controller");
            let applied = runtime
                .store
                .move_to(&to.config_version, &pins, Instant::now())
                .cloned();
            use_pushed(runtime, to.config_version, applied);
        }
        Command::RelayAllOff => {
            let relay = runtime.relay.clone();
            tokio::spawn(async move { relay.all_off().await });
        }
        Command::Stop(stop) => runtime.player.stop(stop.broadcast_id),
        Command::StopAll => runtime.player.stop_all(),
        other => tracing::info!(
            command = other.kind(),
            "command accepted; not handled by this agent version yet"
        ),
    }
}

/// Puts a broadcast (`play_media`, `start_live`) in the ledger; true if it is to be left
/// alone: accepted already, or finished here (then its final receipt is sent again).
fn admit(runtime: &mut Runtime, command: &Command, now: Timestamp) -> bool {
    let admitted = match command {
        Command::PlayMedia(p) => runtime.ledger.admit_play(p, now),
        Command::StartLive(l) => runtime.ledger.admit_live(l, now),
        _ => return false,
    };
    leave_alone(runtime, admitted)
}

/// Acts on what the ledger said of a broadcast; true if it is not to be played.
fn leave_alone(runtime: &Runtime, admitted: Admit) -> bool {
    match admitted {
        Admit::New => false,
        Admit::Already => {
            tracing::debug!("already have this broadcast");
            true
        }
        Admit::Finished(receipt) => {
            tracing::info!(broadcast = %receipt.broadcast_id, "finished here already: answering with its final receipt, playing nothing");
            let _ = runtime.receipts_tx.send(receipt);
            true
        }
    }
}

/// Hands `play` to the fetcher at the volume its priority and time of day give.
fn queue_play(runtime: &Runtime, play: PlayMedia, entry: Option<u64>, at: Timestamp) {
    let volume = effective_volume(
        &runtime.config.audio,
        play.priority,
        play.volume.or(Some(runtime.volume)),
        crate::output::local_time_of_day(play.start_at),
    );
    runtime.fetcher.queue_play(
        play,
        entry,
        at,
        volume,
        runtime.player.clone(),
        runtime.receipts_tx.clone(),
    );
}

fn fail(
    runtime: &Runtime,
    broadcast: BroadcastId,
    reason: FailReason,
    why: &str,
    session: &Session,
    clock: &AgentClock,
) {
    let _ = runtime.receipts_tx.send(Receipt {
        broadcast_id: broadcast,
        entry_id: None,
        state: ReceiptState::Failed {
            reason,
            detail: Some(why.into()),
        },
        at: session.controller_time(clock.now()).unwrap_or_default(),
    });
}

/// Uses a configuration that a push or a move wrote (on trial until the controller is
/// reached with it), or reports why it was refused.
fn use_pushed(
    runtime: &mut Runtime,
    version: String,
    applied: Result<Config, crate::config_store::StoreError>,
) {
    match applied {
        Ok(config) => {
            tracing::info!(%version, "configuration applied; on trial until the controller is reached with it");
            runtime.volume = config.audio.volume;
            runtime.config = config;
            runtime.config_version = version;
            runtime.last_error = None;
            runtime.reload = true;
        }
        Err(e) => {
            tracing::warn!("{e}");
            runtime.last_error = Some(e.to_string());
        }
    }
}

/// Puts the previous configuration back if a pushed one was not confirmed in time.
fn roll_back_if_due(runtime: &mut Runtime) {
    match runtime.store.poll(Instant::now()) {
        Ok(Some(rollback)) => {
            tracing::warn!(from = %rollback.from, to = %rollback.to, "pushed configuration never reached the controller; rolled back");
            runtime.config = runtime.store.config().clone();
            runtime.volume = runtime.config.audio.volume;
            runtime.config_version = rollback.to;
            runtime.last_error = Some(format!(
                "configuration {} rolled back: the controller was not reachable with it",
                rollback.from
            ));
        }
        Ok(None) => {}
        Err(e) => tracing::error!("rolling back the configuration: {e}"),
    }
}

/// Routes one audio frame to its live stream; frames of unknown streams (not announced by
/// a verified `start_live`) and malformed frames are dropped.
fn live_frame(runtime: &mut Runtime, bytes: &[u8]) {
    let Ok(frame) = audio_frame::decode_message(bytes) else {
        return;
    };
    let h = frame.header;
    let Some(tx) = runtime.live.get(&h.stream_id) else {
        return;
    };
    let frame = Frame {
        seq: h.seq,
        capture_us: h.capture_time.0,
        samples: u32::from(h.samples),
        fec: h.flags.contains(FrameFlags::FEC),
        end_of_stream: h.flags.contains(FrameFlags::END_OF_STREAM),
        payload: frame.payload.to_vec(),
    };
    if tx.send(frame).is_err() {
        runtime.live.remove(&h.stream_id);
    }
}

fn lock<T>(cell: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    cell.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn status(runtime: &Runtime, session: &Session) -> StatusReport {
    StatusReport {
        playing: runtime.playing.lock().ok().and_then(|p| p.clone()),
        relays: runtime
            .relay_status
            .lock()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
        queued: Vec::new(),
        volume: runtime.volume,
        // A relay board fault is the most urgent thing to show; then our own last error.
        last_error: runtime
            .relay_status
            .lock()
            .ok()
            .and_then(|r| r.1.clone())
            .or_else(|| runtime.last_error.clone()),
        firmware_version: env!("CARGO_PKG_VERSION").into(),
        config_version: runtime.config_version.clone(),
        schedule_version: runtime.schedule.version(),
        cache: runtime.fetcher.usage(),
        clock_offset_us: session.clock().map(|e| e.offset_us),
        uptime_s: runtime.uptime_start.elapsed().as_secs(),
    }
}

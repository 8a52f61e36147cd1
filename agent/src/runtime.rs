//! What the agent does, apart from how it reaches the controller. The [`Runtime`] owns
//! the player, the fetcher, the relay task, the ledger, the offline schedule and the
//! configuration (and a pushed one on trial); it obeys each verified command with one
//! handler (`on_play_media`, `on_schedule_sync`, …). `daemon` is the connection driver
//! that feeds it commands, frames and receipts.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dalaba_audio::jitter::Frame;
use dalaba_audio::sink::SinkSpec;
use dalaba_firmware_config::{Config, ControllerPins, Relay};
use dalaba_protocol::audio_frame::{self, FrameFlags};
use dalaba_protocol::command::{
    Command, ConfigPush, MoveController, PlayMedia, ScheduleSync, SetVolume, StartLive, StopLive,
};
use dalaba_protocol::control::{FailReason, Receipt, ReceiptState};
use dalaba_protocol::{BroadcastId, StreamId, Timestamp, Volume};

use crate::cache::MediaCache;
use crate::clock::AgentClock;
use crate::config_store::ConfigStore;
use crate::fetch::Fetcher;
use crate::ledger::{Admit, Ledger};
use crate::output::effective_volume;
use crate::player::{LiveJob, PlayerHandle};
use crate::relay::sequencer::Timing;
use crate::session::Session;

/// The latest clock estimate, shared with the player's clock.
type ClockCell = Arc<Mutex<Option<dalaba_protocol::clock::Estimate>>>;
/// The relays as last read back, and the board's current fault.
pub(crate) type RelayCell =
    Arc<Mutex<(Vec<dalaba_protocol::control::RelayStatus>, Option<String>)>>;

/// What the daemon is doing, and the services its connections share.
pub(crate) struct Runtime {
    pub(crate) config: Config,
    pub(crate) volume: Volume,
    pub(crate) config_version: String,
    pub(crate) uptime_start: Instant,
    /// The clock estimate (controller against agent clock) as last made, for the player.
    pub(crate) clock_estimate: ClockCell,
    /// Media downloads into the cache.
    pub(crate) fetcher: Fetcher,
    pub(crate) player: PlayerHandle,
    pub(crate) receipts_tx: tokio::sync::mpsc::UnboundedSender<Receipt>,
    pub(crate) receipts_rx: tokio::sync::mpsc::UnboundedReceiver<Receipt>,
    /// Receipts made while disconnected, sent on reconnect.
    pub(crate) pending: std::collections::VecDeque<Receipt>,
    /// Broadcasts accepted since start, and those finished (across restarts): none
    /// plays twice.
    pub(crate) ledger: Ledger,
    /// The configuration file, and a pushed one on trial.
    pub(crate) store: ConfigStore,
    /// A pushed configuration was applied: reconnect with it.
    pub(crate) reload: bool,
    /// The last error worth showing in the console.
    pub(crate) last_error: Option<String>,
    /// What the player is playing.
    pub(crate) playing: crate::player::NowPlayingCell,
    /// The relay task.
    pub(crate) relay: crate::relay::controller::RelayHandle,
    /// The relays as last read, and the board's fault, for status.
    pub(crate) relay_status: RelayCell,
    /// Told when the relays or their fault change: status goes out at once.
    pub(crate) status_changed: Arc<tokio::sync::Notify>,
    /// Live streams being played: where their frames go.
    pub(crate) live: std::collections::HashMap<StreamId, std::sync::mpsc::Sender<Frame>>,
    /// The offline schedule.
    pub(crate) schedule: crate::schedule::ScheduleStore,
}

impl Runtime {
    /// Starts the services: relays switched off, the player, the cache, the relay-status
    /// watcher; the ledger and the offline schedule loaded from `state_dir`.
    pub(crate) fn start(
        config: Config,
        store: ConfigStore,
        state_dir: &Path,
        clock: AgentClock,
    ) -> anyhow::Result<Self> {
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
        let runtime = Runtime {
            volume: config.audio.volume,
            config_version: store.version().to_owned(),
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
        Ok(runtime)
    }

    /// Queues the stored schedule's upcoming entries: it plays whether or not the controller
    /// is reachable (unless `schedule.offline = false`: then it waits for the controller's
    /// next `schedule_sync`). Until a clock estimate exists, controller time is taken to be
    /// this machine's clock.
    pub(crate) fn play_stored_schedule(&mut self, clock: &AgentClock) {
        let upcoming: Vec<_> = if self.config.offline_schedule {
            self.schedule
                .upcoming(Timestamp(clock.now()))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        if !upcoming.is_empty() {
            tracing::info!(
                entries = upcoming.len(),
                version = self.schedule.version(),
                "playing the stored schedule"
            );
        }
        for entry in upcoming {
            let admitted = self.ledger.admit_play(&entry.play, Timestamp(clock.now()));
            if self.leave_alone(admitted) {
                continue;
            }
            self.queue_play(entry.play, Some(entry.entry_id), Timestamp(clock.now()));
        }
    }

    /// Obeys one verified command: a broadcast the ledger has seen is left alone (or
    /// answered with its final receipt); everything else goes to its handler.
    pub(crate) fn obey(&mut self, command: Command, session: &Session, clock: &AgentClock) {
        let now = session
            .controller_time(clock.now())
            .unwrap_or(Timestamp(clock.now()));
        if self.admit(&command, now) {
            return;
        }
        match command {
            Command::SetVolume(v) => self.on_set_volume(&v),
            Command::PlayMedia(play) => self.on_play_media(play, session, clock),
            Command::ScheduleSync(sync) => self.on_schedule_sync(sync, session, clock),
            Command::StartLive(live) => self.on_start_live(&live, session, clock),
            Command::StopLive(stop) => self.on_stop_live(&stop),
            Command::ConfigPush(push) => self.on_config_push(push),
            Command::MoveController(to) => self.on_move_controller(to),
            Command::RelayAllOff => self.on_relay_all_off(),
            Command::Stop(stop) => self.player.stop(stop.broadcast_id),
            Command::StopAll => self.player.stop_all(),
            other => tracing::info!(
                command = other.kind(),
                "command accepted; not handled by this agent version yet"
            ),
        }
    }

    /// `set_volume`: the default volume from now on.
    fn on_set_volume(&mut self, v: &SetVolume) {
        tracing::info!(volume = v.volume.percent(), "volume set");
        self.volume = v.volume;
    }

    /// `play_media`: `waiting` at once, then fetched and queued (refused without a clock
    /// estimate: its start time would mean nothing).
    fn on_play_media(&mut self, play: PlayMedia, session: &Session, clock: &AgentClock) {
        let at = session.controller_time(clock.now()).unwrap_or_default();
        let _ = self.receipts_tx.send(Receipt {
            broadcast_id: play.broadcast_id,
            entry_id: None,
            state: ReceiptState::Waiting,
            at,
        });
        if session.clock().is_none() {
            self.fail(
                play.broadcast_id,
                FailReason::Other,
                "no clock estimate yet",
                session,
                clock,
            );
            return;
        }
        self.queue_play(play, None, at);
    }

    /// `schedule_sync`: stores the schedule, stops what it withdrew and queues every
    /// upcoming entry not queued yet.
    fn on_schedule_sync(&mut self, sync: ScheduleSync, session: &Session, clock: &AgentClock) {
        let version = sync.schedule_version;
        let change = match self.schedule.replace(sync) {
            Ok(change) => change,
            Err(e) => {
                tracing::warn!("{e}");
                self.last_error = Some(e.to_string());
                return;
            }
        };
        tracing::info!(
            version,
            added = change.added.len(),
            withdrawn = change.withdrawn.len(),
            "schedule stored"
        );
        // A line on stdout that scripts and tests can wait for.
        println!(
            "schedule version {version} stored: {} entries",
            self.schedule.len()
        );
        for b in change.withdrawn {
            self.player.stop(b);
        }
        // Every upcoming entry not queued yet: the new ones, and (with
        // `schedule.offline = false`) the stored ones held back at start-up.
        let at = session.controller_time(clock.now()).unwrap_or_default();
        let upcoming: Vec<_> = self.schedule.upcoming(at).cloned().collect();
        for entry in upcoming {
            let admitted = self.ledger.admit_play(&entry.play, at);
            if !self.leave_alone(admitted) {
                self.queue_play(entry.play, Some(entry.entry_id), at);
            }
        }
    }

    /// `start_live`: the player takes the stream; its frames arrive by [`Self::live_frame`].
    fn on_start_live(&mut self, live: &StartLive, session: &Session, clock: &AgentClock) {
        let (tx, frames) = std::sync::mpsc::channel();
        self.live.insert(live.stream_id, tx);
        let now = session.controller_time(clock.now()).unwrap_or_default();
        let volume = effective_volume(
            &self.config.audio,
            live.priority,
            live.volume.or(Some(self.volume)),
            crate::output::local_time_of_day(now),
        );
        self.player.live(LiveJob {
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

    /// `stop_live`: dropping the sender ends the stream once what is buffered has played.
    fn on_stop_live(&mut self, stop: &StopLive) {
        self.live.remove(&stop.stream_id);
    }

    /// `config_push`: the new file, on trial until the controller is reached with it.
    fn on_config_push(&mut self, push: ConfigPush) {
        let applied = self
            .store
            .push(&push.config_version, &push.document, Instant::now())
            .cloned();
        self.use_pushed(push.config_version, applied);
    }

    /// `move_controller`: new pins, on trial like a pushed configuration.
    fn on_move_controller(&mut self, to: MoveController) {
        let key = to.public_key.to_base64();
        let pins = ControllerPins {
            url: &to.url,
            public_key: &key,
            tls_fingerprint: to.tls_fingerprint.as_deref(),
        };
        tracing::info!(url = %to.url, key = %to.public_key.key_id(), "moving to another controller");
        let applied = self
            .store
            .move_to(&to.config_version, &pins, Instant::now())
            .cloned();
        self.use_pushed(to.config_version, applied);
    }

    /// `relay_all_off`: every channel off now.
    fn on_relay_all_off(&self) {
        let relay = self.relay.clone();
        tokio::spawn(async move { relay.all_off().await });
    }

    /// Puts a broadcast (`play_media`, `start_live`) in the ledger; true if it is to be left
    /// alone: accepted already, or finished here (then its final receipt is sent again).
    fn admit(&mut self, command: &Command, now: Timestamp) -> bool {
        let admitted = match command {
            Command::PlayMedia(p) => self.ledger.admit_play(p, now),
            Command::StartLive(l) => self.ledger.admit_live(l, now),
            _ => return false,
        };
        self.leave_alone(admitted)
    }

    /// Acts on what the ledger said of a broadcast; true if it is not to be played.
    fn leave_alone(&self, admitted: Admit) -> bool {
        match admitted {
            Admit::New => false,
            Admit::Already => {
                tracing::debug!("already have this broadcast");
                true
            }
            Admit::Finished(receipt) => {
                tracing::info!(broadcast = %receipt.broadcast_id, "finished here already: answering with its final receipt, playing nothing");
                let _ = self.receipts_tx.send(receipt);
                true
            }
        }
    }

    /// Hands `play` to the fetcher at the volume its priority and time of day give.
    fn queue_play(&self, play: PlayMedia, entry: Option<u64>, at: Timestamp) {
        let volume = effective_volume(
            &self.config.audio,
            play.priority,
            play.volume.or(Some(self.volume)),
            crate::output::local_time_of_day(play.start_at),
        );
        self.fetcher.queue_play(
            play,
            entry,
            at,
            volume,
            self.player.clone(),
            self.receipts_tx.clone(),
        );
    }

    fn fail(
        &self,
        broadcast: BroadcastId,
        reason: FailReason,
        why: &str,
        session: &Session,
        clock: &AgentClock,
    ) {
        let _ = self.receipts_tx.send(Receipt {
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
        &mut self,
        version: String,
        applied: Result<Config, crate::config_store::StoreError>,
    ) {
        match applied {
            Ok(config) => {
                tracing::info!(%version, "configuration applied; on trial until the controller is reached with it");
                self.volume = config.audio.volume;
                self.config = config;
                self.config_version = version;
                self.last_error = None;
                self.reload = true;
            }
            Err(e) => {
                tracing::warn!("{e}");
                self.last_error = Some(e.to_string());
            }
        }
    }

    /// Puts the previous configuration back if a pushed one was not confirmed in time.
    pub(crate) fn roll_back_if_due(&mut self) {
        match self.store.poll(Instant::now()) {
            Ok(Some(rollback)) => {
                tracing::warn!(from = %rollback.from, to = %rollback.to, "pushed configuration never reached the controller; rolled back");
                self.config = self.store.config().clone();
                self.volume = self.config.audio.volume;
                self.config_version = rollback.to;
                self.last_error = Some(format!(
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
    pub(crate) fn live_frame(&mut self, bytes: &[u8]) {
        let Ok(frame) = audio_frame::decode_message(bytes) else {
            return;
        };
        let h = frame.header;
        let Some(tx) = self.live.get(&h.stream_id) else {
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
            self.live.remove(&h.stream_id);
        }
    }
}

/// Locks `cell`, poisoned or not (what it holds is replaced whole).
pub(crate) fn lock<T>(cell: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    cell.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

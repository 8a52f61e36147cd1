//! The player: one thread that owns the sound output and decides what is audible.
//!
//! Jobs (stored media to play at an instant) arrive through a [`PlayerHandle`]. The
//! player waits for each job's start, plays it, and reports receipts. A job of higher
//! priority than the one playing preempts it (receipt `preempted`); others wait their turn,
//! highest priority and earliest start first. The output (a cpal device, or a WAV file per
//! broadcast) is opened for a job and released after it.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use dalaba_audio::jitter::{Frame, JitterConfig};
use dalaba_audio::ogg_opus::OpusFileSource;
use dalaba_audio::playout::LivePlayout;
use dalaba_audio::sink::{Sink, SinkSpec, VolumeRamp};
use dalaba_protocol::control::{FailReason, NowPlaying, PlaySource, Receipt, ReceiptState};
use dalaba_protocol::{BroadcastId, Priority, Timestamp, Volume};

/// One stored-media play.
#[derive(Clone, Debug)]
pub struct PlayJob {
    /// The broadcast.
    pub broadcast: BroadcastId,
    /// The media's hash (for status).
    pub hash: dalaba_protocol::MediaHash,
    /// The verified Ogg Opus file. It is decoded block by block while it plays, so memory
    /// does not grow with its length (an hour is 690 MB decoded).
    pub file: std::path::PathBuf,
    /// When the first sample must sound.
    pub start: Instant,
    /// Volume, caps already applied.
    pub volume: Volume,
    /// Arbitration priority.
    pub priority: Priority,
    /// Times to play.
    pub repeat: u16,
    /// Silence between repetitions, ms.
    pub gap_ms: u32,
}

/// One live stream to play: frames arrive on `frames` until the sender is dropped.
#[derive(Debug)]
pub struct LiveJob {
    /// The broadcast.
    pub broadcast: BroadcastId,
    /// The stream (for status).
    pub stream_id: dalaba_protocol::StreamId,
    /// Play each frame this long after its capture time, µs.
    pub latency_us: u64,
    /// Volume, caps already applied.
    pub volume: Volume,
    /// Arbitration priority.
    pub priority: Priority,
    /// The stream's frames, as they arrive.
    pub frames: mpsc::Receiver<Frame>,
    /// Give up after this long without a frame.
    pub idle_timeout: Duration,
}

enum Job {
    Media(PlayJob),
    Live(LiveJob),
}

impl Job {
    fn broadcast(&self) -> BroadcastId {
        match self {
            Self::Media(j) => j.broadcast,
            Self::Live(j) => j.broadcast,
        }
    }

    fn priority(&self) -> Priority {
        match self {
            Self::Media(j) => j.priority,
            Self::Live(j) => j.priority,
        }
    }

    fn start(&self) -> Instant {
        match self {
            Self::Media(j) => j.start,
            // Live audio is due as soon as it arrives.
            Self::Live(_) => Instant::now(),
        }
    }
}

enum PlayerCommand {
    Play(Job),
    Stop(BroadcastId),
    StopAll,
}

/// Amplifier power around playback: the relay task, the runtime it lives on, and the
/// warm-up to switch on ahead of a job's start.
#[derive(Debug, Clone)]
pub struct Power {
    /// The relay task.
    pub relay: crate::relay::controller::RelayHandle,
    /// The tokio runtime (the player is a plain thread).
    pub runtime: tokio::runtime::Handle,
    /// Relay warm-up; the relay goes on this long before a job's start.
    pub warm_up: Duration,
}

/// What is audible now, for status reports.
pub type NowPlayingCell = std::sync::Arc<std::sync::Mutex<Option<NowPlaying>>>;

/// Converts the agent's clock to controller time for receipts.
pub type ControllerClock = Box<dyn Fn() -> Timestamp + Send>;

/// A cheap handle to the player thread.
#[derive(Clone, Debug)]
pub struct PlayerHandle {
    tx: mpsc::Sender<PlayerCommand>,
}

impl PlayerHandle {
    /// Queues a job.
    pub fn play(&self, job: PlayJob) {
        let _ = self.tx.send(PlayerCommand::Play(Job::Media(job)));
    }

    /// Starts a live stream.
    pub fn live(&self, job: LiveJob) {
        let _ = self.tx.send(PlayerCommand::Play(Job::Live(job)));
    }

    /// Stops one broadcast (receipt `cancelled`).
    pub fn stop(&self, broadcast: BroadcastId) {
        let _ = self.tx.send(PlayerCommand::Stop(broadcast));
    }

    /// Stops everything.
    pub fn stop_all(&self) {
        let _ = self.tx.send(PlayerCommand::StopAll);
    }
}

/// Starts the player thread. Receipts go to `receipts`.
pub fn spawn(
    sink: SinkSpec,
    now: ControllerClock,
    receipts: tokio::sync::mpsc::UnboundedSender<Receipt>,
    playing: NowPlayingCell,
    power: Option<Power>,
) -> PlayerHandle {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("player".into())
        .spawn(move || {
            Player {
                sink,
                now,
                receipts,
                rx,
                queue: Vec::new(),
                playing,
                power,
            }
            .run()
        })
        .map(|_| ())
        .unwrap_or_else(|e| tracing::error!("cannot start the player thread: {e}"));
    PlayerHandle { tx }
}

struct Player {
    sink: SinkSpec,
    now: ControllerClock,
    receipts: tokio::sync::mpsc::UnboundedSender<Receipt>,
    rx: mpsc::Receiver<PlayerCommand>,
    queue: Vec<Job>,
    playing: NowPlayingCell,
    power: Option<Power>,
}

/// How a play ended.
enum Outcome {
    Done,
    Preempted(BroadcastId),
    Cancelled,
    Failed(FailReason, String),
}

impl Player {
    fn receipt(&self, broadcast: BroadcastId, state: ReceiptState) {
        let _ = self.receipts.send(Receipt {
            broadcast_id: broadcast,
            entry_id: None,
            state,
            at: (self.now)(),
        });
    }

    /// The next job: highest priority, then earliest start.
    fn next_index(&self) -> Option<usize> {
        (0..self.queue.len()).min_by_key(|&i| {
            (
                std::cmp::Reverse(self.queue[i].priority()),
                self.queue[i].start(),
            )
        })
    }

    /// Takes a command that arrived while idle or waiting.
    fn take(&mut self, command: PlayerCommand) {
        match command {
            PlayerCommand::Play(job) => self.queue.push(job),
            PlayerCommand::Stop(b) => self.cancel_queued(|j| j.broadcast() == b),
            PlayerCommand::StopAll => self.cancel_queued(|_| true),
        }
    }

    fn cancel_queued(&mut self, pred: impl Fn(&Job) -> bool) {
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|j| pred(j));
        self.queue = keep;
        for j in gone {
            self.receipt(j.broadcast(), ReceiptState::Cancelled);
        }
    }

    fn run(mut self) {
        loop {
            let Some(i) = self.next_index() else {
                match self.rx.recv() {
                    Ok(c) => self.take(c),
                    Err(_) => return,
                }
                continue;
            };
            // Wake a warm-up early, so the amplifier is ready at the start.
            let warm_up = self.power.as_ref().map_or(Duration::ZERO, |p| p.warm_up);
            let wait = self.queue[i]
                .start()
                .checked_sub(warm_up)
                .map_or(Duration::ZERO, |t| {
                    t.saturating_duration_since(Instant::now())
                });
            if !wait.is_zero() {
                match self.rx.recv_timeout(wait) {
                    Ok(c) => {
                        self.take(c);
                        continue;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            let job = self.queue.remove(i);
            let broadcast = job.broadcast();
            if let Some(power) = &self.power {
                // Blocks through the warm-up; a failing board is reported by the relay
                // task in status, and the audio plays anyway (the amplifier may have power).
                if let Err(e) = power.runtime.block_on(power.relay.power_on(broadcast.0)) {
                    tracing::warn!(broadcast = %broadcast, "amplifier power: {e}");
                }
                let late = job.start().saturating_duration_since(Instant::now());
                if !late.is_zero() {
                    std::thread::sleep(late);
                }
            }
            let (source, priority) = match &job {
                Job::Media(j) => (PlaySource::Media { hash: j.hash }, j.priority),
                Job::Live(j) => (
                    PlaySource::Live {
                        stream_id: j.stream_id,
                    },
                    j.priority,
                ),
            };
            self.set_playing(Some(NowPlaying {
                broadcast_id: broadcast,
                source,
                priority,
                mode: dalaba_protocol::Mode::Real,
                since: (self.now)(),
            }));
            let outcome = match job {
                Job::Media(job) => self.play(&job),
                Job::Live(job) => self.play_live(job),
            };
            let state = match outcome {
                Outcome::Done => ReceiptState::Done,
                Outcome::Preempted(by) => ReceiptState::Preempted { by },
                Outcome::Cancelled => ReceiptState::Cancelled,
                Outcome::Failed(reason, detail) => ReceiptState::Failed {
                    reason,
                    detail: Some(detail),
                },
            };
            self.set_playing(None);
            if let Some(power) = &self.power {
                power.runtime.block_on(power.relay.release(broadcast.0));
            }
            self.receipt(broadcast, state);
        }
    }

    fn set_playing(&self, now: Option<NowPlaying>) {
        if let Ok(mut cell) = self.playing.lock() {
            *cell = now;
        }
    }

    /// Handles commands that arrived while `current` plays; `Some` ends it.
    fn interrupt(&mut self, current: BroadcastId, priority: Priority) -> Option<Outcome> {
        while let Ok(command) = self.rx.try_recv() {
            match command {
                PlayerCommand::Play(new) if new.priority() > priority => {
                    let by = new.broadcast();
                    self.queue.push(new);
                    return Some(Outcome::Preempted(by));
                }
                PlayerCommand::Stop(b) if b == current => return Some(Outcome::Cancelled),
                PlayerCommand::StopAll => {
                    self.cancel_queued(|_| true);
                    return Some(Outcome::Cancelled);
                }
                other => self.take(other),
            }
        }
        None
    }

    fn play_live(&mut self, job: LiveJob) -> Outcome {
        let config = JitterConfig {
            latency_us: job.latency_us,
            ..JitterConfig::default()
        };
        let mut playout = match LivePlayout::new(config) {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(FailReason::DeviceError, e.to_string()),
        };
        let mut sink: Option<Box<dyn Sink>> = None;
        let mut ramp = VolumeRamp::new(0.0, 10);
        ramp.set_percent(job.volume.percent());
        let mut pcm = Vec::new();
        let mut last_frame = Instant::now();
        let mut ended = false;
        loop {
            if let Some(outcome) = self.interrupt(job.broadcast, job.priority) {
                if let Some(mut s) = sink {
                    let _ = s.finish();
                }
                return outcome;
            }
            loop {
                match job.frames.try_recv() {
                    Ok(frame) => {
                        playout.push(frame, (self.now)().0);
                        last_frame = Instant::now();
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        ended = true;
                        break;
                    }
                }
            }
            pcm.clear();
            while playout.poll((self.now)().0, &mut pcm).is_some() {}
            if !pcm.is_empty() {
                if sink.is_none() {
                    match self.open_sink(job.broadcast) {
                        Ok(s) => sink = Some(s),
                        Err(e) => return Outcome::Failed(FailReason::DeviceError, e.to_string()),
                    }
                    self.receipt(job.broadcast, ReceiptState::Playing);
                }
                ramp.apply(&mut pcm);
                if let Some(Err(e)) = sink.as_mut().map(|s| s.write(&pcm)) {
                    return Outcome::Failed(FailReason::DeviceError, e.to_string());
                }
            }
            let drained = playout.is_finished()
                || (ended
                    && playout.next_due().is_none_or(|_| {
                        playout.counters().received
                            == playout.counters().played
                                + playout.counters().late
                                + playout.counters().duplicates
                                + playout.counters().overflow
                    }));
            if drained {
                return match sink {
                    Some(mut s) => match s.finish() {
                        Ok(()) => Outcome::Done,
                        Err(e) => Outcome::Failed(FailReason::DeviceError, e.to_string()),
                    },
                    None => Outcome::Failed(
                        FailReason::StreamTimeout,
                        "the stream ended before any audio arrived".into(),
                    ),
                };
            }
            if last_frame.elapsed() > job.idle_timeout {
                if let Some(mut s) = sink {
                    let _ = s.finish();
                }
                return Outcome::Failed(
                    FailReason::StreamTimeout,
                    "no audio for the idle timeout".into(),
                );
            }
            // Sleep until the next slot is due, or a frame or command arrives.
            let now = (self.now)().0;
            let wait_us = playout
                .next_due()
                .map_or(20_000, |due| due.saturating_sub(now))
                .min(20_000);
            if ended {
                std::thread::sleep(Duration::from_micros(wait_us.max(1000)));
            } else {
                match job
                    .frames
                    .recv_timeout(Duration::from_micros(wait_us.max(500)))
                {
                    Ok(frame) => {
                        playout.push(frame, (self.now)().0);
                        last_frame = Instant::now();
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => ended = true,
                }
            }
        }
    }

    fn open_sink(
        &self,
        broadcast: BroadcastId,
    ) -> Result<Box<dyn Sink>, dalaba_audio::sink::SinkError> {
        match &self.sink {
            // A file per broadcast, so each one can be checked on its own.
            SinkSpec::Wav { path } => {
                let stem = path
                    .file_stem()
                    .map_or_else(|| "speaker".into(), |s| s.to_string_lossy().into_owned());
                let file = path.with_file_name(format!("{stem}-b{}.wav", broadcast.0));
                SinkSpec::Wav { path: file }.open()
            }
            other => other.open(),
        }
    }

    fn play(&mut self, job: &PlayJob) -> Outcome {
        // Every speaker's output follows one timeline: sample k belongs at start + k/48 kHz.
        // Waking late (a busy scheduler, a restart, a reconnect) does not shift the
        // timeline: the late part is skipped, so neighbours stay in step. The receipt's
        // time is the timeline's origin in controller time.
        let now = (self.now)();
        let late = Instant::now().saturating_duration_since(job.start);
        let started = Timestamp(now.0.saturating_sub(late.as_micros() as u64));
        let mut skip = (late.as_secs_f64() * 48_000.0) as usize;
        if late > Duration::from_millis(20) {
            tracing::info!(broadcast = %job.broadcast, late_ms = late.as_millis() as u64, "joining a broadcast in progress");
        }
        let mut sink = match self.open_sink(job.broadcast) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(FailReason::DeviceError, e.to_string()),
        };
        let _ = self.receipts.send(Receipt {
            broadcast_id: job.broadcast,
            entry_id: None,
            state: ReceiptState::Playing,
            at: started,
        });
        let mut ramp = VolumeRamp::new(0.0, 10);
        ramp.set_percent(job.volume.percent());
        let gap = vec![0.0f32; (job.gap_ms as usize) * 48];
        let mut block = Vec::with_capacity(960);
        let mut decoded = Vec::new();
        for round in 0..job.repeat.max(1) {
            let mut source = match OpusFileSource::open(&job.file) {
                Ok(s) => s,
                Err(e) => return Outcome::Failed(FailReason::MediaCorrupt, e.to_string()),
            };
            let mut pending_gap: &[f32] = if round == 0 { &[] } else { &gap };
            loop {
                decoded.clear();
                match source.read(&mut decoded) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => return Outcome::Failed(FailReason::MediaCorrupt, e.to_string()),
                }
                // Late: drop what is already past (only ever in the first round).
                let dropped = skip.min(decoded.len());
                skip -= dropped;
                let audio = &decoded[dropped..];
                let gap_now = std::mem::take(&mut pending_gap);
                for chunk in gap_now.chunks(960).chain(audio.chunks(960)) {
                    // Between blocks: anything new?
                    if let Some(outcome) = self.interrupt(job.broadcast, job.priority) {
                        let _ = sink.finish();
                        return outcome;
                    }
                    block.clear();
                    block.extend_from_slice(chunk);
                    ramp.apply(&mut block);
                    if let Err(e) = sink.write(&block) {
                        return Outcome::Failed(FailReason::DeviceError, e.to_string());
                    }
                }
            }
        }
        match sink.finish() {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Failed(FailReason::DeviceError, e.to_string()),
        }
    }
}

//! The player: one thread that owns the sound output and decides what is audible.
//!
//! Jobs (stored media to play at a controller time, or a live stream) arrive through a
//! [`PlayerHandle`]. The player waits for each job's start, plays it, and reports receipts.
//!
//! Arbitration: a job of higher priority than the one playing (or of the same priority
//! from a higher platform level) preempts it as soon as it is due: the player looks at its
//! queue between every 20 ms block, so a job that arrived early cuts in at its start time.
//! Others wait their turn, highest priority, then highest level, then earliest start first. A preempted stored-media job follows its
//! `on_preempt` rule: `resume` goes back in the queue at the sample where it was cut off,
//! `restart` from its beginning, `skip` ends (receipt `preempted`). A job whose start passed
//! while something more important played has lost its place on the timeline the same way
//! and follows the same rule. Nothing starts or resumes after its `expires_at` (receipt
//! `failed`, reason `expired`).
//!
//! The output (a cpal device, or a WAV file per broadcast) is opened for a job and released
//! after it.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use dalaba_audio::jitter::{Frame, JitterConfig};
use dalaba_audio::ogg_opus::OpusFileSource;
use dalaba_audio::playout::LivePlayout;
use dalaba_audio::sink::{Sink, SinkSpec, VolumeRamp};
use dalaba_protocol::command::OnPreempt;
use dalaba_protocol::control::{FailReason, NowPlaying, PlaySource, Receipt, ReceiptState};
use dalaba_protocol::{BroadcastId, Mode, PlatformLevel, Priority, Timestamp, Volume};

/// How long a live stream waits for its first frame, at least (its `idle_timeout_ms`
/// applies once frames flow).
pub const FIRST_FRAME_WAIT: Duration = Duration::from_secs(30);

/// One stored-media play.
#[derive(Clone, Debug)]
pub struct PlayJob {
    /// The broadcast.
    pub broadcast: BroadcastId,
    /// The schedule entry it comes from, if any (receipts carry it).
    pub entry: Option<u64>,
    /// The media's hash (for status).
    pub hash: dalaba_protocol::MediaHash,
    /// The verified Ogg Opus file. It is decoded block by block while it plays, so memory
    /// does not grow with its length (an hour is 690 MB decoded).
    pub file: std::path::PathBuf,
    /// When the first sample must sound, in controller time.
    pub start: Timestamp,
    /// Volume, caps already applied.
    pub volume: Volume,
    /// Arbitration priority.
    pub priority: Priority,
    /// The issuing platform level (tie-break within one priority).
    pub level: PlatformLevel,
    /// Times to play.
    pub repeat: u16,
    /// Silence between repetitions, ms.
    pub gap_ms: u32,
    /// Real, test or drill (shown in status).
    pub mode: Mode,
    /// What to do when something more important cuts in.
    pub on_preempt: OnPreempt,
    /// Never start or resume after this (controller time).
    pub expires_at: Option<Timestamp>,
}

/// A stored-media job in the queue, with where it stands.
#[derive(Debug)]
struct MediaJob {
    job: PlayJob,
    /// Set once the job lost its place on the timeline (preempted, or its start passed
    /// while something more important played): the broadcast that displaced it.
    displaced_by: Option<BroadcastId>,
    /// Samples of the job's timeline (gaps included) already played; a resumed job
    /// continues here.
    position: usize,
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
    /// The issuing platform level.
    pub level: PlatformLevel,
    /// Real, test or drill (shown in status).
    pub mode: Mode,
    /// The stream's frames, as they arrive.
    pub frames: mpsc::Receiver<Frame>,
    /// Give up after this long without a frame.
    pub idle_timeout: Duration,
}

enum Job {
    Media(MediaJob),
    Live(LiveJob),
}

impl Job {
    fn broadcast(&self) -> BroadcastId {
        match self {
            Self::Media(j) => j.job.broadcast,
            Self::Live(j) => j.broadcast,
        }
    }

    /// What arbitration compares: priority, then platform level.
    fn rank(&self) -> (Priority, PlatformLevel) {
        match self {
            Self::Media(j) => (j.job.priority, j.job.level),
            Self::Live(j) => (j.priority, j.level),
        }
    }

    /// Controller time at which it is due; `None`: due now (live audio, or a displaced job
    /// waiting for the speaker to be free).
    fn due(&self) -> Option<Timestamp> {
        match self {
            Self::Media(j) if j.displaced_by.is_none() => Some(j.job.start),
            _ => None,
        }
    }
}

/// Why something playing must end now.
enum Interrupted {
    By(BroadcastId),
    Cancelled,
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
        let _ = self.tx.send(PlayerCommand::Play(Job::Media(MediaJob {
            job,
            displaced_by: None,
            position: 0,
        })));
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
                opened: std::collections::HashMap::new(),
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
    /// How many times each broadcast's output was opened (a resumed job gets a new WAV
    /// file rather than overwriting the first part).
    opened: std::collections::HashMap<BroadcastId, u32>,
}

/// How a play ended.
enum Outcome {
    Done,
    /// Cut off by broadcast `by` after `position` samples of its timeline.
    Preempted {
        by: BroadcastId,
        position: usize,
    },
    Cancelled,
    Failed(FailReason, String),
}

impl Player {
    fn receipt(&self, broadcast: BroadcastId, entry: Option<u64>, state: ReceiptState) {
        let _ = self.receipts.send(Receipt {
            broadcast_id: broadcast,
            entry_id: entry,
            state,
            at: (self.now)(),
        });
    }

    fn job_receipt(&self, job: &Job, state: ReceiptState) {
        let entry = match job {
            Job::Media(m) => m.job.entry,
            Job::Live(_) => None,
        };
        self.receipt(job.broadcast(), entry, state);
    }

    /// The `Instant` of controller time `t`, by the current clock estimate.
    fn instant(&self, t: Timestamp) -> Instant {
        let now = (self.now)().0;
        if t.0 >= now {
            Instant::now() + Duration::from_micros(t.0 - now)
        } else {
            Instant::now()
                .checked_sub(Duration::from_micros(now - t.0))
                .unwrap_or_else(Instant::now)
        }
    }

    fn start_of(&self, job: &Job) -> Instant {
        job.due().map_or_else(Instant::now, |t| self.instant(t))
    }

    /// The next job: among those due (within the relay warm-up), the highest priority,
    /// then highest level, then earliest planned start (first come); if none is due, the
    /// one due first. A job due later never holds back one due now.
    fn next_index(&self) -> Option<usize> {
        let warm_up = self
            .power
            .as_ref()
            .map_or(0, |p| p.warm_up.as_micros() as u64);
        let horizon = (self.now)().0 + warm_up;
        let planned = |job: &Job| match job {
            Job::Media(m) => m.job.start.0,
            Job::Live(_) => 0,
        };
        let due = (0..self.queue.len())
            .filter(|&i| self.queue[i].due().is_none_or(|t| t.0 <= horizon))
            .min_by_key(|&i| {
                (
                    std::cmp::Reverse(self.queue[i].rank()),
                    planned(&self.queue[i]),
                )
            });
        due.or_else(|| (0..self.queue.len()).min_by_key(|&i| planned(&self.queue[i])))
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
            self.job_receipt(&j, ReceiptState::Cancelled);
        }
    }

    /// After `by` played: queued stored-media jobs whose start has passed lost their place
    /// on the timeline.
    fn displace_overdue(&mut self, by: BroadcastId) {
        let now = (self.now)();
        for job in &mut self.queue {
            if let Job::Media(m) = job {
                if m.displaced_by.is_none() && m.job.start < now {
                    m.displaced_by = Some(by);
                }
            }
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
            let wait = self
                .start_of(&self.queue[i])
                .checked_sub(warm_up)
                .map_or(Duration::ZERO, |t| {
                    t.saturating_duration_since(Instant::now())
                });
            if !wait.is_zero() {
                // Wake at least once a second: the clock estimate may move.
                match self.rx.recv_timeout(wait.min(Duration::from_secs(1))) {
                    Ok(c) => {
                        self.take(c);
                        continue;
                    }
                    Err(RecvTimeoutError::Timeout) if wait > Duration::from_secs(1) => continue,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            let job = self.queue.remove(i);
            // Rules that end a stored-media job before it sounds.
            if let Job::Media(m) = &job {
                if m.job.expires_at.is_some_and(|t| (self.now)() >= t) {
                    self.job_receipt(
                        &job,
                        ReceiptState::Failed {
                            reason: FailReason::Expired,
                            detail: Some("its window passed before the speaker was free".into()),
                        },
                    );
                    continue;
                }
                if let (Some(by), OnPreempt::Skip) = (m.displaced_by, m.job.on_preempt) {
                    self.job_receipt(&job, ReceiptState::Preempted { by });
                    continue;
                }
            }
            let broadcast = job.broadcast();
            if let Some(power) = &self.power {
                // Blocks through the warm-up; a failing board is reported by the relay
                // task in status, and the audio plays anyway (the amplifier may have power).
                if let Err(e) = power.runtime.block_on(power.relay.power_on(broadcast.0)) {
                    tracing::warn!(broadcast = %broadcast, "amplifier power: {e}");
                }
                let late = self
                    .start_of(&job)
                    .saturating_duration_since(Instant::now());
                if !late.is_zero() {
                    std::thread::sleep(late);
                }
            }
            let (source, priority, mode) = match &job {
                Job::Media(j) => (
                    PlaySource::Media { hash: j.job.hash },
                    j.job.priority,
                    j.job.mode,
                ),
                Job::Live(j) => (
                    PlaySource::Live {
                        stream_id: j.stream_id,
                    },
                    j.priority,
                    j.mode,
                ),
            };
            self.set_playing(Some(NowPlaying {
                broadcast_id: broadcast,
                source,
                priority,
                mode,
                since: (self.now)(),
            }));
            let (outcome, entry, requeue) = match job {
                Job::Media(mut m) => {
                    let outcome = self.play(&m);
                    let entry = m.job.entry;
                    // A preempted job that resumes or restarts goes back in the queue.
                    let requeue = match (&outcome, m.job.on_preempt) {
                        (
                            Outcome::Preempted { by, position },
                            rule @ (OnPreempt::Resume | OnPreempt::Restart),
                        ) => {
                            m.displaced_by = Some(*by);
                            m.position = if rule == OnPreempt::Resume {
                                *position
                            } else {
                                0
                            };
                            Some(m)
                        }
                        _ => None,
                    };
                    (outcome, entry, requeue)
                }
                Job::Live(job) => (self.play_live(job), None, None),
            };
            let state = match outcome {
                Outcome::Done => ReceiptState::Done,
                Outcome::Preempted { by, .. } => ReceiptState::Preempted { by },
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
            self.receipt(broadcast, entry, state);
            self.displace_overdue(broadcast);
            if let Some(m) = requeue {
                self.queue.push(Job::Media(m));
            }
        }
    }

    fn set_playing(&self, now: Option<NowPlaying>) {
        if let Ok(mut cell) = self.playing.lock() {
            *cell = now;
        }
    }

    /// Handles commands that arrived while `current` plays; `Some(by)` means it must end:
    /// cut off by broadcast `by`, or cancelled (`by == current`).
    fn interrupt(
        &mut self,
        current: BroadcastId,
        rank: (Priority, PlatformLevel),
    ) -> Option<Interrupted> {
        while let Ok(command) = self.rx.try_recv() {
            match command {
                PlayerCommand::Stop(b) if b == current => return Some(Interrupted::Cancelled),
                PlayerCommand::StopAll => {
                    self.cancel_queued(|_| true);
                    return Some(Interrupted::Cancelled);
                }
                other => self.take(other),
            }
        }
        self.due_above(rank).map(Interrupted::By)
    }

    /// The most important queued job that is due now and outranks `rank`, if any. Asked
    /// between every block of audio, so a job queued ahead of its start (an alert is sent
    /// seconds early, for every agent to fetch its audio) cuts in when it falls due, not
    /// when it arrived; the amplifier is already on, so no warm-up is waited for.
    fn due_above(&self, rank: (Priority, PlatformLevel)) -> Option<BroadcastId> {
        let now = (self.now)();
        self.queue
            .iter()
            .filter(|j| j.rank() > rank && j.due().is_none_or(|t| t <= now))
            .max_by_key(|j| j.rank())
            .map(Job::broadcast)
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
        // Controller time of the first write to the sink, for the log line at the end.
        let mut first_write: Option<Timestamp> = None;
        loop {
            if let Some(why) = self.interrupt(job.broadcast, (job.priority, job.level)) {
                live_summary(&job, &playout, sink.as_deref(), first_write, "interrupted");
                if let Some(mut s) = sink {
                    let _ = s.finish();
                }
                return match why {
                    Interrupted::By(by) => Outcome::Preempted { by, position: 0 },
                    Interrupted::Cancelled => Outcome::Cancelled,
                };
            }
            loop {
                match job.frames.try_recv() {
                    Ok(frame) => {
                        push_frame(&mut playout, frame, (self.now)().0, job.latency_us);
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
                    self.receipt(job.broadcast, None, ReceiptState::Playing);
                }
                ramp.apply(&mut pcm);
                first_write.get_or_insert_with(|| (self.now)());
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
                live_summary(&job, &playout, sink.as_deref(), first_write, "ended");
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
            // The idle timeout runs from the last frame; before the first one the source
            // may still be connecting (a browser asking for the microphone), so the agent
            // waits at least FIRST_FRAME_WAIT (PROTOCOL.md 6.2).
            let allowed = if playout.counters().received == 0 {
                job.idle_timeout.max(FIRST_FRAME_WAIT)
            } else {
                job.idle_timeout
            };
            if last_frame.elapsed() > allowed {
                live_summary(&job, &playout, sink.as_deref(), first_write, "timed out");
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
                        push_frame(&mut playout, frame, (self.now)().0, job.latency_us);
                        last_frame = Instant::now();
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => ended = true,
                }
            }
        }
    }

    fn open_sink(
        &mut self,
        broadcast: BroadcastId,
    ) -> Result<Box<dyn Sink>, dalaba_audio::sink::SinkError> {
        let n = self.opened.entry(broadcast).or_insert(0);
        *n += 1;
        // A file per broadcast, so each one can be checked on its own; a resumed broadcast
        // continues in `-2`, `-3`...
        let suffix = if *n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let per_broadcast = |path: &std::path::Path| {
            let stem = path
                .file_stem()
                .map_or_else(|| "speaker".into(), |s| s.to_string_lossy().into_owned());
            path.with_file_name(format!("{stem}-b{}{suffix}.wav", broadcast.0))
        };
        match &self.sink {
            SinkSpec::Wav { path } => SinkSpec::Wav {
                path: per_broadcast(path),
            }
            .open(),
            SinkSpec::WavRealTime { path } => SinkSpec::WavRealTime {
                path: per_broadcast(path),
            }
            .open(),
            other => other.open(),
        }
    }

    fn play(&mut self, m: &MediaJob) -> Outcome {
        let job = &m.job;
        // Every speaker's output follows one timeline: sample k belongs at start + k/48 kHz.
        // Waking late (a busy scheduler, a restart, a reconnect) does not shift the
        // timeline: the late part is skipped, so neighbours stay in step. The receipt's
        // time is the timeline's origin in controller time. A displaced job has left the
        // timeline: it plays on from its position when the speaker is free.
        let now = (self.now)();
        let (mut skip, started) = match m.displaced_by {
            Some(_) => (m.position, now),
            None => {
                let late_us = now.0.saturating_sub(job.start.0);
                if late_us > 20_000 {
                    tracing::info!(broadcast = %job.broadcast, late_ms = late_us / 1000, "joining a broadcast in progress");
                }
                ((late_us * 48 / 1000) as usize, Timestamp(now.0 - late_us))
            }
        };
        let mut position = skip;
        let late = skip > 0 && m.displaced_by.is_none();
        // Opened, and `playing` reported, with the first sample that sounds: a play whose
        // whole timeline has passed never plays and is not reported as played.
        let mut sink: Option<Box<dyn Sink>> = None;
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
                let gap_now = std::mem::take(&mut pending_gap);
                for part in [gap_now, &decoded[..]] {
                    // What is already past (late, or played before a preemption) is
                    // dropped; the timeline counts it all.
                    let dropped = skip.min(part.len());
                    skip -= dropped;
                    for chunk in part[dropped..].chunks(960) {
                        // Between blocks: anything new?
                        if let Some(why) = self.interrupt(job.broadcast, (job.priority, job.level))
                        {
                            if let Some(mut sink) = sink {
                                let _ = sink.finish();
                            }
                            return match why {
                                Interrupted::By(by) => Outcome::Preempted { by, position },
                                Interrupted::Cancelled => Outcome::Cancelled,
                            };
                        }
                        let sink = match &mut sink {
                            Some(sink) => sink,
                            None => match self.open_sink(job.broadcast) {
                                Ok(opened) => {
                                    let _ = self.receipts.send(Receipt {
                                        broadcast_id: job.broadcast,
                                        entry_id: job.entry,
                                        state: ReceiptState::Playing,
                                        at: started,
                                    });
                                    sink.insert(opened)
                                }
                                Err(e) => {
                                    return Outcome::Failed(FailReason::DeviceError, e.to_string());
                                }
                            },
                        };
                        block.clear();
                        block.extend_from_slice(chunk);
                        ramp.apply(&mut block);
                        if let Err(e) = sink.write(&block) {
                            return Outcome::Failed(FailReason::DeviceError, e.to_string());
                        }
                        position += chunk.len();
                    }
                }
            }
        }
        match sink {
            Some(mut sink) => match sink.finish() {
                Ok(()) => Outcome::Done,
                Err(e) => Outcome::Failed(FailReason::DeviceError, e.to_string()),
            },
            None if late => Outcome::Failed(
                FailReason::Expired,
                format!(
                    "its timeline ended {} ms before it could start: nothing played",
                    (skip as u64 / 48).max(1)
                ),
            ),
            // An empty file, on time.
            None => Outcome::Done,
        }
    }
}

/// One log line per live stream: what the jitter buffer and the sink saw. `first_write_us`
/// (controller time) and the counters are what `dalaba-loadtest --only latency` reads.
fn live_summary(
    job: &LiveJob,
    playout: &LivePlayout,
    sink: Option<&dyn Sink>,
    first_write: Option<Timestamp>,
    how: &str,
) {
    let c = playout.counters();
    tracing::info!(
        broadcast = %job.broadcast,
        latency_ms = job.latency_us / 1000,
        received = c.received,
        played = c.played,
        late = c.late,
        lost = c.lost,
        fec_recovered = c.fec_recovered,
        concealed = c.concealed,
        underruns = c.underruns,
        sink_underruns = sink.map_or(0, |s| s.underruns()),
        first_write_us = first_write.map_or(0, |t| t.0),
        "live stream {how}"
    );
}

/// Hands a frame to the jitter buffer; a frame too late for its slot is logged (debug) with
/// how late it was, for whoever tunes the latency.
fn push_frame(playout: &mut LivePlayout, frame: Frame, now: u64, latency_us: u64) {
    let (seq, due) = (frame.seq, frame.capture_us + latency_us);
    if playout.push(frame, now) == dalaba_audio::jitter::PushOutcome::Late {
        tracing::debug!(
            seq,
            late_us = now.saturating_sub(due),
            "live frame too late for its slot"
        );
    }
}

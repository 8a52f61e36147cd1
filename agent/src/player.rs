//! The player: one thread that owns the sound output and decides what is audible.
//!
//! Jobs (stored media to play at an instant) arrive through a [`PlayerHandle`]. The
//! player waits for each job's start, plays it, and reports receipts. A job of higher
//! priority than the one playing preempts it (receipt `preempted`); others wait their turn,
//! highest priority and earliest start first. The output (a cpal device, or a WAV file per
//! broadcast) is opened for a job and released after it.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use dalaba_audio::sink::{Sink, SinkSpec, VolumeRamp};
use dalaba_audio::transcode::decode_ogg_opus_file;
use dalaba_protocol::control::{FailReason, Receipt, ReceiptState};
use dalaba_protocol::{BroadcastId, Priority, Timestamp, Volume};

/// One stored-media play.
#[derive(Clone, Debug)]
pub struct PlayJob {
    /// The broadcast.
    pub broadcast: BroadcastId,
    /// The verified Ogg Opus file.
    pub file: PathBuf,
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

enum PlayerCommand {
    Play(PlayJob),
    Stop(BroadcastId),
    StopAll,
}

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
        let _ = self.tx.send(PlayerCommand::Play(job));
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
    queue: Vec<PlayJob>,
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
                std::cmp::Reverse(self.queue[i].priority),
                self.queue[i].start,
            )
        })
    }

    /// Takes a command that arrived while idle or waiting.
    fn take(&mut self, command: PlayerCommand) {
        match command {
            PlayerCommand::Play(job) => self.queue.push(job),
            PlayerCommand::Stop(b) => self.cancel_queued(|j| j.broadcast == b),
            PlayerCommand::StopAll => self.cancel_queued(|_| true),
        }
    }

    fn cancel_queued(&mut self, pred: impl Fn(&PlayJob) -> bool) {
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|j| pred(j));
        self.queue = keep;
        for j in gone {
            self.receipt(j.broadcast, ReceiptState::Cancelled);
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
            let wait = self.queue[i]
                .start
                .saturating_duration_since(Instant::now());
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
            let outcome = self.play(&job);
            let state = match outcome {
                Outcome::Done => ReceiptState::Done,
                Outcome::Preempted(by) => ReceiptState::Preempted { by },
                Outcome::Cancelled => ReceiptState::Cancelled,
                Outcome::Failed(reason, detail) => ReceiptState::Failed {
                    reason,
                    detail: Some(detail),
                },
            };
            self.receipt(job.broadcast, state);
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
        let samples = match decode_ogg_opus_file(&job.file, Duration::from_secs(6 * 3600)) {
            Ok(d) => d.samples,
            Err(e) => return Outcome::Failed(FailReason::MediaCorrupt, e.to_string()),
        };
        let mut sink = match self.open_sink(job.broadcast) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(FailReason::DeviceError, e.to_string()),
        };
        self.receipt(job.broadcast, ReceiptState::Playing);
        let mut ramp = VolumeRamp::new(0.0, 10);
        ramp.set_percent(job.volume.percent());
        let gap = vec![0.0f32; (job.gap_ms as usize) * 48];
        let mut block = Vec::with_capacity(960);
        for round in 0..job.repeat.max(1) {
            let pieces: [&[f32]; 2] = if round == 0 {
                [&[], &samples]
            } else {
                [&gap, &samples]
            };
            for chunk in pieces.iter().flat_map(|p| p.chunks(960)) {
                // Between blocks: anything new?
                while let Ok(command) = self.rx.try_recv() {
                    match command {
                        PlayerCommand::Play(new) if new.priority > job.priority => {
                            let by = new.broadcast;
                            self.queue.push(new);
                            let _ = sink.finish();
                            return Outcome::Preempted(by);
                        }
                        PlayerCommand::Stop(b) if b == job.broadcast => {
                            let _ = sink.finish();
                            return Outcome::Cancelled;
                        }
                        PlayerCommand::StopAll => {
                            self.cancel_queued(|_| true);
                            let _ = sink.finish();
                            return Outcome::Cancelled;
                        }
                        other => self.take(other),
                    }
                }
                block.clear();
                block.extend_from_slice(chunk);
                ramp.apply(&mut block);
                if let Err(e) = sink.write(&block) {
                    return Outcome::Failed(FailReason::DeviceError, e.to_string());
                }
            }
        }
        match sink.finish() {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Failed(FailReason::DeviceError, e.to_string()),
        }
    }
}

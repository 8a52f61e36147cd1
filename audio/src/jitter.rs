//! The live path's jitter buffer.
//!
//! Frames arrive late, early, twice, out of order or never. The buffer orders them by
//! sequence number and hands them out one *slot* at a time: slot `k` plays at the stream's
//! first capture time + `k` frame durations + the target latency, the same instant on every
//! agent. For each due slot it returns the frame, or, if the frame is missing, the next
//! frame's packet for Opus in-band FEC recovery, or an instruction to conceal.
//!
//! Sans-IO: it never reads a clock. `now` is passed in, in microseconds of controller time.
//!
//! Counters (see [`Counters`]) add up:
//! - every slot handed out is one of `played`, `fec_recovered`, `concealed`;
//! - every frame pushed is one of `played` (eventually), `late`, `duplicates`, `overflow`,
//!   or still buffered;
//! - `lost + underruns == fec_recovered + concealed` (a slot without its frame is lost if a
//!   later frame had arrived, an underrun if the buffer was empty).

use std::collections::BTreeMap;

/// One received audio frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Sequence number (wrapping).
    pub seq: u32,
    /// Capture time of the first sample, µs (controller time).
    pub capture_us: u64,
    /// Duration in samples at 48 kHz.
    pub samples: u32,
    /// The packet carries in-band FEC for the previous frame.
    pub fec: bool,
    /// The last frame of the stream.
    pub end_of_stream: bool,
    /// The Opus packet.
    pub payload: Vec<u8>,
}

/// What [`JitterBuffer::push`] did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// Buffered for its slot.
    Accepted,
    /// Its slot has already been played (or concealed): dropped.
    Late,
    /// Already buffered: dropped.
    Duplicate,
    /// Too far ahead of the slot being played (more than the buffer holds): dropped.
    Overflow,
}

/// What to play for one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playout {
    /// The slot's own packet.
    Packet {
        /// Sequence number.
        seq: u32,
        /// The packet.
        payload: Vec<u8>,
        /// Samples it decodes to.
        samples: u32,
    },
    /// The slot's packet is missing; the next one carries FEC for it.
    Fec {
        /// Sequence number of the missing frame.
        seq: u32,
        /// The *next* frame's packet, to decode with FEC.
        next_payload: Vec<u8>,
        /// Samples to recover.
        samples: u32,
    },
    /// The slot's packet is missing and cannot be recovered: conceal (Opus PLC).
    Conceal {
        /// Sequence number of the missing frame.
        seq: u32,
        /// Samples to conceal.
        samples: u32,
    },
}

impl Playout {
    /// Samples this slot covers.
    pub fn samples(&self) -> u32 {
        match self {
            Self::Packet { samples, .. }
            | Self::Fec { samples, .. }
            | Self::Conceal { samples, .. } => *samples,
        }
    }
}

/// What happened so far. See the module documentation for how they add up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames pushed.
    pub received: u64,
    /// Frames dropped because their slot had passed.
    pub late: u64,
    /// Frames dropped as duplicates.
    pub duplicates: u64,
    /// Frames dropped because they were too far ahead.
    pub overflow: u64,
    /// Slots played from their own packet.
    pub played: u64,
    /// Slots whose packet was missing while later packets had arrived.
    pub lost: u64,
    /// Missing slots recovered from the next packet's FEC data.
    pub fec_recovered: u64,
    /// Missing slots concealed.
    pub concealed: u64,
    /// Slots due while the buffer was empty.
    pub underruns: u64,
}

/// Jitter buffer settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitterConfig {
    /// Play each frame this long after its capture time, µs.
    pub latency_us: u64,
    /// Duration of a frame when the stream does not say (for missing frames), samples.
    pub frame_samples: u32,
    /// Most frames held; frames further ahead than this are refused.
    pub capacity: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            latency_us: 150_000,
            frame_samples: 960,
            capacity: 250,
        }
    }
}

fn samples_to_us(samples: u32) -> u64 {
    u64::from(samples) * 1_000_000 / 48_000
}

/// The jitter buffer for one live stream.
#[derive(Clone, Debug)]
pub struct JitterBuffer {
    config: JitterConfig,
    frames: BTreeMap<i64, Frame>,
    /// Extended (non-wrapping) sequence number of the next slot, once started.
    next: Option<i64>,
    /// The wrapping sequence number that `next` corresponds to.
    next_seq: u32,
    /// When the next slot plays, µs.
    next_time: u64,
    /// Whether any slot has been handed out yet.
    started: bool,
    /// The end-of-stream frame has been played.
    finished: bool,
    counters: Counters,
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> Self {
        Self {
            config,
            frames: BTreeMap::new(),
            next: None,
            next_seq: 0,
            next_time: 0,
            started: false,
            finished: false,
            counters: Counters::default(),
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Frames buffered.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether the end-of-stream frame has been played.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// When the next slot is due (controller time, µs), once the first frame has arrived.
    pub fn next_due(&self) -> Option<u64> {
        (self.next.is_some() && !self.finished).then_some(self.next_time)
    }

    /// Takes a frame that arrived at `now`.
    pub fn push(&mut self, frame: Frame, now: u64) -> PushOutcome {
        let _ = now; // Arrival time does not change placement; slots are timed by capture time.
        self.counters.received += 1;
        let Some(next) = self.next else {
            self.next = Some(0);
            self.next_seq = frame.seq;
            self.next_time = frame.capture_us + self.config.latency_us;
            self.frames.insert(0, frame);
            return PushOutcome::Accepted;
        };
        let delta = i64::from(frame.seq.wrapping_sub(self.next_seq) as i32);
        if delta < 0 {
            // Before anything has played, an earlier frame may still open the stream.
            let time = frame.capture_us + self.config.latency_us;
            if !self.started && delta > -(self.config.capacity as i64) {
                let ext = next + delta;
                self.next = Some(ext);
                self.next_seq = frame.seq;
                self.next_time = time;
                self.frames.insert(ext, frame);
                return PushOutcome::Accepted;
            }
            self.counters.late += 1;
            return PushOutcome::Late;
        }
        if delta >= self.config.capacity as i64 {
            self.counters.overflow += 1;
            return PushOutcome::Overflow;
        }
        let ext = next + delta;
        if self.frames.contains_key(&ext) {
            self.counters.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        self.frames.insert(ext, frame);
        PushOutcome::Accepted
    }

    /// The playout for the next slot, if it is due at `now`. Call until it returns `None`
    /// to catch up after a pause.
    pub fn pop(&mut self, now: u64) -> Option<Playout> {
        let next = self.next?;
        if self.finished || now < self.next_time {
            return None;
        }
        self.started = true;
        let seq = self.next_seq;
        let playout = if let Some(frame) = self.frames.remove(&next) {
            self.counters.played += 1;
            // Re-anchor on the frame's own timing, so drift in the source is followed.
            self.next_time =
                frame.capture_us + self.config.latency_us + samples_to_us(frame.samples);
            self.finished = frame.end_of_stream;
            Playout::Packet {
                seq,
                samples: frame.samples,
                payload: frame.payload,
            }
        } else {
            let samples = self
                .frames
                .get(&(next + 1))
                .map_or(self.config.frame_samples, |f| {
                    let gap = f
                        .capture_us
                        .saturating_sub(self.next_time.saturating_sub(self.config.latency_us));
                    // The missing frame spans up to the next one's capture time.
                    u32::try_from(gap * 48_000 / 1_000_000)
                        .ok()
                        .filter(|&s| s > 0 && s <= 5760)
                        .unwrap_or(self.config.frame_samples)
                });
            self.next_time += samples_to_us(samples);
            if self.frames.is_empty() {
                self.counters.underruns += 1;
            } else {
                self.counters.lost += 1;
            }
            match self.frames.get(&(next + 1)) {
                Some(f) if f.fec && !f.payload.is_empty() => {
                    self.counters.fec_recovered += 1;
                    Playout::Fec {
                        seq,
                        next_payload: f.payload.clone(),
                        samples,
                    }
                }
                _ => {
                    self.counters.concealed += 1;
                    Playout::Conceal { seq, samples }
                }
            }
        };
        self.next = Some(next + 1);
        self.next_seq = seq.wrapping_add(1);
        Some(playout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS20: u64 = 20_000;

    fn frame(seq: u32, fec: bool) -> Frame {
        Frame {
            seq,
            capture_us: 1_000_000 + u64::from(seq) * MS20,
            samples: 960,
            fec,
            end_of_stream: false,
            payload: vec![seq as u8; 3],
        }
    }

    fn config() -> JitterConfig {
        JitterConfig {
            latency_us: 60_000,
            ..JitterConfig::default()
        }
    }

    #[test]
    fn plays_in_order_at_capture_time_plus_latency() {
        let mut jb = JitterBuffer::new(config());
        for seq in [2, 0, 1] {
            assert_eq!(jb.push(frame(seq, false), 0), PushOutcome::Accepted);
        }
        assert_eq!(jb.next_due(), Some(1_060_000));
        assert_eq!(jb.pop(1_059_999), None, "not before its time");
        let mut seqs = Vec::new();
        while let Some(p) = jb.pop(1_060_000 + 2 * MS20) {
            match p {
                Playout::Packet { seq, .. } => seqs.push(seq),
                other => panic!("unexpected {other:?}"),
            }
            if seqs.len() == 3 {
                break;
            }
        }
        assert_eq!(seqs, [0, 1, 2]);
    }

    #[test]
    fn missing_frame_uses_fec_of_next_else_conceals() {
        let mut jb = JitterBuffer::new(config());
        jb.push(frame(0, true), 0);
        jb.push(frame(2, true), 0);
        jb.push(frame(4, false), 0);
        let t = 2_000_000;
        assert!(matches!(jb.pop(t), Some(Playout::Packet { seq: 0, .. })));
        assert!(
            matches!(jb.pop(t), Some(Playout::Fec { seq: 1, ref next_payload, samples: 960 }) if next_payload == &[2, 2, 2])
        );
        assert!(matches!(jb.pop(t), Some(Playout::Packet { seq: 2, .. })));
        assert!(
            matches!(jb.pop(t), Some(Playout::Conceal { seq: 3, .. })),
            "frame 4 has no FEC"
        );
        assert!(matches!(jb.pop(t), Some(Playout::Packet { seq: 4, .. })));
        assert!(
            matches!(jb.pop(t), Some(Playout::Conceal { seq: 5, .. })),
            "underrun"
        );
        let c = jb.counters();
        assert_eq!(
            (c.played, c.lost, c.fec_recovered, c.concealed, c.underruns),
            (3, 2, 1, 2, 1)
        );
    }

    #[test]
    fn late_duplicate_and_overflow_are_counted() {
        let mut jb = JitterBuffer::new(config());
        jb.push(frame(10, false), 0);
        assert_eq!(jb.push(frame(10, false), 0), PushOutcome::Duplicate);
        assert!(jb.pop(u64::MAX / 2).is_some());
        assert_eq!(jb.push(frame(10, false), 0), PushOutcome::Late);
        assert_eq!(jb.push(frame(9, false), 0), PushOutcome::Late);
        assert_eq!(jb.push(frame(11 + 250, false), 0), PushOutcome::Overflow);
        let c = jb.counters();
        assert_eq!(
            (c.received, c.duplicates, c.late, c.overflow, c.played),
            (5, 1, 2, 1, 1)
        );
    }

    #[test]
    fn sequence_wraps() {
        let mut jb = JitterBuffer::new(config());
        for seq in [u32::MAX - 1, u32::MAX, 0, 1] {
            jb.push(frame(seq, false), 0);
        }
        let mut seqs = Vec::new();
        while let Some(Playout::Packet { seq, .. }) = jb.pop(u64::MAX / 2) {
            seqs.push(seq);
            if seqs.len() == 4 {
                break;
            }
        }
        assert_eq!(seqs, [u32::MAX - 1, u32::MAX, 0, 1]);
    }

    #[test]
    fn end_of_stream_finishes() {
        let mut jb = JitterBuffer::new(config());
        let mut last = frame(1, false);
        last.end_of_stream = true;
        jb.push(frame(0, false), 0);
        jb.push(last, 0);
        assert!(jb.pop(u64::MAX / 2).is_some());
        assert!(jb.pop(u64::MAX / 2).is_some());
        assert!(jb.is_finished());
        assert_eq!(jb.pop(u64::MAX / 2), None);
        assert_eq!(jb.next_due(), None);
    }
}

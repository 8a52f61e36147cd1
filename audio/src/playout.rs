//! Live playout: a [`JitterBuffer`] and an Opus [`Decoder`] together. Frames go in as they
//! arrive; PCM comes out slot by slot when each slot is due, with lost frames recovered
//! from FEC or concealed by Opus, so the output never has a hole.

use crate::codec::{CodecError, Decoder};
use crate::jitter::{Counters, Frame, JitterBuffer, JitterConfig, Playout, PushOutcome};

/// Decodes one live stream for playback.
#[derive(Debug)]
pub struct LivePlayout {
    jitter: JitterBuffer,
    decoder: Decoder,
    decode_errors: u64,
}

impl LivePlayout {
    /// A playout with `config`.
    pub fn new(config: JitterConfig) -> Result<Self, CodecError> {
        Ok(Self {
            jitter: JitterBuffer::new(config),
            decoder: Decoder::new()?,
            decode_errors: 0,
        })
    }

    /// Takes a frame that arrived at `now` (µs, controller time).
    pub fn push(&mut self, frame: Frame, now: u64) -> PushOutcome {
        self.jitter.push(frame, now)
    }

    /// When the next slot is due, if any.
    pub fn next_due(&self) -> Option<u64> {
        self.jitter.next_due()
    }

    /// Whether the stream has ended.
    pub fn is_finished(&self) -> bool {
        self.jitter.is_finished()
    }

    /// Jitter buffer counters.
    pub fn counters(&self) -> Counters {
        self.jitter.counters()
    }

    /// Packets that failed to decode (concealed instead).
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Appends the PCM of the next slot to `out` if it is due at `now`; returns what the
    /// slot was. A packet that fails to decode is concealed, never skipped.
    pub fn poll(&mut self, now: u64, out: &mut Vec<f32>) -> Option<Playout> {
        let playout = self.jitter.pop(now)?;
        let samples = playout.samples() as usize;
        let result = match &playout {
            // An empty end-of-stream frame carries no audio.
            Playout::Packet { payload, .. } if payload.is_empty() => Ok(0),
            Playout::Packet { payload, .. } => self.decoder.decode(payload, out),
            Playout::Fec { next_payload, .. } => self.decoder.recover(next_payload, samples, out),
            Playout::Conceal { .. } => self.decoder.conceal(samples, out),
        };
        if result.is_err() {
            self.decode_errors += 1;
            if self.decoder.conceal(samples, out).is_err() {
                out.resize(out.len() + samples, 0.0);
            }
        }
        Some(playout)
    }
}

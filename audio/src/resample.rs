//! Streaming conversion to 48 kHz with rubato's FFT resampler.
//!
//! Feed blocks of any size with [`Resampler48k::push`], then [`Resampler48k::finish`]. The
//! resampler's start-up delay is trimmed and the tail flushed, so `n` input samples become
//! exactly `round(n × 48000 / rate)` output samples, aligned with the input.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::error::MediaErrorKind;

/// The output rate of the whole pipeline.
pub const OUTPUT_RATE: u32 = 48_000;

const CHUNK: usize = 1024;

/// Converts mono audio at one rate to 48 kHz, block by block.
pub struct Resampler48k {
    inner: Option<Fft<f32>>,
    input_rate: u32,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    to_trim: usize,
    frames_in: u64,
    frames_out: u64,
}

impl std::fmt::Debug for Resampler48k {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler48k")
            .field("input_rate", &self.input_rate)
            .field("frames_in", &self.frames_in)
            .field("frames_out", &self.frames_out)
            .finish_non_exhaustive()
    }
}

fn resampler_error(e: impl std::error::Error + Send + Sync + 'static) -> MediaErrorKind {
    MediaErrorKind::Resampler(Box::new(e))
}

impl Resampler48k {
    /// A resampler from `input_rate` Hz. At 48 kHz it passes samples through untouched.
    pub fn new(input_rate: u32) -> Result<Self, MediaErrorKind> {
        let inner = if input_rate == OUTPUT_RATE {
            None
        } else {
            let fft = Fft::<f32>::new(
                input_rate as usize,
                OUTPUT_RATE as usize,
                CHUNK,
                1,
                FixedSync::Input,
            )
            .map_err(resampler_error)?;
            Some(fft)
        };
        let to_trim = inner.as_ref().map_or(0, |r| r.output_delay());
        let scratch = vec![0.0; inner.as_ref().map_or(0, |r| r.output_frames_max())];
        Ok(Self {
            inner,
            input_rate,
            pending: Vec::new(),
            scratch,
            to_trim,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Resamples `input`, appending what is ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), MediaErrorKind> {
        self.frames_in += input.len() as u64;
        if self.inner.is_none() {
            out.extend_from_slice(input);
            self.frames_out += input.len() as u64;
            return Ok(());
        }
        self.pending.extend_from_slice(input);
        let mut used = 0;
        loop {
            let need = self.inner.as_ref().map_or(0, |r| r.input_frames_next());
            if self.pending.len() - used < need {
                break;
            }
            self.process(used, None, out)?;
            used += need;
        }
        self.pending.drain(..used);
        Ok(())
    }

    /// Flushes the tail. `out` then holds exactly the resampled length of all input.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), MediaErrorKind> {
        if self.inner.is_none() {
            return Ok(());
        }
        let expected = (self.frames_in as f64 * f64::from(OUTPUT_RATE) / f64::from(self.input_rate))
            .round() as u64;
        if !self.pending.is_empty() {
            let n = self.pending.len();
            self.process(0, Some(n), out)?;
            self.pending.clear();
        }
        while self.frames_out < expected {
            self.process(0, Some(0), out)?;
        }
        let extra = (self.frames_out - expected) as usize;
        out.truncate(out.len() - extra.min(out.len()));
        self.frames_out = expected;
        Ok(())
    }

    fn process(
        &mut self,
        offset: usize,
        partial: Option<usize>,
        out: &mut Vec<f32>,
    ) -> Result<(), MediaErrorKind> {
        let Some(resampler) = self.inner.as_mut() else {
            return Ok(());
        };
        let need = resampler.input_frames_next();
        // A partial chunk is padded with silence by rubato; give it a full-size view.
        let mut padded;
        let input: &[f32] = match partial {
            None => &self.pending[offset..offset + need],
            Some(n) => {
                padded = vec![0.0; need];
                padded[..n].copy_from_slice(&self.pending[offset..offset + n]);
                &padded
            }
        };
        let frames_out = resampler.output_frames_next();
        if self.scratch.len() < frames_out {
            self.scratch.resize(frames_out, 0.0);
        }
        let adapter_in = InterleavedSlice::new(input, 1, need).map_err(resampler_error)?;
        let mut adapter_out =
            InterleavedSlice::new_mut(&mut self.scratch[..frames_out], 1, frames_out)
                .map_err(resampler_error)?;
        let indexing = Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: partial,
            active_channels_mask: None,
        };
        let (_, produced) = resampler
            .process_into_buffer(&adapter_in, &mut adapter_out, Some(&indexing))
            .map_err(resampler_error)?;
        let skip = self.to_trim.min(produced);
        self.to_trim -= skip;
        out.extend_from_slice(&self.scratch[skip..produced]);
        self.frames_out += (produced - skip) as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn exact_length_and_aligned_phase() {
        for rate in [8_000u32, 22_050, 44_100, 96_000] {
            let n = rate as usize * 3 / 2 + 17;
            let input = sine(rate, 440.0, n);
            let mut r = Resampler48k::new(rate).expect("supported rate");
            let mut out = Vec::new();
            // Odd block sizes, as a decoder would deliver them.
            for block in input.chunks(1151) {
                r.push(block, &mut out).expect("resamples");
            }
            r.finish(&mut out).expect("flushes");
            let expected_len = (n as f64 * 48_000.0 / f64::from(rate)).round() as usize;
            assert_eq!(out.len(), expected_len, "rate {rate}");
            // The delay is trimmed: the output matches a 440 Hz sine at 48 kHz in phase.
            let reference = sine(48_000, 440.0, out.len());
            let mid = out.len() / 4..out.len() * 3 / 4;
            let err: f32 = mid
                .clone()
                .map(|i| (out[i] - reference[i]).abs())
                .fold(0.0, f32::max);
            assert!(err < 0.01, "rate {rate}: max error {err}");
        }
    }

    #[test]
    fn passthrough_at_48k() {
        let mut r = Resampler48k::new(48_000).expect("ok");
        let mut out = Vec::new();
        r.push(&[0.1, 0.2], &mut out).expect("ok");
        r.finish(&mut out).expect("ok");
        assert_eq!(out, [0.1, 0.2]);
    }
}

//! A look-ahead peak limiter, as broadcast loudness normalisation uses: speech is peaky,
//! and a gain that stops at the true-peak ceiling leaves it several LU below the target.
//! Instead the full gain is applied and the few peaks above the ceiling are turned down,
//! smoothly and ahead of time, so nothing clips and the rest keeps its level.
//!
//! The gain each sample needs (ceiling / |sample|, at most 1) is held at its minimum over
//! the look-ahead window, averaged over the same window (so the gain is already down when
//! the peak arrives and moves in a ramp, never a step), and released slowly. O(1) per
//! sample.

use std::collections::VecDeque;

/// Look-ahead at 48 kHz: 5 ms.
pub const LOOKAHEAD: usize = 240;

/// Release time constant, samples at 48 kHz (20 ms: slower and speech stays turned down
/// between syllables, losing the loudness the gain was for).
const RELEASE: f32 = 960.0;

/// What the limiter did to a signal.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LimiterReport {
    /// The largest gain reduction, dB (0 if it never acted).
    pub max_reduction_db: f64,
    /// The mean gain reduction over every sample, dB.
    pub mean_reduction_db: f64,
    /// Share of samples it turned down at all.
    pub active_share: f64,
}

/// The limiter's state.
#[derive(Debug)]
pub struct Limiter {
    ceiling: f32,
    /// Samples waiting for their gain (the look-ahead delay).
    delay: VecDeque<f32>,
    /// (index, needed gain) with increasing gains: the window minimum at the front.
    minimum: VecDeque<(u64, f32)>,
    /// The last `LOOKAHEAD` window minimums, and their sum.
    held: VecDeque<f32>,
    held_sum: f64,
    released: f32,
    index: u64,
    // Statistics.
    samples: u64,
    active: u64,
    reduction_sum_db: f64,
    max_reduction_db: f64,
}

impl Limiter {
    /// A limiter whose output never passes `ceiling` (linear, sample peak).
    pub fn new(ceiling: f32) -> Self {
        Self {
            ceiling,
            delay: VecDeque::with_capacity(2 * LOOKAHEAD),
            minimum: VecDeque::new(),
            held: VecDeque::with_capacity(LOOKAHEAD + 1),
            held_sum: 0.0,
            released: 1.0,
            index: 0,
            samples: 0,
            active: 0,
            reduction_sum_db: 0.0,
            max_reduction_db: 0.0,
        }
    }

    fn step(&mut self, input: f32, out: &mut Vec<f32>) {
        let needed = if input.abs() > self.ceiling {
            self.ceiling / input.abs()
        } else {
            1.0
        };
        let i = self.index;
        self.index += 1;
        while self.minimum.back().is_some_and(|&(_, g)| g >= needed) {
            self.minimum.pop_back();
        }
        self.minimum.push_back((i, needed));
        while self
            .minimum
            .front()
            .is_some_and(|&(j, _)| j + (LOOKAHEAD as u64) < i)
        {
            self.minimum.pop_front();
        }
        let window_min = self.minimum.front().map_or(1.0, |&(_, g)| g);
        self.held.push_back(window_min);
        self.held_sum += f64::from(window_min);
        if self.held.len() > LOOKAHEAD {
            self.held_sum -= f64::from(self.held.pop_front().unwrap_or(1.0));
        }
        let smoothed = (self.held_sum / self.held.len() as f64) as f32;
        self.delay.push_back(input);
        if self.delay.len() <= LOOKAHEAD {
            return;
        }
        let sample = self.delay.pop_front().unwrap_or(0.0);
        // Down at once (the average is already ahead), up slowly.
        self.released = if smoothed < self.released {
            smoothed
        } else {
            self.released + (smoothed - self.released) / RELEASE
        };
        // The average lags the hold by up to half a window: never let a sample pass.
        let mut gain = self.released.min(1.0);
        if (sample * gain).abs() > self.ceiling {
            gain = self.ceiling / sample.abs();
        }
        self.samples += 1;
        if gain < 1.0 {
            let db = -20.0 * f64::from(gain).log10();
            // Counted as acting from a hundredth of a dB (the release nears 1 only slowly).
            if db >= 0.01 {
                self.active += 1;
            }
            self.reduction_sum_db += db;
            self.max_reduction_db = self.max_reduction_db.max(db);
        }
        out.push(sample * gain);
    }

    /// Limits `input`, appending what is ready to `out` (it lags `input` by [`LOOKAHEAD`];
    /// [`Limiter::finish`] gives the rest, so the output is exactly as long and in time).
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        for &s in input {
            self.step(s, out);
        }
    }

    /// Flushes the look-ahead delay into `out`.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        for _ in 0..LOOKAHEAD {
            self.step(0.0, out);
        }
    }

    /// What it did so far.
    pub fn report(&self) -> LimiterReport {
        LimiterReport {
            max_reduction_db: self.max_reduction_db,
            mean_reduction_db: if self.samples == 0 {
                0.0
            } else {
                self.reduction_sum_db / self.samples as f64
            },
            active_share: if self.samples == 0 {
                0.0
            } else {
                self.active as f64 / self.samples as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(input: &[f32], ceiling: f32) -> (Vec<f32>, LimiterReport) {
        let mut l = Limiter::new(ceiling);
        let mut out = Vec::new();
        l.push(input, &mut out);
        l.finish(&mut out);
        (out, l.report())
    }

    #[test]
    fn quiet_audio_passes_untouched_but_delayed() {
        let input: Vec<f32> = (0..4800).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
        let (out, report) = limit(&input, 0.8);
        assert_eq!(out, input, "in time and untouched");
        assert_eq!(report.max_reduction_db, 0.0);
    }

    #[test]
    fn a_peak_is_held_to_the_ceiling_and_its_neighbours_ramp() {
        let mut input = vec![0.5f32; 48_000];
        input[4800] = 2.0;
        let (out, report) = limit(&input, 0.9);
        assert_eq!(out.len(), input.len());
        assert!(out.iter().all(|s| s.abs() <= 0.9 + 1e-6));
        assert!((out[4800] - 0.9).abs() < 1e-3, "{}", out[4800]);
        // Turned down ahead of the peak, smoothly: no step between neighbours.
        assert!(out[4800 - LOOKAHEAD / 2] < 0.5);
        let steps = out.windows(2).map(|w| (w[1] - w[0]).abs());
        assert!(steps.clone().take(4790).fold(0.0f32, f32::max) < 0.01);
        assert!((report.max_reduction_db - 20.0 * (2.0f64 / 0.9).log10()).abs() < 0.01);
        // Released over a few time constants, the level is back.
        assert!(
            (out[4800 + 24_000] - 0.5).abs() < 0.01,
            "{}",
            out[4800 + 24_000]
        );
    }
}

//! Attention tones: the prelude that makes people listen before an alert.

use crate::SAMPLE_RATE;

/// How the tone's frequencies sound together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// All frequencies at once (like the two-tone 853 + 960 Hz broadcast attention signal).
    Chord,
    /// One frequency after another, each for `step_ms`, repeating (a siren-like warble).
    Alternate {
        /// Duration of each step, ms.
        step_ms: u32,
    },
}

/// An attention tone.
#[derive(Clone, Debug, PartialEq)]
pub struct ToneSpec {
    /// Frequencies, Hz (1 to 8 of them, each 20 Hz to 20 kHz).
    pub frequencies_hz: Vec<f32>,
    /// How they combine.
    pub pattern: Pattern,
    /// Total duration, ms.
    pub duration_ms: u32,
    /// Peak level, dBFS (≤ 0).
    pub level_dbfs: f32,
    /// Fade in and out (and between alternating steps), ms, so the tone never clicks.
    pub fade_ms: u32,
}

impl Default for ToneSpec {
    /// The two-tone attention signal: 853 Hz and 960 Hz together for 8 s at −6 dBFS.
    fn default() -> Self {
        Self {
            frequencies_hz: vec![853.0, 960.0],
            pattern: Pattern::Chord,
            duration_ms: 8000,
            level_dbfs: -6.0,
            fade_ms: 20,
        }
    }
}

/// The tone cannot be made as specified.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToneError {
    /// Wrong number of frequencies.
    #[error("an attention tone needs 1 to 8 frequencies, got {0}")]
    FrequencyCount(usize),
    /// A frequency out of the audible range.
    #[error("frequency {0} Hz is outside 20 Hz to 20 kHz")]
    Frequency(f32),
    /// Level above full scale.
    #[error("level {0} dBFS is above 0 dBFS")]
    Level(f32),
    /// Longer than a minute.
    #[error("duration {0} ms is over the 60 s limit")]
    Duration(u32),
    /// An alternate step of zero length.
    #[error("alternating step must be at least 10 ms")]
    Step,
}

impl ToneSpec {
    /// Renders the tone as mono 48 kHz samples.
    pub fn render(&self) -> Result<Vec<f32>, ToneError> {
        let n = self.frequencies_hz.len();
        if !(1..=8).contains(&n) {
            return Err(ToneError::FrequencyCount(n));
        }
        if let Some(&f) = self
            .frequencies_hz
            .iter()
            .find(|f| !(20.0..=20_000.0).contains(*f))
        {
            return Err(ToneError::Frequency(f));
        }
        if self.level_dbfs.is_nan() || self.level_dbfs > 0.0 {
            return Err(ToneError::Level(self.level_dbfs));
        }
        if self.duration_ms > 60_000 {
            return Err(ToneError::Duration(self.duration_ms));
        }
        let rate = SAMPLE_RATE as f32;
        let total = (self.duration_ms as usize) * SAMPLE_RATE as usize / 1000;
        let fade = ((self.fade_ms as usize) * SAMPLE_RATE as usize / 1000).max(1);
        let peak = 10f32.powf(self.level_dbfs / 20.0);
        let tau = 2.0 * std::f32::consts::PI;
        let mut out = Vec::with_capacity(total);
        match self.pattern {
            Pattern::Chord => {
                let scale = peak / n as f32;
                for i in 0..total {
                    let t = i as f32 / rate;
                    let s: f32 = self
                        .frequencies_hz
                        .iter()
                        .map(|f| (tau * f * t).sin())
                        .sum();
                    out.push(s * scale * envelope(i, total, fade));
                }
            }
            Pattern::Alternate { step_ms } => {
                if step_ms < 10 {
                    return Err(ToneError::Step);
                }
                let step = step_ms as usize * SAMPLE_RATE as usize / 1000;
                // Phase carried across steps, so frequency changes are continuous.
                let mut phase = 0f32;
                for i in 0..total {
                    let f = self.frequencies_hz[(i / step) % n];
                    phase = (phase + tau * f / rate) % tau;
                    let within = i % step;
                    let step_env = envelope(within, step, fade.min(step / 4).max(1));
                    out.push(phase.sin() * peak * step_env * envelope(i, total, fade));
                }
            }
        }
        Ok(out)
    }
}

/// A raised-cosine fade in over the first `fade` samples and out over the last.
fn envelope(i: usize, len: usize, fade: usize) -> f32 {
    let last = len.saturating_sub(1);
    let edge = i.min(last.saturating_sub(i));
    if edge >= fade {
        1.0
    } else {
        0.5 - 0.5 * (std::f32::consts::PI * edge as f32 / fade as f32).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tone_has_its_length_level_and_soft_edges() {
        let s = ToneSpec::default().render().expect("valid");
        assert_eq!(s.len(), 8 * 48_000);
        let peak = s.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(peak <= 10f32.powf(-6.0 / 20.0) + 1e-6, "peak {peak}");
        assert!(peak > 0.4, "peak {peak}");
        assert!(
            s[0].abs() < 1e-6 && s[s.len() - 1].abs() < 1e-3,
            "fades in and out"
        );
    }

    #[test]
    fn alternating_tone_changes_frequency_each_step() {
        let spec = ToneSpec {
            frequencies_hz: vec![500.0, 1000.0],
            pattern: Pattern::Alternate { step_ms: 250 },
            duration_ms: 1000,
            level_dbfs: 0.0,
            fade_ms: 5,
        };
        let s = spec.render().expect("valid");
        // Zero crossings in the middle of each 250 ms step: ~250 for 500 Hz, ~500 for 1 kHz.
        let crossings = |a: usize, b: usize| {
            s[a..b]
                .windows(2)
                .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
                .count()
        };
        let step = 12_000;
        let c0 = crossings(step / 4, step * 3 / 4);
        let c1 = crossings(step + step / 4, step + step * 3 / 4);
        assert!((c0 as i32 - 125).abs() <= 2, "{c0}");
        assert!((c1 as i32 - 250).abs() <= 2, "{c1}");
    }

    #[test]
    fn bad_specs_are_refused() {
        let bad = |f: fn(&mut ToneSpec)| {
            let mut s = ToneSpec::default();
            f(&mut s);
            s.render().expect_err("invalid")
        };
        assert_eq!(
            bad(|s| s.frequencies_hz.clear()),
            ToneError::FrequencyCount(0)
        );
        assert_eq!(
            bad(|s| s.frequencies_hz[0] = 5.0),
            ToneError::Frequency(5.0)
        );
        assert_eq!(bad(|s| s.level_dbfs = 3.0), ToneError::Level(3.0));
        assert_eq!(bad(|s| s.duration_ms = 61_000), ToneError::Duration(61_000));
    }
}

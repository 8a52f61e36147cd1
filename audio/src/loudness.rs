//! EBU R128 loudness: measure a signal, and work out the gain that brings it to the target.

use ebur128::{EbuR128, Mode};

/// What stored media is normalised to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoudnessTarget {
    /// Integrated loudness, LUFS. Default −16, the usual target for speech on speakers.
    pub integrated_lufs: f64,
    /// Highest true peak allowed after the gain, dBTP. Default −1.
    pub true_peak_dbtp: f64,
}

impl Default for LoudnessTarget {
    fn default() -> Self {
        Self {
            integrated_lufs: -16.0,
            true_peak_dbtp: -1.0,
        }
    }
}

/// How far below the true-peak ceiling the limiter holds sample peaks, dB.
pub const LIMITER_MARGIN_DB: f64 = 2.0;

/// The loudness of a signal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// Integrated loudness, LUFS (`-inf` for silence).
    pub integrated_lufs: f64,
    /// True peak, dBTP.
    pub true_peak_dbtp: f64,
}

/// Most the limiter may take off a peak, dB: louder than this above the ceiling and the
/// gain itself is lowered instead (the output is then quieter than the target).
pub const MAX_LIMITING_DB: f64 = 6.0;

/// The gain chosen for a signal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gain {
    /// The gain, dB.
    pub db: f64,
    /// How far the gain takes the highest peak above the ceiling, dB: what the limiter
    /// takes off it (0: it has nothing to do).
    pub limiting_db: f64,
    /// Whether the peaks, not the loudness target, set the gain even with the limiter
    /// (the output is then quieter than the target).
    pub peak_limited: bool,
}

impl Gain {
    /// The gain as a linear factor.
    pub fn linear(&self) -> f32 {
        10f64.powf(self.db / 20.0) as f32
    }
}

impl LoudnessTarget {
    /// The gain that takes `m` to the target loudness, with the peaks it lifts past the
    /// ceiling left to the limiter, by at most [`MAX_LIMITING_DB`]. Silence gets 0 dB:
    /// there is nothing to normalise.
    pub fn gain_for(&self, m: &Measurement) -> Gain {
        if !m.integrated_lufs.is_finite() {
            return Gain {
                db: 0.0,
                limiting_db: 0.0,
                peak_limited: false,
            };
        }
        let wanted = self.integrated_lufs - m.integrated_lufs;
        let headroom = if m.true_peak_dbtp.is_finite() {
            self.true_peak_dbtp - m.true_peak_dbtp
        } else {
            f64::INFINITY
        };
        let db = wanted.min(headroom + MAX_LIMITING_DB);
        Gain {
            db,
            limiting_db: (db - headroom).max(0.0),
            peak_limited: db < wanted,
        }
    }

    /// The limiter's ceiling, linear sample peak at 48 kHz: below the true-peak ceiling by
    /// a margin for the peaks between samples and those the Opus encoder adds.
    pub fn limiter_ceiling(&self) -> f32 {
        10f64.powf((self.true_peak_dbtp - LIMITER_MARGIN_DB) / 20.0) as f32
    }
}

/// A running EBU R128 meter for mono audio.
pub struct Meter {
    inner: EbuR128,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter").finish_non_exhaustive()
    }
}

/// The meter could not be created or fed (only for absurd sample rates).
#[derive(Debug, thiserror::Error)]
#[error("loudness meter: {0}")]
pub struct MeterError(#[from] ebur128::Error);

impl Meter {
    /// A meter for mono audio at `rate` Hz.
    pub fn new(rate: u32) -> Result<Self, MeterError> {
        Ok(Self {
            inner: EbuR128::new(1, rate, Mode::I | Mode::TRUE_PEAK)?,
        })
    }

    /// Adds samples.
    pub fn add(&mut self, samples: &[f32]) -> Result<(), MeterError> {
        Ok(self.inner.add_frames_f32(samples)?)
    }

    /// The loudness of everything added so far.
    pub fn measurement(&self) -> Result<Measurement, MeterError> {
        let integrated_lufs = self.inner.loudness_global()?;
        let peak = self.inner.true_peak(0)?;
        Ok(Measurement {
            integrated_lufs,
            true_peak_dbtp: 20.0 * peak.log10(),
        })
    }
}

/// Measures a whole mono signal at `rate` Hz.
pub fn measure(samples: &[f32], rate: u32) -> Result<Measurement, MeterError> {
    let mut meter = Meter::new(rate)?;
    meter.add(samples)?;
    meter.measurement()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_reaches_the_target_and_leaves_peaks_to_the_limiter_within_a_bound() {
        let target = LoudnessTarget::default();
        let quiet = Measurement {
            integrated_lufs: -30.0,
            true_peak_dbtp: -20.0,
        };
        assert_eq!(
            target.gain_for(&quiet),
            Gain {
                db: 14.0,
                limiting_db: 0.0,
                peak_limited: false
            }
        );
        let spiky = Measurement {
            integrated_lufs: -30.0,
            true_peak_dbtp: -6.0,
        };
        // 14 dB wanted, 5 dB of headroom: the limiter would take 9 dB off the peaks, but
        // takes at most 6, so the gain stops at 11 dB.
        assert_eq!(
            target.gain_for(&spiky),
            Gain {
                db: 11.0,
                limiting_db: 6.0,
                peak_limited: true
            }
        );
        let speech = Measurement {
            integrated_lufs: -18.5,
            true_peak_dbtp: -0.5,
        };
        let g = target.gain_for(&speech);
        assert_eq!((g.db, g.peak_limited), (2.5, false));
        assert!((g.limiting_db - 3.0).abs() < 1e-9, "{g:?}");
        let silence = Measurement {
            integrated_lufs: f64::NEG_INFINITY,
            true_peak_dbtp: f64::NEG_INFINITY,
        };
        assert_eq!(target.gain_for(&silence).db, 0.0);
    }

    #[test]
    fn full_scale_1k_sine_measures_about_minus_3_lufs() {
        // EBU Tech 3341: a 0 dBFS 1 kHz sine in one channel reads −3.01 LUFS.
        let s: Vec<f32> = (0..48_000 * 5)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 48_000.0).sin())
            .collect();
        let m = measure(&s, 48_000).expect("measures");
        assert!((m.integrated_lufs + 3.01).abs() < 0.1, "{m:?}");
        assert!(m.true_peak_dbtp.abs() < 0.2, "{m:?}");
    }
}

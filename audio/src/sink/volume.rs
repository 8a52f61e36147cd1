//! Volume with short ramps, so a change never clicks.

/// Applies a gain that moves to its target linearly over a short ramp.
#[derive(Clone, Debug)]
pub struct VolumeRamp {
    current: f32,
    target: f32,
    step: f32,
    ramp_samples: u32,
}

impl VolumeRamp {
    /// Starts at `gain` (linear, 0 to 1); changes take `ramp_ms` at 48 kHz.
    pub fn new(gain: f32, ramp_ms: u32) -> Self {
        let gain = gain.clamp(0.0, 1.0);
        Self {
            current: gain,
            target: gain,
            step: 0.0,
            ramp_samples: (ramp_ms * crate::SAMPLE_RATE / 1000).max(1),
        }
    }

    /// Sets a new target gain (linear, 0 to 1).
    pub fn set(&mut self, gain: f32) {
        self.target = gain.clamp(0.0, 1.0);
        self.step = (self.target - self.current) / self.ramp_samples as f32;
    }

    /// Sets a target from a percentage (0 to 100) on a perceptual (squared) curve.
    pub fn set_percent(&mut self, percent: u8) {
        let x = f32::from(percent.min(100)) / 100.0;
        self.set(x * x);
    }

    /// The gain now.
    pub fn current(&self) -> f32 {
        self.current
    }

    /// Applies the gain to `samples` in place.
    pub fn apply(&mut self, samples: &mut [f32]) {
        for s in samples {
            if self.current != self.target {
                let next = self.current + self.step;
                let passed = (self.step > 0.0 && next >= self.target)
                    || (self.step < 0.0 && next <= self.target);
                self.current = if passed || self.step == 0.0 {
                    self.target
                } else {
                    next
                };
            }
            *s *= self.current;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_without_jumps() {
        let mut v = VolumeRamp::new(1.0, 10);
        v.set(0.0);
        let mut s = vec![1.0f32; 1000];
        v.apply(&mut s);
        // 10 ms = 480 samples to reach zero, each step at most 1/480.
        assert!(
            s.windows(2)
                .all(|w| (w[0] - w[1]).abs() <= 1.0 / 480.0 + 1e-6)
        );
        assert!(s[479].abs() < 1e-5 && s[999] == 0.0);
        assert!(s[0] > 0.99);
        v.set_percent(50);
        let mut s = vec![1.0f32; 1000];
        v.apply(&mut s);
        assert!((s[999] - 0.25).abs() < 1e-6);
    }
}

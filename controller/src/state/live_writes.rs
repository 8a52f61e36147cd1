//! How live frames are written to agents: several 20 ms frames a write for a large call
//! (`[live] frames_per_write`, `--live-frames-per-write`).
//!
//! Each frame held for a write saves a write, a TLS record and a task wake-up per agent,
//! for 20 ms more delay on the frames before it. A call's frames wait at most half its
//! latency to be written: the other half is the network's and the speakers'. A call
//! whose latency is not asked for gets one with room for its group (twice the wait).

use std::fmt;
use std::time::Duration;

/// One live frame's length.
pub const FRAME: Duration = Duration::from_millis(20);

/// Most frames written at once (half a second of audio).
pub const MAX_FRAMES_PER_WRITE: usize = 25;

/// The live latency of a call that does not ask for one, unless its group needs more, ms.
pub const DEFAULT_LATENCY_MS: u32 = 150;

/// Frames a write by audience: from `from` speakers, `frames` frames a write (the largest
/// `from` not above the audience wins); one a write below every step (the default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveWrites {
    /// `(from, frames)`, `from` ascending, each `from` ≥ 1 and `frames` in
    /// 1..=[`MAX_FRAMES_PER_WRITE`].
    steps: Vec<(usize, usize)>,
}

impl LiveWrites {
    /// Steps of `(from speakers, frames a write)`, checked: a step out of range says why.
    pub fn new(steps: impl IntoIterator<Item = (usize, usize)>) -> Result<Self, String> {
        let mut steps: Vec<(usize, usize)> = steps.into_iter().collect();
        for &(from, frames) in &steps {
            if from == 0 {
                return Err(format!("0 = {frames}: from how many speakers, at least 1"));
            }
            if !(1..=MAX_FRAMES_PER_WRITE).contains(&frames) {
                return Err(format!(
                    "{from} = {frames}: frames a write, 1 to {MAX_FRAMES_PER_WRITE} (20 ms each)"
                ));
            }
        }
        steps.sort_unstable();
        steps.dedup_by_key(|s| s.0);
        Ok(Self { steps })
    }

    /// The form of `--live-frames-per-write` and `DALABA_LIVE_FRAMES_PER_WRITE`:
    /// `1000=2,4000=3` (empty: one frame a write).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut steps = Vec::new();
        for step in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let parsed = step.split_once('=').and_then(|(from, frames)| {
                Some((from.trim().parse().ok()?, frames.trim().parse().ok()?))
            });
            steps.push(
                parsed
                    .ok_or_else(|| format!("{step:?}: speakers=frames, e.g. \"1000=2,4000=3\""))?,
            );
        }
        Self::new(steps)
    }

    /// Frames written to each agent at once in a call to `audience` speakers.
    pub fn frames_per_write(&self, audience: usize) -> usize {
        self.steps
            .iter()
            .rev()
            .find(|&&(from, _)| audience >= from)
            .map_or(1, |&(_, frames)| frames)
    }

    /// Frames a write in a call to `audience` at `latency`: as set, but fewer if the first
    /// frame of a group would wait more than half the latency to be written.
    pub fn frames_within(&self, audience: usize, latency: Duration) -> usize {
        let set = self.frames_per_write(audience);
        (1..=set)
            .rev()
            .find(|&frames| hold(frames) * 2 <= latency)
            .unwrap_or(1)
    }

    /// The latency of a call to `audience` that does not ask for one, ms: the default, or
    /// twice its group's wait if that is more.
    pub fn default_latency_ms(&self, audience: usize) -> u32 {
        let room = hold(self.frames_per_write(audience)) * 2;
        u32::try_from(room.as_millis())
            .unwrap_or(u32::MAX)
            .max(DEFAULT_LATENCY_MS)
    }
}

/// How long the first frame of a group of `frames` waits to be written: until half a frame
/// after the last is due (one frame: not at all).
pub fn hold(frames: usize) -> Duration {
    if frames <= 1 {
        return Duration::ZERO;
    }
    FRAME.saturating_mul(u32::try_from(frames - 1).unwrap_or(u32::MAX)) + FRAME / 2
}

/// As in the configuration file: `{ 1000 = 2, 4000 = 3 }`.
impl fmt::Display for LiveWrites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|(from, frames)| format!("{from} = {frames}"))
            .collect();
        if steps.is_empty() {
            f.write_str("{}")
        } else {
            write!(f, "{{ {} }}", steps.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_step_not_above_the_audience_sets_the_frames_a_write() {
        let writes = LiveWrites::parse("4000=3, 1000=2,8000=10").expect("good");
        let frames = |audience| writes.frames_per_write(audience);
        assert_eq!((frames(999), frames(1000), frames(3999)), (1, 2, 2));
        assert_eq!((frames(4000), frames(8000), frames(100_000)), (3, 10, 10));
        assert_eq!(writes.to_string(), "{ 1000 = 2, 4000 = 3, 8000 = 10 }");
        assert_eq!(LiveWrites::default().frames_per_write(100_000), 1);
        assert_eq!(LiveWrites::default().to_string(), "{}");
        assert_eq!(LiveWrites::parse(""), Ok(LiveWrites::default()));
    }

    /// A group's first frame waits at most half the call's latency: at the default 150 ms,
    /// four frames (70 ms); ten (190 ms) need 380 ms, which a call that does not ask for a
    /// latency is given.
    #[test]
    fn a_group_waits_at_most_half_the_latency() {
        let writes = LiveWrites::parse("1000=10").expect("good");
        let ms = Duration::from_millis;
        assert_eq!((hold(1), hold(3), hold(10)), (ms(0), ms(50), ms(190)));
        assert_eq!(writes.frames_within(5000, ms(150)), 4);
        assert_eq!(writes.frames_within(5000, ms(379)), 9);
        assert_eq!(writes.frames_within(5000, ms(380)), 10);
        assert_eq!(writes.frames_within(5000, ms(20)), 1);
        assert_eq!(writes.frames_within(999, ms(500)), 1);
        assert_eq!(writes.default_latency_ms(5000), 380);
        assert_eq!(writes.default_latency_ms(999), DEFAULT_LATENCY_MS);
        let pairs = LiveWrites::parse("1000=2").expect("good");
        assert_eq!(pairs.default_latency_ms(5000), DEFAULT_LATENCY_MS);
    }

    #[test]
    fn steps_out_of_range_say_why() {
        assert_eq!(
            LiveWrites::parse("1000=26"),
            Err("1000 = 26: frames a write, 1 to 25 (20 ms each)".into())
        );
        assert_eq!(
            LiveWrites::parse("0=2"),
            Err("0 = 2: from how many speakers, at least 1".into())
        );
        assert_eq!(
            LiveWrites::parse("1000:2"),
            Err("\"1000:2\": speakers=frames, e.g. \"1000=2,4000=3\"".into())
        );
    }
}

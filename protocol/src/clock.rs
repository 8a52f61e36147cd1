//! Clock synchronisation: how an agent estimates the controller's clock.
//!
//! NTP-style: the agent sends `ping{t1}` (its clock), the controller answers
//! `pong{t1, t2, t3}` (its clock on arrival and departure), the agent notes `t4` (its
//! clock on arrival). Then
//!
//! ```text
//! offset = ((t2 - t1) + (t3 - t4)) / 2      controller clock minus agent clock
//! delay  = (t4 - t1) - (t3 - t2)            network round trip
//! ```
//!
//! One exchange is only as good as its network path was symmetric. [`ClockSync`] keeps the
//! most recent exchanges, throws away the slower half (queueing delay makes paths
//! asymmetric, and slow exchanges are the ones it spoils), and reports the median offset of
//! the rest, so one wild sample never moves the estimate.
//!
//! Clocks also run at different rates: a board's crystal is typically tens of ppm off, and
//! 50 ppm is 50 µs a second, which an offset alone would let build up between pings and
//! which a median over a window of samples would trail by half the window (2 ms over an
//! 80 s window). Once the kept exchanges span [`MIN_DRIFT_SPAN_US`], [`ClockSync`] also
//! estimates the drift, as the median of the slopes between pairs of them (Theil–Sen, as
//! robust as the median offset), and [`Estimate`] extrapolates the offset to the time it
//! converts.
//!
//! Pure state machine: it never reads a clock. Times go in as arguments, in microseconds.

use std::collections::VecDeque;

use crate::control::{Ping, Pong};
use crate::types::Timestamp;

/// One completed ping/pong exchange, all times in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// Agent clock when the ping left.
    pub t1: u64,
    /// Controller clock when the ping arrived.
    pub t2: u64,
    /// Controller clock when the pong left.
    pub t3: u64,
    /// Agent clock when the pong arrived.
    pub t4: u64,
}

impl Exchange {
    /// Controller clock minus agent clock, µs.
    pub fn offset(&self) -> i64 {
        let a = i128::from(self.t2) - i128::from(self.t1);
        let b = i128::from(self.t3) - i128::from(self.t4);
        clamp_i64((a + b) / 2)
    }

    /// Network round-trip time, µs (controller processing time excluded).
    pub fn delay(&self) -> i64 {
        let total = i128::from(self.t4) - i128::from(self.t1);
        let held = i128::from(self.t3) - i128::from(self.t2);
        clamp_i64(total - held)
    }
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Why an exchange was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    /// The pong answers no ping that is outstanding (late, duplicated or forged).
    #[error("pong {id} answers no outstanding ping")]
    Unsolicited {
        /// The pong's id.
        id: u32,
    },
    /// The pong's `t1` is not the ping's.
    #[error("pong {id} echoes t1={got}, the ping sent t1={sent}")]
    WrongEcho {
        /// The pong's id.
        id: u32,
        /// What the ping carried.
        sent: u64,
        /// What the pong echoed.
        got: u64,
    },
    /// `t3 < t2` or `t4 < t1`: a clock went backwards during the exchange.
    #[error("timestamps go backwards (t1={t1} t2={t2} t3={t3} t4={t4})")]
    Backwards {
        /// Agent send time.
        t1: u64,
        /// Controller receive time.
        t2: u64,
        /// Controller send time.
        t3: u64,
        /// Agent receive time.
        t4: u64,
    },
    /// The controller held the ping longer than the whole round trip took.
    #[error("negative round-trip delay {delay}µs")]
    NegativeDelay {
        /// The computed delay.
        delay: i64,
    },
}

/// Pairs of exchanges closer together than this (agent clock, µs) give no drift slope:
/// their offsets differ by jitter more than by drift.
pub const MIN_DRIFT_SPAN_US: u64 = 30_000_000;

/// The largest drift believed, parts per billion (500 ppm; real crystals are within about
/// 100 ppm). A steeper fit is noise or a clock being stepped, and is clamped.
pub const MAX_DRIFT_PPB: i64 = 500_000;

/// The current estimate of the controller's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// Controller clock minus agent clock at agent time [`Self::at_us`], µs.
    pub offset_us: i64,
    /// The agent time the offset refers to (the newest exchange used), µs.
    pub at_us: u64,
    /// How fast the offset grows, parts per billion of agent time (µs per 1000 s); 0
    /// until the exchanges span [`MIN_DRIFT_SPAN_US`].
    pub drift_ppb: i64,
    /// The smallest round-trip delay among the samples used, µs. The offset is accurate to
    /// about half of it.
    pub min_delay_us: i64,
    /// How many samples the estimate rests on.
    pub samples: usize,
}

impl Estimate {
    /// Controller clock minus agent clock at agent time `agent_micros`, µs.
    pub fn offset_at(&self, agent_micros: u64) -> i64 {
        let elapsed = i128::from(agent_micros) - i128::from(self.at_us);
        clamp_i64(i128::from(self.offset_us) + elapsed * i128::from(self.drift_ppb) / 1_000_000_000)
    }

    /// Converts an agent clock reading to controller time.
    pub fn to_controller_time(&self, agent_micros: u64) -> Timestamp {
        Timestamp(agent_micros.saturating_add_signed(self.offset_at(agent_micros)))
    }

    /// Converts a controller time to the agent's clock.
    pub fn to_agent_time(&self, controller: Timestamp) -> u64 {
        // The offset at the answer differs from the offset at `controller` by drift × offset
        // (under a microsecond for offsets below 2 s at 500 ppm); a second step removes it.
        let guess = controller
            .0
            .saturating_add_signed(self.offset_at(controller.0).saturating_neg());
        controller
            .0
            .saturating_add_signed(self.offset_at(guess).saturating_neg())
    }
}

/// Settings for [`ClockSync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockSyncConfig {
    /// How many recent exchanges to keep.
    pub window: usize,
    /// Pings sent quickly after start (or after [`ClockSync::reset`]).
    pub burst: usize,
    /// Gap between burst pings, µs.
    pub burst_interval_us: u64,
    /// Gap between pings after the burst, µs.
    pub interval_us: u64,
    /// A ping unanswered for this long is abandoned, µs.
    pub timeout_us: u64,
}

impl Default for ClockSyncConfig {
    fn default() -> Self {
        Self {
            window: 16,
            burst: 8,
            burst_interval_us: 200_000,
            interval_us: 5_000_000,
            timeout_us: 2_000_000,
        }
    }
}

/// The agent's clock-sync state machine.
///
/// Call [`Self::poll_ping`] with the agent clock whenever [`Self::poll_timeout`] is reached
/// and send what it returns; pass each pong to [`Self::handle_pong`] with the agent clock at
/// its arrival; read [`Self::estimate`].
#[derive(Clone, Debug)]
pub struct ClockSync {
    config: ClockSyncConfig,
    samples: VecDeque<Exchange>,
    outstanding: Option<Ping>,
    next_ping_at: u64,
    next_id: u32,
    sent: usize,
}

impl Default for ClockSync {
    fn default() -> Self {
        Self::new(ClockSyncConfig::default())
    }
}

impl ClockSync {
    /// A state machine with `config`, with no samples yet.
    pub fn new(config: ClockSyncConfig) -> Self {
        Self {
            config: ClockSyncConfig {
                window: config.window.max(1),
                ..config
            },
            samples: VecDeque::new(),
            outstanding: None,
            next_ping_at: 0,
            next_id: 1,
            sent: 0,
        }
    }

    /// Forgets every sample and starts a new burst (after a reconnect to a controller that
    /// may have restarted with a different clock).
    pub fn reset(&mut self) {
        self.samples.clear();
        self.outstanding = None;
        self.next_ping_at = 0;
        self.sent = 0;
    }

    /// The agent-clock time at which [`Self::poll_ping`] next has something to send.
    pub fn poll_timeout(&self) -> u64 {
        match &self.outstanding {
            Some(ping) => ping.t1.saturating_add(self.config.timeout_us),
            None => self.next_ping_at,
        }
    }

    /// The ping to send now, if one is due. `now` is the agent clock, µs.
    pub fn poll_ping(&mut self, now: u64) -> Option<Ping> {
        if let Some(ping) = &self.outstanding {
            if now < ping.t1.saturating_add(self.config.timeout_us) {
                return None;
            }
            // Lost: give up on it and send another.
            self.outstanding = None;
        } else if now < self.next_ping_at {
            return None;
        }
        let ping = Ping {
            id: self.next_id,
            t1: now,
        };
        self.next_id = self.next_id.wrapping_add(1);
        self.sent += 1;
        let gap = if self.sent < self.config.burst {
            self.config.burst_interval_us
        } else {
            self.config.interval_us
        };
        self.next_ping_at = now.saturating_add(gap);
        self.outstanding = Some(ping.clone());
        Some(ping)
    }

    /// Takes the pong answering the outstanding ping; `t4` is the agent clock on arrival.
    pub fn handle_pong(&mut self, pong: &Pong, t4: u64) -> Result<Exchange, SampleError> {
        let ping = match &self.outstanding {
            Some(p) if p.id == pong.id => p.clone(),
            _ => return Err(SampleError::Unsolicited { id: pong.id }),
        };
        if pong.t1 != ping.t1 {
            return Err(SampleError::WrongEcho {
                id: pong.id,
                sent: ping.t1,
                got: pong.t1,
            });
        }
        self.outstanding = None;
        let exchange = Exchange {
            t1: ping.t1,
            t2: pong.t2,
            t3: pong.t3,
            t4,
        };
        self.handle_exchange(exchange)?;
        Ok(exchange)
    }

    /// Adds a completed exchange (for callers that match pings and pongs themselves).
    pub fn handle_exchange(&mut self, e: Exchange) -> Result<(), SampleError> {
        if e.t3 < e.t2 || e.t4 < e.t1 {
            return Err(SampleError::Backwards {
                t1: e.t1,
                t2: e.t2,
                t3: e.t3,
                t4: e.t4,
            });
        }
        let delay = e.delay();
        if delay < 0 {
            return Err(SampleError::NegativeDelay { delay });
        }
        if self.samples.len() == self.config.window {
            self.samples.pop_front();
        }
        self.samples.push_back(e);
        Ok(())
    }

    /// The current estimate, or `None` before the first good exchange.
    ///
    /// Keeps the faster half of the recent exchanges (those with round-trip delay at or
    /// below the median) and returns the median of their offsets.
    pub fn estimate(&self) -> Option<Estimate> {
        if self.samples.is_empty() {
            return None;
        }
        // (delay, agent time of the exchange's midpoint, offset)
        let mut by_delay: Vec<(i64, u64, i64)> = self
            .samples
            .iter()
            .map(|e| (e.delay(), e.t1 / 2 + e.t4 / 2, e.offset()))
            .collect();
        by_delay.sort_unstable();
        let keep = by_delay.len().div_ceil(2);
        let min_delay_us = by_delay[0].0;
        let kept = &by_delay[..keep];
        let at_us = self.samples.back().map_or(0, |e| e.t1 / 2 + e.t4 / 2);

        // Theil–Sen: the median slope over pairs far enough apart.
        let mut slopes = Vec::new();
        for (i, &(_, ta, oa)) in kept.iter().enumerate() {
            for &(_, tb, ob) in &kept[i + 1..] {
                let (t0, o0, t1, o1) = if ta <= tb {
                    (ta, oa, tb, ob)
                } else {
                    (tb, ob, ta, oa)
                };
                if t1 - t0 >= MIN_DRIFT_SPAN_US {
                    let rise = i128::from(o1) - i128::from(o0);
                    slopes.push(clamp_i64(rise * 1_000_000_000 / i128::from(t1 - t0)));
                }
            }
        }
        let drift_ppb = median(&mut slopes)
            .unwrap_or(0)
            .clamp(-MAX_DRIFT_PPB, MAX_DRIFT_PPB);

        // Each kept offset carried forward to `at_us` along the drift, then their median.
        let mut offsets: Vec<i64> = kept
            .iter()
            .map(|&(_, t, o)| {
                let elapsed = i128::from(at_us) - i128::from(t);
                clamp_i64(i128::from(o) + elapsed * i128::from(drift_ppb) / 1_000_000_000)
            })
            .collect();
        let offset_us = median(&mut offsets)?;
        Some(Estimate {
            offset_us,
            at_us,
            drift_ppb,
            min_delay_us,
            samples: keep,
        })
    }
}

/// The median (mean of the middle two for an even count), or `None` for no values.
fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        // Mean of the two middle values, without overflow.
        let (a, b) = (values[mid - 1], values[mid]);
        a / 2 + b / 2 + (a % 2 + b % 2) / 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exchange over a path with the given one-way delays, for an agent whose clock is
    /// `offset` behind the controller's.
    fn exchange(t1: u64, offset: i64, up: u64, held: u64, down: u64) -> Exchange {
        let t2 = (t1 + up).saturating_add_signed(offset);
        let t3 = t2 + held;
        let t4 = t1 + up + held + down;
        Exchange { t1, t2, t3, t4 }
    }

    #[test]
    fn symmetric_path_gives_exact_offset() {
        let e = exchange(1_000_000, 250_000, 3_000, 100, 3_000);
        assert_eq!(e.offset(), 250_000);
        assert_eq!(e.delay(), 6_000);
    }

    #[test]
    fn slow_outliers_do_not_move_the_estimate() {
        let mut sync = ClockSync::default();
        let offset = -7_000_000_000; // agent 7000 s ahead of the controller
        for i in 0..12u64 {
            let t1 = 10_000_000_000 + i * 1_000_000;
            // Every third exchange is stuck behind a queue on the way back only.
            let down = if i % 3 == 0 { 400_000 } else { 2_000 };
            sync.handle_exchange(exchange(t1, offset, 2_000, 50, down))
                .expect("good sample");
        }
        let est = sync.estimate().expect("has samples");
        assert_eq!(est.offset_us, offset);
        assert_eq!(est.min_delay_us, 4_000);
    }

    #[test]
    fn rejects_impossible_exchanges() {
        let mut sync = ClockSync::default();
        let backwards = Exchange {
            t1: 10,
            t2: 100,
            t3: 90,
            t4: 20,
        };
        assert!(matches!(
            sync.handle_exchange(backwards),
            Err(SampleError::Backwards { .. })
        ));
        let held_too_long = Exchange {
            t1: 10,
            t2: 100,
            t3: 200,
            t4: 20,
        };
        assert_eq!(
            sync.handle_exchange(held_too_long),
            Err(SampleError::NegativeDelay { delay: -90 })
        );
        assert_eq!(sync.estimate(), None);
    }

    /// Exchanges with an agent whose clock reads `true × (1 + ppm) − offset` (the
    /// controller's reads true time), one every `every` µs, over a path of 300 µs each way
    /// plus a jitter pattern. Returns the sync and the agent clock as a function of true
    /// time.
    fn drifting(ppm: f64, offset: i64, every: u64, count: u64) -> (ClockSync, impl Fn(u64) -> u64) {
        let agent = move |true_us: u64| -> u64 {
            (((true_us as f64) * (1.0 + ppm * 1e-6)) as i64 - offset) as u64
        };
        let mut sync = ClockSync::default();
        for i in 0..count {
            let sent = 1_000_000_000 + i * every;
            // 300 µs each way, plus up to 400 µs of jitter on one side or the other.
            let (up, down) = match i % 4 {
                0 => (300, 300),
                1 => (700, 300),
                2 => (300, 700),
                _ => (500, 500),
            };
            let t1 = agent(sent);
            let t2 = sent + up;
            let t3 = t2 + 20;
            let t4 = agent(t3 + down);
            sync.handle_exchange(Exchange { t1, t2, t3, t4 })
                .expect("good sample");
        }
        (sync, agent)
    }

    #[test]
    fn follows_a_drifting_clock_between_and_beyond_samples() {
        let ppm = 50.0;
        let (sync, agent) = drifting(ppm, -3_000_000_000, 5_000_000, 16);
        let est = sync.estimate().expect("samples");
        assert!(
            (est.drift_ppb + 50_000).abs() <= 1_000,
            "controller runs 50 ppm slow relative to the agent: {est:?}"
        );
        // Ten seconds after the last exchange, true time t must convert back to t.
        let t = 1_000_000_000 + 16 * 5_000_000 + 10_000_000;
        let error = est.to_controller_time(agent(t)).0 as i64 - t as i64;
        assert!(error.abs() <= 150, "error {error} µs: {est:?}");
        let back = est.to_agent_time(Timestamp(t)) as i64 - agent(t) as i64;
        assert!(back.abs() <= 150, "inverse error {back} µs");
    }

    #[test]
    fn a_burst_alone_estimates_no_drift() {
        // Eight pings 200 ms apart: too short a span to tell drift from jitter.
        let (sync, _) = drifting(80.0, 0, 200_000, 8);
        assert_eq!(sync.estimate().expect("samples").drift_ppb, 0);
    }

    #[test]
    fn ping_schedule_bursts_then_slows_and_times_out() {
        let config = ClockSyncConfig::default();
        let mut sync = ClockSync::new(config);
        let mut now = 1_000;
        let first = sync.poll_ping(now).expect("first ping is due at once");
        assert_eq!(sync.poll_ping(now), None, "one ping outstanding at a time");
        let pong = Pong {
            id: first.id,
            t1: first.t1,
            t2: 5_000,
            t3: 5_010,
        };
        sync.handle_pong(&pong, now + 400).expect("matches");
        assert_eq!(
            sync.handle_pong(&pong, now + 500),
            Err(SampleError::Unsolicited { id: first.id }),
            "a duplicated pong is refused"
        );
        assert_eq!(sync.poll_timeout(), now + config.burst_interval_us);

        // An unanswered ping is abandoned after the timeout.
        now = sync.poll_timeout();
        let lost = sync.poll_ping(now).expect("second ping");
        assert_eq!(sync.poll_timeout(), lost.t1 + config.timeout_us);
        now = sync.poll_timeout();
        let retry = sync.poll_ping(now).expect("retry after timeout");
        assert_ne!(retry.id, lost.id);
        let forged = Pong {
            id: retry.id,
            t1: retry.t1 + 1,
            t2: 0,
            t3: 0,
        };
        assert!(matches!(
            sync.handle_pong(&forged, now),
            Err(SampleError::WrongEcho { .. })
        ));
    }
}

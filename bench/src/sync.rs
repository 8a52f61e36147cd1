//! Sync spread in simulation: agents whose clocks are seconds off and tens of ppm fast or
//! slow run the protocol's own clock-sync state machine ([`ClockSync`], as the agent does)
//! over a simulated jittery network, and plan each frame at the agent-clock time their
//! estimate gives. Their true play times for the same frame are compared.
//!
//! The controller's clock is true time. Agent `i` reads `true × (1 + drift_i) + offset_i`.
//! Each one-way trip takes 250 µs plus exponential jitter (mean 250 µs); one exchange in
//! twenty also queues 5–50 ms in one direction (the asymmetry clock sync must see through).
//! The spread of a frame is the latest agent's true play time minus the earliest's.

use dalaba_protocol::Timestamp;
use dalaba_protocol::clock::{ClockSync, ClockSyncConfig, Exchange};
use dalaba_protocol::control::Pong;
use rand::{RngExt as _, SeedableRng as _};
use serde_json::{Value, json};

/// True time when the simulation starts, µs: late enough that no agent clock, however
/// far behind, reads below zero.
const BASE_US: f64 = 1e12;

/// One simulated agent clock.
#[derive(Clone, Copy)]
struct AgentClock {
    offset_us: f64,
    drift: f64,
}

impl AgentClock {
    fn read(&self, true_us: f64) -> u64 {
        (true_us * (1.0 + self.drift) + self.offset_us) as u64
    }

    fn true_time(&self, agent_us: u64) -> f64 {
        (agent_us as f64 - self.offset_us) / (1.0 + self.drift)
    }
}

/// The estimator as it was before drift was estimated: the median offset of the faster
/// half of the window, nothing extrapolated. Kept here to show what drift estimation buys.
fn offset_only(samples: &[Exchange]) -> Option<i64> {
    let mut by_delay: Vec<(i64, i64)> = samples.iter().map(|e| (e.delay(), e.offset())).collect();
    if by_delay.is_empty() {
        return None;
    }
    by_delay.sort_unstable();
    let keep = by_delay.len().div_ceil(2);
    let mut offsets: Vec<i64> = by_delay[..keep].iter().map(|&(_, o)| o).collect();
    offsets.sort_unstable();
    Some(offsets[offsets.len() / 2])
}

/// What one agent does over the whole run: its estimates, applied to every frame.
/// Returns the true play-time error (µs) of each frame for both estimators.
fn simulate_agent(
    clock: AgentClock,
    frames: &[f64],
    seed: u64,
    duration_us: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let config = ClockSyncConfig::default();
    let mut sync = ClockSync::new(config);
    let mut window: std::collections::VecDeque<Exchange> = Default::default();
    // Exchanges complete at these true times, in order; frames read the estimate as of then.
    let mut estimates = Vec::new(); // (true time, estimate, offset-only)
    let mut now = BASE_US; // true µs
    let one_way = |rng: &mut rand::rngs::StdRng| {
        let jitter = -250.0 * (1.0 - rng.random::<f64>()).ln();
        250.0 + jitter
    };
    while now < BASE_US + duration_us {
        let agent_now = clock.read(now);
        let Some(ping) = sync.poll_ping(agent_now) else {
            now = clock.true_time(sync.poll_timeout()).max(now + 1.0);
            continue;
        };
        let (mut up, mut down) = (one_way(&mut rng), one_way(&mut rng));
        if rng.random_range(0..20) == 0 {
            let queue = rng.random_range(5_000.0..50_000.0);
            if rng.random::<bool>() {
                up += queue;
            } else {
                down += queue;
            }
        }
        let t2 = now + up;
        let t3 = t2 + 20.0;
        let arrive = t3 + down;
        let pong = Pong {
            id: ping.id,
            t1: ping.t1,
            t2: t2 as u64,
            t3: t3 as u64,
        };
        if let Ok(e) = sync.handle_pong(&pong, clock.read(arrive)) {
            if window.len() == config.window {
                window.pop_front();
            }
            window.push_back(e);
            let samples: Vec<Exchange> = window.iter().copied().collect();
            estimates.push((arrive, sync.estimate(), offset_only(&samples)));
        }
        now = clock.true_time(sync.poll_timeout()).max(arrive);
    }
    let mut with_drift = Vec::with_capacity(frames.len());
    let mut without = Vec::with_capacity(frames.len());
    let mut i = 0;
    for &t in frames {
        while i + 1 < estimates.len() && estimates[i + 1].0 <= t {
            i += 1;
        }
        let (_, est, plain) = estimates[i];
        let est = est.expect("an estimate after the first exchange");
        // The agent plays the frame stamped `t` (controller time) when its clock reads this.
        let at = est.to_agent_time(Timestamp(t as u64));
        with_drift.push(clock.true_time(at) - t);
        let plain_at = (t as i64 - plain.expect("offset")) as u64;
        without.push(clock.true_time(plain_at) - t);
    }
    (with_drift, without)
}

/// Spread per frame across agents, µs: (p50, p99, max).
fn spread(errors: &[Vec<f64>]) -> (f64, f64, f64) {
    let frames = errors[0].len();
    let mut spreads: Vec<f64> = (0..frames)
        .map(|f| {
            let (lo, hi) = errors.iter().fold((f64::MAX, f64::MIN), |(lo, hi), e| {
                (lo.min(e[f]), hi.max(e[f]))
            });
            hi - lo
        })
        .collect();
    spreads.sort_by(f64::total_cmp);
    (
        crate::rig::percentile(&spreads, 0.5),
        crate::rig::percentile(&spreads, 0.99),
        *spreads.last().unwrap_or(&f64::NAN),
    )
}

/// Runs the simulation: `agents` agents, `minutes` of simulated time, offsets up to
/// ±`offset_s` seconds and drifts up to ±`drift_ppm`. Prints a table and returns the figures.
pub(crate) fn run(agents: usize, minutes: u64, offset_s: f64, drift_ppm: f64) -> Value {
    let duration_us = minutes as f64 * 60e6;
    // A frame every 100 ms once the first minute (the drift estimate's warm-up) has passed,
    // and, separately, every 100 ms during that first minute after the 2 s burst.
    let steady: Vec<f64> = (600..(duration_us / 100_000.0) as u64)
        .map(|i| BASE_US + i as f64 * 100_000.0)
        .collect();
    let warmup: Vec<f64> = (20..600).map(|i| BASE_US + i as f64 * 100_000.0).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_123);
    let clocks: Vec<AgentClock> = (0..agents)
        .map(|_| AgentClock {
            offset_us: rng.random_range(-offset_s..offset_s) * 1e6,
            drift: rng.random_range(-drift_ppm..drift_ppm) * 1e-6,
        })
        .collect();
    let mut all: Vec<f64> = warmup.clone();
    all.extend(&steady);
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for (i, c) in clocks.iter().enumerate() {
        let (w, o) = simulate_agent(*c, &all, i as u64 + 1, duration_us);
        with.push(w);
        without.push(o);
    }
    let split = |v: &[Vec<f64>]| -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        (
            v.iter().map(|e| e[..warmup.len()].to_vec()).collect(),
            v.iter().map(|e| e[warmup.len()..].to_vec()).collect(),
        )
    };
    let (with_warm, with_steady) = split(&with);
    let (plain_warm, plain_steady) = split(&without);
    let rows = [
        ("drift estimated, after 1 min", spread(&with_steady)),
        ("drift estimated, first minute", spread(&with_warm)),
        ("offset only (before), after 1 min", spread(&plain_steady)),
        ("offset only (before), first min", spread(&plain_warm)),
    ];
    println!(
        "\nsync spread: {agents} agents, {minutes} min simulated, offsets ±{offset_s} s, drift ±{drift_ppm} ppm"
    );
    println!(
        "{:<34} {:>12} {:>12} {:>12}",
        "estimator", "spread p50", "spread p99", "spread max"
    );
    let mut out = Vec::new();
    for (name, (p50, p99, max)) in rows {
        println!("{name:<34} {:>9.1} µs {:>9.1} µs {:>9.1} µs", p50, p99, max);
        out.push(json!({"estimator": name, "spread_p50_us": p50, "spread_p99_us": p99, "spread_max_us": max}));
    }
    json!({
        "agents": agents, "simulated_minutes": minutes, "offset_range_s": offset_s,
        "drift_range_ppm": drift_ppm, "one_way_delay": "250 µs + exp(mean 250 µs); 5 % queue 5-50 ms one way",
        "rows": out,
    })
}

//! The live path under a seeded network emulator: loss, jitter, reordering, duplicates.
//! Time is simulated (the playout takes `now`); nothing sleeps.

mod common;

use dalaba_audio::codec::{Encoder, EncoderSettings};
use dalaba_audio::jitter::{Frame, JitterConfig, Playout};
use dalaba_audio::playout::LivePlayout;

/// SplitMix64: a tiny seeded generator, so every run is the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Network {
    loss: f64,
    base_us: u64,
    jitter_us: u64,
    duplicate: f64,
}

const T0: u64 = 1_800_000_000_000_000;
const FRAME_US: u64 = 20_000;

/// Encodes `seconds` of speech-like audio as live frames.
fn live_frames(seconds: f64) -> (Vec<f32>, Vec<Frame>) {
    let pcm = common::speech_like(48_000, seconds, 0.5);
    let mut enc = Encoder::new(&EncoderSettings::live()).expect("encoder");
    let frames = pcm
        .chunks_exact(960)
        .enumerate()
        .map(|(k, chunk)| Frame {
            seq: 7_000 + k as u32,
            capture_us: T0 + k as u64 * FRAME_US,
            samples: 960,
            fec: true,
            end_of_stream: false,
            payload: enc.encode(chunk).expect("encode").to_vec(),
        })
        .collect();
    (pcm, frames)
}

struct Run {
    slots: Vec<Playout>,
    output: Vec<f32>,
    lost_in_network: Vec<bool>,
    playout: LivePlayout,
}

/// Sends `frames` through the network and plays them out in 5 ms ticks.
fn run(frames: &[Frame], net: &Network, seed: u64, latency_us: u64) -> Run {
    let mut rng = Rng(seed);
    let mut arrivals: Vec<(u64, Frame)> = Vec::new();
    let mut lost_in_network = Vec::new();
    for f in frames {
        let lost = rng.chance(net.loss);
        lost_in_network.push(lost);
        if lost {
            continue;
        }
        let at = f.capture_us + net.base_us + rng.below(net.jitter_us);
        arrivals.push((at, f.clone()));
        if rng.chance(net.duplicate) {
            arrivals.push((at + rng.below(net.jitter_us * 2), f.clone()));
        }
    }
    arrivals.sort_by_key(|(at, _)| *at);

    let config = JitterConfig {
        latency_us,
        ..JitterConfig::default()
    };
    let mut playout = LivePlayout::new(config).expect("decoder");
    let mut slots = Vec::new();
    let mut output = Vec::new();
    let end = T0 + frames.len() as u64 * FRAME_US + latency_us;
    let mut next_arrival = 0;
    let mut now = T0;
    while now <= end {
        while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= now {
            playout.push(arrivals[next_arrival].1.clone(), now);
            next_arrival += 1;
        }
        while slots.len() < frames.len() {
            match playout.poll(now, &mut output) {
                Some(p) => slots.push(p),
                None => break,
            }
        }
        now += 5_000;
    }
    Run {
        slots,
        output,
        lost_in_network,
        playout,
    }
}

fn check_counters_add_up(run: &Run) {
    let c = run.playout.counters();
    let slots = run.slots.len() as u64;
    assert_eq!(c.played + c.fec_recovered + c.concealed, slots, "{c:?}");
    assert_eq!(c.lost + c.underruns, c.fec_recovered + c.concealed, "{c:?}");
    // Frames still buffered are those whose slot was never reached.
    let buffered = c.received - c.played - c.late - c.duplicates - c.overflow;
    assert!(buffered <= 250, "{c:?}");
    // Every slot produced exactly its samples: the output has no holes.
    let samples: u64 = run.slots.iter().map(|p| u64::from(p.samples())).sum();
    assert_eq!(run.output.len() as u64, samples);
}

#[test]
fn five_percent_loss_with_fec_leaves_no_gap_longer_than_a_frame() {
    let (pcm, frames) = live_frames(30.0);
    let net = Network {
        loss: 0.05,
        base_us: 15_000,
        jitter_us: 40_000,
        duplicate: 0.02,
    };
    for seed in [1, 2, 3] {
        let run = run(&frames, &net, seed, 80_000);
        check_counters_add_up(&run);
        let c = run.playout.counters();
        assert_eq!(run.slots.len(), frames.len(), "every slot played");
        assert_eq!(
            c.late,
            c.duplicates.min(c.late),
            "only duplicates arrive late: {c:?}"
        );
        assert_eq!(run.playout.decode_errors(), 0);

        // Walk the slots against what the network dropped.
        let mut gap = 0;
        let mut longest_gap = 0;
        for (k, slot) in run.slots.iter().enumerate() {
            let lost = run.lost_in_network[k];
            let next_lost = run.lost_in_network.get(k + 1).copied().unwrap_or(true);
            match slot {
                Playout::Packet { .. } => assert!(!lost, "seed {seed} slot {k}"),
                Playout::Fec { .. } => assert!(lost && !next_lost, "seed {seed} slot {k}"),
                // Concealment only where FEC could not help: the next frame was lost too.
                Playout::Conceal { .. } => assert!(lost && next_lost, "seed {seed} slot {k}"),
            }
            gap = if matches!(slot, Playout::Conceal { .. }) {
                gap + 1
            } else {
                0
            };
            longest_gap = longest_gap.max(gap);
            // A gap longer than one frame needs three losses in a row.
            if gap > 1 {
                assert!(
                    k >= 1 && run.lost_in_network[k - 1] && lost && next_lost,
                    "seed {seed} slot {k}"
                );
            }
        }
        let triple_losses = run
            .lost_in_network
            .windows(3)
            .filter(|w| w.iter().all(|&l| l))
            .count();
        if triple_losses == 0 {
            assert!(longest_gap <= 1, "seed {seed}: gap of {longest_gap} frames");
        }
        let lost = run.lost_in_network.iter().filter(|&&l| l).count();
        eprintln!(
            "seed {seed}: {lost} of {} frames lost in the network, {} recovered by FEC, {} concealed, longest gap {longest_gap}, {triple_losses} triple losses",
            frames.len(),
            c.fec_recovered,
            c.concealed
        );
        assert!(
            c.fec_recovered as f64 >= 0.85 * lost as f64,
            "FEC recovers most losses: {c:?}"
        );

        // The output still sounds like the input: compare aligned, frame by frame.
        let (corr, lag) = common::best_correlation(&run.output, &pcm, 400);
        eprintln!("seed {seed}: correlation with the source {corr:.3} at lag {lag}");
        assert!(corr > 0.8, "seed {seed}: correlation {corr:.3}");
    }
}

#[test]
fn hostile_network_never_panics_and_counts_add_up() {
    let (_, mut frames) = live_frames(10.0);
    // Some packets are garbage (a corrupt or hostile source): concealed, not fatal.
    for f in frames.iter_mut().step_by(37) {
        f.payload = vec![0xff; 7];
    }
    let net = Network {
        loss: 0.3,
        base_us: 5_000,
        jitter_us: 400_000,
        duplicate: 0.2,
    };
    for seed in 10..20 {
        let run = run(&frames, &net, seed, 100_000);
        check_counters_add_up(&run);
        let c = run.playout.counters();
        assert!(
            c.late > 0,
            "jitter beyond the latency makes frames late: {c:?}"
        );
    }
}

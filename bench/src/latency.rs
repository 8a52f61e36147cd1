//! Live latency: from a PCM frame entering the Opus encoder at the live source to the same
//! samples playing at a real agent's sink, over loopback.
//!
//! The source here sends silence with a 5 ms 2 kHz click at the start of every tenth frame
//! (every 200 ms), at real pace, noting when each frame is handed to the encoder; it stamps
//! each frame's capture time 20 ms earlier, when a microphone would have begun capturing it
//! (as `dalaba-talk` and the console do). A real `dalaba-agent` process plays the stream
//! into a `wav-rt` sink: a WAV written at a device's pace, where sample `i` plays at the
//! first write + 20 ms (the device's start) + `i` / 48 kHz as long as the sink never ran dry.
//! The agent logs, when the stream ends, that first write (controller time) and its jitter
//! buffer's and sink's counters. The latency of a click is its play time minus the moment
//! its frame entered the encoder.
//!
//! For each latency setting, a run is clean when no frame came late, none was concealed,
//! the jitter buffer never ran empty and the sink never ran dry.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::rig::{Agent, Api, Controller, LiveSource};

const FRAME: usize = 960;
const CLICK_EVERY: u64 = 10; // frames
/// The sink's start delay (`dalaba_audio::sink::Paced::START`).
const DEVICE_START_US: f64 = 20_000.0;

/// One latency setting's run.
struct Setting {
    latency_ms: u64,
    seconds: u64,
    clicks_sent: usize,
    clicks_heard: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    counters: Counters,
}

#[derive(Default, Debug)]
pub(crate) struct Counters {
    received: u64,
    late: u64,
    concealed: u64,
    underruns: u64,
    sink_underruns: u64,
    first_write_us: u64,
}

impl Counters {
    fn clean(&self) -> bool {
        self.first_write_us != 0
            && self.late == 0
            && self.concealed == 0
            && self.underruns == 0
            && self.sink_underruns == 0
    }
}

/// The agent's "live stream ended" line for `broadcast`, once it is in the log.
async fn summary(log: &Path, broadcast: u64) -> anyhow::Result<Counters> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let needle = format!("broadcast=b{broadcast} ");
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("live stream") && l.contains(&needle))
        {
            let field = |name: &str| -> u64 {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{name}=")))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            return Ok(Counters {
                received: field("received"),
                late: field("late"),
                concealed: field("concealed"),
                underruns: field("underruns"),
                sink_underruns: field("sink_underruns"),
                first_write_us: field("first_write_us"),
            });
        }
        if Instant::now() > deadline {
            bail!(
                "no end-of-stream line for broadcast {broadcast} in {}",
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What an agent with a `wav-rt:DIR/speaker.wav` sink played of live `broadcast`: its
/// counters, and when each click played (controller time, µs).
pub(crate) async fn heard(
    log: &Path,
    dir: &Path,
    broadcast: u64,
) -> anyhow::Result<(Counters, Vec<u64>)> {
    let counters = summary(log, broadcast).await?;
    let wav = dir.join(format!("speaker-b{broadcast}.wav"));
    if counters.first_write_us == 0 {
        // Nothing was played (every frame came too late for its slot).
        return Ok((counters, Vec::new()));
    }
    let reader = hound::WavReader::open(&wav).with_context(|| format!("{}", wav.display()))?;
    let samples: Vec<f32> = match reader.spec().sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => reader
            .into_samples::<i16>()
            .map(|s| s.map(|v| f32::from(v) / 32768.0))
            .collect::<Result<_, _>>()?,
    };
    let start = counters.first_write_us as f64 + DEVICE_START_US;
    let times = onsets(&samples)
        .into_iter()
        .map(|idx| (start + idx as f64 * 1e6 / 48_000.0) as u64)
        .collect();
    Ok((counters, times))
}

/// Sample indices where a click starts: above 0.1 after at least 50 ms below 0.02.
fn onsets(samples: &[f32]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut quiet = 0usize;
    for (i, &s) in samples.iter().enumerate() {
        if s.abs() > 0.1 {
            if quiet >= 2400 {
                out.push(i);
            }
            quiet = 0;
        } else if s.abs() < 0.02 {
            quiet += 1;
        }
    }
    out
}

async fn one_setting(
    api: &Api,
    ctl: &Controller,
    agent: &Agent,
    dir: &Path,
    latency_ms: u64,
    seconds: u64,
) -> anyhow::Result<Setting> {
    let mut source =
        LiveSource::open(api, ctl, json!({"agents": ["bench-1"]}), Some(latency_ms)).await?;
    let broadcast = source.broadcast;
    let mut encoder =
        dalaba_audio::codec::Encoder::new(&dalaba_audio::codec::EncoderSettings::live())?;
    let (click, silence) = (crate::rig::click_frame(), vec![0.0f32; FRAME]);
    let mut clicks = Vec::new(); // when each click's frame entered the encoder, µs
    let frames = seconds * 50;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for k in 0..frames {
        tick.tick().await;
        let is_click = k % CLICK_EVERY == 5;
        let entered = source
            .send_pcm(&mut encoder, if is_click { &click } else { &silence })
            .await?;
        if is_click {
            clicks.push(entered);
        }
    }
    source.end().await?;
    let (counters, heard) = heard(&agent.log, dir, broadcast).await?;
    let mut latencies: Vec<f64> = Vec::new();
    for played in heard {
        let played = played as f64;
        // The click whose frame entered the encoder nearest `latency` before it.
        let expected = played - latency_ms as f64 * 1000.0;
        if let Some(&entered) = clicks.iter().min_by(|a, b| {
            (**a as f64 - expected)
                .abs()
                .total_cmp(&(**b as f64 - expected).abs())
        }) {
            if (entered as f64 - expected).abs() < 90_000.0 {
                latencies.push((played - entered as f64) / 1000.0);
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| crate::rig::percentile(&latencies, p);
    Ok(Setting {
        latency_ms,
        seconds,
        clicks_sent: clicks.len(),
        clicks_heard: latencies.len(),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        counters,
    })
}

/// Measures the default setting for `seconds`, then each of `sweep` (highest first) for
/// `sweep_seconds`; prints a table and returns the figures.
pub(crate) async fn suite(
    default_ms: u64,
    seconds: u64,
    sweep: &[u64],
    sweep_seconds: u64,
) -> anyhow::Result<Value> {
    let dir = crate::rig::scratch("latency");
    let (ctl, api, agent, agent_dir) = crate::rig::one_agent(&dir).await?;
    println!("\nlive latency: PCM into the encoder -> played at a real agent's paced sink");
    println!(
        "{:>8} {:>6} {:>8} {:>9} {:>9} {:>9} {:>6} {:>6} {:>9} {:>6}",
        "setting", "secs", "clicks", "p50", "p99", "max", "late", "conc.", "underruns", "clean"
    );
    let mut rows = Vec::new();
    let mut lowest_clean = None;
    let plan: Vec<(u64, u64)> = std::iter::once((default_ms, seconds))
        .chain(sweep.iter().map(|&l| (l, sweep_seconds)))
        .collect();
    for (i, &(latency_ms, secs)) in plan.iter().enumerate() {
        let s = one_setting(&api, &ctl, &agent, &agent_dir, latency_ms, secs).await?;
        let c = &s.counters;
        println!(
            "{:>6}ms {:>6} {:>3}/{:<4} {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>6} {:>6} {:>4}+{:<4} {:>6}",
            s.latency_ms,
            s.seconds,
            s.clicks_heard,
            s.clicks_sent,
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            c.late,
            c.concealed,
            c.underruns,
            c.sink_underruns,
            if c.clean() { "yes" } else { "no" }
        );
        if i > 0 && c.clean() && secs >= 60 {
            lowest_clean = Some(latency_ms);
        }
        rows.push(json!({
            "latency_setting_ms": s.latency_ms, "seconds": s.seconds, "clicks_sent": s.clicks_sent,
            "clicks_heard": s.clicks_heard, "latency_p50_ms": s.p50_ms, "latency_p99_ms": s.p99_ms,
            "latency_max_ms": s.max_ms, "frames_received": c.received, "frames_late": c.late,
            "slots_concealed": c.concealed, "jitter_underruns": c.underruns,
            "sink_underruns": c.sink_underruns, "clean": c.clean(),
        }));
    }
    match lowest_clean {
        Some(l) => println!("lowest setting clean for 60 s: {l} ms"),
        None => println!(
            "lowest setting clean for 60 s: not established (sweep shorter than 60 s or none clean)"
        ),
    }
    drop(agent);
    drop(ctl);
    crate::rig::cleanup(&dir);
    Ok(json!({"rows": rows, "lowest_clean_60s_ms": lowest_clean}))
}

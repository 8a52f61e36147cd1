//! Fan-out and alert reach: one real controller, N simulated agents in this process, one
//! live stream to all (or K calls at once, each to its share of the towns: `--calls`),
//! one alert to all.
//!
//! The simulated agents run on one event loop in this process ([`crate::sim`]): each
//! checks every live frame it is sent (stream, sequence, delivery lag) and answers
//! `play_media` with `waiting` at once and `playing` when its start comes.
//!
//! Measured per N:
//! - fan-out: controller CPU (% of one core, from /proc) while relaying a 24 kbps stream,
//!   controller memory per agent (RSS growth from none to N agents stored and connected)
//!   and per connection (from N agents stored to N connected), frames delivered on time
//!   (lag ≤ the call's latency, as the controller gave it), median and p99 delivery lag, and the load
//!   generator's own CPU over the same time (this whole process: the simulated agents'
//!   loop, the live source, the API client), so that a figure limited by the generator
//!   says so;
//! - alert reach, in the middle of the call: from `POST /api/alerts` (the whole county;
//!   the alert's audio made by a first, identical alert before the call) to the last agent
//!   holding the signed `play_media`, and from its start to the controller holding every
//!   `playing` receipt. Controller CPU is over the first half of the stream (the relay
//!   alone), frames on time over all of it (the alert included).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use dalaba_protocol::Timestamp;
use serde_json::{Value, json};

use crate::rig::{Api, LiveSource, now_us, start_controller, usage};
use crate::sim::{Fleet, Target};

pub(crate) struct Run {
    n: usize,
    connect_s: f64,
    rss_per_agent_kb: f64,
    rss_per_connection_kb: f64,
    cpu_pct: f64,
    cpu_pct_per_1000: f64,
    frames_expected: u64,
    frames_received: u64,
    on_time_pct: f64,
    out_of_order: u64,
    lag_p50_ms: f64,
    lag_p99_ms: f64,
    lag_max_ms: f64,
    generator_cpu_pct: f64,
    late_by_second: Vec<u64>,
    latency_ms: u64,
    calls: usize,
    sessions_ended: String,
    reach_command_ms: f64,
    reach_receipts_ms: f64,
}

/// The towns of the benchmark's county, agents spread evenly over them.
const TOWNS: usize = 100;

/// Agent `i`'s town (`330106` + 3 digits) and its village under it.
fn area_of(i: usize) -> String {
    format!("330106{:03}{:03}", i % TOWNS, i / TOWNS % 1000)
}

/// Who each of `calls` live calls made at once reaches: everyone for one call, else
/// call `j` the towns `t` with `t mod calls = j` (every agent in exactly one call).
fn call_targets(calls: usize) -> Vec<Value> {
    if calls <= 1 {
        return vec![json!({"all": true})];
    }
    (0..calls)
        .map(|j| {
            let towns: Vec<String> = (j..TOWNS)
                .step_by(calls)
                .map(|t| format!("330106{t:03}"))
                .collect();
            json!({ "areas": towns })
        })
        .collect()
}

pub(crate) async fn run(
    n: usize,
    seconds: u64,
    latency_ms: Option<u64>,
    calls: usize,
) -> anyhow::Result<Run> {
    let dir = crate::rig::scratch(&format!("fanout-{n}"));
    eprintln!(
        "N = {n}: controller log in {}",
        dir.with_extension("log").display()
    );
    let ctl = start_controller(&dir).await?;
    let pid = ctl.pid()?;
    let api = Api::login(&ctl).await?;
    let (_, rss0) = usage(pid);
    // Agents in the towns of one county.
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        tokens.push(api.add_agent(&format!("sim-{i}"), &area_of(i)).await?);
    }
    // Registered, not yet connected: what connections add is measured from here.
    let (_, rss_registered) = usage(pid);
    let started = Instant::now();
    // At most 64 agents connecting and logging in at once: the set-up is not measured.
    let target = Target {
        addr: ctl.agents.parse().context("the agent endpoint")?,
        pin: ctl.fingerprint,
        key: ctl.key,
    };
    // On time: within the call's latency (set once the call is made).
    let fleet = Fleet::start(target, tokens, 64, Duration::ZERO)?;
    let shared = &fleet.counters;
    let deadline = Instant::now() + Duration::from_secs(300);
    while shared.ready.load(Ordering::Relaxed) < n as u64 {
        if Instant::now() > deadline {
            bail!(
                "only {} of {n} agents connected; sessions ended: {}",
                shared.ready.load(Ordering::Relaxed),
                shared.take_ended()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = started.elapsed().as_secs_f64();
    // Let logins' status reports and clock sync settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, rss1) = usage(pid);

    // Alert reach: an alert (a drill) to the whole county with a clip as its message. The
    // first one, before the call, makes the alert's audio (prelude + clip, once per mode
    // and message); the second, the same, is measured in the middle of the live call (an
    // alert arriving mid-call): from the API call to the last agent holding its signed
    // `play_media` (*cmd*), and from its start (2 s after, the alert's lead, when every
    // agent reports `playing`) to the controller holding every receipt (*rcpt*).
    let pcm: Vec<f32> = (0..960).map(|i| (i as f32 * 0.13).sin() * 0.3).collect();
    let media_id = api.upload(&dir, "clip.wav", &pcm.repeat(50)).await?;
    let alert = json!({"severity": "red", "event": "演练", "areas": ["330106"], "text": "演练",
        "media_id": media_id, "mode": "drill", "expires_at": now_us() + 600_000_000});
    alert_reach(&api, shared, n, &alert).await?;

    // One live stream to everyone (or `calls` at once, each to its towns): a 24 kbps Opus
    // source each, at real pace.
    let mut sources = Vec::with_capacity(calls);
    for target in call_targets(calls) {
        sources.push(LiveSource::open(&api, &ctl, target, latency_ms).await?);
    }
    // Calls of one size are given one latency; were they not, the longest is the bound.
    let latency_ms = sources.iter().map(|s| s.latency_ms).max().unwrap_or(150);
    shared.lags.set_on_time(Duration::from_millis(latency_ms));
    tokio::time::sleep(Duration::from_millis(500)).await; // start_live reaches everyone
    let mut encoder =
        dalaba_audio::codec::Encoder::new(&dalaba_audio::codec::EncoderSettings::live())?;
    let packet = encoder.encode(&pcm)?.to_vec();
    let frames = seconds * 50;
    let (cpu0, _) = usage(pid);
    let (gen0, _) = usage(std::process::id());
    let t0 = Instant::now();
    // CPU is measured over the first half of the stream, the relay alone; frames on time
    // over all of it, the alert in its middle included.
    let half = Duration::from_millis(seconds * 1000 / 2);
    let stream = async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for _ in 0..frames {
            tick.tick().await;
            for source in &mut sources {
                source.send(&packet, Timestamp(now_us())).await?;
            }
        }
        anyhow::Ok(())
    };
    let mid_call = async {
        tokio::time::sleep(half).await;
        let used = (usage(pid).0, usage(std::process::id()).0, t0.elapsed());
        let reach = alert_reach(&api, shared, n, &alert).await?;
        anyhow::Ok((used, reach))
    };
    let (streamed, measured) = tokio::join!(stream, mid_call);
    streamed?;
    let ((cpu1, gen1, wall), (reach_command_ms, reach_receipts_ms)) = measured?;
    let wall = wall.as_secs_f64();
    for source in sources {
        source.end().await?;
    }
    tokio::time::sleep(Duration::from_millis(latency_ms + 500)).await;
    let cpu_pct = (cpu1 - cpu0) / wall * 100.0;
    let expected = frames * n as u64;
    let lags = &shared.lags;
    let result = Run {
        n,
        connect_s,
        rss_per_agent_kb: rss1.saturating_sub(rss0) as f64 / n as f64 / 1024.0,
        rss_per_connection_kb: rss1.saturating_sub(rss_registered) as f64 / n as f64 / 1024.0,
        cpu_pct,
        cpu_pct_per_1000: cpu_pct / n as f64 * 1000.0,
        frames_expected: expected,
        frames_received: lags.frames.load(Ordering::Relaxed),
        on_time_pct: lags.on_time.load(Ordering::Relaxed) as f64 / expected as f64 * 100.0,
        out_of_order: lags.out_of_order.load(Ordering::Relaxed),
        lag_p50_ms: lags.percentile(0.5),
        lag_p99_ms: lags.percentile(0.99),
        lag_max_ms: lags.percentile(1.0),
        generator_cpu_pct: (gen1 - gen0) / wall * 100.0,
        late_by_second: lags.late_by_second(seconds as usize),
        latency_ms,
        calls,
        sessions_ended: shared.take_ended(),
        reach_command_ms,
        reach_receipts_ms,
    };
    drop(fleet);
    drop(ctl);
    crate::rig::cleanup(&dir);
    Ok(result)
}

/// Runs the fan-out and alert-reach benchmark for each N; prints a table, returns figures.
pub(crate) async fn suite(
    ns: &[usize],
    seconds: u64,
    latency_ms: Option<u64>,
    calls: usize,
) -> anyhow::Result<Value> {
    let latency = latency_ms.map_or("the controller's default".to_owned(), |ms| {
        format!("{ms} ms")
    });
    let streams = if calls == 1 {
        "one live call to all".to_owned()
    } else {
        format!("{calls} live calls at once, each to its towns")
    };
    println!("\nfan-out and alert reach ({streams}, {seconds} s per N, live latency {latency})");
    println!(
        "{:>6} {:>9} {:>10} {:>10} {:>9} {:>11} {:>9} {:>8} {:>8} {:>8} {:>10} {:>11} {:>8}",
        "agents",
        "connect",
        "RSS/agent",
        "RSS/conn",
        "ctl CPU",
        "CPU/1000ag",
        "on time",
        "lag p50",
        "lag p99",
        "lag max",
        "reach cmd",
        "rcpt-start",
        "gen CPU"
    );
    let mut out = Vec::new();
    for &n in ns {
        // A size the machine cannot set up (connections reset while thousands connect) is
        // reported and the next one still runs.
        let r = match run(n, seconds, latency_ms, calls).await {
            Ok(r) => r,
            Err(e) => {
                println!("{n:>6} did not complete: {e:#}");
                out.push(json!({"agents": n, "error": format!("{e:#}")}));
                continue;
            }
        };
        println!(
            "{:>6} {:>8.1}s {:>7.1} KB {:>7.1} KB {:>8.1}% {:>10.1}% {:>8.3}% {:>6.1}ms {:>6.1}ms {:>6.1}ms {:>8.0}ms {:>9.0}ms {:>7.1}%",
            r.n,
            r.connect_s,
            r.rss_per_agent_kb,
            r.rss_per_connection_kb,
            r.cpu_pct,
            r.cpu_pct_per_1000,
            r.on_time_pct,
            r.lag_p50_ms,
            r.lag_p99_ms,
            r.lag_max_ms,
            r.reach_command_ms,
            r.reach_receipts_ms,
            r.generator_cpu_pct
        );
        println!("       the call's latency: {} ms", r.latency_ms);
        if r.late_by_second.iter().any(|&l| l > 0) {
            println!("       late frames by second: {:?}", r.late_by_second);
        }
        if !r.sessions_ended.is_empty() {
            println!("       sessions ended during the run: {}", r.sessions_ended);
        }
        out.push(json!({
            "agents": r.n, "connect_s": r.connect_s, "controller_rss_per_agent_kb": r.rss_per_agent_kb,
            "controller_rss_per_connection_kb": r.rss_per_connection_kb,
            "controller_cpu_pct_of_core": r.cpu_pct, "controller_cpu_pct_per_1000_agents": r.cpu_pct_per_1000,
            "frames_expected": r.frames_expected, "frames_received": r.frames_received, "frames_on_time_pct": r.on_time_pct,
            "frames_out_of_order": r.out_of_order, "delivery_lag_p50_ms": r.lag_p50_ms,
            "delivery_lag_p99_ms": r.lag_p99_ms, "delivery_lag_max_ms": r.lag_max_ms, "alert_reach_command_ms": r.reach_command_ms,
            "alert_reach_receipts_ms": r.reach_receipts_ms, "live_latency_ms": r.latency_ms,
            "stream_seconds": seconds, "live_calls": r.calls, "generator_cpu_pct_of_core": r.generator_cpu_pct,
            "late_frames_by_second": r.late_by_second, "sessions_ended": r.sessions_ended,
        }));
    }
    Ok(Value::Array(out))
}

/// Sends `alert` to the whole county and measures its reach: (ms from the API call to the
/// last agent holding its command, ms from its start to every `playing` receipt held).
async fn alert_reach(
    api: &Api,
    shared: &crate::sim::Counters,
    n: usize,
    alert: &Value,
) -> anyhow::Result<(f64, f64)> {
    shared.alert_received.store(0, Ordering::Relaxed);
    shared.alert_last_us.store(0, Ordering::Relaxed);
    let asked_us = now_us();
    let asked = Instant::now();
    let sent = api.post("/api/alerts", alert.clone()).await?;
    let id = sent["broadcast_id"]
        .as_u64()
        .context("the alert's broadcast")?;
    while shared.alert_received.load(Ordering::Relaxed) < n as u64 {
        if asked.elapsed() > Duration::from_secs(120) {
            bail!(
                "the alert reached {} of {n}",
                shared.alert_received.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let command_ms = shared
        .alert_last_us
        .load(Ordering::Relaxed)
        .saturating_sub(asked_us) as f64
        / 1000.0;
    loop {
        let b = api.get(&format!("/api/broadcasts/{id}")).await?;
        let start = b["start_at"].as_u64().context("start_at")?;
        let playing = b["receipts"]
            .as_array()
            .map_or(0, |r| r.iter().filter(|x| x["started_at"].is_u64()).count());
        if playing >= n {
            let receipts_ms = now_us().saturating_sub(start) as f64 / 1000.0;
            return Ok((command_ms, receipts_ms));
        }
        if asked.elapsed() > Duration::from_secs(120) {
            bail!("{playing} of {n} receipts");
        }
        // Each look reads and sends every receipt (1 MB of JSON at 5,000 agents): looking
        // every 20 ms was itself a load on the controller's core during the call, so every
        // 100 ms (the figure is to within that).
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

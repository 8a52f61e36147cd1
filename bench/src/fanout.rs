//! Fan-out and alert reach: one real controller, N simulated agents in this process, one
//! live stream, one alert to all.
//!
//! A simulated agent is protocol-level: the agent's own sans-IO `Session` over a pinned
//! TLS WebSocket (enrol, login, clock sync, heartbeats, every command's signature
//! verified), which checks each live frame's stream and sequence and records its delivery
//! lag (arrival minus capture time; one machine, one clock), and answers `play_media` with
//! `waiting` at once and `playing` when its start comes, without downloading or decoding
//! anything.
//!
//! Measured per N:
//! - fan-out: controller CPU (% of one core, from /proc) while relaying a 24 kbps stream,
//!   controller memory per agent (RSS growth from 0 to N agents), frames delivered on time
//!   (lag ≤ the live latency, 150 ms), median and p99 delivery lag;
//! - alert reach: from `POST /api/alerts` (the whole county; the alert's audio made by a
//!   first, identical alert) to the last agent holding the signed `play_media`, and from
//!   its start to the controller holding every `playing` receipt.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use dalaba_agent::session::{Event, Session, SessionConfig};
use dalaba_protocol::Timestamp;
use dalaba_protocol::audio_frame;
use dalaba_protocol::command::Command;
use dalaba_protocol::control::{AgentMessage, Receipt, ReceiptState};
use dalaba_protocol::keys::PublicKey;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::rig::{Api, LiveSource, now_us, start_controller, usage};

/// The live latency of the stream, ms: a frame is on time when its lag is at most this.
pub(crate) const LATENCY_MS: u64 = 150;

/// Delivery lags, 1 ms buckets up to 5 s.
struct Lags {
    buckets: Vec<AtomicU64>,
    frames: AtomicU64,
    on_time: AtomicU64,
    out_of_order: AtomicU64,
}

impl Lags {
    fn new() -> Self {
        Self {
            buckets: (0..5001).map(|_| AtomicU64::new(0)).collect(),
            frames: AtomicU64::new(0),
            on_time: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
        }
    }

    fn record(&self, lag_us: u64) {
        let ms = (lag_us / 1000).min(5000) as usize;
        self.buckets[ms].fetch_add(1, Ordering::Relaxed);
        self.frames.fetch_add(1, Ordering::Relaxed);
        if lag_us <= LATENCY_MS * 1000 {
            self.on_time.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn percentile(&self, p: f64) -> f64 {
        let total: u64 = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        let want = (total as f64 * p).ceil() as u64;
        let mut seen = 0;
        for (ms, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= want && total > 0 {
                return ms as f64 + 0.5;
            }
        }
        f64::NAN
    }
}

/// What the simulated agents saw.
struct Shared {
    lags: Lags,
    ready: AtomicU64,
    alert_received: AtomicU64,
    alert_last_us: AtomicU64,
}

async fn sim_agent(
    addr: String,
    pin: [u8; 32],
    key: PublicKey,
    token: String,
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let config = Arc::new(dalaba_agent::tls::client_config(pin)?);
    let tcp = tokio::net::TcpStream::connect(&addr).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(rustls::pki_types::ServerName::try_from("127.0.0.1")?, tcp)
        .await?;
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("wss://{addr}/agent/ws"), tls).await?;
    let mut session = Session::new(
        SessionConfig {
            agent_id: None,
            enrolment_token: Some(token),
            controller_key: key,
            software: "dalaba-loadtest".into(),
            last_command_seq: 0,
        },
        ed25519_dalek::SigningKey::from_bytes(&rand::random()),
        now_us(),
    );
    let mut stream: Option<(u32, u32)> = None; // (stream id, next seq)
    // Commands to play, answered `playing` when their start comes, as a real agent does.
    let mut starts: Vec<(u64, dalaba_protocol::BroadcastId)> = Vec::new();
    loop {
        let now = now_us();
        starts.retain(|&(start, broadcast_id)| {
            if start > now {
                return true;
            }
            session.send(AgentMessage::Receipt(Receipt {
                broadcast_id,
                entry_id: None,
                state: ReceiptState::Playing,
                at: Timestamp(now),
            }));
            false
        });
        while let Some(m) = session.poll_transmit(now_us()) {
            ws.send(Message::Text(m.to_json().into())).await?;
        }
        while let Some(event) = session.poll_event() {
            match event {
                Event::Ready => {
                    shared.ready.fetch_add(1, Ordering::Relaxed);
                }
                Event::Command(c) => match c.command {
                    Command::StartLive(s) => stream = Some((s.stream_id.0, 0)),
                    Command::PlayMedia(p) => {
                        let t = now_us();
                        shared.alert_received.fetch_add(1, Ordering::Relaxed);
                        shared.alert_last_us.fetch_max(t, Ordering::Relaxed);
                        session.send(AgentMessage::Receipt(Receipt {
                            broadcast_id: p.broadcast_id,
                            entry_id: None,
                            state: ReceiptState::Waiting,
                            at: Timestamp(t),
                        }));
                        starts.push((p.start_at.0, p.broadcast_id));
                    }
                    _ => {}
                },
                Event::Closed { reason, .. } => bail!("closed: {reason}"),
                _ => {}
            }
        }
        // Receipts queued while handling events go out now, not at the next wake.
        while let Some(m) = session.poll_transmit(now_us()) {
            ws.send(Message::Text(m.to_json().into())).await?;
        }
        let next = session
            .poll_timeout()
            .into_iter()
            .chain(starts.iter().map(|s| s.0))
            .min();
        let wake = next.map_or(Duration::from_secs(30), |t| {
            Duration::from_micros(t.saturating_sub(now_us()))
        });
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => session.handle_message(t.as_bytes(), now_us()),
                Some(Ok(Message::Binary(b))) => {
                    let arrived = now_us();
                    if let (Ok(f), Some((id, next))) = (audio_frame::decode_message(&b), stream.as_mut()) {
                        if f.header.stream_id.0 == *id && f.header.samples > 0 {
                            if f.header.seq != *next {
                                shared.lags.out_of_order.fetch_add(1, Ordering::Relaxed);
                            }
                            *next = f.header.seq.wrapping_add(1);
                            shared.lags.record(arrived.saturating_sub(f.header.capture_time.0));
                        }
                    }
                }
                Some(Ok(_)) => {}
                _ => return Ok(()),
            },
            () = tokio::time::sleep(wake) => {}
        }
    }
}

pub(crate) struct Run {
    n: usize,
    connect_s: f64,
    rss_per_agent_kb: f64,
    cpu_pct: f64,
    cpu_pct_per_1000: f64,
    frames_expected: u64,
    on_time_pct: f64,
    out_of_order: u64,
    lag_p50_ms: f64,
    lag_p99_ms: f64,
    lag_max_ms: f64,
    reach_command_ms: f64,
    reach_receipts_ms: f64,
}

pub(crate) async fn run(n: usize, seconds: u64) -> anyhow::Result<Run> {
    let dir = crate::rig::scratch(&format!("fanout-{n}"));
    eprintln!(
        "N = {n}: controller log in {}",
        dir.with_extension("log").display()
    );
    let ctl = start_controller(&dir).await?;
    let pid = ctl.pid()?;
    let api = Api::login(&ctl).await?;
    let (_, rss0) = usage(pid);
    // Agents in 100 villages of one county.
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let area = format!("330106{:03}{:03}", i % 100, i / 100 % 1000);
        tokens.push(api.add_agent(&format!("sim-{i}"), &area).await?);
    }
    let shared = Arc::new(Shared {
        lags: Lags::new(),
        ready: AtomicU64::new(0),
        alert_received: AtomicU64::new(0),
        alert_last_us: AtomicU64::new(0),
    });
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64)); // connections being set up at once
    for t in tokens {
        let (addr, shared, sem) = (ctl.agents.clone(), Arc::clone(&shared), Arc::clone(&sem));
        let (pin, key) = (ctl.fingerprint, ctl.key);
        tokio::spawn(async move {
            let permit = sem.acquire_owned().await;
            let ready_before = shared.ready.load(Ordering::Relaxed);
            let agent = sim_agent(addr, pin, key, t, Arc::clone(&shared));
            tokio::pin!(agent);
            // Hold the permit until this agent is in session (or has failed).
            loop {
                tokio::select! {
                    r = &mut agent => { if let Err(e) = r { eprintln!("sim agent: {e:#}"); } return; }
                    () = tokio::time::sleep(Duration::from_millis(5)) => {
                        if shared.ready.load(Ordering::Relaxed) > ready_before { break; }
                    }
                }
            }
            drop(permit);
            if let Err(e) = agent.await {
                eprintln!("sim agent: {e:#}");
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while shared.ready.load(Ordering::Relaxed) < n as u64 {
        if Instant::now() > deadline {
            bail!(
                "only {} of {n} agents connected",
                shared.ready.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = started.elapsed().as_secs_f64();
    // Let logins' status reports and clock sync settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, rss1) = usage(pid);

    // One live stream to everyone: a 24 kbps Opus source at real pace.
    let mut source = LiveSource::open(&api, &ctl, json!({"all": true}), LATENCY_MS).await?;
    tokio::time::sleep(Duration::from_millis(500)).await; // start_live reaches everyone
    let mut encoder =
        dalaba_audio::codec::Encoder::new(&dalaba_audio::codec::EncoderSettings::live())?;
    let pcm: Vec<f32> = (0..960).map(|i| (i as f32 * 0.13).sin() * 0.3).collect();
    let packet = encoder.encode(&pcm)?.to_vec();
    let frames = seconds * 50;
    let (cpu0, _) = usage(pid);
    let t0 = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..frames {
        tick.tick().await;
        source.send(&packet, Timestamp(now_us())).await?;
    }
    let (cpu1, _) = usage(pid);
    let wall = t0.elapsed().as_secs_f64();
    source.end().await?;
    tokio::time::sleep(Duration::from_millis(LATENCY_MS + 500)).await;
    let cpu_pct = (cpu1 - cpu0) / wall * 100.0;

    // Alert reach: an alert (a drill) to the whole county with a clip as its message. The
    // first one makes the alert's audio (prelude + clip, once per mode and message); the
    // second, the same, is measured: from the API call to the last agent holding its
    // signed `play_media` (*cmd*), and from its start (2 s after, the alert's lead, when
    // every agent reports `playing`) to the controller holding every receipt (*rcpt*).
    let media_id = api.upload(&dir, "clip.wav", &pcm.repeat(50)).await?;
    let alert = json!({"severity": "red", "event": "演练", "areas": ["330106"], "text": "演练",
        "media_id": media_id, "mode": "drill", "expires_at": now_us() + 600_000_000});
    let mut reach = Vec::new();
    for _ in 0..2 {
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
        let receipts_ms = loop {
            let b = api.get(&format!("/api/broadcasts/{id}")).await?;
            let start = b["start_at"].as_u64().context("start_at")?;
            let playing = b["receipts"]
                .as_array()
                .map_or(0, |r| r.iter().filter(|x| x["started_at"].is_u64()).count());
            if playing >= n {
                break now_us().saturating_sub(start) as f64 / 1000.0;
            }
            if asked.elapsed() > Duration::from_secs(120) {
                bail!("{playing} of {n} receipts");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        reach.push((command_ms, receipts_ms));
    }
    let (reach_command_ms, reach_receipts_ms) = reach[1];
    let expected = frames * n as u64;
    let lags = &shared.lags;
    let result = Run {
        n,
        connect_s,
        rss_per_agent_kb: rss1.saturating_sub(rss0) as f64 / n as f64 / 1024.0,
        cpu_pct,
        cpu_pct_per_1000: cpu_pct / n as f64 * 1000.0,
        frames_expected: expected,
        on_time_pct: lags.on_time.load(Ordering::Relaxed) as f64 / expected as f64 * 100.0,
        out_of_order: lags.out_of_order.load(Ordering::Relaxed),
        lag_p50_ms: lags.percentile(0.5),
        lag_p99_ms: lags.percentile(0.99),
        lag_max_ms: lags.percentile(1.0),
        reach_command_ms,
        reach_receipts_ms,
    };
    drop(ctl);
    crate::rig::cleanup(&dir);
    Ok(result)
}

/// Runs the fan-out and alert-reach benchmark for each N; prints a table, returns figures.
pub(crate) async fn suite(ns: &[usize], seconds: u64) -> anyhow::Result<Value> {
    println!("\nfan-out and alert reach ({seconds} s of live stream per N)");
    println!(
        "{:>6} {:>9} {:>10} {:>9} {:>11} {:>9} {:>8} {:>8} {:>8} {:>10} {:>11}",
        "agents",
        "connect",
        "RSS/agent",
        "ctl CPU",
        "CPU/1000ag",
        "on time",
        "lag p50",
        "lag p99",
        "lag max",
        "reach cmd",
        "rcpt-start"
    );
    let mut out = Vec::new();
    for &n in ns {
        // A size the machine cannot set up (connections reset while thousands connect) is
        // reported and the next one still runs.
        let r = match run(n, seconds).await {
            Ok(r) => r,
            Err(e) => {
                println!("{n:>6} did not complete: {e:#}");
                out.push(json!({"agents": n, "error": format!("{e:#}")}));
                continue;
            }
        };
        println!(
            "{:>6} {:>8.1}s {:>7.1} KB {:>8.1}% {:>10.1}% {:>8.3}% {:>6.1}ms {:>6.1}ms {:>6.1}ms {:>8.0}ms {:>9.0}ms",
            r.n,
            r.connect_s,
            r.rss_per_agent_kb,
            r.cpu_pct,
            r.cpu_pct_per_1000,
            r.on_time_pct,
            r.lag_p50_ms,
            r.lag_p99_ms,
            r.lag_max_ms,
            r.reach_command_ms,
            r.reach_receipts_ms
        );
        out.push(json!({
            "agents": r.n, "connect_s": r.connect_s, "controller_rss_per_agent_kb": r.rss_per_agent_kb,
            "controller_cpu_pct_of_core": r.cpu_pct, "controller_cpu_pct_per_1000_agents": r.cpu_pct_per_1000,
            "frames_expected": r.frames_expected, "frames_on_time_pct": r.on_time_pct,
            "frames_out_of_order": r.out_of_order, "delivery_lag_p50_ms": r.lag_p50_ms,
            "delivery_lag_p99_ms": r.lag_p99_ms, "delivery_lag_max_ms": r.lag_max_ms, "alert_reach_command_ms": r.reach_command_ms,
            "alert_reach_receipts_ms": r.reach_receipts_ms, "live_latency_ms": LATENCY_MS,
            "stream_seconds": seconds,
        }));
    }
    Ok(Value::Array(out))
}

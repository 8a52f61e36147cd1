//! `dalaba-talk`: speak live to Dalaba speakers from a small Linux device with a
//! microphone (a village head's handheld without a browser, a desk microphone at the
//! township office).
//!
//! ```text
//! DALABA_PASSWORD=... dalaba-talk --controller http://10.0.0.5:8080 --user head-dong
//! dalaba-talk --controller http://10.0.0.5:8080 --user op-li --area 330106001 --seconds 30
//! dalaba-talk --list-devices
//! ```
//!
//! It logs in, announces a live call to its target (a village head's own village unless
//! told otherwise; the controller checks the scope), captures the microphone through cpal
//! (ALSA), encodes Opus (20 ms frames, in-band FEC), timestamps each frame in controller
//! time (clock sync by ping/pong on the source socket) and streams it until Enter, Ctrl-C
//! or `--seconds`; then it ends the stream so the speakers stop at once.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use dalaba_audio::capture::CpalCapture;
use dalaba_audio::codec::{Encoder, EncoderSettings};
use dalaba_protocol::audio_frame::{AudioHeader, FrameFlags};
use dalaba_protocol::{StreamId, Timestamp};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

#[derive(Parser)]
#[command(name = "dalaba-talk", version, about = "Speak live to Dalaba speakers")]
struct Cli {
    /// The controller's API, e.g. http://10.0.0.5:8080.
    #[arg(long, required_unless_present = "list_devices")]
    controller: Option<String>,
    /// User name (the password comes from DALABA_PASSWORD, or is read from standard input).
    #[arg(long, required_unless_present = "list_devices")]
    user: Option<String>,
    /// Speak to this area (area-code prefix); repeatable.
    #[arg(long)]
    area: Vec<String>,
    /// Speak to this speaker; repeatable.
    #[arg(long)]
    agent: Vec<String>,
    /// Input device (`dalaba-talk --list-devices`); default: the system's.
    #[arg(long)]
    device: Option<String>,
    /// Speak a recording instead of the microphone: a 48 kHz mono 16-bit WAV file, sent
    /// at its real pace (a prepared announcement, read out live).
    #[arg(long, conflicts_with = "device")]
    input: Option<std::path::PathBuf>,
    /// Stop after this many seconds (default: when Enter is pressed).
    #[arg(long)]
    seconds: Option<f64>,
    /// Play latency on the speakers, ms (default: the controller's, 150).
    #[arg(long)]
    latency_ms: Option<u32>,
    /// List input devices and exit.
    #[arg(long)]
    list_devices: bool,
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.list_devices {
        for (name, desc) in dalaba_audio::capture::input_devices()? {
            println!("{name}\t{desc}");
        }
        return Ok(());
    }
    let (Some(base), Some(user)) = (cli.controller.clone(), cli.user.clone()) else {
        bail!("--controller and --user are required");
    };
    let base = base.trim_end_matches('/').to_owned();
    let password = match std::env::var("DALABA_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            eprint!("password for {user}: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end().to_owned()
        }
    };
    // The source first: no call is announced if there is nothing to say it with.
    let mut mic = match &cli.input {
        Some(path) => Source::File(Recording::open(path)?),
        None => {
            Source::Mic(CpalCapture::open(cli.device.as_deref()).context("opening the microphone")?)
        }
    };

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()?;
    let call = |method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>| {
        let mut req = http.request(method, format!("{base}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await?;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                bail!(
                    "{status}: {}",
                    body["error"]["message"]
                        .as_str()
                        .unwrap_or("request refused")
                );
            }
            anyhow::Ok(body)
        }
    };
    let login = call(
        reqwest::Method::POST,
        "/api/login",
        None,
        Some(json!({"name": user, "password": password})),
    )
    .await
    .context("logging in")?;
    let token = login["token"].as_str().context("no token")?.to_owned();
    let me = call(reqwest::Method::GET, "/api/me", Some(&token), None).await?;
    let mut target = json!({"areas": cli.area, "agents": cli.agent});
    if cli.area.is_empty() && cli.agent.is_empty() {
        if me["role"] == "village_head" {
            target = json!({"areas": me["scopes"]});
        } else {
            bail!("name a target: --area CODE or --agent ID");
        }
    }
    let mut body = json!({"target": target});
    if let Some(l) = cli.latency_ms {
        body["latency_ms"] = json!(l);
    }
    let live = call(reqwest::Method::POST, "/api/live", Some(&token), Some(body))
        .await
        .context("announcing the call")?;
    let stream_id = StreamId(live["stream_id"].as_u64().context("stream id")? as u32);
    let source = live["source_url"].as_str().context("source url")?;
    println!(
        "live call {} to {}",
        live["id"],
        live["agents"]
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );

    let ws_url = format!("{}{source}", base.replacen("http", "ws", 1));
    let mut request = ws_url.into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        // Nagle off: 20 ms frames must leave at once, not wait for an ACK.
        tokio_tungstenite::connect_async_with_config(request, None, true),
    )
    .await
    .context("connecting the source: no answer")??;
    let offset = sync_clock(&mut ws).await?;

    // Stop on Enter, Ctrl-C or the time limit.
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    {
        let tx = stop_tx.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            if std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                let _ = tx.send(true);
            }
        });
    }
    {
        let tx = stop_tx.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = tx.send(true);
        });
    }
    if let Some(s) = cli.seconds {
        let tx = stop_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(s)).await;
            let _ = tx.send(true);
        });
    } else {
        println!("talking; press Enter to stop");
    }

    let mut encoder = Encoder::new(&EncoderSettings::live())?;
    let mut pending: Vec<f32> = Vec::with_capacity(48_000);
    let mut seq = 0u32;
    let mut t0: Option<u64> = None;
    let mut sent = 0u64;
    let mut clamped = 0u64;
    let mut peak = 0f32;
    let mut last_level = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if let Some(e) = mic.error() {
            bail!("the microphone failed: {e}");
        }
        let got = mic.read(&mut pending);
        if t0.is_none() && got > 0 {
            // Controller time of the first sample: the `got` samples just arrived.
            t0 = Some(
                ((now_us() as i64 + offset).max(0) as u64)
                    .saturating_sub(got as u64 * 1_000_000 / 48_000),
            );
        }
        let Some(first) = t0 else { continue };
        let now = (now_us() as i64 + offset).max(0) as u64;
        while pending.len() >= 960 {
            let frame: Vec<f32> = pending.drain(..960).collect();
            // A frame is never stamped in the future: a device whose clock runs fast (or
            // one with no clock at all) is clamped to real time, whole frames at a time.
            if first + (u64::from(seq) + 1) * 20_000 > now + 100_000 {
                clamped += 1;
                continue;
            }
            peak = frame.iter().fold(peak, |p, s| p.max(s.abs()));
            let packet = encoder.encode(&frame)?.to_vec();
            let header = AudioHeader {
                stream_id,
                seq,
                capture_time: Timestamp(first + u64::from(seq) * 20_000),
                samples: 960,
                flags: FrameFlags::FEC,
            };
            ws.send(Message::Binary(header.to_frame(&packet)?.into()))
                .await
                .context("the controller closed the call")?;
            seq = seq.wrapping_add(1);
            sent += 1;
        }
        if last_level.elapsed() >= Duration::from_secs(1) {
            let db = 20.0 * peak.max(1e-6).log10();
            eprintln!(
                "level {db:>6.1} dBFS  {}",
                "#".repeat(((db + 60.0).max(0.0) / 3.0) as usize)
            );
            peak = 0.0;
            last_level = Instant::now();
        }
    }
    let end = AudioHeader {
        stream_id,
        seq,
        capture_time: Timestamp(t0.unwrap_or_else(now_us) + u64::from(seq) * 20_000),
        samples: 0,
        flags: FrameFlags::END_OF_STREAM,
    };
    ws.send(Message::Binary(end.to_frame(&[])?.into())).await?;
    let _ = ws.close(None).await;
    println!(
        "call ended: {sent} frames ({:.1} s) sent, {} samples lost to overruns, {clamped} frames ahead of real time dropped",
        sent as f64 * 0.02,
        mic.overruns()
    );
    Ok(())
}

/// Controller time minus ours, µs, from the ping/pong exchange with the smallest round
/// trip of eight.
async fn sync_clock<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> anyhow::Result<i64>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut best: Option<(u64, i64)> = None;
    for id in 0..8u64 {
        let t1 = now_us();
        ws.send(Message::Text(
            json!({"type": "ping", "id": id, "t1": t1})
                .to_string()
                .into(),
        ))
        .await?;
        let answer = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(m) = ws.next().await {
                if let Ok(Message::Text(t)) = m {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    if v["type"] == "pong" && v["id"] == id {
                        return Some(v);
                    }
                }
            }
            None
        })
        .await;
        let t4 = now_us();
        if let Ok(Some(p)) = answer {
            let (t2, t3) = (p["t2"].as_u64().unwrap_or(0), p["t3"].as_u64().unwrap_or(0));
            let rtt = (t4 - t1).saturating_sub(t3.saturating_sub(t2));
            let offset = ((t2 as i64 - t1 as i64) + (t3 as i64 - t4 as i64)) / 2;
            if best.is_none_or(|(r, _)| rtt < r) {
                best = Some((rtt, offset));
            }
        }
    }
    best.map(|(_, o)| o)
        .context("the controller never answered a clock ping")
}

/// Where the voice comes from.
enum Source {
    Mic(CpalCapture),
    File(Recording),
}

impl Source {
    fn read(&mut self, out: &mut Vec<f32>) -> usize {
        match self {
            Self::Mic(m) => m.read(out),
            Self::File(f) => f.read(out),
        }
    }

    fn error(&self) -> Option<String> {
        match self {
            Self::Mic(m) => m.error(),
            Self::File(_) => None,
        }
    }

    fn overruns(&self) -> u64 {
        match self {
            Self::Mic(m) => m.overruns(),
            Self::File(_) => 0,
        }
    }
}

/// A WAV recording handed out at the pace of a microphone.
struct Recording {
    samples: Vec<f32>,
    given: usize,
    started: Option<Instant>,
}

impl Recording {
    fn open(path: &std::path::Path) -> anyhow::Result<Self> {
        let reader = hound::WavReader::open(path)
            .with_context(|| format!("{}: not a readable WAV file", path.display()))?;
        let spec = reader.spec();
        if spec.sample_rate != 48_000 || spec.channels != 1 || spec.bits_per_sample != 16 {
            bail!(
                "{}: {} Hz, {} channels, {} bits; a 48 kHz mono 16-bit WAV is needed",
                path.display(),
                spec.sample_rate,
                spec.channels,
                spec.bits_per_sample
            );
        }
        let samples = reader
            .into_samples::<i16>()
            .map(|s| s.map(|v| f32::from(v) / 32768.0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            samples,
            given: 0,
            started: None,
        })
    }

    /// What a microphone would have delivered by now; silence after the end.
    fn read(&mut self, out: &mut Vec<f32>) -> usize {
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = (started.elapsed().as_secs_f64() * 48_000.0) as usize;
        let n = due.saturating_sub(self.given);
        out.extend(
            (self.given..self.given + n).map(|i| self.samples.get(i).copied().unwrap_or(0.0)),
        );
        self.given += n;
        n
    }
}

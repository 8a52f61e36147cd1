//! Side by side with Snapcast: the same audio to N clients on this machine, in one run.
//!
//! - **Snapcast**: `snapserver` (Debian's package) reading a pipe, Opus at 24 kbps, its
//!   default 1,000 ms buffer (stereo: its Opus encoder takes nothing else); N `snapclient`s with the file player, one writing to stdout
//!   (read here), the rest to null.
//! - **Dalaba**: `dalaba-controller` with a live call at its default latency (150 ms, or
//!   `--live-latency-ms`; frames a write as `DALABA_LIVE_FRAMES_PER_WRITE` says);
//!   N real `dalaba-agent` processes, one with the `wav-rt` sink (read afterwards), the
//!   rest with the `null` sink.
//!
//! The audio is the latency benchmark's: silence with a 5 ms 2 kHz click every 200 ms, fed
//! at real pace (Snapcast: 20 ms of PCM written to the pipe; Dalaba: 20 ms frames into the
//! encoder). Server CPU and RSS come from /proc over the same window; latency is from the
//! moment a click's PCM is handed over to the moment the measuring client outputs it
//! (Snapcast: when its bytes come out of the file player; Dalaba: when the paced sink plays
//! it).

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;

use crate::rig::{Agent, Api, LiveSource, now_us, start_controller, usage};

const CLICK_EVERY: u64 = 10;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Whether `snapserver` and `snapclient` are on the PATH.
pub(crate) fn installed() -> bool {
    ["snapserver", "snapclient"].iter().all(|bin| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).exists()))
    })
}

/// Figures for one system at one N.
/// Snapserver's buffer (its default), ms: its end-to-end latency setting.
const SNAPCAST_BUFFER_MS: u64 = 1000;

#[derive(Debug)]
struct Side {
    /// The latency asked for (Snapcast's buffer, Dalaba's call), ms.
    latency_setting_ms: u64,
    server_cpu_pct: f64,
    server_rss_kb: u64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    clicks: usize,
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (
        crate::rig::percentile(&v, 0.5),
        crate::rig::percentile(&v, 0.99),
    )
}

/// Pairs the i-th click heard with the i-th sent (clicks are only sent once every client
/// is playing, so none is missed at the start; a latency longer than the 200 ms between
/// clicks rules out matching by time). Returns the latencies in ms, or an error when the
/// pairing is evidently off (different counts, or latencies spread over more than 100 ms).
fn match_clicks(sent: &[u64], heard: &[u64]) -> anyhow::Result<Vec<f64>> {
    let n = sent.len().min(heard.len());
    let latencies: Vec<f64> = (0..n)
        .map(|i| (heard[i] as f64 - sent[i] as f64) / 1000.0)
        .collect();
    let (lo, hi) = latencies
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &l| (lo.min(l), hi.max(l)));
    if heard.len() != sent.len() || hi - lo > 100.0 {
        bail!(
            "clicks: sent {}, heard {}, latencies {lo:.1}..{hi:.1} ms: cannot pair them",
            sent.len(),
            heard.len()
        );
    }
    Ok(latencies)
}

async fn snapcast(dir: &Path, n: usize, seconds: u64) -> anyhow::Result<Side> {
    std::fs::create_dir_all(dir)?;
    let fifo = dir.join("snapfifo");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status()?;
    if !status.success() {
        bail!("mkfifo failed");
    }
    let conf = dir.join("snapserver.conf");
    std::fs::write(&conf, "")?;
    let (stream_port, tcp_port, http_port) = (free_port()?, free_port()?, free_port()?);
    let mut server = tokio::process::Command::new("snapserver")
        .arg("-c")
        .arg(&conf)
        .arg(format!(
            "--stream.source=pipe://{}?name=bench&sampleformat=48000:16:2&codec=opus&chunk_ms=20",
            fifo.display()
        ))
        .arg("--stream.codec=opus:BITRATE:24000")
        .arg("--stream.bind_to_address=127.0.0.1")
        .arg(format!("--stream.port={stream_port}"))
        .arg("--tcp.bind_to_address=127.0.0.1")
        .arg(format!("--tcp.port={tcp_port}"))
        .arg("--http.bind_to_address=127.0.0.1")
        .arg(format!("--http.port={http_port}"))
        .arg(format!("--server.datadir={}", dir.display()))
        .arg("--logging.sink=null")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("snapserver")?;
    let server_pid = server.id().context("snapserver pid")?;
    // The pipe: opening it for writing waits for snapserver to open it for reading.
    let fifo_path = fifo.clone();
    let opening = tokio::task::spawn_blocking(move || {
        std::fs::OpenOptions::new().write(true).open(fifo_path)
    });
    let mut pipe = tokio::time::timeout(Duration::from_secs(10), opening)
        .await
        .context("snapserver never opened its pipe (did it start?)")???;
    let mut clients = Vec::new();
    let mut measuring = None;
    for i in 0..n {
        let mut cmd = tokio::process::Command::new("snapclient");
        cmd.args(["-h", "127.0.0.1", "-p", &stream_port.to_string()])
            .arg(format!("--hostID=bench-{i}"))
            .arg(format!("--instance={}", i + 1))
            .arg("--logsink=null")
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if i == 0 {
            cmd.arg("--player=file:filename=stdout")
                .stdout(Stdio::piped());
        } else {
            cmd.arg("--player=file:filename=null").stdout(Stdio::null());
        }
        let mut child = cmd.spawn().context("snapclient")?;
        if i == 0 {
            measuring = child.stdout.take();
        }
        clients.push(child);
    }
    // The measuring client's output: 16-bit stereo at 48 kHz (its default). A click is the
    // first loud sample after 50 ms of quiet; its time is when its bytes arrived.
    let heard = Arc::new(Mutex::new(Vec::<u64>::new()));
    let reader = {
        let heard = Arc::clone(&heard);
        let mut out = measuring.context("client stdout")?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut quiet = 0usize;
            let mut carry = Vec::new();
            while let Ok(read) = out.read(&mut buf).await {
                if read == 0 {
                    break;
                }
                let at = now_us();
                carry.extend_from_slice(&buf[..read]);
                let whole = carry.len() / 4 * 4;
                for frame in carry[..whole].chunks_exact(4) {
                    let s = i16::from_le_bytes([frame[0], frame[1]]).unsigned_abs();
                    if s > 3277 {
                        if quiet >= 2400 {
                            heard.lock().expect("heard").push(at);
                        }
                        quiet = 0;
                    } else if s < 655 {
                        quiet += 1;
                    }
                }
                carry.drain(..whole);
            }
        })
    };
    // Feed the pipe at real pace; the first seconds let every client connect and fill
    // its buffer before the measured window.
    let (click, silence) = (crate::rig::click_frame(), vec![0.0f32; 960]);
    let to_bytes = |pcm: &[f32]| -> Vec<u8> {
        // Snapcast's Opus wants stereo: the same sample on both channels.
        pcm.iter()
            .flat_map(|s| {
                let b = ((s * 32767.0) as i16).to_le_bytes();
                [b[0], b[1], b[0], b[1]]
            })
            .collect()
    };
    let (click, silence) = (to_bytes(&click), to_bytes(&silence));
    let warm = 3 * 50;
    let frames = warm + seconds * 50;
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut cpu0 = 0.0;
    let mut t0 = Instant::now();
    for k in 0..frames {
        tick.tick().await;
        if k == warm {
            cpu0 = usage(server_pid).0;
            t0 = Instant::now();
        }
        let is_click = k >= warm && k % CLICK_EVERY == 5;
        let bytes = if is_click { &click } else { &silence };
        if is_click {
            sent.push(now_us());
        }
        pipe.write_all(bytes)?;
    }
    let (cpu1, rss) = usage(server_pid);
    let wall = t0.elapsed().as_secs_f64();
    // Clicks still in the clients' buffers come out over the next second and a half.
    for _ in 0..75 {
        tick.tick().await;
        pipe.write_all(&silence)?;
    }
    drop(pipe);
    for mut c in clients {
        let _ = c.kill().await;
    }
    let _ = server.kill().await;
    reader.abort();
    let heard = heard.lock().expect("heard").clone();
    let latencies = match_clicks(&sent, &heard)?;
    let (p50, p99) = percentiles(latencies.clone());
    Ok(Side {
        server_cpu_pct: (cpu1 - cpu0) / wall * 100.0,
        server_rss_kb: rss / 1024,
        latency_p50_ms: p50,
        latency_p99_ms: p99,
        clicks: latencies.len(),
        latency_setting_ms: SNAPCAST_BUFFER_MS,
    })
}

async fn dalaba(
    dir: &Path,
    n: usize,
    seconds: u64,
    latency_ms: Option<u64>,
) -> anyhow::Result<Side> {
    let ctl = start_controller(dir).await?;
    let pid = ctl.pid()?;
    let api = Api::login(&ctl).await?;
    let mut agents = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("bench-{i}");
        let area = format!("330106001{i:03}");
        let token = api.add_agent(&id, &area).await?;
        let agent_dir = dir.join(&id);
        let device = if i == 0 {
            format!("wav-rt:{}", agent_dir.join("speaker.wav").display())
        } else {
            "null".into()
        };
        agents.push(Agent::start(&agent_dir, &ctl, &token, &area, &device).await?);
        ids.push(id);
    }
    for id in &ids {
        api.wait_online(id).await?;
    }
    let mut source = LiveSource::open(&api, &ctl, json!({"agents": ids}), latency_ms).await?;
    let broadcast = source.broadcast;
    let mut encoder =
        dalaba_audio::codec::Encoder::new(&dalaba_audio::codec::EncoderSettings::live())?;
    let (click, silence) = (crate::rig::click_frame(), vec![0.0f32; 960]);
    let warm = 3 * 50;
    let frames = warm + seconds * 50;
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut cpu0 = 0.0;
    let mut t0 = Instant::now();
    for k in 0..frames {
        tick.tick().await;
        if k == warm {
            cpu0 = usage(pid).0;
            t0 = Instant::now();
        }
        let is_click = k >= warm && k % CLICK_EVERY == 5;
        let entered = source
            .send_pcm(&mut encoder, if is_click { &click } else { &silence })
            .await?;
        if is_click {
            sent.push(entered);
        }
    }
    let (cpu1, rss) = usage(pid);
    let wall = t0.elapsed().as_secs_f64();
    let source_latency = source.latency_ms;
    source.end().await?;
    let (_, heard) = crate::latency::heard(&agents[0].log, &dir.join("bench-0"), broadcast).await?;
    let latencies = match_clicks(&sent, &heard)?;
    let (p50, p99) = percentiles(latencies.clone());
    drop(agents);
    drop(ctl);
    Ok(Side {
        server_cpu_pct: (cpu1 - cpu0) / wall * 100.0,
        server_rss_kb: rss / 1024,
        latency_p50_ms: p50,
        latency_p99_ms: p99,
        clicks: latencies.len(),
        latency_setting_ms: source_latency,
    })
}

/// Runs both systems for each N; prints a table and returns the figures.
pub(crate) async fn suite(
    ns: &[usize],
    seconds: u64,
    latency_ms: Option<u64>,
) -> anyhow::Result<Value> {
    if !installed() {
        bail!(
            "snapserver and snapclient are not installed (apt-get install snapserver snapclient)"
        );
    }
    println!(
        "\nside by side with Snapcast ({seconds} s measured per run, real clients on this machine)"
    );
    println!(
        "{:>4} {:<9} {:>9} {:>12} {:>9} {:>11} {:>11} {:>7}",
        "N", "system", "srv CPU", "CPU/client", "srv RSS", "lat p50", "lat p99", "clicks"
    );
    let mut rows = Vec::new();
    for &n in ns {
        let dir = crate::rig::scratch(&format!("snapcast-{n}"));
        let snap = snapcast(&dir.join("snapcast"), n, seconds)
            .await
            .context("snapcast")?;
        let ours = dalaba(&dir.join("dalaba"), n, seconds, latency_ms)
            .await
            .context("dalaba")?;
        for (name, s) in [("snapcast", &snap), ("dalaba", &ours)] {
            println!(
                "{n:>4} {name:<9} {:>8.2}% {:>11.3}% {:>6.1} MB {:>9.1}ms {:>9.1}ms {:>7}",
                s.server_cpu_pct,
                s.server_cpu_pct / n as f64,
                s.server_rss_kb as f64 / 1024.0,
                s.latency_p50_ms,
                s.latency_p99_ms,
                s.clicks
            );
        }
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        println!(
            "{n:>4} ratios snapcast/dalaba: CPU per client {:.1}x, RSS {:.1}x, latency p50 {:.1}x",
            ratio(snap.server_cpu_pct, ours.server_cpu_pct),
            ratio(snap.server_rss_kb as f64, ours.server_rss_kb as f64),
            ratio(snap.latency_p50_ms, ours.latency_p50_ms)
        );
        let side = |s: &Side| {
            json!({"server_cpu_pct_of_core": s.server_cpu_pct, "server_cpu_pct_per_client": s.server_cpu_pct / n as f64,
                   "server_rss_kb": s.server_rss_kb, "latency_p50_ms": s.latency_p50_ms,
                   "latency_p99_ms": s.latency_p99_ms, "clicks_measured": s.clicks,
                   "latency_setting_ms": s.latency_setting_ms})
        };
        rows.push(json!({"clients": n, "snapcast": side(&snap), "dalaba": side(&ours)}));
        crate::rig::cleanup(&dir);
    }
    Ok(json!({"seconds": seconds, "snapcast_buffer_ms": SNAPCAST_BUFFER_MS, "rows": rows}))
}

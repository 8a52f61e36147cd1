//! Agent footprint: RSS and CPU (% of one core) of one real `dalaba-agent` process (release
//! build) while idle, playing a stored broadcast, and playing a live stream. The agent
//! plays into a `wav-rt` sink, paced like a sound device, so it decodes at real-time pace
//! as it would into ALSA (writing the WAV file costs a little that a device would not).

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::rig::{Api, LiveSource, status_kb, usage};

/// CPU % of one core and RSS (kB) of `pid` over `seconds`.
async fn measure(pid: u32, seconds: u64) -> (f64, u64) {
    let (cpu0, _) = usage(pid);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu1, rss) = usage(pid);
    (
        (cpu1 - cpu0) / t0.elapsed().as_secs_f64() * 100.0,
        rss / 1024,
    )
}

async fn wait_playing(api: &Api, broadcast: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = api.get(&format!("/api/broadcasts/{broadcast}")).await?;
        let playing = b["receipts"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["started_at"].is_u64()));
        if playing {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("broadcast {broadcast} did not start: {b}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Prints a table and returns the figures.
pub(crate) async fn suite(seconds: u64) -> anyhow::Result<Value> {
    let dir = crate::rig::scratch("footprint");
    let (ctl, api, agent, _) = crate::rig::one_agent(&dir).await?;
    let pid = agent.pid()?;
    let tone: Vec<f32> = (0..48_000 * (seconds as usize + 10))
        .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48_000.0).sin() * 0.3)
        .collect();
    let media = api.upload(&dir, "stored.wav", &tone).await?;
    let idle = measure(pid, seconds.min(5)).await;

    // A stored broadcast: the agent downloads it, then decodes Ogg Opus while it plays.
    let sent = api
        .post(
            "/api/broadcasts",
            json!({"media_id": media, "target": {"agents": ["bench-1"]}, "start_in_ms": 0}),
        )
        .await?;
    let id = sent["id"].as_u64().context("broadcast id")?;
    wait_playing(&api, id).await?;
    let stored = measure(pid, seconds).await;
    api.post(&format!("/api/broadcasts/{id}/stop"), json!({}))
        .await?;

    // A live stream at the default latency: 24 kbps Opus with FEC, 50 frames a second.
    let mut source =
        LiveSource::open(&api, &ctl, json!({"agents": ["bench-1"]}), Some(150)).await?;
    let live_id = source.broadcast;
    let mut encoder =
        dalaba_audio::codec::Encoder::new(&dalaba_audio::codec::EncoderSettings::live())?;
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for frame in tone.chunks_exact(960).take(50 * (seconds as usize + 3)) {
            tick.tick().await;
            source.send_pcm(&mut encoder, frame).await?;
        }
        source.end().await
    });
    wait_playing(&api, live_id).await?;
    let live = measure(pid, seconds).await;
    sender.await??;
    let peak_kb = status_kb(pid, "VmHWM:");

    println!("\nagent footprint (one real agent, release build, wav-rt sink)");
    println!("{:<22} {:>10} {:>10}", "state", "CPU", "RSS");
    for (name, (cpu, rss)) in [
        ("idle", idle),
        ("stored broadcast", stored),
        ("live stream", live),
    ] {
        println!("{name:<22} {cpu:>9.2}% {:>7.1} MB", rss as f64 / 1024.0);
    }
    println!(
        "{:<22} {:>10} {:>7.1} MB",
        "peak RSS (VmHWM)",
        "",
        peak_kb as f64 / 1024.0
    );
    drop(agent);
    drop(ctl);
    crate::rig::cleanup(&dir);
    let row = |(cpu, rss): (f64, u64)| json!({"cpu_pct_of_core": cpu, "rss_kb": rss});
    Ok(json!({
        "seconds": seconds, "idle": row(idle), "stored": row(stored), "live": row(live),
        "peak_rss_kb": peak_kb,
    }))
}

//! Reconnect storm: N simulated agents online with a schedule, the controller restarted
//! on the same addresses, and the time until every agent is back in session and has been
//! sent its schedule again.
//!
//! Two restarts: a graceful one (SIGTERM: the controller tells its agents to come back
//! within a window of 3 ms per agent, PROTOCOL.md 5.7) and a crash (SIGKILL: agents see
//! the connection drop and come back with their backoff, 1 s × a jitter in [0.5, 1.5)).
//! The simulated agents run on one event loop in this process ([`crate::sim`]), with the
//! agent's own `Session` and `Backoff`; each keeps its key and id across reconnects
//! (login, not enrolment). Counted for the new controller only: a session whose
//! connection was made before it was listening (an agent that came back to the old one
//! while it shut down) does not count. Per restart: how long the old controller took to
//! stop and the new one to listen, and the times from then until every agent is in
//! session and has its schedule; the controller's and this load generator's CPU over
//! that time; why sessions ended meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::rig::{Api, start_controller, start_controller_at, usage};
use crate::sim::{Fleet, Target};

/// Waits until `counter` reaches `n`; the seconds it took from `since`.
async fn until(counter: &AtomicU64, n: usize, since: Instant, what: &str) -> anyhow::Result<f64> {
    while counter.load(Ordering::Relaxed) < n as u64 {
        if since.elapsed() > Duration::from_secs(300) {
            bail!(
                "{what}: {} of {n} after 300 s",
                counter.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(since.elapsed().as_secs_f64())
}

/// One size: set up, then a graceful restart and a crash; per restart the seconds from
/// the new controller listening to every agent in session and to every schedule sent,
/// and the new controller's CPU over that time.
async fn run(n: usize) -> anyhow::Result<Value> {
    let dir = crate::rig::scratch(&format!("storm-{n}"));
    eprintln!(
        "N = {n}: controller log in {}",
        dir.with_extension("log").display()
    );
    let mut ctl = start_controller(&dir).await?;
    let api = Api::login(&ctl).await?;
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let area = format!("330106{:03}{:03}", i % 100, i / 100 % 1000);
        tokens.push(api.add_agent(&format!("sim-{i}"), &area).await?);
    }
    // A schedule for everyone with a start within the scheduler's day ahead, so every
    // agent's `schedule_sync` has entries.
    let pcm: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    let media_id = api.upload(&dir, "clip.wav", &pcm).await?;
    let playlist = api
        .post(
            "/api/playlists",
            json!({"name": "storm", "items": [{"media_id": media_id}]}),
        )
        .await?;
    api.post(
        "/api/schedules",
        json!({"name": "storm", "times": ["00:00", "06:00", "12:00", "18:00"],
               "playlist_id": playlist["id"], "target": {"all": true}}),
    )
    .await?;
    let started = Instant::now();
    let target = Target {
        addr: ctl.agents.parse().context("the agent endpoint")?,
        pin: ctl.fingerprint,
        key: ctl.key,
    };
    // All at once, as real agents come (no live stream here: the lag limit is unused).
    let fleet = Fleet::start(target, tokens, usize::MAX, Duration::from_secs(1))?;
    let shared = &fleet.counters;
    let setup_s = until(&shared.synced, n, started, "set-up").await?;
    // Set-up is every agent at once too (enrolment, not login): said apart from restarts.
    let ended_setup = shared.take_ended();
    println!("{n:>6} {:>9} {setup_s:>44.1}s", "set-up");
    if !ended_setup.is_empty() {
        println!("       sessions ended: {ended_setup}");
    }
    let (api_addr, agent_addr) = (ctl.api.clone(), ctl.agents.clone());
    let mut out = json!({"agents": n, "setup_s": setup_s, "sessions_ended_setup": ended_setup});
    for (name, signal) in [("graceful", "TERM"), ("crash", "KILL")] {
        let pid = ctl.pid()?;
        shared.epoch.fetch_add(1, Ordering::Relaxed);
        let stopping = Instant::now();
        std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()?;
        ctl.child.wait().await?;
        let stopped_s = stopping.elapsed().as_secs_f64();
        shared.ready.store(0, Ordering::Relaxed);
        shared.synced.store(0, Ordering::Relaxed);
        shared.epoch.fetch_add(1, Ordering::Relaxed);
        let ended_stopping = shared.take_ended();
        let told = shared.told_to_leave.swap(0, Ordering::Relaxed);
        let starting = Instant::now();
        ctl = start_controller_at(&dir, &api_addr, &agent_addr)
            .await
            .context("starting again")?;
        let up = Instant::now();
        let started_s = starting.elapsed().as_secs_f64();
        let pid = ctl.pid()?;
        let (cpu0, _) = usage(pid);
        let (gen0, _) = usage(std::process::id());
        let online_s = until(&shared.ready, n, up, name).await.map_err(|e| {
            e.context(format!(
                "{} logins unanswered for 30 s; {} agents waiting to reconnect; sessions ended: {}",
                shared.stalled.load(Ordering::Relaxed),
                shared.waiting.load(Ordering::Relaxed),
                shared.take_ended()
            ))
        })?;
        let synced_s = until(&shared.synced, n, up, name).await?;
        let (cpu1, _) = usage(pid);
        let (gen1, _) = usage(std::process::id());
        let cpu_pct = (cpu1 - cpu0) / up.elapsed().as_secs_f64() * 100.0;
        let gen_pct = (gen1 - gen0) / up.elapsed().as_secs_f64() * 100.0;
        let stalled = shared.stalled.swap(0, Ordering::Relaxed);
        let ended_back = shared.take_ended();
        println!(
            "{n:>6} {name:>9} {told:>6} {stopped_s:>8.1}s {started_s:>8.1}s {online_s:>10.1}s {synced_s:>10.1}s {cpu_pct:>8.1}% {gen_pct:>8.1}% {stalled:>8}"
        );
        for (when, ended) in [("stopping", &ended_stopping), ("restarted", &ended_back)] {
            if !ended.is_empty() {
                println!("       sessions ended, {when}: {ended}");
            }
        }
        out[name] = json!({"told_to_leave": told, "stop_s": stopped_s, "start_s": started_s, "all_online_s": online_s,
                           "all_scheduled_s": synced_s, "controller_cpu_pct": cpu_pct, "generator_cpu_pct": gen_pct,
                           "logins_unanswered_30s": stalled, "sessions_ended_stopping": ended_stopping,
                           "sessions_ended_restarted": ended_back});
    }
    drop(fleet);
    drop(ctl);
    crate::rig::cleanup(&dir);
    Ok(out)
}

/// The reconnect storm for each N; prints a table, returns figures.
pub(crate) async fn suite(ns: &[usize]) -> anyhow::Result<Value> {
    println!("\nreconnect storm (the controller restarted on the same addresses)");
    println!(
        "{:>6} {:>9} {:>6} {:>9} {:>9} {:>11} {:>11} {:>9} {:>9} {:>8}",
        "agents",
        "restart",
        "told",
        "stop",
        "start",
        "all online",
        "all sched.",
        "ctl CPU",
        "gen CPU",
        "stalled"
    );
    let mut out = Vec::new();
    for &n in ns {
        match run(n).await {
            Ok(r) => out.push(r),
            Err(e) => {
                println!("{n:>6} did not complete: {e:#}");
                out.push(json!({"agents": n, "error": format!("{e:#}")}));
            }
        }
    }
    Ok(Value::Array(out))
}

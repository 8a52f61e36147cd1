//! Reconnect storm: N simulated agents online with a schedule, the controller restarted
//! on the same addresses, and the time until every agent is back in session and has been
//! sent its schedule again.
//!
//! Two restarts: a graceful one (SIGTERM: the controller tells its agents to come back
//! within a window of 3 ms per agent, PROTOCOL.md 5.7) and a crash (SIGKILL: agents see
//! the connection drop and come back with their backoff, 1 s × a jitter in [0.5, 1.5)).
//! A simulated agent is the agent's own sans-IO `Session` and `Backoff` over a pinned TLS
//! WebSocket, as in `fanout`; it keeps its key and id across reconnects (login, not
//! enrolment). Counted for the new controller only: a session whose connection was made
//! before it was listening (an agent that came back to the old one while it shut down)
//! does not count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use dalaba_agent::session::{Backoff, Event, Session, SessionConfig};
use dalaba_protocol::AgentId;
use dalaba_protocol::command::Command;
use dalaba_protocol::keys::PublicKey;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::rig::{Api, now_us, start_controller, start_controller_at, usage};

/// What the simulated agents saw, for the controller started at `epoch`.
#[derive(Default)]
struct Shared {
    /// Bumped when a new controller listens; sessions begun before do not count.
    epoch: AtomicU64,
    /// Agents in session with the current controller.
    ready: AtomicU64,
    /// Agents sent their schedule by the current controller.
    synced: AtomicU64,
    /// Sessions given up because the controller never answered the login (30 s).
    stalled: AtomicU64,
    /// Agents waiting to reconnect, now.
    waiting: AtomicU64,
    /// Why sessions ended since the current controller started, with how many.
    ended: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Shared {
    /// Counts a session's end for the current controller.
    fn ended(&self, why: impl std::fmt::Display) {
        let why: String = why.to_string().chars().take(80).collect();
        *self
            .ended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(why)
            .or_default() += 1;
    }

    /// Why sessions ended, most frequent first, and forgets them.
    fn take_ended(&self) -> String {
        let mut all: Vec<(String, u64)> = std::mem::take(
            &mut *self
                .ended
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_iter()
        .collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.1));
        all.iter()
            .map(|(why, n)| format!("{n}× {why}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// How a session ended.
enum Ended {
    /// `goodbye`: come back at a random moment within this window.
    Leaving(Duration),
    /// Dropped, refused or failed: back off.
    Lost,
}

/// One session: connect, log in (or enrol), count `Ready` and the first `schedule_sync`
/// for the epoch it began in, until it ends.
async fn session(
    addr: &str,
    pin: [u8; 32],
    key: &PublicKey,
    identity: &ed25519_dalek::SigningKey,
    id: &mut Option<AgentId>,
    token: &str,
    shared: &Shared,
) -> anyhow::Result<Ended> {
    let config = Arc::new(dalaba_agent::tls::client_config(pin)?);
    // Connecting, TLS and the WebSocket handshake each within 10 s, as the agent's daemon
    // does: a connection to a controller that went away is given up, not waited on.
    let step = |what: &'static str| move |_| anyhow::anyhow!("{what}: no answer within 10 s");
    let within = Duration::from_secs(10);
    let tcp = tokio::time::timeout(within, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(step("connecting"))??;
    // The controller this session counts for: the one listening when the connection was
    // made. (Read before connecting, a SYN queued in the old controller's backlog while it
    // shut down and answered by the new one made a session that was never counted.)
    let epoch = shared.epoch.load(Ordering::Relaxed);
    tcp.set_nodelay(true)?;
    let tls = tokio::time::timeout(
        within,
        tokio_rustls::TlsConnector::from(config)
            .connect(rustls::pki_types::ServerName::try_from("127.0.0.1")?, tcp),
    )
    .await
    .map_err(step("TLS"))??;
    let (mut ws, _) = tokio::time::timeout(
        within,
        tokio_tungstenite::client_async(format!("wss://{addr}/agent/ws"), tls),
    )
    .await
    .map_err(step("WebSocket"))??;
    let mut session = Session::new(
        SessionConfig {
            agent_id: id.clone(),
            enrolment_token: id.is_none().then(|| token.to_owned()),
            controller_key: *key,
            software: "dalaba-loadtest".into(),
            last_command_seq: 0,
        },
        identity.clone(),
        now_us(),
    );
    let mut synced = false;
    // The real agent waits for the controller's answer as long as the connection lives;
    // here a session that is not in within 30 s is counted and given up.
    let login_by = Instant::now() + Duration::from_secs(30);
    let counts = |c: &AtomicU64| {
        if shared.epoch.load(Ordering::Relaxed) == epoch {
            c.fetch_add(1, Ordering::Relaxed);
        }
    };
    loop {
        while let Some(m) = session.poll_transmit(now_us()) {
            ws.send(Message::Text(m.to_json().into())).await?;
        }
        while let Some(event) = session.poll_event() {
            match event {
                Event::Enrolled(agent) => *id = Some(agent),
                Event::Ready => counts(&shared.ready),
                Event::Command(c) if matches!(c.command, Command::ScheduleSync(_)) && !synced => {
                    synced = true;
                    counts(&shared.synced);
                }
                Event::Leaving { within, .. } => return Ok(Ended::Leaving(within)),
                Event::Closed { reason, .. } => {
                    shared.ended(format_args!("closed: {reason}"));
                    return Ok(Ended::Lost);
                }
                _ => {}
            }
        }
        while let Some(m) = session.poll_transmit(now_us()) {
            ws.send(Message::Text(m.to_json().into())).await?;
        }
        if !session.is_ready() && Instant::now() >= login_by {
            shared.stalled.fetch_add(1, Ordering::Relaxed);
            return Ok(Ended::Lost);
        }
        let wake = session
            .poll_timeout()
            .map_or(Duration::from_secs(30), |t| {
                Duration::from_micros(t.saturating_sub(now_us()))
            })
            .min(
                login_by
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            );
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => session.handle_message(t.as_bytes(), now_us()),
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    shared.ended(format_args!("read: {e}"));
                    return Ok(Ended::Lost);
                }
                None => {
                    shared.ended("connection closed");
                    return Ok(Ended::Lost);
                }
            },
            () = tokio::time::sleep(wake) => {}
        }
    }
}

/// An agent for ever: a session, then back after a `goodbye`'s random moment or the
/// backoff, as the real agent's daemon does.
async fn agent(addr: String, pin: [u8; 32], key: PublicKey, token: String, shared: Arc<Shared>) {
    let identity = ed25519_dalek::SigningKey::from_bytes(&rand::random());
    let mut id = None;
    let mut backoff = Backoff::default();
    loop {
        let began = Instant::now();
        let delay = match session(&addr, pin, &key, &identity, &mut id, &token, &shared).await {
            Ok(Ended::Leaving(within)) => {
                backoff.reset();
                within.mul_f64(rand::random::<f64>())
            }
            ended @ (Ok(Ended::Lost) | Err(_)) => {
                if let Err(e) = ended {
                    shared.ended(format_args!("{e:#}"));
                }
                if began.elapsed() > Duration::from_secs(60) {
                    backoff.reset();
                }
                backoff.next_delay(rand::random::<f64>())
            }
        };
        shared.waiting.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(delay).await;
        shared.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

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
    let shared = Arc::new(Shared::default());
    let started = Instant::now();
    for t in tokens {
        let (addr, shared) = (ctl.agents.clone(), Arc::clone(&shared));
        tokio::spawn(agent(addr, ctl.fingerprint, ctl.key, t, shared));
    }
    let setup_s = until(&shared.synced, n, started, "set-up").await?;
    let (api_addr, agent_addr) = (ctl.api.clone(), ctl.agents.clone());
    let mut out = json!({"agents": n, "setup_s": setup_s});
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
        shared.take_ended();
        ctl = start_controller_at(&dir, &api_addr, &agent_addr)
            .await
            .context("starting again")?;
        let up = Instant::now();
        let pid = ctl.pid()?;
        let (cpu0, _) = usage(pid);
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
        let cpu_pct = (cpu1 - cpu0) / up.elapsed().as_secs_f64() * 100.0;
        let stalled = shared.stalled.swap(0, Ordering::Relaxed);
        println!(
            "{n:>6} {name:>9} {stopped_s:>8.1}s {online_s:>10.1}s {synced_s:>10.1}s {cpu_pct:>8.1}% {stalled:>8}"
        );
        out[name] = json!({"stop_s": stopped_s, "all_online_s": online_s,
                           "all_scheduled_s": synced_s, "controller_cpu_pct": cpu_pct,
                           "logins_unanswered_30s": stalled});
    }
    drop(ctl);
    crate::rig::cleanup(&dir);
    Ok(out)
}

/// The reconnect storm for each N; prints a table, returns figures.
pub(crate) async fn suite(ns: &[usize]) -> anyhow::Result<Value> {
    println!("\nreconnect storm (the controller restarted on the same addresses)");
    println!(
        "{:>6} {:>9} {:>9} {:>11} {:>11} {:>9} {:>8}",
        "agents", "restart", "stop", "all online", "all sched.", "ctl CPU", "stalled"
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

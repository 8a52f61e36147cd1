//! SIGTERM to a controller in the middle of a broadcast, as real processes: it tells its
//! speakers it is going away (PROTOCOL.md 5.7, `goodbye` with a window to come back in)
//! and exits 0; the speaker plays on (it is the truth of what it plays), comes back within
//! the window once the controller is up again, and the broadcast's receipt ends `done`
//! with the whole clip in the speaker's output.

mod common;

use std::time::Instant;

use common::*;
use serde_json::json;

#[test]
fn sigterm_mid_broadcast_exits_cleanly_and_the_speaker_returns_within_its_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    let (ctl, password) = start_controller(&data, "127.0.0.1:0");
    let password = password.expect("password");
    let api = Api::login(&ctl.addr, &password);
    let agents = start_agents(
        dir.path(),
        &ctl,
        &api,
        &[("dong-1", "330106001001")],
        "wav-rt",
    );
    let (status, media) = upload(&api, "tone.wav", tone_wav(1000.0, 6.0, 48_000));
    assert_eq!(status, 201, "{media}");
    let (status, sent) = api.call(
        "POST",
        "/api/broadcasts",
        Some(
            json!({"media_id": media["id"], "target": {"agents": ["dong-1"]}, "start_in_ms": 1000}),
        ),
    );
    assert_eq!(status, 201, "{sent}");
    let id = sent["id"].as_u64().expect("id");
    until_all(&api, id, "playing");

    // SIGTERM while the clip plays: the controller says goodbye and exits 0.
    let at = ctl.addresses();
    let asked = Instant::now();
    let status = ctl.proc.terminate();
    assert!(status.success(), "the controller ended with {status}");
    eprintln!(
        "controller exited {} ms after SIGTERM",
        asked.elapsed().as_millis()
    );
    let leaving = agents[0].1.wait_for("controller going away");
    let delay_ms: u64 = leaving
        .split("reconnecting in ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{leaving}"));
    assert!(
        delay_ms <= 1000,
        "one agent is given 1 s to come back: {leaving}"
    );

    // Up again: the speaker is back, and its receipt for the clip it played on is `done`.
    let ctl = restart_controller(&data, &at);
    agents[0].1.wait_for("session ready as dong-1");
    let api = Api::login(&ctl.addr, &password);
    until_all(&api, id, "done");
    let heard = played(&agents[0].0, id).expect("the clip in the speaker's output");
    assert!(
        heard.len() >= 6 * 48_000 - 960,
        "the clip was cut: {} samples",
        heard.len()
    );
}

/// After a restart every speaker of a county connects at once. Connections the controller
/// has not yet accepted wait in its listening socket's queue; a short queue (128, the
/// default) drops the rest's SYNs, and each such speaker waits out TCP's retransmission
/// (1 s, 3 s, 7 s …) before it is even heard. With the controller stopped (SIGSTOP), so
/// nothing is accepted, 1,000 connections must still complete at once, on both listeners.
#[test]
fn a_thousand_connections_queue_while_the_controller_is_busy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let pid = ctl.proc.child.id().to_string();
    let signal = |s: &str| {
        let ok = std::process::Command::new("kill")
            .args([s, &pid])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {s} {pid}");
    };
    signal("-STOP");
    let mut open = Vec::new();
    for addr in [&ctl.agent_addr, &ctl.addr] {
        let addr: std::net::SocketAddr = addr.parse().expect("address");
        for i in 0..1000 {
            // A dropped SYN is sent again only after 1 s: 900 ms tells queued from dropped.
            match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(900))
            {
                Ok(s) => open.push(s),
                Err(e) => {
                    signal("-CONT");
                    panic!("connection {i} to {addr} was not queued: {e}");
                }
            }
        }
    }
    signal("-CONT");
    drop(open);
    // Still answering once it runs again.
    let api = Api::login(&ctl.addr, &password.expect("password"));
    let (status, _) = api.call("GET", "/api/agents", None);
    assert_eq!(status, 200);
}

//! The README's main job: `dalaba-controller demo` starts the controller and three demo
//! speakers; the demo clip broadcast to everyone lands in every speaker's WAV file; SIGTERM
//! ends the demo with its speakers' processes, and it exits 0.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

#[test]
fn demo_plays_its_clip_on_every_speaker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let _ = agent_bin(); // fail early and clearly if the agent binary is missing
    let demo = Proc::spawn(
        Command::new(controller_bin())
            .args(["demo", "--data-dir"])
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0"]),
    );
    let api_line = demo.wait_for("API:");
    let addr = api_line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .expect("address")
        .to_owned();
    let login = demo.wait_for("log in as:");
    let password = login
        .split("admin / ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("password")
        .to_owned();
    let clip = demo.wait_for("demo clip:");
    let media_id: u64 = clip
        .split("media ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("media id");
    // The demo reports when its speakers have enrolled and connected.
    assert_eq!(
        demo.wait_for("speakers online:").trim(),
        "speakers online: 3/3"
    );

    let api = Api::login(&addr, &password);
    let (status, sent) = api.call(
        "POST",
        "/api/broadcasts",
        Some(json!({"media_id": media_id, "target": {"all": true}, "start_in_ms": 1000})),
    );
    assert_eq!(status, 201, "{sent}");
    let id = sent["id"].as_u64().expect("id");
    let (_, result) = api.call("GET", &format!("/api/broadcasts/{id}?wait_ms=20000"), None);
    let receipts = result["receipts"].as_array().expect("receipts");
    assert_eq!(receipts.len(), 3, "{result}");
    for r in receipts {
        assert_eq!(r["state"], "done", "{r}");
        let agent = r["agent_id"].as_str().expect("agent");
        let wav = data
            .join("speakers")
            .join(agent)
            .join(format!("speaker-b{id}.wav"));
        let reader =
            hound::WavReader::open(&wav).unwrap_or_else(|e| panic!("{}: {e}", wav.display()));
        assert!(
            reader.duration() >= 4 * 48_000 - 960,
            "{agent}: {} samples",
            reader.duration()
        );
    }

    // SIGTERM (what systemd, Docker and `kill` send) ends the demo and its speakers: it
    // exits 0 and no agent process outlives it.
    let speakers = processes_mentioning(&data.join("speakers"));
    assert_eq!(
        speakers.len(),
        3,
        "the demo's agent processes: {speakers:?}"
    );
    let status = demo.terminate();
    assert!(status.success(), "the demo ended with {status}");
    let left = processes_mentioning(&data.join("speakers"));
    assert!(
        left.is_empty(),
        "agent processes outlived the demo: {left:?}"
    );
}

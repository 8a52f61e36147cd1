//! A real controller and a real agent: a broadcast plays to the end, the agent is killed
//! and started again while the broadcast is still inside its window, and it plays nothing
//! twice and sends no second receipt (PROTOCOL.md C1, A10). Before the fix the controller
//! re-sent the broadcast at login and the agent took it up again.

mod common;

use common::*;
use serde_json::json;

fn metric(api: &Api, name: &str) -> u64 {
    let text = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn a_restarted_agent_plays_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller_env(&dir.path().join("controller"), &[]);
    let api = Api::login(&ctl.addr, &password);
    let (status, media) = upload(&api, "tone.wav", tone_wav(440.0, 1.0, 48_000));
    assert_eq!(status, 201, "{media}");
    let mut agents = start_agents(dir.path(), &ctl, &api, &[("v1", "330106001001")], "wav");
    let (adir, agent) = agents.remove(0);

    let broadcast = |media_id: &serde_json::Value| {
        let (status, sent) = api.call(
            "POST",
            "/api/broadcasts",
            Some(json!({"media_id": media_id, "target": {"agents": ["v1"]}})),
        );
        assert_eq!(status, 201, "{sent}");
        sent["id"].as_u64().expect("id")
    };
    let first = broadcast(&media["id"]);
    let done = until_all(&api, first, "done");
    let recording = adir.join(format!("speaker-b{first}.wav"));
    let bytes = std::fs::read(&recording).expect("it played");
    let written = std::fs::metadata(&recording)
        .and_then(|m| m.modified())
        .expect("mtime");
    let ignored = metric(&api, "dalaba_receipts_ignored_total");

    // A power cut 20 s before the end of its window would do the same: the broadcast is
    // still running (it expires 10 minutes after its start).
    agent.stop();
    let config = adir.join("agent.toml");
    let agent = start_agent(&config, &adir.join("state"));
    agent.wait_for("session ready as v1");
    // A second broadcast on the same connection: everything the controller sent at
    // login came before it, and everything the agent answered came before its `done`.
    let second = broadcast(&media["id"]);
    until_all(&api, second, "done");

    assert_eq!(
        std::fs::metadata(&recording)
            .and_then(|m| m.modified())
            .expect("mtime"),
        written,
        "the first broadcast's recording was not opened again"
    );
    assert_eq!(std::fs::read(&recording).expect("recording"), bytes);
    assert_eq!(
        metric(&api, "dalaba_receipts_ignored_total"),
        ignored,
        "no receipt about the finished broadcast came again"
    );
    let (_, now) = api.call("GET", &format!("/api/broadcasts/{first}"), None);
    assert_eq!(
        now["receipts"], done["receipts"],
        "its receipt is unchanged"
    );
}

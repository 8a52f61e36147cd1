//! An alert cuts into a clip already sounding, at the alert's start time: real controller,
//! two real agents whose speakers play at a device's pace (`wav-rt`), a 20 s clip at
//! `scheduled` priority playing, then a drill alert to both. When the alert's attention
//! tone first sounds is read off each speaker's output: the first sample above silence in
//! the alert's WAV file, placed in time by the sink's own start log (`.starts`: when each
//! run of samples began to play), not by any receipt.
//!
//! The clip is sent with `POST /api/broadcasts` at `scheduled` priority rather than by a
//! schedule (which would wait for the next whole minute): in the agent both arrive as the
//! same player job, and the player's arbitration is what is measured.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_micros() as u64
}

/// Unix µs at which sample `index` of agent `dir`'s output for `broadcast` played.
fn played_at(dir: &Path, broadcast: u64, index: usize) -> u64 {
    let log = std::fs::read_to_string(dir.join(format!("speaker-b{broadcast}.starts")))
        .expect("the wav-rt sink's start log");
    let (at, first) = log
        .lines()
        .map(|l| {
            let (t, i) = l.split_once(' ').expect("<unix µs> <sample>");
            (
                t.parse::<u64>().expect("µs"),
                i.parse::<usize>().expect("sample"),
            )
        })
        .rfind(|&(_, i)| i <= index)
        .expect("a start before the sample");
    at + ((index - first) as u64 * 1_000_000) / 48_000
}

#[test]
fn an_alert_cuts_into_a_playing_clip_at_its_start_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller_env(&dir.path().join("controller"), &[]);
    let api = Api::login(&ctl.addr, &password);
    let agents = start_agents(dir.path(), &ctl, &api, TWO_VILLAGES, "wav-rt");
    let (status, media) = upload(&api, "farming.wav", tone_wav(500.0, 20.0, 48_000));
    assert_eq!(status, 201, "{media}");
    let (status, clip) = api.call(
        "POST",
        "/api/broadcasts",
        Some(
            json!({"media_id": media["id"], "target": {"areas": ["330106"]},
                    "priority": "scheduled", "start_in_ms": 1500}),
        ),
    );
    assert_eq!(status, 201, "{clip}");
    let clip = clip["id"].as_u64().expect("id");
    until_all(&api, clip, "playing");

    let (status, alert) = api.call(
        "POST",
        "/api/alerts",
        Some(
            json!({"severity": "orange", "event": "山洪演练", "areas": ["330106"],
                    "expires_at": now_us() + 600_000_000, "mode": "drill"}),
        ),
    );
    assert_eq!(status, 201, "{alert}");
    let b = alert["broadcast_id"].as_u64().expect("broadcast");
    let done = until_all(&api, b, "done");
    let start_at = done["start_at"].as_u64().expect("start_at");

    for (adir, _) in &agents {
        let name = adir.file_name().unwrap().to_string_lossy().into_owned();
        let heard = samples(adir, b).expect("the alert played");
        let onset = heard
            .iter()
            .position(|s| s.abs() > 0.01)
            .expect("the attention tone");
        let sounded = played_at(adir, b, onset);
        let late_ms = (sounded as f64 - start_at as f64) / 1000.0;
        // Where the clip was cut, on the same clock.
        let cut = samples(adir, clip).expect("the clip played").len();
        let cut_ms = (played_at(adir, clip, cut) as f64 - start_at as f64) / 1000.0;
        println!(
            "{name}: attention tone sounded {late_ms:+.1} ms from the alert's start; \
             the clip stopped {cut_ms:+.1} ms from it ({:.2} s of 20 s played)",
            cut as f64 / 48_000.0
        );
        assert!(
            late_ms.abs() < 1000.0,
            "{name}: the tone sounded {late_ms:.1} ms from the alert's start"
        );
        assert!(cut < 20 * 48_000 - 48_000, "{name}: the clip was not cut");
    }
    // The clip resumes afterwards (its rule); stop it so the test ends.
    until_all(&api, clip, "playing");
    let (status, _) = api.call("POST", &format!("/api/broadcasts/{clip}/stop"), None);
    assert_eq!(status, 204);
}

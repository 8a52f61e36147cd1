//! Speakers in process: the controller on a loopback port and simulated speakers that
//! speak the protocol (`common::harness`), no processes spawned. What the real binaries
//! prove end to end stays in the `*_e2e.rs` tests.

mod common;

use axum::http::StatusCode;
use common::harness::Harness;
use dalaba_protocol::command::Command;
use dalaba_protocol::control::{AgentMessage, Receipt, ReceiptState};
use serde_json::json;

/// A 2 s tone in the library, transcoded.
async fn clip(h: &Harness) -> u64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("tone.wav");
    std::fs::write(&wav, common::tone_wav(1000.0, 2.0, 48_000)).expect("wav");
    let media = dalaba_controller::media::import(&h.state, "tone.wav", &wav)
        .await
        .expect("import");
    media.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_reaches_its_speaker_only_and_its_receipts_are_shown() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let mut dong = h.speaker("dong-1", "330106001001").await;
    let mut xi = h.speaker("xi-1", "330106002003").await;
    let media_id = clip(&h).await;
    let (status, sent) = h
        .call(
            Some(&admin),
            "POST",
            "/api/broadcasts",
            Some(json!({"media_id": media_id, "target": {"areas": ["330106001"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let id = sent["id"].as_u64().expect("id");
    assert_eq!(sent["agents"], json!(["dong-1"]), "{sent}");

    let play = dong
        .command(|c| match c {
            Command::PlayMedia(play) => Some(play),
            _ => None,
        })
        .await
        .expect("dong-1 is told to play");
    assert_eq!(play.broadcast_id.0, id);
    assert_eq!(play.media.url, format!("/media/{}", play.media.hash));
    for state in [ReceiptState::Playing, ReceiptState::Done] {
        let at = dong.now();
        dong.send(AgentMessage::Receipt(Receipt {
            broadcast_id: play.broadcast_id,
            entry_id: None,
            state,
            at,
        }))
        .await;
    }
    let (status, shown) = h
        .call(
            Some(&admin),
            "GET",
            &format!("/api/broadcasts/{id}?wait_ms=10000"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let receipts = shown["receipts"].as_array().expect("receipts");
    assert_eq!(receipts.len(), 1, "{shown}");
    assert_eq!(receipts[0]["agent_id"], "dong-1");
    assert_eq!(receipts[0]["state"], "done", "{shown}");
    assert!(receipts[0]["started_at"].is_u64(), "{shown}");

    // xi-1, outside the target, was told nothing; a receipt it makes up is not recorded.
    xi.send(AgentMessage::Receipt(Receipt {
        broadcast_id: play.broadcast_id,
        entry_id: None,
        state: ReceiptState::Playing,
        at: xi.now(),
    }))
    .await;
    let (_, shown) = h
        .call(Some(&admin), "GET", &format!("/api/broadcasts/{id}"), None)
        .await;
    assert_eq!(
        shown["receipts"].as_array().map(Vec::len),
        Some(1),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_speaker_is_disconnected_and_cannot_come_back() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let mut dong = h.speaker("dong-1", "330106001001").await;
    let (status, _) = h
        .call(Some(&admin), "DELETE", "/api/agents/dong-1", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let why = dong
        .closed()
        .await
        .expect("the controller closed the session");
    assert!(why.contains("retired"), "{why}");
    let refused = dong
        .reconnect(&h)
        .await
        .expect_err("a retired speaker logged in");
    assert!(!refused.is_empty(), "refused without a reason");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speaker_that_reconnects_is_in_session_again() {
    let h = Harness::start().await;
    let mut dong = h.speaker("dong-1", "330106001001").await;
    dong.reconnect(&h)
        .await
        .expect("logged in again with its key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_speakers_online() {
    let h = Harness::start().await;
    let (_, metrics) = h.text("/metrics").await;
    assert!(metrics.contains("dalaba_agents_online 0\n"), "{metrics}");
    let _dong = h.speaker("dong-1", "330106001001").await;
    let _xi = h.speaker("xi-1", "330106002003").await;
    let (status, metrics) = h.text("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("dalaba_agents_online 2\n"), "{metrics}");
}

//! Speakers in process: the controller on a loopback port and simulated speakers that
//! speak the protocol (`common::harness`), no processes spawned. What the real binaries
//! prove end to end stays in the `*_e2e.rs` tests.

mod common;

use axum::http::StatusCode;
use common::harness::Harness;
use dalaba_protocol::control::{AgentMessage, ReceiptState};
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

    let play = dong.play_media().await.expect("dong-1 is told to play");
    assert_eq!(play.broadcast_id.0, id);
    assert_eq!(play.media.url, format!("/media/{}", play.media.hash));
    dong.report(
        play.broadcast_id,
        &[ReceiptState::Playing, ReceiptState::Done],
    )
    .await;
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
    xi.report(play.broadcast_id, &[ReceiptState::Playing]).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_list_becomes_speakers_all_or_none() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let _dong = h.speaker("dong-1", "330106001001").await;
    let count = |list: &serde_json::Value| list.as_array().map_or(0, Vec::len);

    // Bad lines: every one named, nothing created.
    let bad = "id,name,area_code,groups,lat,lon\n\
               nan-1,南村 1号,330106001001,east,30.27,120.12\n\
               nan-1,南村 重复,330106001001\n\
               nan-2,南村 2号,3301060010,east\n\
               nan-3,南村 3号,330106001001,,30.27,\n\
               dong-1,东村 又一个,330106001001\n\
               nan-4,南村 4号,330106001001,,95,120\n";
    let (status, err) = h
        .send_body(&admin, "POST", "/api/agents/import", "text/csv", bad)
        .await;
    assert_eq!(status, 400, "{err}");
    let message = err["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("nothing was imported"), "{message}");
    for expected in [
        "line 5: lat and lon are numbers",
        "line 3: id nan-1 is in the list twice",
        "line 4: area_code",
        "line 6: speaker dong-1 exists already",
        "line 7: location: lat 95",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
    let (_, list) = h.call(Some(&admin), "GET", "/api/agents", None).await;
    assert_eq!(count(&list), 1, "{list}");

    // A good list (a BOM, a header, a name with a comma in quotes, two groups, one
    // speaker without a location): every speaker with its token and terminal file.
    let good = "\u{feff}编号,名称,区域代码,分组,纬度,经度\n\
                nan-1,\"南村 1号, 村委会\",330106001001,east;木工组,30.2741,120.1210\n\
                nan-2,南村 2号,330106001001,,,\n";
    let (status, created) = h
        .send_body(
            &admin,
            "POST",
            "/api/agents/import?agent_url=wss://127.0.0.1:8443/agent/ws",
            "text/csv; charset=utf-8",
            good,
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(count(&created), 2, "{created}");
    let first = &created[0];
    assert_eq!(first["agent"]["name"], "南村 1号, 村委会");
    assert_eq!(first["agent"]["groups"], json!(["east", "木工组"]));
    assert_eq!(
        first["agent"]["location"],
        json!({"lat": 30.2741, "lon": 120.121})
    );
    let token = first["enrolment_token"].as_str().expect("token");
    let config = first["agent_config"].as_str().expect("config");
    assert!(config.contains(token), "{config}");
    assert!(config.contains("wss://127.0.0.1:8443/agent/ws"), "{config}");
    assert_eq!(created[1]["agent"]["location"], serde_json::Value::Null);
    let (_, list) = h.call(Some(&admin), "GET", "/api/agents", None).await;
    assert_eq!(count(&list), 3, "{list}");

    // An operator imports in their own areas only.
    let op = h.operator(&admin, "330106002").await;
    let (status, err) = h
        .call(
            Some(&op),
            "POST",
            "/api/agents/import",
            Some(json!([
                {"id": "xi-2", "name": "西村 2号", "area_code": "330106002003"},
                {"id": "bei-1", "name": "北村", "area_code": "330106001002"}
            ])),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err.to_string()
            .contains("line 2: area 330106001002 is outside your areas"),
        "{err}"
    );
    let (_, list) = h.call(Some(&admin), "GET", "/api/agents", None).await;
    assert_eq!(count(&list), 3, "{list}");
}

/// A status report with `last_error`.
fn status(last_error: Option<&str>) -> AgentMessage {
    AgentMessage::Status(dalaba_protocol::control::StatusReport {
        playing: None,
        queued: Vec::new(),
        relays: Vec::new(),
        volume: dalaba_protocol::Volume::MAX,
        last_error: last_error.map(str::to_owned),
        firmware_version: "test".into(),
        config_version: "1".into(),
        schedule_version: 0,
        cache: dalaba_protocol::control::CacheUsage {
            used_bytes: 0,
            capacity_bytes: 1,
            items: 0,
        },
        clock_offset_us: None,
        uptime_s: 1,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speaker_history_shows_what_it_played_and_its_faults_and_a_test_tone_plays_on_it_alone() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let mut dong = h.speaker("dong-1", "330106001001").await;
    let mut xi = h.speaker("xi-1", "330106001001").await;

    // A fault appears, is reported again (one entry), and clears.
    for report in [
        Some("relay board not answering"),
        Some("relay board not answering"),
        None,
    ] {
        dong.send(status(report)).await;
    }
    // The test tone: to dong-1 alone, marked as a test.
    let (status_code, sent) = h
        .call(Some(&admin), "POST", "/api/agents/dong-1/test-tone", None)
        .await;
    assert_eq!(status_code, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["agents"], json!(["dong-1"]), "{sent}");
    let play = dong.play_media().await.expect("dong-1 is told to play");
    assert_eq!(play.mode, dalaba_protocol::Mode::Test);
    dong.report(
        play.broadcast_id,
        &[ReceiptState::Playing, ReceiptState::Done],
    )
    .await;
    // The receipts came after the reports on one connection: once they are in, so are
    // the reports.
    let id = play.broadcast_id.0;
    let (_, shown) = h
        .call(
            Some(&admin),
            "GET",
            &format!("/api/broadcasts/{id}?wait_ms=10000"),
            None,
        )
        .await;
    assert_eq!(shown["receipts"][0]["state"], "done", "{shown}");
    h.state.liveness.flush(&h.state.storage).await;

    let (status_code, history) = h
        .call(Some(&admin), "GET", "/api/agents/dong-1/history", None)
        .await;
    assert_eq!(status_code, StatusCode::OK, "{history}");
    let played = &history["played"][0];
    assert_eq!(played["broadcast_id"], id, "{history}");
    assert_eq!(played["state"], "done");
    assert!(
        played["what"]
            .as_str()
            .is_some_and(|w| w.contains("test tone")),
        "{history}"
    );
    let log: Vec<_> = history["log"]
        .as_array()
        .expect("log")
        .iter()
        .rev()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or(""),
                e["detail"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        log,
        [
            ("online", ""),
            ("fault", "relay board not answering"),
            ("recovered", "")
        ],
        "{history}"
    );

    // xi-1, in the same village, heard nothing of it.
    let (_, x) = h
        .call(Some(&admin), "GET", "/api/agents/xi-1/history", None)
        .await;
    assert_eq!(x["played"], json!([]), "{x}");
    xi.send(status(None)).await;
}

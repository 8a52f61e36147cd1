//! Alarms as real processes: a speaker killed is an `offline` alarm once it has been gone
//! longer than the setting (1 s here), sent at once to a plain JSON webhook and to a
//! DingTalk-style bot (signed; its first answer fails, so it is retried), counted in
//! `/metrics`, acknowledged by the admin (who and when kept), and cleared, with a second
//! message, when the speaker is back.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::webhook::receiver;
use common::*;
use hmac::Mac as _;
use serde_json::{Value, json};

/// The alarm of `kind` on `agent` once `ok` accepts it.
fn alarm(api: &Api, agent: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, list) = api.call("GET", "/api/alarms", None);
        assert_eq!(status, 200, "{list}");
        if let Some(a) = list
            .as_array()
            .and_then(|l| l.iter().find(|a| a["agent_id"] == agent && ok(a)))
        {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "no such alarm: {list}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metric(ctl: &Controller, line: &str) -> bool {
    let (_, text) = request(
        &client(),
        "GET",
        &format!("http://{}/metrics", ctl.addr),
        None,
        None,
    );
    text.lines().any(|l| l == line)
}

#[test]
fn an_offline_speaker_raises_an_alarm_that_reaches_the_webhooks_and_clears() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let api = Api::login(&ctl.addr, &password.expect("password"));
    let mut agents = start_agents(dir.path(), &ctl, &api, &[TWO_VILLAGES[0]], "wav");
    let (hooks, mut calls) = receiver();

    // Settings are checked, each problem named.
    let (status, body) = api.call(
        "PUT",
        "/api/settings/alarms",
        Some(json!({"offline_after_s": 0})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("offline_after_s"), "{body}");
    let (status, body) = api.call(
        "PUT",
        "/api/settings/alarms",
        Some(json!({"webhooks": [{"url": "ftp://x", "format": "json"}]})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("webhooks[0]"), "{body}");
    let (status, body) = api.call(
        "PUT",
        "/api/settings/alarms",
        Some(json!({
            "offline_after_s": 1,
            "webhooks": [
                {"url": format!("http://{hooks}/plain"), "format": "json"},
                {"url": format!("http://{hooks}/flaky?access_token=t"), "format": "dingtalk", "secret": "SECtest"},
            ],
        })),
    );
    assert_eq!(status, 200, "{body}");
    assert!(metric(&ctl, "dalaba_alarms_active{kind=\"offline\"} 0"));

    // The speaker dies (a power cut): an alarm after the second allowed.
    let (adir, proc) = agents.remove(0);
    proc.stop();
    let raised = alarm(&api, "dong-1", |a| a["kind"] == "offline");
    assert!(raised["cleared_at"].is_null(), "{raised}");
    assert_eq!(raised["area_code"], "330106001001", "{raised}");
    let (_, plain) = calls.next("/plain");
    assert_eq!(plain["event"], "raised", "{plain}");
    assert_eq!(plain["alarm"]["agent_id"], "dong-1", "{plain}");
    assert!(
        plain["text"].as_str().is_some_and(|t| t.contains("离线")),
        "{plain}"
    );

    // The bot: refused once, retried, signed as DingTalk checks it.
    let (first, _) = calls.next("/flaky");
    let (again, bot) = calls.next("/flaky");
    assert!(first.contains("sign="), "{first}");
    assert_eq!(bot["msgtype"], "text", "{bot}");
    let query: std::collections::HashMap<_, _> = again
        .split_once('?')
        .expect("query")
        .1
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"SECtest").expect("key");
    mac.update(format!("{}\nSECtest", query["timestamp"]).as_bytes());
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(
        query["sign"]
            .replace("%2B", "+")
            .replace("%2F", "/")
            .replace("%3D", "="),
        want
    );
    assert!(metric(&ctl, "dalaba_alarms_active{kind=\"offline\"} 1"));

    // Acknowledged: who and when are kept.
    let id = raised["id"].as_u64().expect("id");
    let (status, _) = api.call("POST", &format!("/api/alarms/{id}/ack"), None);
    assert_eq!(status, 200);
    let acked = alarm(&api, "dong-1", |a| a["id"] == id);
    assert_eq!(acked["acked_by"], "admin", "{acked}");
    assert!(acked["acked_at"].as_u64().is_some(), "{acked}");

    // Back: the alarm clears, and the webhooks are told.
    let back = start_agent(&adir.join("agent.toml"), &adir.join("state"));
    back.wait_for("session ready as dong-1");
    let cleared = alarm(&api, "dong-1", |a| {
        a["id"] == id && !a["cleared_at"].is_null()
    });
    assert_eq!(cleared["acked_by"], "admin", "{cleared}");
    let (_, plain) = calls.next("/plain");
    assert_eq!(plain["event"], "cleared", "{plain}");
    assert!(metric(&ctl, "dalaba_alarms_active{kind=\"offline\"} 0"));
}

/// A broadcast a speaker could not play raises a `broadcast_failed` alarm naming it (here
/// the library's file was damaged on disk, so the speaker's check of its hash refuses
/// every download), sent to the webhook; the speaker's next broadcast played to the end
/// clears it.
#[test]
fn a_failed_broadcast_is_an_alarm_until_the_speaker_plays_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    let (ctl, password) = start_controller(&data, "127.0.0.1:0");
    let api = Api::login(&ctl.addr, &password.expect("password"));
    let _agents = start_agents(dir.path(), &ctl, &api, &[TWO_VILLAGES[0]], "wav");
    let (hooks, mut calls) = receiver();
    let (status, body) = api.call(
        "PUT",
        "/api/settings/alarms",
        Some(json!({"webhooks": [{"url": format!("http://{hooks}/plain"), "format": "json"}]})),
    );
    assert_eq!(status, 200, "{body}");
    let mut media = Vec::new();
    for hz in [600.0, 800.0] {
        let (status, m) = upload(&api, &format!("{hz}.wav"), tone_wav(hz, 1.0, 48_000));
        assert_eq!(status, 201, "{m}");
        media.push(m);
    }
    let file = data
        .join("media")
        .join(format!("{}.opus", media[0]["hash"].as_str().expect("hash")));
    let len = std::fs::metadata(&file).expect("media file").len() as usize;
    std::fs::write(&file, vec![0x5a; len]).expect("damage it");
    let play = |m: &Value| {
        let (status, b) = api.call(
            "POST",
            "/api/broadcasts",
            Some(json!({"media_id": m["id"], "target": {"agents": ["dong-1"]}})),
        );
        assert_eq!(status, 201, "{b}");
        b["id"].as_u64().expect("id")
    };

    let bad = play(&media[0]);
    until_all(&api, bad, "failed");
    let raised = alarm(&api, "dong-1", |a| {
        a["kind"] == "broadcast_failed" && a["cleared_at"].is_null()
    });
    let detail = raised["detail"].as_str().expect("detail");
    assert!(detail.contains(&format!("#{bad}")), "{raised}");
    let (_, sent) = calls.next("/plain");
    assert_eq!(sent["alarm"]["kind"], "broadcast_failed", "{sent}");
    assert!(
        sent["alarm"]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("未能播放"),
        "{sent}"
    );
    assert!(metric(
        &ctl,
        "dalaba_alarms_active{kind=\"broadcast_failed\"} 1"
    ));

    let good = play(&media[1]);
    until_all(&api, good, "done");
    let cleared = alarm(&api, "dong-1", |a| {
        a["id"] == raised["id"] && !a["cleared_at"].is_null()
    });
    assert_eq!(cleared["kind"], "broadcast_failed");
    assert!(metric(
        &ctl,
        "dalaba_alarms_active{kind=\"broadcast_failed\"} 0"
    ));
}

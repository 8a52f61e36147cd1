//! Emergency alerts end to end with real processes and speakers that play at a device's
//! pace (`wav-rt` sinks): a drill is announced as one and reaches only its area; a real
//! alert needs confirming, an expired one is refused; cancelling stops playout everywhere
//! within seconds; CAP 1.2 messages are held for review, approved, cancelled by their
//! sender only, and refused when unsigned where a signature is required.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use ed25519_dalek::Signer as _;
use serde_json::{Value, json};

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_micros() as u64
}

fn cap(identifier: &str, status: &str, msg_type: &str, references: &str, sender: &str) -> String {
    let expires = chrono::DateTime::from_timestamp_micros((now_us() + 3_600_000_000) as i64)
        .expect("time")
        .to_rfc3339();
    let refs = if references.is_empty() {
        String::new()
    } else {
        format!("<references>{references}</references>")
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>{sender}</sender>
  <sent>2026-11-23T10:00:00+08:00</sent><status>{status}</status>
  <msgType>{msg_type}</msgType><scope>Public</scope>{refs}
  <info><category>Met</category><event>暴雨</event><urgency>Immediate</urgency>
    <severity>Extreme</severity><certainty>Observed</certainty>
    <expires>{expires}</expires><headline>暴雨红色预警</headline>
    <area><areaDesc>东村</areaDesc>
      <geocode><valueName>GB2260</valueName><value>330106001001</value></geocode></area>
  </info>
</alert>"#
    )
}

fn post_cap(api: &Api, xml: &str, signature: Option<&str>) -> (u16, Value) {
    let mut req = api
        .http
        .post(format!("{}/api/alerts/cap", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/xml")
        .body(xml.to_owned());
    if let Some(s) = signature {
        req = req.header("x-dalaba-signature", s);
    }
    let resp = req.send().expect("post");
    (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
}

#[test]
fn alerts_drills_cancels_and_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    let feed = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let b64 = base64::engine::general_purpose::STANDARD;
    let other = ed25519_dalek::SigningKey::from_bytes(&[43; 32]);
    let (ctl, password) = start_controller_env(
        &data,
        &[
            ("DALABA_CAP_POLICY", "review"),
            ("DALABA_CAP_REQUIRE_SIGNATURE", "1"),
        ],
    );
    let api = Api::login(&ctl.addr, &password);
    // Two feeds, each with its own key and areas.
    let (status, body) = api.call(
        "PUT",
        "/api/settings/cap-senders",
        Some(json!([
            {"sender": "feed@county", "name": "西湖区气象台",
             "keys": [b64.encode(feed.verifying_key().to_bytes())], "areas": ["330106"]},
            {"sender": "other@county", "keys": [b64.encode(other.verifying_key().to_bytes())],
             "areas": ["330106"]},
        ])),
    );
    assert_eq!(status, 200, "{body}");
    let agents = start_agents(dir.path(), &ctl, &api, TWO_VILLAGES, "wav-rt");
    let (status, media) = upload(&api, "evacuate.wav", tone_wav(1000.0, 1.5, 48_000));
    assert_eq!(status, 201, "{media}");
    let media_id = media["id"].as_u64().expect("id");
    let expires = now_us() + 600_000_000;

    // Refused: a real alert without confirming, an expired one, an empty area list.
    for (body, want) in [
        (
            json!({"severity": "red", "event": "flood", "areas": ["330106"], "expires_at": expires, "mode": "real"}),
            "confirm_real",
        ),
        (
            json!({"severity": "red", "event": "flood", "areas": ["330106"], "expires_at": now_us() - 1, "mode": "drill"}),
            "already expired",
        ),
        (
            json!({"severity": "red", "event": "flood", "areas": [], "expires_at": expires, "mode": "drill"}),
            "areas",
        ),
        (
            json!({"severity": "red", "event": "flood", "areas": ["330106"], "expires_at": expires}),
            "mode",
        ),
    ] {
        let (status, err) = api.call("POST", "/api/alerts", Some(body));
        assert!(matches!(status, 400 | 422), "{status} {err}");
        if status == 400 {
            let msg = err["error"]["message"].as_str().unwrap_or_default();
            assert!(msg.contains(want), "{want}: {msg}");
        }
    }

    // A drill to one village: announced as a drill, heard only there.
    let (status, drill) = api.call(
        "POST",
        "/api/alerts",
        Some(json!({"severity": "orange", "event": "flood", "areas": ["330106001"],
                    "expires_at": expires, "text": "演练：请转移", "media_id": media_id, "mode": "drill"})),
    );
    assert_eq!(status, 201, "{drill}");
    assert_eq!(drill["status"], "sent");
    assert!(
        drill["request"]["text"]
            .as_str()
            .unwrap()
            .starts_with("【演练 DRILL】"),
        "{drill}"
    );
    let b = drill["broadcast_id"].as_u64().expect("broadcast");
    let (_, done) = api.call("GET", &format!("/api/broadcasts/{b}?wait_ms=30000"), None);
    assert_eq!(done["receipts"][0]["state"], "done", "{done}");
    assert_eq!(done["agents"], json!(["dong-1"]));
    let heard = samples(&agents[0].0, b).expect("dong-1 played the drill");
    // Drill prelude (3 s of 440/660 Hz steps), 0.5 s silence, the 1.5 s message.
    assert!(
        (heard.len() as i64 - 5 * 48_000).abs() <= 4_800,
        "{}",
        heard.len()
    );
    let (first, second) = (hz(&heard[1_000..11_000]), hz(&heard[13_000..23_000]));
    assert!(
        (first - 440.0).abs() < 15.0,
        "drill prelude starts at {first} Hz"
    );
    assert!((second - 660.0).abs() < 15.0, "then {second} Hz");
    assert!((hz(&heard[170_000..230_000]) - 1000.0).abs() < 15.0);
    assert!(
        samples(&agents[1].0, b).is_none(),
        "xi-1 is outside the area"
    );

    // A real alert to both villages, three times over; cancelled while it plays.
    let (status, real) = api.call(
        "POST",
        "/api/alerts",
        Some(
            json!({"severity": "red", "event": "flood", "areas": ["3301"], "expires_at": expires,
                    "media_id": media_id, "mode": "real", "confirm_real": true, "repeat": 3}),
        ),
    );
    assert_eq!(status, 201, "{real}");
    let id = real["id"].as_u64().expect("id");
    let b = real["broadcast_id"].as_u64().expect("broadcast");
    until_all(&api, b, "playing");
    let asked = Instant::now();
    let (status, cancelled) = api.call("POST", &format!("/api/alerts/{id}/cancel"), None);
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    until_all(&api, b, "cancelled");
    let took = asked.elapsed();
    eprintln!("cancel → every speaker stopped: {} ms", took.as_millis());
    assert!(took < Duration::from_secs(5), "{took:?}");
    for (adir, _) in &agents {
        let heard = samples(adir, b).expect("played");
        // Real prelude: the 853 + 960 Hz chord; cut off long before 3 × 7 s.
        assert!(heard.len() < 10 * 48_000, "{}", heard.len());
    }

    // CAP: unsigned refused (this controller requires signatures).
    let alert_xml = cap("cap-1", "Exercise", "Alert", "", "feed@county");
    let (status, err) = post_cap(&api, &alert_xml, None);
    assert_eq!(status, 403, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unsigned CAP refused")
    );
    let sign = |xml: &str| b64.encode(feed.sign(xml.as_bytes()).to_bytes());
    let (status, err) = post_cap(&api, &alert_xml, Some(&sign("something else")));
    assert_eq!(status, 403, "{err}");
    // Signed: held for review (the policy), as a drill (status Exercise).
    let (status, held) = post_cap(&api, &alert_xml, Some(&sign(&alert_xml)));
    assert_eq!(status, 201, "{held}");
    assert_eq!(held["result"], "held");
    let cap_id = held["alert_id"].as_u64().expect("alert id");
    let (_, shown) = api.call("GET", &format!("/api/alerts/{cap_id}"), None);
    assert_eq!(shown["status"], "held");
    assert_eq!(shown["request"]["mode"], "drill");
    assert_eq!(shown["request"]["severity"], "red");
    assert_eq!(shown["request"]["areas"], json!(["330106001001"]));
    // The same message twice: refused.
    let (status, _) = post_cap(&api, &alert_xml, Some(&sign(&alert_xml)));
    assert_eq!(status, 409);
    // Approved: sent to dong-1.
    let (status, sent) = api.call("POST", &format!("/api/alerts/{cap_id}/approve"), None);
    assert_eq!(status, 200, "{sent}");
    let cap_b = sent["broadcast_id"].as_u64().expect("broadcast");
    until_all(&api, cap_b, "playing");
    // Another sender cannot cancel it, nor another trusted feed's key in its name...
    let refs = "feed@county,cap-1,2026-11-23T10:00:00+08:00";
    let foreign = cap("cap-2", "Exercise", "Cancel", refs, "other@county");
    let sign_other = |xml: &str| b64.encode(other.sign(xml.as_bytes()).to_bytes());
    let (status, err) = post_cap(&api, &foreign, Some(&sign_other(&foreign)));
    assert_eq!(status, 403, "{err}");
    let forged = cap("cap-2", "Exercise", "Cancel", refs, "feed@county");
    let (status, err) = post_cap(&api, &forged, Some(&sign_other(&forged)));
    assert_eq!(status, 403, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("any key of sender feed@county"),
        "{err}"
    );
    // ...its own sender can.
    let cancel = cap("cap-3", "Exercise", "Cancel", refs, "feed@county");
    let (status, done) = post_cap(&api, &cancel, Some(&sign(&cancel)));
    assert_eq!(status, 201, "{done}");
    assert_eq!(done["cancelled"], json!([cap_id]));
    until_all(&api, cap_b, "cancelled");
    // Drafts never play; malformed CAP says why.
    let draft = cap("cap-4", "Draft", "Alert", "", "feed@county");
    let (status, err) = post_cap(&api, &draft, Some(&sign(&draft)));
    assert_eq!(status, 400);
    assert!(err["error"]["message"].as_str().unwrap().contains("Draft"));
    let broken = "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>";
    let (status, err) = post_cap(&api, broken, Some(&sign(broken)));
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("CAP:"),
        "{err}"
    );

    // The log shows every alert broadcast with its coverage.
    let (_, log) = api.call("GET", "/api/broadcasts", None);
    let alerts: Vec<&Value> = log
        .as_array()
        .expect("log")
        .iter()
        .filter(|b| b["kind"] == "alert")
        .collect();
    assert_eq!(alerts.len(), 3, "{log}");
    assert!(
        alerts.iter().all(|b| b["coverage"]["ratio"] == 1.0),
        "{log}"
    );
}

#[test]
fn cap_files_in_the_watched_directory_are_imported_or_rejected_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    let inbox = dir.path().join("cap-inbox");
    std::fs::create_dir_all(&inbox).expect("mkdir");
    let (ctl, password) = start_controller_env(
        &data,
        &[
            ("DALABA_CAP_POLICY", "auto"),
            ("DALABA_CAP_DIR", inbox.to_str().expect("utf-8")),
        ],
    );
    let api = Api::login(&ctl.addr, &password);
    // An unsigned feed: its files are trusted because they are in the controller's own
    // directory.
    let (status, body) = api.call(
        "PUT",
        "/api/settings/cap-senders",
        Some(json!([{"sender": "feed@county", "areas": ["330106"]}])),
    );
    assert_eq!(status, 200, "{body}");
    let (status, created) = api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": "dong-1", "name": "dong-1", "area_code": "330106001001"})),
    );
    assert_eq!(status, 201, "{created}");
    let adir = dir.path().join("dong-1");
    std::fs::create_dir_all(&adir).expect("mkdir");
    let token = created["enrolment_token"].as_str().expect("token");
    let config = agent_config_wav(&adir, &ctl, token, "330106001001");
    let agent = start_agent(&config, &adir.join("state"));
    agent.wait_for("session ready as dong-1");

    // Written under another name and renamed, as a feed's gateway should, so a half-written
    // file is never read.
    let good = cap("file-1", "Test", "Alert", "", "feed@county");
    std::fs::write(inbox.join("a.tmp"), &good).expect("write");
    std::fs::rename(inbox.join("a.tmp"), inbox.join("a.xml")).expect("rename");
    std::fs::write(inbox.join("b.xml"), "<alert>no namespace</alert>").expect("write");
    let deadline = Instant::now() + WAIT;
    while !(inbox.join("done/a.xml").exists() && inbox.join("rejected/b.xml").exists()) {
        assert!(Instant::now() < deadline, "the inbox was never swept");
        std::thread::sleep(Duration::from_millis(100));
    }
    let why = std::fs::read_to_string(inbox.join("rejected/b.xml.error.txt")).expect("reason");
    assert!(why.contains("not in the CAP 1.2 namespace"), "{why}");
    // The test alert went out by itself (policy auto), as a test.
    let (_, alerts) = api.call("GET", "/api/alerts", None);
    let a = &alerts[0];
    assert_eq!(a["status"], "sent", "{alerts}");
    assert_eq!(a["request"]["mode"], "test");
    assert!(
        a["request"]["text"]
            .as_str()
            .unwrap()
            .starts_with("【测试 TEST】")
    );
    let b = a["broadcast_id"].as_u64().expect("broadcast");
    let (_, done) = api.call("GET", &format!("/api/broadcasts/{b}?wait_ms=30000"), None);
    assert_eq!(done["receipts"][0]["state"], "done", "{done}");
    assert!(samples(&adir, b).is_some());
}

//! The console's alerts page in a real browser (headless Chromium over WebDriver) against
//! a real controller and real agents playing at a device's pace (`wav-rt` sinks):
//!
//! - a typed drill to one village, in two voices heard first in the page: every targeted
//!   speaker's receipt shows in the page, the other village's speaker plays nothing;
//! - cancelling it from the page stops the speaker;
//! - a real alert is not sent on the first press: the page asks again, naming how many
//!   speakers will sound, and only the second press sends it;
//! - a CAP message held for review is shown with its text and areas, and rejected;
//! - villages imported by name from a CSV file in the page are shown by name everywhere.
//!
//! `DALABA_SCREENSHOTS=1` writes `docs/console-overview.png` and `docs/console-alerts.png`.

mod common;

use std::time::{Duration, Instant};

use common::browser::*;
use common::*;
use serde_json::{Value, json};

const WARNING: &str = "山洪预警：请沿河村民立即转移到高处，注意安全。";

/// Waits until `selector` matches an element.
fn wait_for(rt: &tokio::runtime::Runtime, c: &fantoccini::Client, selector: &str) -> String {
    wait_text(rt, c, selector, |_| true)
}

fn alerts(api: &Api) -> Vec<Value> {
    let (status, list) = api.call("GET", "/api/alerts", None);
    assert_eq!(status, 200, "{list}");
    list.as_array().expect("alerts").clone()
}

/// The state of `agent`'s receipt for `broadcast`, once it is one of `want`.
fn wait_receipt(api: &Api, broadcast: u64, agent: &str, want: &[&str]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, b) = api.call(
            "GET",
            &format!("/api/broadcasts/{broadcast}?wait_ms=1000"),
            None,
        );
        let state = b["receipts"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["agent_id"] == agent))
            .and_then(|r| r["state"].as_str())
            .unwrap_or_default()
            .to_owned();
        if want.contains(&state.as_str()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{agent}: {state:?}, never {want:?}: {b}"
        );
    }
}

fn cap_message() -> String {
    let expires = chrono::Utc::now() + chrono::Duration::hours(1);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>met-2026-001</identifier><sender>feed@county</sender>
  <sent>2026-12-03T10:00:00+08:00</sent><status>Actual</status>
  <msgType>Alert</msgType><scope>Public</scope>
  <info><category>Met</category><event>暴雨</event><urgency>Immediate</urgency>
    <severity>Severe</severity><certainty>Likely</certainty>
    <expires>{}</expires><headline>暴雨橙色预警</headline>
    <description>预计未来三小时有大暴雨</description>
    <area><areaDesc>西村</areaDesc>
      <geocode><valueName>GB2260</valueName><value>330106002003</value></geocode></area>
  </info>
</alert>"#,
        expires.to_rfc3339()
    )
}

#[test]
fn alerts_page_issues_follows_cancels_confirms_real_and_reviews() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller_env(
        &dir.path().join("controller"),
        &[("DALABA_CAP_POLICY", "review")],
    );
    let api = Api::login(&ctl.addr, &password);
    let agents = start_agents(dir.path(), &ctl, &api, TWO_VILLAGES, "wav-rt");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, tone_wav(1000.0, 1.0, 48_000)).expect("mic");
    let (_driver, c) = browser(&rt, &mic);
    log_in(&rt, &c, &ctl.addr, "admin", &password, "dong-1");

    // The county's villages by name, imported from a CSV file in the page: the overview
    // shows names first (the county's name ships with the binary).
    let csv = dir.path().join("villages.csv");
    std::fs::write(&csv, "代码,名称\n330106001001,东村\n330106002003,西村\n").expect("csv");
    choose_file(&rt, &c, "#names-file", &csv);
    click(&rt, &c, "#names-import");
    wait_text(&rt, &c, "#names-status", |t| t.contains("已更新 2"));
    wait_text(&rt, &c, "#villages [data-village='330106001001'] h3", |t| {
        t.contains("西湖区 东村")
    });
    wait_text(&rt, &c, "#areas [data-area='330106']", |t| {
        t.contains("西湖区")
    });
    // Where the two speakers stand: the map shows them (a plain background, no tiles).
    for (id, lat, lon) in [("dong-1", 30.2741, 120.1210), ("xi-1", 30.2655, 120.1003)] {
        let (status, a) = api.call(
            "PATCH",
            &format!("/api/agents/{id}"),
            Some(json!({"location": {"lat": lat, "lon": lon}})),
        );
        assert_eq!(status, 200, "{a}");
        wait_for(
            &rt,
            &c,
            &format!(
                "#geo path[class~='map-agent-{id}'], #geo path[class~='map-area-{}']",
                a["area_code"].as_str().expect("area")
            ),
        );
    }
    rt.block_on(c.execute("window.scrollTo(0, 0)", vec![]))
        .expect("scroll");
    screenshot(&rt, &c, "console-overview");

    // A typed drill to dong's village, chosen in the area tree.
    click(&rt, &c, "#nav button[data-view=alerts]");
    type_into(&rt, &c, "#al-event", "山洪");
    wait_text(&rt, &c, "#al-areas", |t| {
        t.contains("东村") && t.contains("西湖区")
    });
    click(&rt, &c, "input[data-area='330106001001']");
    type_into(&rt, &c, "#al-text", WARNING);
    // In Mandarin, then Cantonese; heard in the page first (a duration once it is made).
    click(&rt, &c, "#al-voices option[value='mandarin,cantonese']");
    click(&rt, &c, "#al-preview");
    wait_text(&rt, &c, "#al-status", |t| t.ends_with(" s"));
    click(&rt, &c, "#al-issue");
    wait_for(
        &rt,
        &c,
        "#al-receipts [data-agent='dong-1'][data-state='playing']",
    );
    let drill = alerts(&api)[0].clone();
    assert_eq!(drill["request"]["mode"], "drill", "{drill}");
    assert_eq!(drill["request"]["areas"], json!(["330106001001"]));
    assert_eq!(drill["request"]["voices"], json!(["mandarin", "cantonese"]));
    assert!(drill["speech_error"].is_null(), "{drill}");
    let broadcast = drill["broadcast_id"].as_u64().expect("broadcast");
    let shown = wait_text(&rt, &c, "#al-receipts", |t| t.contains("dong-1"));
    assert!(!shown.contains("xi-1"), "{shown}");
    assert!(shown.contains("东村"), "the village by name: {shown}");
    rt.block_on(c.execute("window.scrollTo(0, 0)", vec![]))
        .expect("scroll");
    screenshot(&rt, &c, "console-alerts");

    // Cancelled from the page: the speaker stops, and its output stops growing.
    click(&rt, &c, &format!("#alert-{} button.cancel", drill["id"]));
    wait_receipt(&api, broadcast, "dong-1", &["cancelled"]);
    wait_for(&rt, &c, &format!("#alert-{} .al-state", drill["id"]));
    let wav = agents[0].0.join(format!("speaker-b{broadcast}.wav"));
    let deadline = Instant::now() + WAIT;
    let size = loop {
        // The agent closes the file once the stop has reached its sink.
        if let Some(s) = played(&agents[0].0, broadcast).filter(|s| !s.is_empty()) {
            break s.len();
        }
        assert!(Instant::now() < deadline, "{} never closed", wav.display());
        std::thread::sleep(Duration::from_millis(100));
    };
    // Tone (3 s) + speech (about 10 s) twice would be over 26 s: it was cut well short.
    assert!(size < 48_000 * 20, "{size} samples after the cancel");
    // xi-1, in the other village, played nothing.
    assert!(
        std::fs::read_dir(&agents[1].0)
            .expect("dir")
            .filter_map(Result::ok)
            .all(|e| !e.file_name().to_string_lossy().starts_with("speaker-b")),
        "xi-1 played the drill"
    );

    // A real alert: the first press only asks again, naming the reach.
    let before = alerts(&api).len();
    click(&rt, &c, "#al-mode input[data-value='real']");
    click(&rt, &c, "#al-issue");
    let asked = wait_text(&rt, &c, "#al-real-text", |t| !t.is_empty());
    assert!(
        asked.contains("1 个喇叭") || asked.contains("1 speakers"),
        "{asked}"
    );
    assert_eq!(alerts(&api).len(), before, "sent without the second press");
    click(&rt, &c, "#al-confirm-real");
    let deadline = Instant::now() + WAIT;
    while alerts(&api).len() == before {
        assert!(Instant::now() < deadline, "the second press sent nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = alerts(&api)[0]["id"].clone();
    wait_for(
        &rt,
        &c,
        &format!("#al-receipts[data-alert='{id}'] [data-agent='dong-1']"),
    );
    let (_, real) = api.call("GET", &format!("/api/alerts/{id}"), None);
    assert_eq!(real["request"]["mode"], "real", "{real}");
    click(&rt, &c, &format!("#alert-{} button.cancel", real["id"]));
    wait_receipt(
        &api,
        real["broadcast_id"].as_u64().expect("broadcast"),
        "dong-1",
        &["cancelled", "done"],
    );

    // A CAP message held for review: shown with its text and areas, rejected.
    let (status, body) = api.call(
        "PUT",
        "/api/settings/cap-senders",
        Some(json!([{"sender": "feed@county", "name": "西湖区气象台", "keys": [], "areas": ["330106"]}])),
    );
    assert_eq!(status, 200, "{body}");
    let resp = api
        .http
        .post(format!("{}/api/alerts/cap", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/xml")
        .body(cap_message())
        .send()
        .expect("post CAP");
    assert_eq!(resp.status().as_u16(), 201, "{:?}", resp.text());
    let held = alerts(&api)
        .into_iter()
        .find(|a| a["status"] == "held")
        .expect("a held alert");
    // The page shows it when it is next drawn.
    click(&rt, &c, "#nav button[data-view=overview]");
    click(&rt, &c, "#nav button[data-view=alerts]");
    let card = wait_text(&rt, &c, &format!("#held-{}", held["id"]), |t| {
        t.contains("暴雨橙色预警")
    });
    assert!(card.contains("330106002003"), "{card}");
    click(&rt, &c, &format!("#held-{} button.reject", held["id"]));
    let deadline = Instant::now() + WAIT;
    while alerts(&api)
        .iter()
        .any(|a| a["id"] == held["id"] && a["status"] != "rejected")
    {
        assert!(Instant::now() < deadline, "never rejected");
        std::thread::sleep(Duration::from_millis(100));
    }
    rt.block_on(c.close()).expect("close the browser");
}

//! The console's alarms page in a real browser (headless Chromium over WebDriver) against
//! a real controller and real agents: the admin adds a webhook in the page's settings;
//! a speaker is killed and its `offline` alarm appears in the page by the speaker's name
//! (the threshold set short, 1 s) with a count in the header; the webhook receiver on
//! loopback gets it; the admin acknowledges it in the page and the count goes.
//!
//! `DALABA_SCREENSHOTS=1` writes `docs/console-alarms.png`.

mod common;

use common::browser::*;
use common::webhook::receiver;
use common::*;
use serde_json::json;

#[test]
fn a_dead_speaker_is_an_alarm_in_the_page_and_at_the_webhook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let password = password.expect("password");
    let api = Api::login(&ctl.addr, &password);
    let mut agents = start_agents(dir.path(), &ctl, &api, TWO_VILLAGES, "wav");
    let (hooks, mut calls) = receiver();
    // Short for the test; the page shows it as its whole minute and keeps it as it is.
    let (status, _) = api.call(
        "PUT",
        "/api/settings/alarms",
        Some(json!({"offline_after_s": 1})),
    );
    assert_eq!(status, 200);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, tone_wav(1000.0, 1.0, 48_000)).expect("mic");
    let (_driver, c) = browser(&rt, &mic);
    log_in(&rt, &c, &ctl.addr, "admin", &password, "dong-1");

    // A webhook added in the page.
    click(&rt, &c, "#nav button[data-view=alarms]");
    wait_text(&rt, &c, "#alm-empty", |t| t.contains("没有告警"));
    click(&rt, &c, "#alm-add-hook");
    type_into(
        &rt,
        &c,
        "#alm-hooks .hook input[name=url]",
        &format!("http://{hooks}/plain"),
    );
    click(
        &rt,
        &c,
        "#alm-hooks .hook select[name=format] option[value=json]",
    );
    click(&rt, &c, "#alm-form button[type=submit]");
    wait_text(&rt, &c, "#alm-status", |t| t.contains("已保存"));
    let (_, settings) = api.call("GET", "/api/settings/alarms", None);
    assert_eq!(settings["offline_after_s"], 1, "{settings}");
    assert_eq!(
        settings["webhooks"][0],
        json!({"url": format!("http://{hooks}/plain"), "format": "json", "secret": null})
    );

    // xi-1 dies: its alarm in the page, by name, counted in the header, sent out.
    let (_, xi) = agents.remove(1);
    xi.stop();
    let row = wait_text(&rt, &c, "#alm-table tr.active", |t| t.contains("xi-1"));
    assert!(row.contains("离线"), "{row}");
    wait_text(&rt, &c, "#alarm-count", |t| t == "1");
    let (_, sent) = calls.next("/plain");
    assert_eq!(sent["event"], "raised", "{sent}");
    assert_eq!(sent["alarm"]["agent_id"], "xi-1", "{sent}");
    rt.block_on(c.execute("window.scrollTo(0, 0)", vec![]))
        .expect("scroll");
    screenshot(&rt, &c, "console-alarms");

    // Acknowledged in the page: who is shown, the header's count goes.
    click(&rt, &c, "#alm-table tr.active button.ack");
    wait_text(&rt, &c, "#alm-table tr.active", |t| t.contains("admin 于"));
    wait_text(&rt, &c, "#nav button[data-view=alarms]", |t| {
        !t.contains('1')
    });
}

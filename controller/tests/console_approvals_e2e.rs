//! The console's approvals queue in a real browser (headless Chromium over WebDriver)
//! against a real controller and real agents: the admin sets the rule in the page; an
//! operator's broadcast to the whole county is held and shows in the admin's queue (who
//! asked, why) with a count in the header; approved there, the speakers play it (heard in
//! their WAV output); a second one is turned down in the page and never sent. The
//! broadcast log, filtered in the page by kind and village, shows both with coverage per
//! village; its CSV has a row per broadcast and per village.
//!
//! `DALABA_SCREENSHOTS=1` writes `docs/console-approvals.png` and `docs/console-log.png`.

mod common;

use common::browser::*;
use common::*;
use serde_json::json;

const PASSWORD: &str = "a long operator password";

#[test]
fn a_held_broadcast_is_approved_or_turned_down_in_the_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let password = password.expect("password");
    let api = Api::login(&ctl.addr, &password);
    let agents = start_agents(dir.path(), &ctl, &api, TWO_VILLAGES, "wav");
    let (status, _) = api.call(
        "POST",
        "/api/users",
        Some(
            json!({"name": "wang", "role": "operator", "scopes": ["330106"], "password": PASSWORD}),
        ),
    );
    assert_eq!(status, 201);
    let wang = Api::login_as(&ctl.addr, "wang", PASSWORD);
    let (status, media) = upload(&api, "反诈提醒.wav", tone_wav(700.0, 1.0, 48_000));
    assert_eq!(status, 201, "{media}");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, tone_wav(1000.0, 1.0, 48_000)).expect("mic");
    let (_driver, c) = browser(&rt, &mic);
    log_in(&rt, &c, &ctl.addr, "admin", &password, "dong-1");

    // The rule, set in the page: a county or wider waits for a second person.
    click(&rt, &c, "#nav button[data-view=approvals]");
    wait_text(&rt, &c, "#ap-empty", |t| t.contains("没有待审批"));
    click(
        &rt,
        &c,
        "#ap-rule select[name=max_prefix_digits] option[value='6']",
    );
    click(&rt, &c, "#ap-rule button[type=submit]");
    wait_text(&rt, &c, "#ap-rule-status", |t| t.contains("已保存"));
    let (_, rule) = api.call("GET", "/api/settings/approval", None);
    assert_eq!(rule["max_prefix_digits"], 6, "{rule}");

    // wang's broadcast to the county is held: in the queue, with who and why, counted.
    let send = || {
        let (status, held) = wang.call(
            "POST",
            "/api/broadcasts",
            Some(json!({"media_id": media["id"], "target": {"areas": ["330106"]}})),
        );
        assert_eq!(status, 202, "{held}");
        held["id"].as_u64().expect("id")
    };
    let first = send();
    let row = wait_text(&rt, &c, &format!("#held-{first}"), |t| t.contains("wang"));
    assert!(
        row.contains("反诈提醒.wav") && row.contains("330106"),
        "{row}"
    );
    wait_text(&rt, &c, "#approval-count", |t| t == "1");
    rt.block_on(c.execute("window.scrollTo(0, 0)", vec![]))
        .expect("scroll");
    screenshot(&rt, &c, "console-approvals");

    // Approved in the page: both villages' speakers play it.
    click(&rt, &c, &format!("#held-{first} button.approve"));
    wait_text(&rt, &c, "#ap-status", |t| t.contains("已批准"));
    until_all(&api, first, "done");
    for (adir, _) in &agents {
        let heard = samples(adir, first).expect("played");
        assert!((hz(&heard) - 700.0).abs() < 15.0, "{} Hz", hz(&heard));
    }

    // The next one is turned down: out of the queue, never sent.
    let second = send();
    wait_text(&rt, &c, &format!("#held-{second}"), |t| t.contains("wang"));
    click(&rt, &c, &format!("#held-{second} button.reject"));
    wait_text(&rt, &c, "#ap-status", |t| t.contains("已驳回"));
    wait_text(&rt, &c, "#ap-empty", |t| t.contains("没有待审批"));
    let (_, b) = api.call("GET", &format!("/api/broadcasts/{second}"), None);
    assert_eq!(b["receipts"], json!([]), "never sent: {b}");
    assert!(
        agents
            .iter()
            .all(|(adir, _)| samples(adir, second).is_none())
    );

    // wang's county-wide schedule waits too, in the same queue, and is approved there.
    let (_, playlist) = wang.call(
        "POST",
        "/api/playlists",
        Some(json!({"name": "反诈", "items": [{"media_id": media["id"]}]})),
    );
    let (status, schedule) = wang.call(
        "POST",
        "/api/schedules",
        Some(json!({"name": "全县早间", "times": ["07:00"], "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                    "playlist_id": playlist["id"], "target": {"areas": ["330106"]}})),
    );
    assert_eq!(status, 201, "{schedule}");
    let row_id = format!("#held-schedule-{}", schedule["id"]);
    click(&rt, &c, "#nav button[data-view=log]");
    click(&rt, &c, "#nav button[data-view=approvals]");
    let row = wait_text(&rt, &c, &row_id, |t| t.contains("全县早间"));
    assert!(
        row.contains("定时任务") && row.contains("wang") && row.contains("工作日 07:00"),
        "{row}"
    );
    wait_text(&rt, &c, "#approval-count", |t| t == "1");
    click(&rt, &c, &format!("{row_id} button.approve"));
    wait_text(&rt, &c, "#ap-status", |t| {
        t.contains("全县早间") && t.contains("已批准")
    });
    let (_, approved) = api.call("GET", &format!("/api/schedules/{}", schedule["id"]), None);
    assert_eq!(
        (approved["approved_by"].as_str(), approved["held"].as_str()),
        (Some("admin"), None)
    );

    // The log, filtered in the page: manual broadcasts that reached 东村's speaker.
    click(&rt, &c, "#nav button[data-view=log]");
    click(&rt, &c, "#log-kind option[value=media]");
    click(&rt, &c, "#log-area option[value='330106001001']");
    click(&rt, &c, "#log-form button[type=submit]");
    let row = wait_text(&rt, &c, &format!("#log-{first}"), |t| t.contains("2/2"));
    assert!(row.contains("播放") && row.contains("1/1"), "{row}");
    let row = wait_text(&rt, &c, &format!("#log-{second}"), |t| t.contains("0/2"));
    assert!(row.contains("已驳回"), "{row}");
    rt.block_on(c.execute("window.scrollTo(0, 0)", vec![]))
        .expect("scroll");
    screenshot(&rt, &c, "console-log");
    // The page's export button saves what the filters show, as the API's CSV.
    click(&rt, &c, "#log-csv");
    let saved = downloaded(&mic, "dalaba-broadcasts.csv");
    assert!(saved.starts_with("id,kind,start_utc,"), "{saved}");
    assert!(
        saved.lines().skip(1).all(|l| l.contains(",media,")),
        "filtered by kind: {saved}"
    );
    assert!(
        saved
            .lines()
            .any(|l| l.starts_with(&format!("{first},media,")) && l.contains(",330106001001,")),
        "{saved}"
    );
    let (status, csv) = request(
        &client(),
        "GET",
        &format!(
            "http://{}/api/broadcasts?format=csv&kind=media&area=330106002",
            ctl.addr
        ),
        Some(&api.token),
        None,
    );
    assert_eq!(status, 200, "{csv}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,kind,start_utc,created_by,village_code,village_name,targeted,confirmed_playing,coverage"
    );
    assert_eq!(
        lines.len(),
        1 + 2 * 3,
        "two broadcasts, each whole and per village: {csv}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{first},media,"))
                && l.contains(",330106002003,")
                && l.ends_with(",1,1,1.000")),
        "{csv}"
    );
    let (status, _) = api.call("GET", "/api/broadcasts?kind=teleport", None);
    assert_eq!(status, 400, "an unknown kind is refused");
}

//! The daily programme in a real browser (headless Chromium over WebDriver) against a real
//! controller: a playlist of three items (two clips and a typed notice, spoken by eSpeak
//! NG), reordered with the buttons, its total shown; a schedule "every weekday at 07:00
//! and 18:00" made without typing cron, with its next runs; the week view with a clash
//! marked, quiet hours set in the page and a holiday entered in the page that silences the
//! workday schedule on that day.
//!
//! `DALABA_SCREENSHOTS=1` writes `docs/console-programme.png`.

mod common;

use chrono::{Datelike, Duration, Weekday};
use common::browser::*;
use common::*;
use fantoccini::Locator;
use serde_json::{Value, json};

/// Sets an input's value as a user's choice would (date and time inputs take typed keys
/// in the browser's locale's order, which a test should not depend on).
fn set_value(rt: &tokio::runtime::Runtime, c: &fantoccini::Client, selector: &str, value: &str) {
    rt.block_on(c.execute(
        "const e = document.querySelector(arguments[0]); e.value = arguments[1];
         e.dispatchEvent(new Event('input', {bubbles: true}));
         e.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![json!(selector), json!(value)],
    ))
    .unwrap_or_else(|e| panic!("{selector}: {e}"));
}

fn count(rt: &tokio::runtime::Runtime, c: &fantoccini::Client, selector: &str) -> usize {
    rt.block_on(c.find_all(Locator::Css(selector)))
        .map(|v| v.len())
        .unwrap_or(0)
}

#[test]
fn a_playlist_a_schedule_without_cron_and_the_week() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let password = password.expect("password");
    let api = Api::login(&ctl.addr, &password);
    for (id, area) in TWO_VILLAGES {
        new_agent(&api, id, id, area);
    }
    let mut clips = Vec::new();
    for (name, hz) in [("反诈提醒.wav", 700.0), ("防火知识.wav", 900.0)] {
        let (status, media) = upload(&api, name, tone_wav(hz, 2.0, 48_000));
        assert_eq!(status, 201, "{media}");
        clips.push(media["id"].as_u64().expect("id"));
    }

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, tone_wav(1000.0, 1.0, 48_000)).expect("mic");
    let (_driver, c) = browser(&rt, &mic);
    log_in(&rt, &c, &ctl.addr, "admin", &password, "dong-1");
    click(&rt, &c, "#nav button[data-view=programme]");

    // A playlist of three: clip, clip, a typed notice; the notice moved up to the middle,
    // the first clip played twice with 3 s between.
    click(&rt, &c, "#pl-new");
    type_into(&rt, &c, "#pl-name", "每日安全提醒");
    click(
        &rt,
        &c,
        &format!(
            "#pl-items li:nth-child(1) .pl-media option[value='{}']",
            clips[0]
        ),
    );
    click(&rt, &c, "#pl-add-media");
    click(
        &rt,
        &c,
        &format!(
            "#pl-items li:nth-child(2) .pl-media option[value='{}']",
            clips[1]
        ),
    );
    click(&rt, &c, "#pl-add-text");
    type_into(
        &rt,
        &c,
        "#pl-items li:nth-child(3) .pl-text",
        "请注意防范电信诈骗",
    );
    click(&rt, &c, "#pl-items li:nth-child(3) .pl-up");
    set_value(&rt, &c, "#pl-items li:nth-child(1) .pl-repeat", "2");
    set_value(&rt, &c, "#pl-items li:nth-child(1) .pl-gap", "3");
    // 2 × 2 s + 3 s between + 3 s after it, then the 2 s clip: 12 s, plus the notice.
    wait_text(&rt, &c, "#pl-total", |t| {
        t.contains("12秒") && t.contains("3 条")
    });
    click(&rt, &c, "#pl-save");
    let row = wait_text(&rt, &c, "#playlist-table tr[data-playlist]", |t| {
        t.contains("每日安全提醒")
    });
    assert!(
        row.contains("反诈提醒.wav ×2") && row.contains("请注意防范"),
        "{row}"
    );
    let (_, playlists) = api.call("GET", "/api/playlists", None);
    let items = &playlists[0]["items"];
    assert_eq!(items[0]["media_id"].as_u64(), Some(clips[0]), "{items}");
    assert_eq!(
        (items[0]["repeat"].as_u64(), items[0]["gap_ms"].as_u64()),
        (Some(2), Some(3000))
    );
    assert_eq!(items[1]["text"], "请注意防范电信诈骗");
    assert!(
        items[1]["media_id"].as_u64().unwrap_or(0) > 0,
        "spoken: {items}"
    );
    assert_eq!(items[2]["media_id"].as_u64(), Some(clips[1]));

    // A schedule every weekday at 07:00 and 18:00, chosen in the page, no cron.
    click(&rt, &c, "#sc-new");
    type_into(&rt, &c, "#sc-name", "早晚反诈");
    click(&rt, &c, "#sc-add-time");
    set_value(&rt, &c, "#sc-times .sc-time:nth-child(2) input", "18:00");
    click(&rt, &c, "#sc-workdays");
    click(&rt, &c, "#sc-target input[value='area:330106001001']");
    click(&rt, &c, "#sc-save");
    let status = wait_text(&rt, &c, "#programme-status", |t| t.contains("早晚反诈"));
    assert!(
        status.contains("已保存") && status.contains("接下来"),
        "{status}"
    );
    let (_, schedules) = api.call("GET", "/api/schedules", None);
    let s = &schedules[0];
    assert_eq!(s["times"], json!(["07:00", "18:00"]), "{s}");
    assert_eq!(s["weekdays"], json!(["mon", "tue", "wed", "thu", "fri"]));
    assert_eq!(s["holidays"], "follow");
    assert!(s.get("cron").is_none(), "{s}");
    assert_eq!(s["target"]["areas"], json!(["330106001001"]));
    for run in s["next_runs"].as_array().expect("next runs") {
        let local = chrono::DateTime::parse_from_rfc3339(run["local"].as_str().unwrap()).unwrap();
        assert!(
            !matches!(local.weekday(), Weekday::Sat | Weekday::Sun),
            "{run}"
        );
        assert!(["07:00", "18:00"].contains(&local.format("%H:%M").to_string().as_str()));
    }
    let row = wait_text(&rt, &c, "#schedule-table tr[data-schedule]", |t| {
        t.contains("工作日")
    });
    assert!(
        row.contains("07:00、18:00") && row.contains("每日安全提醒"),
        "{row}"
    );

    // The week: the schedule's runs; another schedule on dong-1 at 07:00 every day clashes.
    wait_present(&rt, &c, "#wk-grid .wk-run");
    let (status, other) = api.call(
        "POST",
        "/api/schedules",
        Some(
            json!({"name": "东村广播", "times": ["07:00"], "playlist_id": playlists[0]["id"],
                    "target": {"agents": ["dong-1"]}}),
        ),
    );
    assert_eq!(status, 201, "{other}");

    // Quiet hours for the county, set in the page.
    click(&rt, &c, "#qh-add");
    click(
        &rt,
        &c,
        "#qh-table tr.qh-rule .qh-area option[value='330106']",
    );
    set_value(&rt, &c, "#qh-table tr.qh-rule .qh-start", "22:00");
    set_value(&rt, &c, "#qh-table tr.qh-rule .qh-end", "06:30");
    click(&rt, &c, "#qh-save");
    wait_text(&rt, &c, "#qh-status", |t| t.contains("已保存"));
    let (_, quiet) = api.call("GET", "/api/quiet-hours", None);
    assert_eq!(
        quiet,
        json!([{"area": "330106", "start": "22:00", "end": "06:30", "time_zone": "Asia/Shanghai"}])
    );

    // A holiday on the next weekday of this week (Beijing time), entered in the page.
    let today = (chrono::Utc::now() + Duration::hours(8)).date_naive();
    let holiday = (1..7)
        .map(|d| today + Duration::days(d))
        .find(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .expect("a weekday");
    type_into(&rt, &c, "#hd-text", &format!("{holiday} 休 测试假日"));
    click(&rt, &c, "#hd-save");
    wait_text(&rt, &c, "#hd-status", |t| t.contains("已保存"));
    let (_, calendar) = api.call("GET", "/api/holidays", None);
    assert_eq!(
        calendar["days"][0],
        json!({"date": holiday.to_string(), "kind": "holiday", "name": "测试假日"})
    );

    // The week as drawn: the holiday's column says so and has only the daily schedule; a
    // clash is marked on the workdays; the quiet hours are shown on every day.
    let day = format!("#wk-grid .wk-day[data-date='{holiday}']");
    let column = wait_text(&rt, &c, &day, |t| t.contains("测试假日"));
    assert!(
        column.contains("东村广播") && !column.contains("早晚反诈"),
        "{column}"
    );
    let clash = wait_text(&rt, &c, "#wk-grid .wk-run.clash", |t| t.contains("冲突"));
    assert!(clash.contains("07:00"), "{clash}");
    assert_eq!(count(&rt, &c, "#wk-grid .wk-quiet"), 7);
    assert!(count(&rt, &c, "#wk-grid .wk-run") >= 7);
    let summary = wait_text(&rt, &c, "#wk-summary", |t| t.contains("冲突"));
    assert!(summary.contains("2 个喇叭"), "{summary}");
    let (_, week) = api.call("GET", "/api/programme/week", None);
    let clashes: Vec<&Value> = week["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["clashes"].as_array().unwrap().is_empty())
        .collect();
    assert!(!clashes.is_empty(), "{week}");
    rt.block_on(c.execute("window.scrollTo(0, 0)", vec![]))
        .expect("scroll");
    screenshot(&rt, &c, "console-programme");

    // Both editors opened again on what was saved: the same choices come back.
    click(&rt, &c, "#schedule-table tr[data-schedule] button");
    click(&rt, &c, "#playlist-table tr[data-playlist] button");
    wait_present(&rt, &c, "#pl-items li:nth-child(3)");
    let checked = |selector: &str| {
        rt.block_on(c.execute(
            "return [...document.querySelectorAll(arguments[0])].map((e) => e.checked ? e.value : '').filter(Boolean)",
            vec![json!(selector)],
        ))
        .expect("read")
    };
    assert_eq!(
        checked("#sc-days input"),
        json!(["mon", "tue", "wed", "thu", "fri"])
    );
    assert_eq!(checked("#sc-target input"), json!(["area:330106001001"]));
    assert_eq!(checked("#sc-follow"), json!(["on"]));
    let text = wait_text(&rt, &c, "#pl-total", |t| t.contains("3 条"));
    assert!(text.contains("总时长"), "{text}");
    rt.block_on(c.execute(
        "document.getElementById('sc-editor').closest('.card').scrollIntoView()",
        vec![],
    ))
    .expect("scroll");
    screenshot(&rt, &c, "console-programme-editors");
}

//! The console's speakers page in a real browser (headless Chromium over WebDriver):
//! an administrator adds a speaker, the page shows the terminal's configuration file with
//! its one-time token, a real `dalaba-agent` started with that file comes online in the
//! page; a wrong controller address is refused with its reason and creates nothing; the
//! list is searched by name; a speaker is retired with a second press. The page hears of
//! changes (`/api/events`) instead of polling: an agent that stops shows offline.
//!
//! `DALABA_SCREENSHOTS=1` writes `docs/console-speakers.png`.

mod common;

use std::time::{Duration, Instant};

use common::browser::*;
use common::*;
use serde_json::json;

#[test]
fn speakers_page_adds_a_speaker_that_enrols_with_the_shown_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let password = password.expect("password");
    let api = Api::login(&ctl.addr, &password);
    let mut agents = start_agents(dir.path(), &ctl, &api, &[("dong-1", "330106001001")], "wav");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, tone_wav(1000.0, 1.0, 48_000)).expect("mic");
    let (_driver, c) = browser(&rt, &mic);
    log_in(&rt, &c, &ctl.addr, "admin", &password, "dong-1");
    click(&rt, &c, "#nav button[data-view=speakers]");

    // A wrong address for the agents: refused with the reason, nothing created.
    type_into(&rt, &c, "#sp-form input[name=id_]", "nan-1");
    type_into(&rt, &c, "#sp-form input[name=name_]", "南村 1号喇叭");
    type_into(&rt, &c, "#sp-form input[name=area]", "330106001001");
    type_into(
        &rt,
        &c,
        "#sp-form input[name=agent_url]",
        "http://127.0.0.1/agent",
    );
    click(&rt, &c, "#sp-form button[type=submit]");
    wait_text(&rt, &c, "#sp-status", |t| t.contains("agent_url"));
    let (status, _) = api.call("GET", "/api/agents/nan-1", None);
    assert_eq!(status, 404, "a refused speaker was created");

    // The right one, with where it stands as a phone's map copies it (a Chinese comma):
    // the page shows the file for the pole.
    let url = format!("wss://{}/agent/ws", ctl.agent_addr);
    type_into(&rt, &c, "#sp-form input[name=agent_url]", &url);
    type_into(
        &rt,
        &c,
        "#sp-form input[name=location]",
        "30.2741，120.1210",
    );
    click(&rt, &c, "#sp-form button[type=submit]");
    let shown = wait_text(&rt, &c, "#sp-config", |t| t.contains("enrolment_token"));
    assert!(shown.contains("area_code = \"330106001001\""), "{shown}");
    assert!(shown.contains(&ctl.fingerprint), "{shown}");

    // A real agent with exactly that file (plus a cache under the test's directory, where
    // a pole uses /var/lib/dalaba/cache) enrols and comes online in the page.
    let pole = dir.path().join("nan-1");
    std::fs::create_dir_all(&pole).expect("dir");
    let config = pole.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "{shown}\n[cache]\ndir = \"{}\"\n",
            pole.join("cache").display()
        ),
    )
    .expect("config");
    let agent = start_agent(&config, &pole.join("state"));
    agent.wait_for("session ready as nan-1");
    wait_text(
        &rt,
        &c,
        "#sp-table tr[data-agent='nan-1'][data-state='online']",
        |t| t.contains("南村 1号喇叭"),
    );
    rt.block_on(c.execute("window.scrollTo(0, 0)", vec![]))
        .expect("scroll");
    screenshot(&rt, &c, "console-speakers");

    // Pushed, not polled: the page read the speakers only when it was shown or told of a
    // change (with polling every 2 s it would read them far more often than that).
    let counts = rt
        .block_on(c.execute("return window.dalaba", vec![]))
        .expect("counts");
    let (changes, refreshes, shows) = (
        counts["changes"].as_u64().expect("changes"),
        counts["refreshes"].as_u64().expect("refreshes"),
        counts["shows"].as_u64().expect("shows"),
    );
    assert!(changes > 0, "no change pushed: {counts}");
    assert!(refreshes <= changes + shows + 1, "the page polls: {counts}");

    let (_, nan) = api.call("GET", "/api/agents/nan-1", None);
    assert_eq!(
        nan["location"],
        json!({"lat": 30.2741, "lon": 120.121}),
        "{nan}"
    );

    // dong-1 is given its place in the list; both stand on the map, online.
    click(
        &rt,
        &c,
        "#sp-table tr[data-agent='dong-1'] button.sp-edit-location",
    );
    type_into(
        &rt,
        &c,
        "#sp-table tr[data-agent='dong-1'] input.sp-location",
        "30.2752 120.1231",
    );
    click(
        &rt,
        &c,
        "#sp-table tr[data-agent='dong-1'] button.sp-save-location",
    );
    wait_text(
        &rt,
        &c,
        "#sp-table tr[data-agent='dong-1'] td.location",
        |t| t.contains("30.27520, 120.12310"),
    );
    click(&rt, &c, "#nav button[data-view=overview]");
    for id in ["nan-1", "dong-1"] {
        wait_present(
            &rt,
            &c,
            &format!("#geo path[class~='map-agent-{id}'][class~='map-online']"),
        );
    }

    // dong-1 looked at closely: its details, a test tone heard in its output alone, and
    // the tone in its history.
    click(&rt, &c, "#nav button[data-view=speakers]");
    click(&rt, &c, "#sp-table tr[data-agent='dong-1'] td.name");
    wait_text(&rt, &c, "#sd-title", |t| {
        t.contains("dong-1") && t.contains("在线")
    });
    click(&rt, &c, "#sd-tone");
    wait_text(&rt, &c, "#sd-status", |t| t.contains("测试音已发送"));
    wait_present(&rt, &c, "#sd-played tr[data-state='done']");
    let tone = rt
        .block_on(c.execute(
            "return Number(document.querySelector(\"#sd-played tr[data-state='done']\").dataset.broadcast)",
            vec![],
        ))
        .expect("broadcast id")
        .as_u64()
        .expect("id");
    let heard = samples(&agents[0].0, tone).expect("dong-1 played the tone");
    assert!((hz(&heard) - 1000.0).abs() < 30.0, "{} Hz", hz(&heard));
    let (_, nan) = api.call("GET", "/api/agents/nan-1/history", None);
    assert_eq!(
        nan["played"],
        json!([]),
        "the test tone reached another speaker: {nan}"
    );

    // Groups: given in the card (a Chinese comma will do), counted above the list, and a
    // click lists a group's speakers.
    type_into(&rt, &c, "#sd-groups", "east，广场");
    click(&rt, &c, "#sd-save");
    wait_text(&rt, &c, "#sp-groups", |t| t.contains("广场 · 1"));
    let (_, dong) = api.call("GET", "/api/agents/dong-1", None);
    assert_eq!(dong["groups"], json!(["east", "广场"]), "{dong}");
    click(&rt, &c, "#sp-groups button[data-group='广场']");
    let table = wait_text(&rt, &c, "#sp-table", |t| !t.contains("nan-1"));
    assert!(table.contains("dong-1"), "{table}");
    rt.block_on(c.execute(
        "document.getElementById('sp-detail').scrollIntoView()",
        vec![],
    ))
    .expect("scroll");
    screenshot(&rt, &c, "console-speaker");
    click(&rt, &c, "#nav button[data-view=overview]");

    // A speaker that goes away shows as offline on the map and in the list, without a
    // reload.
    let gone = Instant::now();
    agents.remove(0).1.stop();
    wait_present(
        &rt,
        &c,
        "#geo path[class~='map-agent-dong-1'][class~='map-offline']",
    );
    eprintln!(
        "dong-1 shown offline on the map {} ms after its agent stopped",
        gone.elapsed().as_millis()
    );
    click(&rt, &c, "#nav button[data-view=speakers]");
    wait_present(
        &rt,
        &c,
        "#sp-table tr[data-agent='dong-1'][data-state='offline']",
    );
    // Its log, still open, has it go offline.
    wait_present(&rt, &c, "#sd-log tr[data-kind='offline']");

    // GCJ-02 tiles get the points moved: the console's conversion gives eviltransform's
    // published test points (Shanghai, Shenzhen, Beijing) to 1e-9 degrees.
    let moved = rt
        .block_on(c.execute(
            "return import('/console/geo.js').then((g) => [
                g.wgs84ToGcj02(31.1774276, 121.5272106),
                g.wgs84ToGcj02(22.543847, 113.912316),
                g.wgs84ToGcj02(39.911954, 116.377817),
                g.wgs84ToGcj02(48.8566, 2.3522)])",
            vec![],
        ))
        .expect("geo.js");
    let expected = [
        [31.17530398364597, 121.531541859215],
        [22.540796131694766, 113.9171764808363],
        [39.91334545536069, 116.38404722455657],
        [48.8566, 2.3522],
    ];
    for (i, want) in expected.iter().enumerate() {
        for (j, w) in want.iter().enumerate() {
            let got = moved[i][j].as_f64().expect("number");
            assert!((got - w).abs() < 1e-9, "point {i}: {moved}");
        }
    }

    // Found by name; the others are hidden.
    type_into(&rt, &c, "#sp-search", "南村");
    let table = wait_text(&rt, &c, "#sp-table", |t| !t.contains("dong-1"));
    assert!(table.contains("nan-1"), "{table}");

    // Retired with a second press: the controller closes its session.
    click(&rt, &c, "#sp-table tr[data-agent='nan-1'] button.retire");
    click(&rt, &c, "#sp-table tr[data-agent='nan-1'] button.retire");
    wait_text(
        &rt,
        &c,
        "#sp-table tr[data-agent='nan-1'][data-state='retired']",
        |_| true,
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, a) = api.call("GET", "/api/agents/nan-1", None);
        if a["retired"] == true && a["online"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "never retired: {a}");
        std::thread::sleep(Duration::from_millis(100));
    }
    rt.block_on(c.close()).expect("close the browser");
}

/// A county of 10,000 speakers (200 villages of 50), made through the API in one
/// installation list: the overview loads with every one counted and the map drawing one
/// circle per village in view, not 10,000. Prints the figures (BENCHMARKS.md): the import,
/// the speakers list, and from a reload to first paint and to the overview drawn.
#[test]
fn the_overview_holds_a_county_of_ten_thousand_speakers() {
    const VILLAGES: usize = 200;
    const EACH: usize = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let password = password.expect("password");
    let api = Api::login(&ctl.addr, &password);
    // Villages on a 20 × 10 grid over about 100 × 50 km; speakers within 300 m of the
    // village centre.
    let list: Vec<_> = (0..VILLAGES * EACH)
        .map(|i| {
            let (v, s) = (i / EACH, i % EACH);
            let lat = 30.0 + (v / 20) as f64 * 0.05 + (s / 10) as f64 * 0.0006;
            let lon = 120.0 + (v % 20) as f64 * 0.05 + (s % 10) as f64 * 0.0006;
            json!({"id": format!("s{i:05}"), "name": format!("{}村 {}号", v + 1, s + 1),
                "area_code": format!("330106{:03}{:03}", v / 20 + 1, v % 20 + 1),
                "location": {"lat": lat, "lon": lon}})
        })
        .collect();
    let made = Instant::now();
    let (status, created) = api.call("POST", "/api/agents/import", Some(json!(list)));
    assert_eq!(status, 201, "{created}");
    let import_ms = made.elapsed().as_millis();
    let listed = Instant::now();
    let (_, agents) = api.call("GET", "/api/agents", None);
    assert_eq!(agents.as_array().map(Vec::len), Some(VILLAGES * EACH));
    let list_ms = listed.elapsed().as_millis();
    // The county's own outline, drawn under the villages.
    let outline = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "演示县"}, "geometry": {"type": "Polygon",
         "coordinates": [[[119.98, 29.98], [121.02, 29.98], [121.02, 30.52], [119.98, 30.52], [119.98, 29.98]]]}}]});
    let (status, _) = api.call("PUT", "/api/map/outlines", Some(outline));
    assert_eq!(status, 200);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, tone_wav(1000.0, 1.0, 48_000)).expect("mic");
    let (_driver, c) = browser(&rt, &mic);
    rt.block_on(c.goto(&format!("http://{}/", ctl.addr)))
        .expect("open the console");
    type_into(&rt, &c, "#login-form input[name=name]", "admin");
    type_into(&rt, &c, "#login-form input[name=password]", &password);
    click(&rt, &c, "#login-form button[type=submit]");
    wait_present(&rt, &c, "#villages [data-village='330106001001']");
    // Again from a reload (the session is kept): what an operator opening the console sees.
    rt.block_on(c.refresh()).expect("reload");
    wait_text(&rt, &c, "#areas [data-area='330106']", |t| {
        t.contains("0/10000")
    });
    wait_present(&rt, &c, "#geo path.map-village");
    wait_present(&rt, &c, "#geo path.map-outline");
    let drawn = rt
        .block_on(c.execute(
            "return [window.dalaba.mapDrawn,
                performance.getEntriesByName('first-contentful-paint')[0].startTime,
                performance.getEntriesByName('overview-drawn')[0].startTime]",
            vec![],
        ))
        .expect("figures");
    let circles = drawn[0].as_u64().expect("drawn");
    // The village list shows counts, not 10,000 buttons, until a village is opened.
    let buttons = rt
        .block_on(c.execute(
            "return document.querySelectorAll('#villages button.speaker').length",
            vec![],
        ))
        .expect("count");
    assert_eq!(buttons, json!(0), "every speaker drawn in the list");
    click(
        &rt,
        &c,
        "#villages [data-village='330106001001'] button.open-village",
    );
    wait_text(&rt, &c, "#speaker-s00000", |t| t.contains("s00000"));
    assert!(
        (1..=VILLAGES as u64).contains(&circles),
        "{circles} circles for {VILLAGES} villages"
    );
    eprintln!(
        "10,000 speakers: import {import_ms} ms, GET /api/agents {list_ms} ms; after a reload \
         first paint at {:.0} ms, overview drawn at {:.0} ms, {circles} village circles on the map",
        drawn[1].as_f64().unwrap_or(f64::NAN),
        drawn[2].as_f64().unwrap_or(f64::NAN),
    );

    // A drill to the whole county, every speaker offline: followed on the alerts page as
    // one row per village, its count heard and the first speakers not heard, not 10,000
    // chips; villages not yet heard come first.
    let expires = dalaba_controller::now_us() + 3_600_000_000;
    let (status, alert) = api.call(
        "POST",
        "/api/alerts",
        Some(
            json!({"severity": "blue", "event": "演练", "areas": ["330106"],
                    "expires_at": expires, "mode": "drill"}),
        ),
    );
    assert!((200..300).contains(&status), "{alert}");
    let id = alert["id"].as_u64().expect("id");
    click(&rt, &c, "#nav button[data-view=alerts]");
    click(&rt, &c, &format!("#alert-{id}"));
    let village = format!("#al-receipts[data-alert='{id}'] tr[data-village='330106001001']");
    let count = wait_text(&rt, &c, &format!("{village} td.count"), |t| t == "0/50");
    assert_eq!(count, "0/50");
    let shown = wait_text(&rt, &c, &village, |t| t.contains("1村 1号"));
    assert!(shown.contains("…另有 44 个"), "{shown}");
    let unreachable = wait_text(&rt, &c, "#al-counts [data-count='unreachable']", |t| {
        t.contains("10000")
    });
    assert!(unreachable.contains("不可达"), "{unreachable}");
    let (rows, chips) = rt
        .block_on(c.execute(
            "return [document.querySelectorAll('#al-receipts tr[data-village]').length,
                     document.querySelectorAll('#al-receipts [data-agent]').length]",
            vec![],
        ))
        .map(|v| (v[0].clone(), v[1].clone()))
        .expect("count");
    assert_eq!(rows, json!(VILLAGES), "a row per village");
    assert_eq!(chips, json!(VILLAGES * 6), "six speakers named a village");
    rt.block_on(c.execute(
        "document.getElementById('al-follow').scrollIntoView()",
        vec![],
    ))
    .expect("scroll");
    screenshot(&rt, &c, "console-alerts-county");

    // The broadcast log counts its receipts (the API lists none above 300 speakers).
    click(&rt, &c, "#nav button[data-view=log]");
    let row = format!(
        "#log-{}",
        alert["broadcast_id"].as_u64().expect("its broadcast")
    );
    let counted = wait_text(&rt, &c, &format!("{row} td.receipts"), |t| {
        t.contains("10000")
    });
    assert!(counted.contains("不可达 10000"), "{counted}");
    let reached = wait_text(&rt, &c, &row, |t| t.contains("10000 喇叭"));
    assert!(!reached.contains("s00000"), "no 10,000 ids: {reached}");
    rt.block_on(c.close()).expect("close the browser");
}

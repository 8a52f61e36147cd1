//! The console's speakers page in a real browser (headless Chromium over WebDriver):
//! an administrator adds a speaker, the page shows the terminal's configuration file with
//! its one-time token, a real `dalaba-agent` started with that file comes online in the
//! page; a wrong controller address is refused with its reason and creates nothing; the
//! list is searched by name; a speaker is retired with a second press.
//!
//! `DALABA_SCREENSHOTS=1` writes `docs/console-speakers.png`.

mod common;

use std::time::{Duration, Instant};

use common::browser::*;
use common::*;

#[test]
fn speakers_page_adds_a_speaker_that_enrols_with_the_shown_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let password = password.expect("password");
    let api = Api::login(&ctl.addr, &password);
    let _agents = start_agents(dir.path(), &ctl, &api, &[("dong-1", "330106001001")], "wav");
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

    // The right one: the page shows the file for the pole.
    let url = format!("wss://{}/agent/ws", ctl.agent_addr);
    type_into(&rt, &c, "#sp-form input[name=agent_url]", &url);
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

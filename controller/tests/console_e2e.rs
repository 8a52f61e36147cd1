//! The web console in a real browser: headless Chromium driven over WebDriver
//! (chromedriver), against a real controller and real agent processes.
//!
//! - An operator logs in, sees the speakers, uploads a clip, plays it to one village and
//!   sees its receipts.
//! - A live call from the browser: Chromium's fake microphone plays a known 1 kHz tone
//!   (`--use-file-for-fake-audio-capture`); the page encodes it with WebCodecs and streams
//!   it; the targeted agent's WAV output holds the tone and the other agent stays silent.
//! - The village head's handheld page: hold the button, the own village hears it; a
//!   hand-made request from the same page to another village is refused.
//!
//! Needs `chromium` and `chromium-driver` (./test.sh installs them).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

const TONE_HZ: f64 = 1000.0;

fn which(name: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .expect("sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        !path.is_empty(),
        "{name} is missing: install chromium and chromium-driver (./test.sh does)"
    );
    PathBuf::from(path)
}

/// chromedriver on a free loopback port, and a headless Chromium session whose fake
/// microphone plays `mic`.
fn browser(rt: &tokio::runtime::Runtime, mic: &Path) -> (Proc, Client) {
    let driver = Proc::spawn(Command::new(which("chromedriver")).arg("--port=0"));
    let line = driver.wait_for("was started successfully on port");
    let port = line
        .trim_end_matches('.')
        .rsplit(' ')
        .next()
        .expect("port")
        .to_owned();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": which("chromium"),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                format!("--use-file-for-fake-audio-capture={}", mic.display()),
                "--autoplay-policy=no-user-gesture-required",
                // The smallest screen a county operator is expected to use.
                "--window-size=1366,768",
            ],
        }),
    );
    let client = rt
        .block_on(
            fantoccini::ClientBuilder::new(
                hyper_util::client::legacy::connect::HttpConnector::new(),
            )
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}")),
        )
        .expect("a WebDriver session");
    (driver, client)
}

/// Saves the page as `docs/<name>.png` when `DALABA_SCREENSHOTS` is set (the README shows
/// them): `DALABA_SCREENSHOTS=1 cargo test -p dalaba-controller --test console_e2e`.
fn screenshot(rt: &tokio::runtime::Runtime, c: &Client, name: &str) {
    if std::env::var_os("DALABA_SCREENSHOTS").is_none() {
        return;
    }
    let png = rt.block_on(c.screenshot()).expect("screenshot");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    std::fs::create_dir_all(&docs).expect("docs/");
    std::fs::write(docs.join(format!("{name}.png")), png).expect("write the screenshot");
}

/// Waits (at most [`WAIT`]) for `selector` and returns its text once `ok` accepts it.
fn wait_text(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    selector: &str,
    ok: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = rt.block_on(async {
            match c.find(Locator::Css(selector)).await {
                Ok(e) => e.text().await.ok(),
                Err(_) => None,
            }
        });
        if let Some(t) = text.as_deref().filter(|t| ok(t)) {
            return t.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "{selector}: never right (last {text:?})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn click(rt: &tokio::runtime::Runtime, c: &Client, selector: &str) {
    rt.block_on(async {
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
    });
}

fn type_into(rt: &tokio::runtime::Runtime, c: &Client, selector: &str, text: &str) {
    rt.block_on(async {
        let e = c
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"));
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    });
}

fn samples(path: &Path) -> Vec<f32> {
    wav_samples(path).unwrap_or_else(|| panic!("{} is no WAV file", path.display()))
}

/// Dominant frequency by zero crossings, and RMS, of `s`.
fn analyse(s: &[f32]) -> (f64, f32) {
    let crossings = s
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    let hz = crossings as f64 / 2.0 / (s.len() as f64 / 48_000.0);
    let rms = (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
    (hz, rms)
}

/// The WAV an agent is writing for broadcast `id`, once it holds at least `bytes`.
fn wait_for_growth(path: &Path, bytes: u64) {
    let deadline = Instant::now() + WAIT;
    while std::fs::metadata(path).map_or(0, |m| m.len()) < bytes {
        assert!(
            Instant::now() < deadline,
            "{} never grew to {bytes} bytes",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn live_broadcast(api: &Api, agent: &str, after: u64) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, log) = api.call("GET", "/api/broadcasts", None);
        if let Some(b) = log.as_array().and_then(|l| {
            l.iter().find(|b| {
                b["kind"] == "live"
                    && b["id"].as_u64().unwrap_or(0) > after
                    && b["agents"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == agent))
            })
        }) {
            return b["id"].as_u64().expect("id");
        }
        assert!(
            Instant::now() < deadline,
            "no live call reached {agent}: {log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_heard_the_tone(path: &Path, who: &str) {
    let s = samples(path);
    assert!(s.len() > 24_000, "{who}: only {} samples", s.len());
    // The middle, away from the encoder's start-up and the fade at the end.
    let mid = &s[s.len() / 4..s.len() * 3 / 4];
    let (hz, rms) = analyse(mid);
    eprintln!("{who}: {} samples, {hz:.0} Hz, rms {rms:.3}", s.len());
    assert!((hz - TONE_HZ).abs() < 30.0, "{who}: {hz} Hz");
    assert!(rms > 0.02, "{who}: rms {rms}");
}

#[test]
fn console_broadcast_live_call_and_handheld_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, tone_wav(TONE_HZ, 4.0, 48_000)).expect("mic");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let password = password.expect("password");
    let api = Api::login(&ctl.addr, &password);
    let agents = start_agents(dir.path(), &ctl, &api, TWO_VILLAGES, "wav");
    let (status, _) = api.call(
        "POST",
        "/api/users",
        Some(json!({"name": "head-dong", "role": "village_head", "scopes": ["330106001001"], "password": "village head 123"})),
    );
    assert_eq!(status, 201);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (_driver, c) = browser(&rt, &mic);
    let base = format!("http://{}", ctl.addr);

    // Log in; the speakers appear, online.
    rt.block_on(c.goto(&format!("{base}/")))
        .expect("open the console");
    type_into(&rt, &c, "#login-form input[name=name]", "admin");
    type_into(&rt, &c, "#login-form input[name=password]", &password);
    click(&rt, &c, "#login-form button[type=submit]");
    wait_text(&rt, &c, "#speaker-dong-1", |t| t.contains("dong-1"));
    wait_text(&rt, &c, "#speaker-xi-1", |t| t.contains("xi-1"));

    // Upload a clip through the page; it is transcoded.
    click(&rt, &c, "#nav button[data-view=media]");
    rt.block_on(async {
        let input = c
            .find(Locator::Css("#upload-file"))
            .await
            .expect("file input");
        input
            .send_keys(&mic.display().to_string())
            .await
            .expect("choose file");
    });
    click(&rt, &c, "#upload-form button[type=submit]");
    wait_text(&rt, &c, "#media-table", |t| {
        t.contains("mic.wav") && t.contains("ready")
    });

    // Play it to village 330106001001 and watch its receipt arrive in the page.
    click(&rt, &c, "#nav button[data-view=broadcast]");
    click(&rt, &c, "input[data-target='area:330106001001']");
    click(&rt, &c, "#bc-send");
    let receipts = wait_text(&rt, &c, "#bc-receipts", |t| t.contains("dong-1: done"));
    assert!(!receipts.contains("xi-1"), "{receipts}");
    let (_, log) = api.call("GET", "/api/broadcasts", None);
    let played = log[0]["id"].as_u64().expect("id");
    assert!(agents[0].0.join(format!("speaker-b{played}.wav")).exists());
    assert!(!agents[1].0.join(format!("speaker-b{played}.wav")).exists());

    // A typed notice: heard in the page first, then spoken at dong-1 only.
    type_into(&rt, &c, "#tts-text", "今晚18:30在村委会开会");
    click(&rt, &c, "#tts-preview");
    wait_text(&rt, &c, "#tts-status", |t| t.ends_with(" s"));
    click(&rt, &c, "#tts-target input[data-target='agent:dong-1']");
    click(&rt, &c, "#tts-send");
    wait_text(&rt, &c, "#tts-receipts", |t| t.contains("dong-1: done"));
    // The page as an operator in China sees it (Chinese first), then back.
    click(&rt, &c, "#lang");
    rt.block_on(c.execute(
        "document.getElementById('tts-status').scrollIntoView({block: 'end'})",
        vec![],
    ))
    .expect("scroll");
    screenshot(&rt, &c, "console-broadcast");
    click(&rt, &c, "#lang");
    let (_, log) = api.call("GET", "/api/broadcasts", None);
    let notice = log[0]["id"].as_u64().expect("id");
    let spoken = samples(&agents[0].0.join(format!("speaker-b{notice}.wav")));
    assert!(spoken.len() > 48_000, "{} samples of speech", spoken.len());

    // A live call from the browser to dong-1: the fake microphone's tone comes out there.
    click(&rt, &c, "#nav button[data-view=live]");
    click(&rt, &c, "#live-target input[data-target='agent:dong-1']");
    click(&rt, &c, "#talk");
    let call = live_broadcast(&api, "dong-1", played);
    let wav = agents[0].0.join(format!("speaker-b{call}.wav"));
    wait_for_growth(&wav, 2 * 48_000 * 2); // two seconds of 16-bit audio
    let level: Value = rt
        .block_on(c.execute(
            "return document.getElementById('level').style.width",
            vec![],
        ))
        .expect("meter");
    click(&rt, &c, "#talk");
    let (_, done) = api.call(
        "GET",
        &format!("/api/broadcasts/{call}?wait_ms=20000"),
        None,
    );
    assert_eq!(done["receipts"][0]["state"], "done", "{done}");
    assert_heard_the_tone(&wav, "dong-1 (browser live call)");
    assert_ne!(level, json!("0%"), "the level meter moved while talking");
    assert!(
        !agents[1].0.join(format!("speaker-b{call}.wav")).exists(),
        "xi-1 stayed silent"
    );

    // The handheld: the village head holds the button; their village hears it.
    rt.block_on(async {
        c.execute("sessionStorage.clear()", vec![])
            .await
            .expect("log out");
        c.goto(&format!("{base}/talk"))
            .await
            .expect("open the handheld page");
    });
    type_into(&rt, &c, "#login input[name=name]", "head-dong");
    type_into(&rt, &c, "#login input[name=password]", "village head 123");
    click(&rt, &c, "#login button[type=submit]");
    wait_text(&rt, &c, "#speakers", |t| t.contains("dong-1"));
    let speakers = wait_text(&rt, &c, "#speakers", |_| true);
    assert!(
        !speakers.contains("xi-1"),
        "a village head sees only their village: {speakers}"
    );
    let press = |down: bool| {
        let script = format!(
            "document.getElementById('talk').dispatchEvent(new PointerEvent('{}', {{bubbles: true, pointerId: 1}}))",
            if down { "pointerdown" } else { "pointerup" }
        );
        rt.block_on(c.execute(&script, vec![])).expect("press");
    };
    press(true);
    let handheld = live_broadcast(&api, "dong-1", call);
    let wav = agents[0].0.join(format!("speaker-b{handheld}.wav"));
    wait_for_growth(&wav, 2 * 48_000 * 2);
    press(false);
    let (_, done) = api.call(
        "GET",
        &format!("/api/broadcasts/{handheld}?wait_ms=20000"),
        None,
    );
    assert_eq!(done["receipts"][0]["state"], "done", "{done}");
    assert_heard_the_tone(&wav, "dong-1 (handheld)");
    // A hand-made request from the same page, to the other village: refused by the server.
    let refused: Value = rt
        .block_on(c.execute_async(
            "const done = arguments[0];
             fetch('/api/live', {method: 'POST', headers: {'content-type': 'application/json',
               authorization: 'Bearer ' + sessionStorage.getItem('dalaba.token')},
               body: JSON.stringify({target: {agents: ['xi-1']}})}).then(r => done(r.status));",
            vec![],
        ))
        .expect("script");
    assert_eq!(refused, json!(403));
    rt.block_on(c.close()).expect("close the browser");
}

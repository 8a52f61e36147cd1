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

use std::path::Path;
use std::time::{Duration, Instant};

use common::browser::*;
use common::*;
use serde_json::{Value, json};

const TONE_HZ: f64 = 1000.0;

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
    log_in(&rt, &c, &ctl.addr, "admin", &password, "dong-1");
    wait_text(&rt, &c, "#speaker-xi-1", |t| t.contains("xi-1"));

    // Upload a clip through the page; it is transcoded.
    click(&rt, &c, "#nav button[data-view=media]");
    choose_file(&rt, &c, "#upload-file", &mic);
    click(&rt, &c, "#upload-form button[type=submit]");
    wait_text(&rt, &c, "#media-table", |t| {
        t.contains("mic.wav") && t.contains("ready")
    });

    // Play it to village 330106001001 and watch its receipt arrive in the page.
    click(&rt, &c, "#nav button[data-view=broadcast]");
    click(&rt, &c, "input[data-target='area:330106001001']");
    click(&rt, &c, "#bc-send");
    wait_text(
        &rt,
        &c,
        "#bc-receipts [data-agent='dong-1'][data-state='done']",
        |t| t.contains("已播完"),
    );
    let receipts = wait_text(&rt, &c, "#bc-receipts", |_| true);
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
    wait_text(
        &rt,
        &c,
        "#tts-receipts [data-agent='dong-1'][data-state='done']",
        |_| true,
    );
    // The page as an operator in China sees it (Chinese by default).
    rt.block_on(c.execute(
        "document.getElementById('tts-status').scrollIntoView({block: 'end'})",
        vec![],
    ))
    .expect("scroll");
    screenshot(&rt, &c, "console-broadcast");
    let (_, log) = api.call("GET", "/api/broadcasts", None);
    let notice = log[0]["id"].as_u64().expect("id");
    let spoken = samples(&agents[0].0.join(format!("speaker-b{notice}.wav")));
    assert!(spoken.len() > 48_000, "{} samples of speech", spoken.len());

    // The admin's speech settings, on the same page: a bad lexicon line is caught in the
    // page, a bad rate by the API (its reason shown); a good change is stored.
    wait_text(&rt, &c, "#ts-rate", |_| true);
    type_into(&rt, &c, "#ts-lexicon", "长沙=常沙\n只有写法");
    click(&rt, &c, "#ts-save");
    wait_text(&rt, &c, "#ts-status", |t| t.contains("第 2 行"));
    type_into(&rt, &c, "#ts-lexicon", "长沙=常沙");
    type_into(&rt, &c, "#ts-rate", "999");
    click(&rt, &c, "#ts-save");
    wait_text(&rt, &c, "#ts-status", |t| t.contains("rate_wpm: 80 to 300"));
    type_into(&rt, &c, "#ts-rate", "150");
    click(&rt, &c, "#ts-voices option[value='mandarin,cantonese']");
    click(&rt, &c, "#ts-save");
    wait_text(&rt, &c, "#ts-status", |t| t == "已保存");
    let (_, speech) = api.call("GET", "/api/settings/tts", None);
    assert_eq!(speech["rate_wpm"], 150, "{speech}");
    assert_eq!(
        speech["voices"],
        json!(["mandarin", "cantonese"]),
        "{speech}"
    );
    assert_eq!(speech["lexicon"], json!([["长沙", "常沙"]]), "{speech}");

    // A live call from the browser to dong-1: the fake microphone's tone comes out there.
    click(&rt, &c, "#nav button[data-view=live]");
    click(&rt, &c, "#live-target input[data-target='agent:dong-1']");
    click(&rt, &c, "#talk");
    let call = live_broadcast(&api, "dong-1", played);
    // The page says who hears the call, by name, as the speakers report it.
    wait_text(
        &rt,
        &c,
        "#live-heard [data-agent='dong-1'][data-state='playing']",
        |t| t.contains("播放中"),
    );
    let status = wait_text(&rt, &c, "#live-status", |t| t.contains("正在喊话"));
    assert!(
        status.contains("dong-1") && !status.contains("xi-1"),
        "{status}"
    );
    screenshot(&rt, &c, "console-live");
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
    wait_text(
        &rt,
        &c,
        "#live-heard [data-agent='dong-1'][data-state='done']",
        |t| t.contains("已播完"),
    );
    assert_heard_the_tone(&wav, "dong-1 (browser live call)");
    assert_ne!(level, json!("0%"), "the level meter moved while talking");
    assert!(
        !agents[1].0.join(format!("speaker-b{call}.wav")).exists(),
        "xi-1 stayed silent"
    );

    // The handheld, on a phone-sized screen: the village head holds the button; their
    // village hears it, and the page says how many of its speakers play it.
    rt.block_on(async {
        c.set_window_size(390, 844).await.expect("a phone's screen");
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
    wait_text(&rt, &c, "#heard", |t| t.contains("1/1 个喇叭在播放"));
    screenshot(&rt, &c, "console-talk");
    let wav = agents[0].0.join(format!("speaker-b{handheld}.wav"));
    wait_for_growth(&wav, 2 * 48_000 * 2);
    press(false);
    wait_text(&rt, &c, "#heard", |t| t.contains("1 个已播完"));
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

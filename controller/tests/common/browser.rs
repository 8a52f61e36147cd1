//! A headless Chromium driven over WebDriver (chromedriver on a free loopback port), and
//! the few things a console test does with it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::json;

use super::{Proc, WAIT};

pub fn which(name: &str) -> PathBuf {
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

/// chromedriver on a free loopback port, and the line giving it. Once in a full run
/// (2026-12-04, the suite's 86 binaries one after another) it exited before printing that
/// line, and the console test failed before the console was involved; a driver that exits
/// at its start is started again, twice at most, and the third failure is reported.
fn driver() -> (Proc, String) {
    let mut why = Vec::new();
    for _ in 0..3 {
        let mut driver = Proc::spawn(Command::new(which("chromedriver")).arg("--port=0"));
        match driver.find("was started successfully on port") {
            Ok(line) => return (driver, line),
            Err(e) => why.push(format!("{e}, exit {:?}", driver.child.try_wait())),
        }
    }
    panic!("chromedriver did not start: {why:?}");
}

/// chromedriver on a free loopback port, and a headless Chromium session whose fake
/// microphone plays `mic`.
pub fn browser(rt: &tokio::runtime::Runtime, mic: &Path) -> (Proc, Client) {
    let (driver, line) = driver();
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
            // Files the page saves (CSV exports) land beside the microphone's recording.
            "prefs": {
                "download.default_directory": downloads(mic),
                "download.prompt_for_download": false,
            },
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

/// Where a browser started with `mic` saves the files its pages download.
pub fn downloads(mic: &Path) -> PathBuf {
    mic.parent()
        .expect("the microphone's directory")
        .join("downloads")
}

/// Waits until the page has saved `name` in [`downloads`]; its text.
pub fn downloaded(mic: &Path, name: &str) -> String {
    let path = downloads(mic).join(name);
    let deadline = Instant::now() + WAIT;
    loop {
        // Chromium writes `<name>.crdownload` and renames it when it is complete.
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} was not downloaded",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Saves the page as `docs/<name>.png` when `DALABA_SCREENSHOTS` is set (the README shows
/// them): `DALABA_SCREENSHOTS=1 cargo test -p dalaba-controller --test console_e2e`.
pub fn screenshot(rt: &tokio::runtime::Runtime, c: &Client, name: &str) {
    if std::env::var_os("DALABA_SCREENSHOTS").is_none() {
        return;
    }
    let png = rt.block_on(c.screenshot()).expect("screenshot");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    std::fs::create_dir_all(&docs).expect("docs/");
    std::fs::write(docs.join(format!("{name}.png")), png).expect("write the screenshot");
}

/// Waits (at most [`WAIT`]) for `selector` and returns its text once `ok` accepts it.
pub fn wait_text(
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

/// Waits until an element matches `selector` (one with no text too, such as a map's
/// circle).
pub fn wait_present(rt: &tokio::runtime::Runtime, c: &Client, selector: &str) {
    wait_text(rt, c, selector, |_| true);
}

/// Finds `selector` (waiting at most [`WAIT`]) and does `act` to it. The page redraws what
/// changed (live status): an element found just before a redraw is stale by the time it
/// is acted on, and is found again.
fn on_element(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    selector: &str,
    what: &str,
    act: impl AsyncFn(&fantoccini::elements::Element) -> Result<(), fantoccini::error::CmdError>,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        let done = rt.block_on(async {
            let e = c
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Css(selector))
                .await
                .unwrap_or_else(|e| panic!("{selector}: {e}"));
            act(&e).await
        });
        match done {
            Ok(()) => return,
            Err(e) if e.to_string().contains("stale") && Instant::now() < deadline => {}
            Err(e) => panic!("{what} {selector}: {e}"),
        }
    }
}

pub fn click(rt: &tokio::runtime::Runtime, c: &Client, selector: &str) {
    on_element(rt, c, selector, "clicking", async |e| {
        e.click().await.map(|_| ())
    });
}

pub fn type_into(rt: &tokio::runtime::Runtime, c: &Client, selector: &str, text: &str) {
    on_element(rt, c, selector, "typing into", async |e| {
        e.clear().await?;
        e.send_keys(text).await
    });
}

/// Opens the console at `addr` in `c` and logs in as `user`; returns once the overview
/// shows the speaker `first_speaker`.
pub fn log_in(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    addr: &str,
    user: &str,
    password: &str,
    first_speaker: &str,
) {
    rt.block_on(c.goto(&format!("http://{addr}/")))
        .expect("open the console");
    type_into(rt, c, "#login-form input[name=name]", user);
    type_into(rt, c, "#login-form input[name=password]", password);
    click(rt, c, "#login-form button[type=submit]");
    wait_text(rt, c, &format!("#speaker-{first_speaker}"), |t| {
        t.contains(first_speaker)
    });
}

/// Chooses `path` in the file input `selector`.
pub fn choose_file(rt: &tokio::runtime::Runtime, c: &Client, selector: &str, path: &Path) {
    rt.block_on(async {
        c.find(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .send_keys(&path.display().to_string())
            .await
            .expect("choose the file");
    });
}

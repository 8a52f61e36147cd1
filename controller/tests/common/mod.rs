//! Real processes for end-to-end tests: the controller binary, agent binaries, and an
//! HTTP client for the API. The agent binary is found beside the controller's;
//! `cargo test --workspace` builds both.

#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod harness;
pub mod router;
pub mod webhook;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const WAIT: Duration = Duration::from_secs(20);

pub struct Proc {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("DALABA_E2E_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        let echo = std::env::var_os("DALABA_E2E_LOGS").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("{line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The first line containing `needle`, waiting at most [`WAIT`].
    pub fn wait_for(&self, needle: &str) -> String {
        self.find(needle).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The first line containing `needle`, waiting at most [`WAIT`], or why not.
    pub fn find(&self, needle: &str) -> Result<String, String> {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Ok(line),
                Ok(_) => {}
                Err(e) => return Err(format!("no line with {needle:?} ({e})")),
            }
        }
    }

    /// Kills it at once (SIGKILL: a crash, a power cut).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks it to stop (SIGTERM, what systemd and `kill` send) and waits at most [`WAIT`]
    /// for it to end; how it ended.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {WAIT:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The processes whose command line mentions `path` (read from `/proc`).
pub fn processes_mentioning(path: &Path) -> Vec<u32> {
    let needle = path.display().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

pub fn controller_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dalaba-controller"))
}

pub fn agent_bin() -> PathBuf {
    let path = controller_bin().with_file_name("dalaba-agent");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

pub struct Controller {
    pub proc: Proc,
    /// The API (plain HTTP).
    pub addr: String,
    /// The agents' endpoint (TLS).
    pub agent_addr: String,
    pub public_key: String,
    /// SHA-256 of its TLS certificate, which agents pin.
    pub fingerprint: String,
}

/// Where a controller listened, to start it again on the same addresses.
#[derive(Clone, Debug)]
pub struct Addresses {
    pub http: String,
    pub agents: String,
}

impl Controller {
    pub fn addresses(&self) -> Addresses {
        Addresses {
            http: self.addr.clone(),
            agents: self.agent_addr.clone(),
        }
    }
}

/// A fresh controller on port 0 (both listeners); the admin password it showed.
pub fn start_controller(data: &Path, listen: &str) -> (Controller, Option<String>) {
    assert_eq!(
        listen, "127.0.0.1:0",
        "use restart_controller for fixed addresses"
    );
    spawn_controller(data, listen, "127.0.0.1:0", &[])
}

/// The controller again, on the addresses it had.
pub fn restart_controller(data: &Path, at: &Addresses) -> Controller {
    spawn_controller(data, &at.http, &at.agents, &[]).0
}

/// Starts `dalaba-controller serve` with `env`; returns it and, on a first start (port
/// 0 here means a fresh data directory), the admin password it shows once.
fn spawn_controller(
    data: &Path,
    listen: &str,
    agent_listen: &str,
    env: &[(&str, &str)],
) -> (Controller, Option<String>) {
    let mut cmd = Command::new(controller_bin());
    cmd.args(["serve", "--data-dir"]).arg(data).args([
        "--listen",
        listen,
        "--agent-listen",
        agent_listen,
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Proc::spawn(&mut cmd);
    let addr = proc
        .wait_for("listening on http://")
        .rsplit("//")
        .next()
        .expect("addr")
        .to_owned();
    let agent_addr = proc
        .wait_for("agent endpoint wss://")
        .rsplit("//")
        .next()
        .and_then(|s| s.split('/').next())
        .expect("agent addr")
        .to_owned();
    let fingerprint = proc
        .wait_for("tls certificate sha256 ")
        .rsplit(' ')
        .next()
        .expect("fingerprint")
        .to_owned();
    let public_key = proc
        .wait_for("controller public key")
        .rsplit(' ')
        .next()
        .expect("key")
        .to_owned();
    // The password line comes only on the first start.
    let password = listen.ends_with(":0").then(|| {
        let line = proc.wait_for("first start");
        line.split("password ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .expect("password")
            .to_owned()
    });
    (
        Controller {
            proc,
            addr,
            agent_addr,
            public_key,
            fingerprint,
        },
        password,
    )
}

pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::blocking::Client,
}

/// One HTTP call: status and body text.
pub fn request(
    http: &reqwest::blocking::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = http
        .request(method, url)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    let resp = req.send().expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().expect("body"))
}

/// `POST {base}/api/login` as admin: status and body text.
pub fn login_request(
    http: &reqwest::blocking::Client,
    base: &str,
    password: &str,
) -> (u16, String) {
    request(
        http,
        "POST",
        &format!("{base}/api/login"),
        None,
        Some(&json!({"name": "admin", "password": password}).to_string()),
    )
}

impl Api {
    pub fn login(addr: &str, password: &str) -> Self {
        Self::login_as(addr, "admin", password)
    }

    /// Logged in as user `name`.
    pub fn login_as(addr: &str, name: &str, password: &str) -> Self {
        let http = client();
        let base = format!("http://{addr}");
        let (status, body) = request(
            &http,
            "POST",
            &format!("{base}/api/login"),
            None,
            Some(&json!({"name": name, "password": password}).to_string()),
        );
        assert_eq!(status, 200, "{body}");
        let token = serde_json::from_str::<Value>(&body).expect("json")["token"]
            .as_str()
            .expect("token")
            .to_owned();
        Self { base, token, http }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let (status, text) = request(
            &self.http,
            method,
            &format!("{}{path}", self.base),
            Some(&self.token),
            body.as_deref(),
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

pub fn agent_config(dir: &Path, ctl: &Controller, token: &str, area: &str) -> PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[identity]\narea_code = \"{area}\"\n[controller]\nurl = \"wss://{addr}/agent/ws\"\npublic_key = \"{public_key}\"\ntls_fingerprint = \"{fp}\"\nenrolment_token = \"{token}\"\nreconnect_max_s = 2\n[audio]\ndevice = \"null\"\n",
            addr = ctl.agent_addr,
            public_key = ctl.public_key,
            fp = ctl.fingerprint,
        ),
    )
    .expect("write agent config");
    path
}

pub fn start_agent(config: &Path, state: &Path) -> Proc {
    Proc::spawn(
        Command::new(agent_bin())
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(state),
    )
}

/// An agent configuration with a WAV sink (`<dir>/speaker-b<broadcast>.wav`) and a cache
/// in `dir`.
pub fn agent_config_wav(dir: &Path, ctl: &Controller, token: &str, area: &str) -> PathBuf {
    agent_config_sink(dir, ctl, token, area, "wav")
}

/// Like [`agent_config_wav`] with the sink `kind` (`wav`, or `wav-rt` to write at a real
/// device's pace, so what plays can be interrupted).
pub fn agent_config_sink(
    dir: &Path,
    ctl: &Controller,
    token: &str,
    area: &str,
    kind: &str,
) -> PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[identity]\narea_code = \"{area}\"\n[controller]\nurl = \"wss://{addr}/agent/ws\"\npublic_key = \"{public_key}\"\ntls_fingerprint = \"{fp}\"\nenrolment_token = \"{token}\"\nreconnect_max_s = 2\n[audio]\ndevice = \"{kind}:{wav}\"\n[cache]\ndir = \"{cache}\"\nmax_mb = 64\n",
            addr = ctl.agent_addr,
            public_key = ctl.public_key,
            fp = ctl.fingerprint,
            wav = dir.join("speaker.wav").display(),
            cache = dir.join("cache").display(),
        ),
    )
    .expect("write agent config");
    path
}

/// Starts the controller with extra environment variables.
pub fn start_controller_env(data: &Path, env: &[(&str, &str)]) -> (Controller, String) {
    let (controller, password) = spawn_controller(data, "127.0.0.1:0", "127.0.0.1:0", env);
    (
        controller,
        password.expect("first start shows the admin password"),
    )
}

/// An HTTP client (reqwest is built without a default TLS crypto provider; ring is it).
pub fn client() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Longer than any long-poll the tests make (`wait_ms` is capped at 60 s).
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(90))
        .build()
        .expect("client")
}

/// A 16-bit WAV file's samples as floats, if it can be read.
pub fn wav_samples(path: &Path) -> Option<Vec<f32>> {
    let r = hound::WavReader::open(path).ok()?;
    r.into_samples::<i16>()
        .map(|s| s.ok().map(|s| f32::from(s) / 32768.0))
        .collect()
}

/// What an agent with a `wav` sink in `dir` played of `broadcast`, if it played it.
pub fn played(dir: &Path, broadcast: u64) -> Option<Vec<f32>> {
    wav_samples(&dir.join(format!("speaker-b{broadcast}.wav")))
}

/// What an agent in `dir` played of `broadcast`, once its file is complete (the agent
/// runs on its own; the file's header is written last), before `deadline`.
pub fn wait_played(dir: &Path, broadcast: u64, deadline: std::time::Instant) -> Vec<f32> {
    loop {
        match played(dir, broadcast) {
            Some(samples) if !samples.is_empty() => return samples,
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never played broadcast {broadcast}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `seconds` of a `hz` tone at `rate` Hz, amplitude 0.3, as 16-bit mono WAV bytes.
pub fn tone_wav(hz: f64, seconds: f64, rate: u32) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(&mut cursor, spec).expect("wav");
    for i in 0..(f64::from(rate) * seconds) as u32 {
        let s = (2.0 * std::f64::consts::PI * hz * f64::from(i) / f64::from(rate)).sin() * 0.3;
        w.write_sample((s * 32767.0) as i16).expect("sample");
    }
    w.finalize().expect("finalize");
    cursor.into_inner()
}

/// Uploads `bytes` as `name` and waits for the transcode: status and body.
pub fn upload(api: &Api, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::bytes(bytes).file_name(name.to_owned()),
    );
    let resp = api
        .http
        .post(format!("{}/api/media?wait=true", api.base))
        .bearer_auth(&api.token)
        .multipart(form)
        .send()
        .expect("upload");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// The two villages most end-to-end tests use: dong-1 in one township, xi-1 in the next.
pub const TWO_VILLAGES: &[(&str, &str)] = &[("dong-1", "330106001001"), ("xi-1", "330106002003")];

/// Adds speaker `id` called `name` in village `area` through the API; its enrolment token.
pub fn new_agent(api: &Api, id: &str, name: &str, area: &str) -> String {
    let (status, created) = api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": id, "name": name, "area_code": area})),
    );
    assert_eq!(status, 201, "{created}");
    created["enrolment_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// Creates each `(id, area)` agent, starts it with a `sink` (`wav` or `wav-rt`) in
/// `dir/<id>`, and waits until it is online: its directory and process.
pub fn start_agents(
    dir: &Path,
    ctl: &Controller,
    api: &Api,
    agents: &[(&str, &str)],
    sink: &str,
) -> Vec<(PathBuf, Proc)> {
    agents
        .iter()
        .map(|(id, area)| {
            let token = new_agent(api, id, id, area);
            let adir = dir.join(id);
            std::fs::create_dir_all(&adir).expect("mkdir");
            let config = agent_config_sink(&adir, ctl, &token, area, sink);
            let proc = start_agent(&config, &adir.join("state"));
            proc.wait_for(&format!("session ready as {id}"));
            (adir, proc)
        })
        .collect()
}

/// The samples agent `dir`'s WAV sink wrote for `broadcast`, if it played.
pub fn samples(dir: &Path, broadcast: u64) -> Option<Vec<f32>> {
    let r = hound::WavReader::open(dir.join(format!("speaker-b{broadcast}.wav"))).ok()?;
    Some(
        r.into_samples::<i16>()
            .map(|s| f32::from(s.expect("sample")) / 32768.0)
            .collect(),
    )
}

/// The dominant frequency of `s` by zero crossings.
pub fn hz(s: &[f32]) -> f64 {
    let crossings = s
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    crossings as f64 / 2.0 / (s.len() as f64 / 48_000.0)
}

/// Polls broadcast `id` until every targeted agent's receipt is `state`.
pub fn until_all(api: &Api, id: u64, state: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, b) = api.call("GET", &format!("/api/broadcasts/{id}"), None);
        let n = b["agents"].as_array().map_or(0, Vec::len);
        let receipts = b["receipts"].as_array().cloned().unwrap_or_default();
        if n > 0 && receipts.len() == n && receipts.iter().all(|r| r["state"] == state) {
            return b;
        }
        assert!(Instant::now() < deadline, "never all {state}: {b}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// In process, on the caller's runtime: a connection task for `agent`, with a live frame queued for it: whether it has been
/// served, and the task (its first message and its queue).
pub fn connection(
    state: &dalaba_controller::state::AppState,
    agent: &dalaba_protocol::AgentId,
    mut queue: dalaba_controller::state::outbox::Receiver,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<(
        dalaba_controller::hub::Outgoing,
        dalaba_controller::state::outbox::Receiver,
    )>,
) {
    state
        .hub
        .send(
            agent,
            dalaba_controller::hub::Outgoing::Binary(bytes::Bytes::from_static(b"frame")),
        )
        .expect("queued");
    let served = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let task = tokio::spawn({
        let served = served.clone();
        async move {
            let first = queue.recv().await;
            served.store(true, std::sync::atomic::Ordering::SeqCst);
            (first, queue)
        }
    });
    (served, task)
}

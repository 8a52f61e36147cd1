//! Real processes over loopback: the controller binary and agent binaries. An agent is
//! created through the API, enrols with its one-time token, comes back after restarts of
//! either side, and is locked out once retired.
//!
//! The agent binary is found beside the controller's; `cargo test --workspace` builds both.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The first line containing `needle`, waiting at most [`WAIT`].
    fn wait_for(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line with {needle:?} ({e})"),
            }
        }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn controller_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dalaba-controller"))
}

fn agent_bin() -> PathBuf {
    let path = controller_bin().with_file_name("dalaba-agent");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

struct Controller {
    proc: Proc,
    addr: String,
    public_key: String,
}

fn start_controller(data: &Path, listen: &str) -> (Controller, Option<String>) {
    let proc = Proc::spawn(
        Command::new(controller_bin())
            .args(["serve", "--data-dir"])
            .arg(data)
            .args(["--listen", listen]),
    );
    let addr = proc
        .wait_for("listening on http://")
        .rsplit("//")
        .next()
        .expect("addr")
        .to_owned();
    let public_key = proc
        .wait_for("controller public key")
        .rsplit(' ')
        .next()
        .expect("key")
        .to_owned();
    // The password line comes only on the first start.
    let password = (listen.ends_with(":0")).then(|| {
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
            public_key,
        },
        password,
    )
}

struct Api {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

/// One HTTP call: status and body text.
fn request(
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

impl Api {
    fn login(addr: &str, password: &str) -> Self {
        let http = reqwest::blocking::Client::new();
        let base = format!("http://{addr}");
        let (status, body) = request(
            &http,
            "POST",
            &format!("{base}/api/login"),
            None,
            Some(&json!({"name": "admin", "password": password}).to_string()),
        );
        assert_eq!(status, 200, "{body}");
        let token = serde_json::from_str::<Value>(&body).expect("json")["token"]
            .as_str()
            .expect("token")
            .to_owned();
        Self { base, token, http }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
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

fn agent_config(dir: &Path, addr: &str, public_key: &str, token: &str, area: &str) -> PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[identity]\narea_code = \"{area}\"\n[controller]\nurl = \"ws://{addr}/agent/ws\"\npublic_key = \"{public_key}\"\nenrolment_token = \"{token}\"\n[audio]\ndevice = \"null\"\n"
        ),
    )
    .expect("write agent config");
    path
}

fn start_agent(config: &Path, state: &Path) -> Proc {
    Proc::spawn(
        Command::new(agent_bin())
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(state),
    )
}

#[test]
fn enrol_restart_and_retire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    let (ctl, password) = start_controller(&data, "127.0.0.1:0");
    let password = password.expect("first start shows the admin password");
    let api = Api::login(&ctl.addr, &password);

    // Anonymous calls are refused.
    let (status, body) = request(
        &api.http,
        "GET",
        &format!("{}/api/agents", api.base),
        None,
        None,
    );
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"code\":\"unauthorized\""), "{body}");

    let (status, created) = api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": "village-1", "name": "东村", "area_code": "330106001002", "groups": ["east"]})),
    );
    assert_eq!(status, 201, "{created}");
    let token = created["enrolment_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (status, err) = api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": "village-1", "name": "x", "area_code": "330106001002"})),
    );
    assert_eq!(status, 409, "{err}");
    let (status, err) = api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": "v2", "name": "x", "area_code": "3301"})),
    );
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{err}"
    );

    // The agent enrols with its one-time token and is online.
    let a_dir = dir.path().join("agent-1");
    std::fs::create_dir_all(&a_dir).expect("mkdir");
    let config = agent_config(&a_dir, &ctl.addr, &ctl.public_key, &token, "330106001002");
    let agent = start_agent(&config, &a_dir.join("state"));
    agent.wait_for("session ready as village-1");
    let (_, listed) = api.call("GET", "/api/agents/village-1", None);
    assert_eq!(
        (listed["enrolled"].as_bool(), listed["online"].as_bool()),
        (Some(true), Some(true)),
        "{listed}"
    );

    // A second box with the same (now used) token is refused for good.
    let b_dir = dir.path().join("agent-copy");
    std::fs::create_dir_all(&b_dir).expect("mkdir");
    let copy = agent_config(&b_dir, &ctl.addr, &ctl.public_key, &token, "330106001002");
    let mut thief = start_agent(&copy, &b_dir.join("state"));
    let status = thief.child.wait().expect("the copy exits");
    assert!(
        !status.success(),
        "a used token must not enrol a second agent"
    );

    // The agent restarts: it logs in with its key, no token needed any more.
    agent.stop();
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("read")
            .replace(&token, "spent"),
    )
    .expect("write");
    let agent = start_agent(&config, &a_dir.join("state"));
    agent.wait_for("session ready as village-1");

    // The controller restarts on the same address: the agent comes back by itself.
    let addr = ctl.addr.clone();
    ctl.proc.stop();
    let (ctl, again) = start_controller(&data, &addr);
    assert!(again.is_none(), "no new admin password on a later start");
    agent.wait_for("session ready as village-1");
    let api = Api::login(&ctl.addr, &password);
    let (_, listed) = api.call("GET", "/api/agents/village-1", None);
    assert_eq!(listed["online"].as_bool(), Some(true), "{listed}");

    // Retired: disconnected, and it stops trying.
    let (status, _) = api.call("DELETE", "/api/agents/village-1", None);
    assert_eq!(status, 204);
    let mut agent = agent;
    let status = agent.child.wait().expect("agent exits");
    assert!(!status.success());
    let (_, listed) = api.call("GET", "/api/agents/village-1", None);
    assert_eq!(
        (listed["retired"].as_bool(), listed["online"].as_bool()),
        (Some(true), Some(false)),
        "{listed}"
    );
}

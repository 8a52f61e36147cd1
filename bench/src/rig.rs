//! What every benchmark sets up: a real controller process, its API, real agent
//! processes, a live source, and readings of a process's CPU time and memory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use dalaba_protocol::audio_frame::{AudioHeader, FrameFlags};
use dalaba_protocol::keys::PublicKey;
use dalaba_protocol::{StreamId, Timestamp};
use futures_util::SinkExt as _;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;
use tokio_tungstenite::tungstenite::Message;

pub(crate) const PASSWORD: &str = "loadtest password 1";

/// Wall clock, µs since the epoch (the controller's clock on this one machine).
pub(crate) fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A binary built beside this one (`cargo build --release --workspace`).
pub(crate) fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let bin = std::env::current_exe()?.with_file_name(name);
    if !bin.exists() {
        bail!("{} is missing: build the workspace first", bin.display());
    }
    Ok(bin)
}

/// One controller process.
pub(crate) struct Controller {
    pub(crate) child: tokio::process::Child,
    pub(crate) api: String,
    pub(crate) agents: String,
    pub(crate) fingerprint: [u8; 32],
    pub(crate) key: PublicKey,
    key_text: String,
}

impl Controller {
    pub(crate) fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the controller has exited")
    }
}

/// Starts `dalaba-controller serve` on loopback ports, data in `dir`, its log in `dir.log`.
///
/// With `DALABA_BENCH_CONTROLLER_CPUS` set (a `taskset` CPU list such as `0`), the
/// controller runs on those CPUs only; run the load test itself with `taskset -c 1` and
/// the two no longer compete for a core.
pub(crate) async fn start_controller(dir: &Path) -> anyhow::Result<Controller> {
    start_controller_at(dir, "127.0.0.1:0", "127.0.0.1:0").await
}

/// [`start_controller`] on given addresses (to start it again where its agents look).
pub(crate) async fn start_controller_at(
    dir: &Path,
    api_addr: &str,
    agent_addr: &str,
) -> anyhow::Result<Controller> {
    let bin = sibling("dalaba-controller")?;
    let mut command = match std::env::var("DALABA_BENCH_CONTROLLER_CPUS") {
        Ok(cpus) => {
            let mut c = tokio::process::Command::new("taskset");
            c.args(["-c", &cpus]).arg(bin);
            c
        }
        Err(_) => tokio::process::Command::new(bin),
    };
    let mut child = command
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", api_addr, "--agent-listen", agent_addr])
        .env("DALABA_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
    let (mut api, mut agents, mut fp, mut key) = (None, None, None, None);
    while let Some(line) = lines.next_line().await? {
        if let Some(a) = line.strip_prefix("listening on http://") {
            api = Some(a.to_owned());
        } else if let Some(a) = line.strip_prefix("agent endpoint wss://") {
            agents = Some(a.trim_end_matches("/agent/ws").to_owned());
        } else if let Some(f) = line.strip_prefix("tls certificate sha256 ") {
            let mut pin = [0u8; 32];
            for (i, b) in pin.iter_mut().enumerate() {
                *b = u8::from_str_radix(&f[2 * i..2 * i + 2], 16)?;
            }
            fp = Some(pin);
        } else if let Some(k) = line.strip_prefix("controller public key ") {
            key = Some(k.trim().to_owned());
            break;
        }
    }
    // The controller logs to stdout: keep its warnings beside the data directory.
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.with_extension("log"))?;
    tokio::spawn(async move {
        use std::io::Write as _;
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = writeln!(log, "{line}");
        }
    });
    let key_text = key.context("key")?;
    Ok(Controller {
        child,
        api: api.context("api address")?,
        agents: agents.context("agent address")?,
        fingerprint: fp.context("fingerprint")?,
        key: PublicKey::from_base64(&key_text)?,
        key_text,
    })
}

/// The machine the figures come from: CPU model, logical CPUs, kernel.
pub(crate) fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({
        "cpu": model,
        // The machine's, not this process's (it may be held to one by taskset).
        "cpus": cpuinfo.lines().filter(|l| l.starts_with("processor")).count(),
        "kernel": kernel.trim(),
    })
}

/// CPU seconds (user + system, every thread, exited ones included) and RSS bytes of
/// process `pid`, from `/proc/PID/stat` (10 ms ticks: measure over seconds). Not
/// `/proc/PID/schedstat`, which counts the main thread only.
pub(crate) fn usage(pid: u32) -> (f64, u64) {
    let rss = status_kb(pid, "VmRSS:") * 1024;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let cpu = (f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
        / ticks;
    (cpu, rss)
}

/// A `/proc/PID/status` field in kB (`VmRSS:`, `VmHWM:`).
pub(crate) fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// The operators' API, logged in as admin.
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) token: String,
}

impl Api {
    pub(crate) async fn login(ctl: &Controller) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let base = format!("http://{}", ctl.api);
        let login: Value = http
            .post(format!("{base}/api/login"))
            .json(&json!({"name": "admin", "password": PASSWORD}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = login["token"].as_str().context("token")?.to_owned();
        Ok(Self { http, base, token })
    }

    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        };
        if !status.is_success() {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body)
    }

    /// Registers an agent; returns its enrolment token.
    pub(crate) async fn add_agent(&self, id: &str, area: &str) -> anyhow::Result<String> {
        let created = self
            .post(
                "/api/agents",
                json!({"id": id, "name": id, "area_code": area}),
            )
            .await?;
        Ok(created["enrolment_token"]
            .as_str()
            .context("enrolment token")?
            .to_owned())
    }

    /// Uploads mono 48 kHz `pcm` as a WAV; returns the media id once transcoded.
    pub(crate) async fn upload(
        &self,
        dir: &Path,
        name: &str,
        pcm: &[f32],
    ) -> anyhow::Result<Value> {
        let wav = dir.join(name);
        dalaba_audio::transcode::write_wav(&wav, pcm)?;
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(&wav)?).file_name(name.to_owned()),
        );
        let media: Value = self
            .http
            .post(format!("{}/api/media?wait=true", self.base))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(media["id"].clone())
    }

    /// Waits until agent `id` is online.
    pub(crate) async fn wait_online(&self, id: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let agent = self.get(&format!("/api/agents/{id}")).await?;
            if agent["online"].as_bool() == Some(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("agent {id} did not come online: {agent}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A real `dalaba-agent` process; its log (stderr) goes to `dir/agent.log`.
pub(crate) struct Agent {
    pub(crate) child: tokio::process::Child,
    pub(crate) log: PathBuf,
}

impl Agent {
    /// Writes a configuration for `device` (`null`, `wav-rt:PATH`...) and starts the agent.
    pub(crate) async fn start(
        dir: &Path,
        ctl: &Controller,
        enrolment_token: &str,
        area: &str,
        device: &str,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let config = dir.join("agent.toml");
        let fp: String = ctl.fingerprint.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            &config,
            format!(
                "[identity]\narea_code = \"{area}\"\n[controller]\nurl = \"wss://{addr}/agent/ws\"\npublic_key = \"{key}\"\ntls_fingerprint = \"{fp}\"\nenrolment_token = \"{enrolment_token}\"\n[audio]\ndevice = \"{device}\"\n[cache]\ndir = \"{cache}\"\nmax_mb = 64\n",
                addr = ctl.agents,
                key = ctl.key_text,
                cache = dir.join("cache").display(),
            ),
        )?;
        let log = dir.join("agent.log");
        let child = tokio::process::Command::new(sibling("dalaba-agent")?)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .env("RUST_LOG", "info,dalaba_agent::player=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self { child, log })
    }

    pub(crate) fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the agent has exited")
    }
}

/// A live source: a WebSocket to the controller sending Opus frames.
pub(crate) struct LiveSource {
    pub(crate) broadcast: u64,
    pub(crate) stream_id: StreamId,
    /// The call's latency, as the controller set it, ms.
    pub(crate) latency_ms: u64,
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    seq: u32,
}

impl LiveSource {
    /// Starts a live call to `target` at `latency_ms` (none: the controller's default for
    /// its size) and connects as its source.
    pub(crate) async fn open(
        api: &Api,
        ctl: &Controller,
        target: Value,
        latency_ms: Option<u64>,
    ) -> anyhow::Result<Self> {
        let mut call = json!({ "target": target });
        if let Some(ms) = latency_ms {
            call["latency_ms"] = json!(ms);
        }
        let live = api.post("/api/live", call).await?;
        let stream_id = StreamId(live["stream_id"].as_u64().context("stream id")? as u32);
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!(
                    "ws://{}{}",
                    ctl.api,
                    live["source_url"].as_str().context("source")?
                ),
            )?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", api.token).parse()?);
        // Nagle off, as a live source must: small frames, sent at once.
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
        Ok(Self {
            broadcast: live["id"].as_u64().context("broadcast id")?,
            stream_id,
            latency_ms: live["latency_ms"].as_u64().context("latency")?,
            ws,
            seq: 0,
        })
    }

    /// Encodes 20 ms of `pcm` with `encoder` and sends it, stamped as a microphone would
    /// stamp it: captured 20 ms before it entered the encoder. Returns when it entered (µs).
    pub(crate) async fn send_pcm(
        &mut self,
        encoder: &mut dalaba_audio::codec::Encoder,
        pcm: &[f32],
    ) -> anyhow::Result<u64> {
        let entered = now_us();
        let packet = encoder.encode(pcm)?.to_vec();
        self.send(&packet, Timestamp(entered.saturating_sub(20_000)))
            .await?;
        Ok(entered)
    }

    /// Sends one 20 ms frame captured from `capture_time` on.
    pub(crate) async fn send(
        &mut self,
        packet: &[u8],
        capture_time: Timestamp,
    ) -> anyhow::Result<()> {
        let h = AudioHeader {
            stream_id: self.stream_id,
            seq: self.seq,
            capture_time,
            samples: 960,
            flags: FrameFlags::FEC,
        };
        self.seq = self.seq.wrapping_add(1);
        self.ws
            .send(Message::Binary(h.to_frame(packet)?.into()))
            .await?;
        Ok(())
    }

    /// Ends the stream.
    pub(crate) async fn end(mut self) -> anyhow::Result<()> {
        let end = AudioHeader {
            stream_id: self.stream_id,
            seq: self.seq,
            capture_time: Timestamp(now_us()),
            samples: 0,
            flags: FrameFlags::END_OF_STREAM,
        };
        self.ws
            .send(Message::Binary(end.to_frame(&[])?.into()))
            .await?;
        let _ = self.ws.close(None).await;
        Ok(())
    }
}

/// A fresh scratch directory for one benchmark.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dalaba-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Removes a scratch directory, unless `DALABA_BENCH_KEEP` is set (to read the agents' and
/// controller's logs afterwards).
pub(crate) fn cleanup(dir: &Path) {
    if std::env::var_os("DALABA_BENCH_KEEP").is_some() {
        eprintln!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A controller in `dir` and one real agent, `bench-1`, online, playing into a `wav-rt`
/// sink in the returned directory (`speaker-b<broadcast>.wav`).
pub(crate) async fn one_agent(dir: &Path) -> anyhow::Result<(Controller, Api, Agent, PathBuf)> {
    let ctl = start_controller(dir).await?;
    let api = Api::login(&ctl).await?;
    let area = "330106001001";
    let token = api.add_agent("bench-1", area).await?;
    let agent_dir = dir.join("agent");
    let device = format!("wav-rt:{}", agent_dir.join("speaker.wav").display());
    let agent = Agent::start(&agent_dir, &ctl, &token, area, &device).await?;
    api.wait_online("bench-1").await?;
    Ok((ctl, api, agent, agent_dir))
}

/// 20 ms of silence with a 5 ms 2 kHz click at its start: the benchmarks' test signal.
pub(crate) fn click_frame() -> Vec<f32> {
    let mut pcm = vec![0.0f32; 960];
    for (i, s) in pcm.iter_mut().take(240).enumerate() {
        *s = (i as f32 * 2.0 * std::f32::consts::PI * 2000.0 / 48_000.0).sin() * 0.5;
    }
    pcm
}

/// The value at fraction `p` (0 to 1, nearest rank) of `sorted`; NaN when empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

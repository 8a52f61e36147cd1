//! What the agent checks stand on: the agent process, the controller's signing key and
//! numbering, the media the kit serves, and small readers of agent messages.

use std::path::{Path, PathBuf};

use dalaba_protocol::command::{Command, MediaRef, SetVolume};
use dalaba_protocol::control::{Receipt, RejectReason};
use dalaba_protocol::{
    AgentId, AgentMessage, BroadcastId, CommandSigner, ControllerMessage, MediaHash, SignedCommand,
    Timestamp, Volume,
};

use crate::fake_controller::{ControllerClock, FakeController};

/// The controller id the kit uses.
pub(crate) const CONTROLLER_ID: &str = "conformance-kit";
/// The id the kit enrols the agent as.
pub(crate) const AGENT_ID: &str = "conformance-1";
pub(crate) const TOKEN: &str = "conformance-token";
/// The controller's clock runs this far ahead of this machine's: an agent that keeps
/// its clock in sync reports this offset.
pub(crate) const OFFSET_US: i64 = 2_000_000;
pub(crate) const HEARTBEAT_MS: u32 = 2_000;
/// The Ed25519 identity point: a public key of small order.
pub(crate) const SMALL_ORDER_KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    k[0] = 1;
    k
};

/// The agent process.
pub(crate) struct Subject {
    pub(crate) command: String,
    pub(crate) config: PathBuf,
    pub(crate) state: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) child: Option<tokio::process::Child>,
}

impl Subject {
    pub(crate) fn start(&mut self) -> std::io::Result<()> {
        let line = self
            .command
            .replace("{config}", &self.config.display().to_string())
            .replace("{state}", &self.state.display().to_string());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// Kills the whole process group (a power cut), and waits for it.
    pub(crate) async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                // `--` first: procps reads a bare `-<pid>` after a signal as an option.
                let _ = tokio::process::Command::new("kill")
                    .args(["-s", "KILL", "--", &format!("-{pid}")])
                    .status()
                    .await;
            }
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    pub(crate) fn write_config(
        &self,
        url: &str,
        key: &str,
        tls_fingerprint: Option<&str>,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.state)?;
        let pin =
            tls_fingerprint.map_or_else(String::new, |fp| format!("tls_fingerprint = \"{fp}\"\n"));
        std::fs::write(
            &self.config,
            format!(
                "# Written by dalaba-conformance.\n[identity]\narea_code = \"330106001001\"\nname = \"conformance\"\n\n[controller]\nurl = \"{url}\"\npublic_key = \"{key}\"\n{pin}enrolment_token = \"{TOKEN}\"\n\n[audio]\ndevice = \"null\"\n\n[cache]\ndir = \"{}\"\n",
                self.state.join("cache").display()
            ),
        )
    }
}

/// Signs commands for the agent, numbering them.
pub(crate) struct Controller {
    pub(crate) key: CommandSigner,
    pub(crate) clock: ControllerClock,
    pub(crate) audience: AgentId,
    pub(crate) seq: u64,
}

impl Controller {
    pub(crate) fn payload(&mut self, command: Command) -> SignedCommand {
        self.seq += 1;
        let now = self.clock.now();
        SignedCommand {
            seq: self.seq,
            audience: self.audience.clone(),
            issued_at: Timestamp(now),
            not_before: Timestamp(now - 5_000_000),
            not_after: Timestamp(now + 120_000_000),
            command,
        }
    }

    /// A genuine signed command, as the text frame.
    pub(crate) fn signed(&mut self, command: Command) -> String {
        let payload = self.payload(command);
        ControllerMessage::Signed(self.key.sign(&payload)).to_json()
    }

    /// A block's worth of numbers skipped, as a controller does at a login.
    pub(crate) fn new_block(&mut self) {
        self.seq += 1024;
    }
}

pub(crate) fn volume(v: u8) -> Command {
    Command::SetVolume(SetVolume {
        volume: Volume::new(v).expect("0–100"),
    })
}

pub(crate) fn status_volume(m: &AgentMessage) -> Option<u8> {
    match m {
        AgentMessage::Status(s) => Some(s.volume.percent()),
        _ => None,
    }
}

pub(crate) fn rejected(m: &AgentMessage) -> Option<RejectReason> {
    match m {
        AgentMessage::Rejected(r) => Some(r.reason),
        _ => None,
    }
}

pub(crate) fn receipt(id: u64) -> impl Fn(&AgentMessage) -> Option<Receipt> {
    move |m| match m {
        AgentMessage::Receipt(r) if r.broadcast_id == BroadcastId(id) => Some(r.clone()),
        _ => None,
    }
}

pub(crate) fn kind(m: Option<&AgentMessage>) -> String {
    m.map_or_else(
        || "nothing".to_owned(),
        |m| {
            serde_json::to_value(m)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_owned))
                .unwrap_or_default()
        },
    )
}

/// A one-second tone the kit serves, and a file it serves under the wrong hash.
pub(crate) struct Media {
    pub(crate) good: MediaRef,
    pub(crate) corrupt: MediaRef,
}

impl Media {
    pub(crate) fn make(work: &Path, ctl: &FakeController) -> anyhow::Result<Self> {
        let wav = work.join("tone.wav");
        let samples: Vec<f32> = (0..48_000)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48_000.0).sin() * 0.3)
            .collect();
        dalaba_audio::transcode::write_wav(&wav, &samples)?;
        let opus = work.join("tone.opus");
        dalaba_audio::transcode::transcode_file(
            &wav,
            &opus,
            &dalaba_audio::transcode::TranscodeOptions::default(),
            &mut |_| {},
        )?;
        let bytes = std::fs::read(&opus)?;
        let hash = MediaHash::of(&bytes);
        // Served under a hash that is not its own: a download the agent must not use.
        let mut wrong = bytes.clone();
        let mid = wrong.len() / 2;
        wrong[mid] ^= 0xff;
        let claimed = MediaHash::of(b"dalaba-conformance: not these bytes");
        let mut store = ctl
            .media
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        store.insert(hash.to_string(), bytes.clone());
        store.insert(claimed.to_string(), wrong.clone());
        let media_ref = |hash: MediaHash, size: usize| MediaRef {
            hash,
            size: size as u64,
            duration_ms: 1000,
            url: format!("/media/{hash}"),
        };
        Ok(Self {
            good: media_ref(hash, bytes.len()),
            corrupt: media_ref(claimed, wrong.len()),
        })
    }
}

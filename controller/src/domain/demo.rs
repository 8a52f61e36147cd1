//! `dalaba-controller demo`: the controller plus three demo speakers, each a real
//! `dalaba-agent` process with a WAV sink, in two villages of one county and two groups.

use std::path::{Path, PathBuf};

use dalaba_protocol::{AgentId, AreaCode};

use crate::auth;
use crate::state::AppState;
use crate::storage::{AgentRecord, Location, MediaState};

/// A demo speaker.
#[derive(Debug)]
pub struct DemoAgent {
    /// Its id.
    pub id: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its village.
    pub area: &'static str,
    /// Its group.
    pub group: &'static str,
    /// Where it stands (WGS-84 latitude, longitude), so the map shows it.
    pub at: (f64, f64),
}

/// The demo speakers.
pub const DEMO_AGENTS: &[DemoAgent] = &[
    DemoAgent {
        id: "dongcun-1",
        name: "东村 1号喇叭",
        area: "330106001001",
        group: "east",
        at: (30.2741, 120.1210),
    },
    DemoAgent {
        id: "dongcun-2",
        name: "东村 2号喇叭",
        area: "330106001001",
        group: "east",
        at: (30.2752, 120.1231),
    },
    DemoAgent {
        id: "xicun-1",
        name: "西村 1号喇叭",
        area: "330106002003",
        group: "west",
        at: (30.2655, 120.1003),
    },
];

/// The demo's own area names (a deployment imports its villages the same way); the
/// county's and the real township's names ship with the binary.
pub const DEMO_AREAS: &[(&str, &str)] = &[
    ("330106001", "演示镇"),
    ("330106001001", "东村"),
    ("330106002003", "西村"),
];

/// Creates the demo agents that do not exist yet and writes each one's configuration
/// under `dir`. Returns `(config file, state directory)` per agent.
pub fn prepare(
    state: &AppState,
    dir: &Path,
    agent_url: &str,
) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    if state.storage.area_names()?.is_empty() {
        let names: Vec<(String, String)> = DEMO_AREAS
            .iter()
            .map(|&(code, name)| (code.to_owned(), name.to_owned()))
            .collect();
        state.storage.set_area_names(&names)?;
    }
    for demo in DEMO_AGENTS {
        let (id, name, area) = (demo.id, demo.name, demo.area);
        let agent_id: AgentId = id.parse()?;
        let agent_dir = dir.join(id);
        std::fs::create_dir_all(&agent_dir)?;
        let config = agent_dir.join("agent.toml");
        let state_dir = agent_dir.join("state");
        if state.storage.agent(&agent_id)?.is_none() {
            let token = auth::random_secret(18);
            let mut record = AgentRecord::new(
                agent_id,
                name.into(),
                area.parse::<AreaCode>()?,
                vec![demo.group.into()],
            );
            record.location = Some(Location {
                lat: demo.at.0,
                lon: demo.at.1,
            });
            record.token_hash = Some(auth::token_hash(&token));
            record.token_expires_at = Some(state.clock.now_us() + 24 * 3600 * 1_000_000);
            state.storage.create_agent(&record)?;
            let _ = std::fs::remove_dir_all(&state_dir);
            let wav = format!("wav-rt:{}", agent_dir.join("speaker.wav").display());
            let cache = agent_dir.join("cache").display().to_string();
            let public_key = state.identity.signer.public_key().to_base64();
            let text =
                dalaba_firmware_config::enrolment_document(&dalaba_firmware_config::Enrolment {
                    area_code: area,
                    name: Some(name),
                    pins: dalaba_firmware_config::ControllerPins {
                        url: agent_url,
                        public_key: &public_key,
                        tls_fingerprint: Some(&state.tls.fingerprint),
                    },
                    enrolment_token: &token,
                    audio_device: Some(&wav),
                    cache_dir: Some(&cache),
                })?;
            std::fs::write(&config, text)?;
        }
        out.push((config, state_dir));
    }
    Ok(out)
}

/// The agent binary, installed beside this one.
pub fn agent_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let agent = me.with_file_name("dalaba-agent");
    anyhow::ensure!(
        agent.exists(),
        "{} not found: build the workspace (cargo build --workspace)",
        agent.display()
    );
    Ok(agent)
}

/// The demo clip in the media library: an attention tone, made here (no file shipped).
/// Added on the first start; found again on later ones.
pub async fn ensure_clip(
    state: &AppState,
    data_dir: &Path,
) -> anyhow::Result<crate::storage::MediaRecord> {
    if let Some(existing) = state
        .storage
        .media_list()?
        .into_iter()
        .find(|m| m.state == MediaState::Ready)
    {
        return Ok(existing);
    }
    let spec = dalaba_audio::tone::ToneSpec {
        frequencies_hz: vec![660.0, 880.0],
        pattern: dalaba_audio::tone::Pattern::Alternate { step_ms: 400 },
        duration_ms: 4000,
        ..Default::default()
    };
    let wav = data_dir.join("demo-chime.wav");
    dalaba_audio::transcode::write_wav(&wav, &spec.render()?)?;
    crate::media::import(state, "demo-chime.wav", &wav).await
}

//! What the agent keeps on disk, written so that a power cut loses nothing half-written:
//! [`AgentState`] (identity key, enrolled id, last command sequence), with the two ways
//! every store of the state directory writes a file
//! (`dalaba_firmware_config::files::{write_atomic, write_private}`).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use dalaba_firmware_config::files::{write_atomic, write_private};
use dalaba_protocol::AgentId;
use ed25519_dalek::SigningKey;

/// What the agent keeps between runs, in its state directory.
#[derive(Debug)]
pub struct AgentState {
    dir: PathBuf,
    /// The identity key, made at first start.
    pub key: SigningKey,
    /// The id, once enrolled.
    pub agent_id: Option<AgentId>,
    /// The highest command sequence number accepted.
    pub last_seq: u64,
}

impl AgentState {
    /// Loads the state from `dir`, creating the identity key on first start.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let key_path = dir.join("identity.key");
        let seed: [u8; 32] = if key_path.exists() {
            let bytes = B64.decode(std::fs::read_to_string(&key_path)?.trim())?;
            bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("{}: not a 32-byte key", key_path.display()))?
        } else {
            let seed: [u8; 32] = rand::random();
            write_private(&key_path, &B64.encode(seed))?;
            seed
        };
        let agent_id = match std::fs::read_to_string(dir.join("agent_id")) {
            Ok(text) => Some(text.trim().parse()?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let last_seq = match std::fs::read_to_string(dir.join("last_seq")) {
            Ok(text) => text.trim().parse()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            dir: dir.to_owned(),
            key: SigningKey::from_bytes(&seed),
            agent_id,
            last_seq,
        })
    }

    /// Persists the enrolled id.
    pub fn set_agent_id(&mut self, id: AgentId) -> anyhow::Result<()> {
        write_atomic(&self.dir.join("agent_id"), id.as_str())?;
        self.agent_id = Some(id);
        Ok(())
    }

    /// Persists the sequence number of an accepted command, before it is obeyed.
    pub fn set_last_seq(&mut self, seq: u64) -> anyhow::Result<()> {
        write_atomic(&self.dir.join("last_seq"), &seq.to_string())?;
        self.last_seq = seq;
        Ok(())
    }
}

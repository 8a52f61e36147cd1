//! The controller's own identity, made on first start and kept in the data directory:
//! its id (part of every agent login proof) and its Ed25519 command key.

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use dalaba_protocol::CommandSigner;
use ed25519_dalek::SigningKey;
use sha2::Digest as _;

/// The controller's id and signer.
#[derive(Debug)]
pub struct Identity {
    /// Stable id, e.g. `dalaba-3f9a1c2e`.
    pub controller_id: String,
    /// Signs every command.
    pub signer: CommandSigner,
    /// Key of login device tokens, derived from the command key (so it needs no file of
    /// its own and survives restarts) but never used for anything else.
    pub device_secret: [u8; 32],
}

/// Loads the identity from `dir`, creating it on first start. The key file is readable
/// by the owner only.
pub fn load_or_create(dir: &Path) -> anyhow::Result<Identity> {
    let key_path = dir.join("controller.key");
    let id_path = dir.join("controller.id");
    let seed: [u8; 32] = if key_path.exists() {
        let text = fs::read_to_string(&key_path)?;
        let bytes = B64.decode(text.trim())?;
        bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{}: not a 32-byte key", key_path.display()))?
    } else {
        let seed: [u8; 32] = rand::random();
        dalaba_firmware_config::files::write_private(&key_path, &B64.encode(seed))?;
        seed
    };
    let controller_id = if id_path.exists() {
        fs::read_to_string(&id_path)?.trim().to_owned()
    } else {
        let id = format!("dalaba-{}", hex::encode(rand::random::<[u8; 4]>()));
        fs::write(&id_path, &id)?;
        id
    };
    let device_secret = sha2::Sha256::new()
        .chain_update(b"dalaba login device key\0")
        .chain_update(seed)
        .finalize()
        .into();
    Ok(Identity {
        controller_id,
        signer: CommandSigner::new(SigningKey::from_bytes(&seed)),
        device_secret,
    })
}

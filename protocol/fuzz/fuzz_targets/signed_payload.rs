//! Any bytes as a *correctly signed* payload, so the fuzzer reaches the code behind the
//! signature check: parsing, limits, audience, sequence and window checks. Never a panic,
//! and anything accepted is a command for this agent with a sequence above the last.
#![no_main]

use dalaba_protocol::{CommandSigner, CommandVerifier, Timestamp};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signer = CommandSigner::new(SigningKey::from_bytes(&[1; 32]));
    let envelope = signer.sign_bytes(data.to_vec());
    let agent: dalaba_protocol::AgentId = "fuzz".parse().expect("valid id");
    let mut verifier = CommandVerifier::new(signer.public_key(), agent.clone(), 3);
    if let Ok(cmd) = verifier.accept(&envelope, Timestamp(1_800_000_000_000_000)) {
        assert_eq!(cmd.audience, agent);
        assert!(cmd.seq > 3);
        assert_eq!(verifier.last_seq(), cmd.seq);
        let json = serde_json::to_vec(&cmd).expect("serialises");
        let back: dalaba_protocol::SignedCommand = serde_json::from_slice(&json).expect("round trip");
        assert_eq!(back, cmd);
    }
});

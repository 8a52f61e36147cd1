//! Agent authentication: the bytes an agent signs to enrol and to log in.
//!
//! The controller opens every connection with a fresh random [`Challenge`] in `welcome`.
//! The agent signs it, together with the controller's id and its own identity, with the
//! Ed25519 key it generated at enrolment. Each proof starts with its own domain string, so a
//! login proof is never valid as an enrolment proof or as a command signature.

use ed25519_dalek::{Signer as _, SigningKey};

use crate::keys::{Challenge, PublicKey, Signature};
use crate::types::AgentId;

/// Prefix of the enrolment proof.
pub const ENROL_DOMAIN: &[u8] = b"dalaba/enrol/v1\0";
/// Prefix of the login proof.
pub const LOGIN_DOMAIN: &[u8] = b"dalaba/login/v1\0";

/// The proof does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("authentication proof does not verify against the agent's public key")]
pub struct ProofError;

/// The bytes signed to enrol: domain, controller id, NUL, challenge, the agent's new public
/// key, the enrolment token.
pub fn enrol_message(
    controller_id: &str,
    challenge: &Challenge,
    public_key: &PublicKey,
    token: &str,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(ENROL_DOMAIN.len() + controller_id.len() + 65 + token.len());
    m.extend_from_slice(ENROL_DOMAIN);
    m.extend_from_slice(controller_id.as_bytes());
    m.push(0);
    m.extend_from_slice(&challenge.0);
    m.extend_from_slice(public_key.verifying_key().as_bytes());
    m.extend_from_slice(token.as_bytes());
    m
}

/// The bytes signed to log in: domain, controller id, NUL, challenge, agent id.
pub fn login_message(controller_id: &str, challenge: &Challenge, agent_id: &AgentId) -> Vec<u8> {
    let mut m = Vec::with_capacity(LOGIN_DOMAIN.len() + controller_id.len() + 33 + 64);
    m.extend_from_slice(LOGIN_DOMAIN);
    m.extend_from_slice(controller_id.as_bytes());
    m.push(0);
    m.extend_from_slice(&challenge.0);
    m.extend_from_slice(agent_id.as_str().as_bytes());
    m
}

/// Signs `message` (from [`enrol_message`] or [`login_message`]) with the agent's key.
pub fn sign_proof(key: &SigningKey, message: &[u8]) -> Signature {
    key.sign(message).into()
}

/// Checks a proof made by [`sign_proof`].
pub fn verify_proof(
    key: &PublicKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), ProofError> {
    key.verifying_key()
        .verify_strict(message, &signature.0)
        .map_err(|_| ProofError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_proof_binds_challenge_controller_and_agent() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let public = PublicKey::from(key.verifying_key());
        let agent: AgentId = "a1".parse().expect("valid");
        let challenge = Challenge([1; 32]);
        let msg = login_message("county-1", &challenge, &agent);
        let sig = sign_proof(&key, &msg);
        assert_eq!(verify_proof(&public, &msg, &sig), Ok(()));

        let other_agent: AgentId = "a2".parse().expect("valid");
        for wrong in [
            login_message("county-2", &challenge, &agent),
            login_message("county-1", &Challenge([2; 32]), &agent),
            login_message("county-1", &challenge, &other_agent),
            enrol_message("county-1", &challenge, &public, ""),
        ] {
            assert_eq!(verify_proof(&public, &wrong, &sig), Err(ProofError));
        }
    }
}

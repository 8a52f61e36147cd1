//! Any bytes as a controller's control message: never a panic; whatever decodes
//! re-encodes to the same value; and a decoded envelope goes through the verifier (which
//! must refuse it: the fuzzer cannot forge the pinned key's signature).
#![no_main]

use dalaba_protocol::{CommandVerifier, ControllerMessage, Timestamp, decode_controller_message};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode_controller_message(data) {
        let again = decode_controller_message(msg.to_json().as_bytes()).expect("re-encoded message decodes");
        assert_eq!(again, msg);
        if let ControllerMessage::Signed(envelope) = &msg {
            let pinned = SigningKey::from_bytes(&[1; 32]).verifying_key().into();
            let verifier = CommandVerifier::new(pinned, "fuzz".parse().expect("valid id"), 0);
            assert!(verifier.check(envelope, Timestamp(0)).is_err(), "forged command accepted");
        }
    }
});

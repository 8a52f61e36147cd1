//! Any bytes as an agent's control message: never a panic, and whatever decodes
//! re-encodes to something that decodes to the same value.
#![no_main]

use dalaba_protocol::decode_agent_message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode_agent_message(data) {
        let again = decode_agent_message(msg.to_json().as_bytes()).expect("re-encoded message decodes");
        assert_eq!(again, msg);
    }
});

//! Any bytes as a CAP message (from a feed, the API or the watched directory): parsed to
//! a `Cap` or refused with a reason, never a panic; and every geocode we accept maps to a
//! prefix of digits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cap) = dalaba_controller::cap::parse(data) {
        if let Some(info) = cap.info {
            for a in info.areas {
                assert!(!a.is_empty() && a.len() <= 12 && a.bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
});

//! # dalaba-firmware-config
//!
//! The speaker terminal's on-device configuration file (TOML): identity, controller URL and
//! pinned keys, audio device and limits, quiet hours, relay board, cache, offline schedule.
//! A raw serde struct is turned into a checked `Config` (parse, don't validate).
//!
//! What it is not: no I/O beyond reading and writing the config file.
//!
//! Status: empty. Nothing here is implemented yet (see the speaker hardware issue).

#![forbid(unsafe_code)]

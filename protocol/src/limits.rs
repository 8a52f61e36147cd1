//! Size limits. Every decoder checks these before it allocates anything for the input.
//!
//! They are part of the protocol: a peer that sends more is in error, and the receiver
//! refuses the message (see `PROTOCOL.md`, "Limits").

/// Largest control message (one WebSocket text frame), in bytes: 256 KiB.
///
/// The largest legitimate messages are `schedule_sync` and `config_push`; a full day of
/// schedule entries for one speaker is well under 100 KiB.
pub const MAX_CONTROL_MESSAGE: usize = 256 * 1024;

/// Largest Opus packet in one audio frame, in bytes. libopus recommends 4,000 bytes as the
/// output buffer for any packet it can produce; our 20 ms voice packets are ~60 to 160 bytes.
pub const MAX_OPUS_PACKET: usize = 4000;

/// Length of the fixed audio frame header, in bytes.
pub const AUDIO_HEADER_LEN: usize = 24;

/// Largest audio frame (header and payload, one WebSocket binary frame), in bytes.
pub const MAX_AUDIO_FRAME: usize = AUDIO_HEADER_LEN + MAX_OPUS_PACKET;

/// Longest Opus packet duration, in samples at 48 kHz (120 ms).
pub const MAX_FRAME_SAMPLES: u16 = 5760;

/// Largest payload (the exact signed bytes) of a signed command, in bytes. Base64 grows it
/// by a third, and the envelope must still fit in [`MAX_CONTROL_MESSAGE`].
pub const MAX_SIGNED_PAYLOAD: usize = 192 * 1024 - 1024;

/// Longest validity window a signed command may carry (`not_after - not_before`), in
/// microseconds: one hour. A command is for acting on now; schedules carry their own times.
pub const MAX_VALIDITY_WINDOW_MICROS: u64 = 3_600_000_000;

/// Most entries in one `schedule_sync`.
pub const MAX_SCHEDULE_ENTRIES: usize = 2048;

/// Most media items in one `fetch_media` or `evict_media`.
pub const MAX_MEDIA_ITEMS: usize = 1024;

/// Longest configuration document in a `config_push`, in bytes.
pub const MAX_CONFIG_DOCUMENT: usize = 64 * 1024;

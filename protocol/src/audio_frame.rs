//! Audio frames: one Opus packet behind a fixed 24-byte header, sent as one WebSocket
//! binary message.
//!
//! ```text
//!  0      2   3   4            8            12                      20       22       24
//! +------+---+---+------------+------------+-----------------------+--------+--------+---------
//! | "DL" |ver|flg| stream id  |  sequence  | capture time (µs)     |samples | length | Opus...
//! +------+---+---+------------+------------+-----------------------+--------+--------+---------
//! ```
//!
//! All integers are big-endian (network order). The header carries the payload length, so
//! frames are also self-delimiting on a byte stream: [`decode`] returns `Ok(None)` until a
//! whole frame is buffered. On a WebSocket use [`decode_message`], which also insists the
//! message holds exactly one frame.

use crate::limits::{AUDIO_HEADER_LEN, MAX_FRAME_SAMPLES, MAX_OPUS_PACKET};
use crate::types::{StreamId, Timestamp};

/// The two bytes that open every audio frame: ASCII `DL`.
pub const MAGIC: [u8; 2] = *b"DL";

/// The audio frame layout version this crate reads and writes.
pub const FRAME_VERSION: u8 = 1;

/// The flag bits of an audio frame header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FrameFlags(u8);

impl FrameFlags {
    /// The packet was encoded with Opus in-band FEC: it carries a low-bitrate copy of the
    /// previous frame, which a receiver may decode when that frame was lost.
    pub const FEC: Self = Self(0x01);
    /// The last frame of the stream. Its payload may be empty.
    pub const END_OF_STREAM: Self = Self(0x02);
    /// The stream is test or drill content (mirrors the `mode` of its `start_live`).
    pub const TEST: Self = Self(0x04);
    /// The source restarted its encoder: reset the decoder before this packet.
    pub const DISCONTINUITY: Self = Self(0x08);
    /// The bits defined by version 1. The others must be zero.
    pub const KNOWN: u8 = 0x0f;

    /// No flags.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Flags from raw bits, if no reserved bit is set.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !Self::KNOWN == 0 {
            Some(Self(bits))
        } else {
            None
        }
    }

    /// Whether every flag in `other` is set here.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags with `other`'s added.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// The decoded fixed header of an audio frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioHeader {
    /// The stream this frame belongs to (from the stream's `start_live` command).
    pub stream_id: StreamId,
    /// Frame counter within the stream, +1 per frame, wrapping at 2^32. Compare with
    /// [`seq_delta`], never with `<`.
    pub seq: u32,
    /// When the first sample of the frame was captured, in controller time. Agents play it
    /// at `capture_time + latency` (latency from `start_live`), so every speaker plays the
    /// same sample at the same instant.
    pub capture_time: Timestamp,
    /// Duration of the packet in samples at 48 kHz (120 = 2.5 ms ... 5760 = 120 ms,
    /// a multiple of 120). Zero only for an empty end-of-stream frame.
    pub samples: u16,
    /// Flag bits.
    pub flags: FrameFlags,
}

/// One audio frame, borrowing its payload from the received bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioFrame<'a> {
    /// The fixed header.
    pub header: AudioHeader,
    /// One Opus packet (RFC 6716), mono, 48 kHz. Empty only with `END_OF_STREAM`.
    pub payload: &'a [u8],
}

/// Why bytes are not a valid audio frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first two bytes are not `DL`.
    #[error("not an audio frame: magic bytes {found:02x?}, expected \"DL\" (44 4c)")]
    BadMagic {
        /// The first two bytes received.
        found: [u8; 2],
    },
    /// The header's version byte is not one this crate reads.
    #[error("unsupported audio frame version {found} (this side reads version {FRAME_VERSION})")]
    UnsupportedVersion {
        /// The version byte received.
        found: u8,
    },
    /// A reserved flag bit is set.
    #[error("reserved flag bits set: flags byte {flags:#04x}, only {known:#04x} are defined", known = FrameFlags::KNOWN)]
    ReservedFlags {
        /// The flags byte received.
        flags: u8,
    },
    /// The declared payload is longer than [`MAX_OPUS_PACKET`].
    #[error("Opus payload of {len} bytes exceeds the limit of {MAX_OPUS_PACKET} bytes")]
    PayloadTooLarge {
        /// The declared payload length.
        len: usize,
    },
    /// A frame without `END_OF_STREAM` has no payload.
    #[error("empty Opus payload without the end-of-stream flag")]
    EmptyPayload,
    /// The sample count is not a valid Opus packet duration.
    #[error(
        "invalid frame duration of {samples} samples: must be a multiple of 120 from 120 to {MAX_FRAME_SAMPLES} (0 only for an empty end-of-stream frame)"
    )]
    BadDuration {
        /// The declared duration.
        samples: u16,
    },
    /// A WebSocket message ended before the frame did.
    #[error("truncated audio frame: {got} bytes, the header declares {needed}")]
    Truncated {
        /// Bytes needed for the whole frame (or the header, if it was incomplete).
        needed: usize,
        /// Bytes received.
        got: usize,
    },
    /// A WebSocket message holds more than one frame.
    #[error("{extra} bytes after the end of the audio frame")]
    TrailingBytes {
        /// Bytes after the declared end of the frame.
        extra: usize,
    },
}

/// Decodes one frame from the front of a byte stream.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole frame (read more and call again),
/// or the frame and the number of bytes it used. Header errors are reported as soon as the
/// header is complete, before waiting for the payload, so an oversized length never makes
/// the caller buffer more.
pub fn decode(buf: &[u8]) -> Result<Option<(AudioFrame<'_>, usize)>, FrameError> {
    let Some(head) = buf.first_chunk::<AUDIO_HEADER_LEN>() else {
        // Check what we have already, so garbage is refused early.
        if buf.len() >= 2 && buf[..2] != MAGIC {
            return Err(FrameError::BadMagic {
                found: [buf[0], buf[1]],
            });
        }
        return Ok(None);
    };
    let (header, len) = parse_header(head)?;
    let total = AUDIO_HEADER_LEN + len;
    if buf.len() < total {
        return Ok(None);
    }
    let frame = AudioFrame {
        header,
        payload: &buf[AUDIO_HEADER_LEN..total],
    };
    Ok(Some((frame, total)))
}

/// Decodes a whole WebSocket binary message, which must hold exactly one frame.
pub fn decode_message(msg: &[u8]) -> Result<AudioFrame<'_>, FrameError> {
    match decode(msg)? {
        Some((frame, used)) if used == msg.len() => Ok(frame),
        Some((_, used)) => Err(FrameError::TrailingBytes {
            extra: msg.len() - used,
        }),
        None => {
            let needed = match msg.first_chunk::<AUDIO_HEADER_LEN>() {
                Some(head) => {
                    AUDIO_HEADER_LEN + usize::from(u16::from_be_bytes([head[22], head[23]]))
                }
                None => AUDIO_HEADER_LEN,
            };
            Err(FrameError::Truncated {
                needed,
                got: msg.len(),
            })
        }
    }
}

fn parse_header(b: &[u8; AUDIO_HEADER_LEN]) -> Result<(AudioHeader, usize), FrameError> {
    if b[..2] != MAGIC {
        return Err(FrameError::BadMagic {
            found: [b[0], b[1]],
        });
    }
    if b[2] != FRAME_VERSION {
        return Err(FrameError::UnsupportedVersion { found: b[2] });
    }
    let flags = FrameFlags::from_bits(b[3]).ok_or(FrameError::ReservedFlags { flags: b[3] })?;
    let stream_id = StreamId(u32::from_be_bytes([b[4], b[5], b[6], b[7]]));
    let seq = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
    let capture_time = Timestamp(u64::from_be_bytes([
        b[12], b[13], b[14], b[15], b[16], b[17], b[18], b[19],
    ]));
    let samples = u16::from_be_bytes([b[20], b[21]]);
    let len = usize::from(u16::from_be_bytes([b[22], b[23]]));

    if len > MAX_OPUS_PACKET {
        return Err(FrameError::PayloadTooLarge { len });
    }
    let eos = flags.contains(FrameFlags::END_OF_STREAM);
    if len == 0 && !eos {
        return Err(FrameError::EmptyPayload);
    }
    let samples_ok = if len == 0 {
        samples == 0
    } else {
        samples != 0 && samples <= MAX_FRAME_SAMPLES && samples % 120 == 0
    };
    if !samples_ok {
        return Err(FrameError::BadDuration { samples });
    }
    let header = AudioHeader {
        stream_id,
        seq,
        capture_time,
        samples,
        flags,
    };
    Ok((header, len))
}

impl AudioHeader {
    /// Appends the header and `payload` to `out` as one frame.
    ///
    /// Refuses what the receiving side would refuse (oversized or empty payload, bad
    /// duration), so a sender finds its mistake at the source.
    pub fn encode(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        if payload.len() > MAX_OPUS_PACKET {
            return Err(FrameError::PayloadTooLarge { len: payload.len() });
        }
        let mut head = [0u8; AUDIO_HEADER_LEN];
        head[..2].copy_from_slice(&MAGIC);
        head[2] = FRAME_VERSION;
        head[3] = self.flags.bits();
        head[4..8].copy_from_slice(&self.stream_id.0.to_be_bytes());
        head[8..12].copy_from_slice(&self.seq.to_be_bytes());
        head[12..20].copy_from_slice(&self.capture_time.0.to_be_bytes());
        head[20..22].copy_from_slice(&self.samples.to_be_bytes());
        // Cannot truncate: checked against MAX_OPUS_PACKET above.
        head[22..24].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        parse_header(&head)?;
        out.reserve(AUDIO_HEADER_LEN + payload.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(payload);
        Ok(())
    }

    /// The header and `payload` as a new frame.
    pub fn to_frame(&self, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::new();
        self.encode(payload, &mut out)?;
        Ok(out)
    }
}

/// How far sequence number `a` is ahead of `b`, allowing for wrap-around at 2^32:
/// positive when `a` is newer, negative when older (serial number arithmetic, RFC 1982).
pub const fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> AudioHeader {
        AudioHeader {
            stream_id: StreamId(7),
            seq: 0x0102_0304,
            capture_time: Timestamp(0x0011_2233_4455_6677),
            samples: 960,
            flags: FrameFlags::FEC,
        }
    }

    #[test]
    fn layout_is_byte_exact() {
        let frame = header().to_frame(&[0xaa, 0xbb]).expect("valid");
        assert_eq!(
            frame,
            [
                b'D', b'L', 1, 0x01, // magic, version, flags
                0, 0, 0, 7, // stream id
                1, 2, 3, 4, // sequence
                0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, // capture time
                0x03, 0xc0, // 960 samples
                0, 2, // payload length
                0xaa, 0xbb
            ]
        );
    }

    #[test]
    fn stream_decode_waits_for_whole_frame() {
        let frame = header().to_frame(&[1, 2, 3]).expect("valid");
        for cut in 0..frame.len() {
            assert_eq!(decode(&frame[..cut]), Ok(None), "cut at {cut}");
        }
        let mut two = frame.clone();
        two.extend_from_slice(&frame);
        let (first, used) = decode(&two).expect("valid").expect("complete");
        assert_eq!(used, frame.len());
        assert_eq!(first.payload, &[1, 2, 3]);
        assert_eq!(
            decode_message(&two),
            Err(FrameError::TrailingBytes { extra: used })
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        assert_eq!(seq_delta(0, u32::MAX), 1);
        assert_eq!(seq_delta(u32::MAX, 0), -1);
        assert_eq!(seq_delta(10, 5), 5);
    }
}

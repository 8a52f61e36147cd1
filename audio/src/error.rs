//! Errors of the file pipeline. Every one names the file it is about.

use std::path::{Path, PathBuf};
use std::time::Duration;

use symphonia::core::errors::Error as SymphoniaError;

/// Something went wrong with one media file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct MediaError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub kind: MediaErrorKind,
}

impl MediaError {
    /// An error about `path`.
    pub fn new(path: &Path, kind: MediaErrorKind) -> Self {
        Self {
            path: path.to_owned(),
            kind,
        }
    }
}

/// What went wrong with a media file.
#[derive(Debug, thiserror::Error)]
pub enum MediaErrorKind {
    /// The file could not be opened or read.
    #[error("cannot read the file: {0}")]
    Read(#[source] std::io::Error),
    /// The file has zero bytes.
    #[error("the file is empty")]
    Empty,
    /// No demuxer recognises the file.
    #[error(
        "not a recognised audio format (supported: MP3, WAV, FLAC, AAC/M4A, Ogg Vorbis, Ogg Opus): {0}"
    )]
    Unrecognised(#[source] SymphoniaError),
    /// The container has no audio track.
    #[error("the file has no audio track")]
    NoAudioTrack,
    /// The audio codec is not supported.
    #[error("unsupported audio codec: {0}")]
    UnsupportedCodec(#[source] SymphoniaError),
    /// The container or the audio data is damaged.
    #[error("the file is corrupt: {0}")]
    Corrupt(#[source] SymphoniaError),
    /// Too many audio packets failed to decode.
    #[error(
        "the file is corrupt: {failed} of {total} audio packets failed to decode (last error: {last})"
    )]
    CorruptPackets {
        /// Packets that failed.
        failed: u64,
        /// Packets read.
        total: u64,
        /// The last decoder error.
        #[source]
        last: SymphoniaError,
    },
    /// The file ends before the audio it announces.
    #[error(
        "the file is truncated: it ends in the middle of the audio ({decoded:.1} s of {declared:.1} s)"
    )]
    Truncated {
        /// Seconds decoded.
        decoded: f64,
        /// Seconds the header announced.
        declared: f64,
    },
    /// The container or stream ended unexpectedly.
    #[error("the file is truncated: {0}")]
    TruncatedStream(#[source] std::io::Error),
    /// The audio decodes to no samples at all.
    #[error("the file contains no audio samples")]
    NoAudio,
    /// The audio is longer than allowed.
    #[error("the audio is longer than the limit of {} s", limit.as_secs())]
    TooLong {
        /// The limit.
        limit: Duration,
    },
    /// The sample rate is below any real recording's (a tiny file would decode to hours).
    #[error(
        "the sample rate of {rate} Hz is below {} Hz: no recording is made that way",
        crate::transcode::MIN_INPUT_RATE
    )]
    RateTooLow {
        /// The file's rate.
        rate: u32,
    },
    /// The stream changes sample rate or channel count midway.
    #[error(
        "the audio format changes midway ({from_rate} Hz x{from_channels} to {to_rate} Hz x{to_channels})"
    )]
    FormatChange {
        /// Rate before.
        from_rate: u32,
        /// Channels before.
        from_channels: usize,
        /// Rate after.
        to_rate: u32,
        /// Channels after.
        to_channels: usize,
    },
    /// Not an Ogg Opus file, or an Ogg Opus file this reader does not support.
    #[error("not a supported Ogg Opus file: {0}")]
    NotOggOpus(&'static str),
    /// Audio pages are missing: the granule positions jump.
    #[error(
        "the Ogg Opus stream is corrupt: pages are missing or damaged (granule position {granule} after {decoded} decoded samples)"
    )]
    OggGap {
        /// The page's granule position.
        granule: u64,
        /// Samples decoded up to that page.
        decoded: u64,
    },
    /// The Ogg container is damaged.
    #[error("the Ogg stream is corrupt: {0}")]
    Ogg(#[source] ogg::OggReadError),
    /// The loudness meter failed.
    #[error("{0}")]
    Loudness(#[from] crate::loudness::MeterError),
    /// Opus encoding or decoding failed.
    #[error("{0}")]
    Codec(#[from] crate::codec::CodecError),
    /// The resampler refused.
    #[error("resampler: {0}")]
    Resampler(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Write(#[source] std::io::Error),
    /// The WAV output could not be written.
    #[error("cannot write the WAV output: {0}")]
    Wav(#[source] hound::Error),
}

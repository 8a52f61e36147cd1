//! # dalaba-audio
//!
//! Dalaba's media pipeline.
//!
//! What it is:
//! - [`decode`]: any common audio file (symphonia) as mono samples;
//! - [`resample`]: streaming conversion to 48 kHz (rubato);
//! - [`loudness`]: EBU R128 measurement and the normalising gain (ebur128);
//! - [`codec`]: Opus encoding and decoding (libopus);
//! - [`ogg_opus`]: Ogg Opus files, RFC 7845, written and read (ogg);
//! - [`transcode`]: the whole file pipeline, any file in, normalised Ogg Opus out;
//! - [`jitter`]: the live path's jitter buffer, sans-IO (time is an argument);
//! - [`playout`]: jitter buffer + Opus decoder, with loss concealment and FEC;
//! - [`sink`]: output sinks chosen by name (`cpal`, `wav`, `null`) and volume ramps;
//! - [`tone`]: attention tones for alert preludes.
//!
//! What it is not: no networking, and no hardware other than the cpal sink backend.
//! Everything audio here is mono, 48 kHz, `f32` in [-1, 1].

#![forbid(unsafe_code)]

pub mod capture;
pub mod codec;
pub mod decode;
pub mod error;
pub mod jitter;
pub mod limiter;
pub mod loudness;
pub mod ogg_opus;
pub mod playout;
pub mod resample;
pub mod sink;
pub mod tone;
pub mod transcode;

pub use error::{MediaError, MediaErrorKind};

/// The sample rate of everything this crate produces and plays.
pub const SAMPLE_RATE: u32 = resample::OUTPUT_RATE;

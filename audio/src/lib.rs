//! # dalaba-audio
//!
//! Dalaba's media pipeline. It will hold: decoding any common audio file (symphonia) to mono
//! 48 kHz (rubato), loudness normalisation (EBU R128), Opus encoding and Ogg Opus files,
//! Opus decoding with a jitter buffer (loss concealment, FEC), output sinks (cpal, WAV,
//! null) and alert tones. See the audio issue and `ARCHITECTURE.md`.
//!
//! What it is not: no networking, and no hardware other than the sink trait's cpal backend.
//!
//! Status: empty. Nothing here is implemented yet.

#![forbid(unsafe_code)]

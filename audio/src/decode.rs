//! Reading any common audio file as mono `f32` samples at the file's own sample rate.
//!
//! [`MediaReader`] wraps symphonia: probe the container, pick the default audio track,
//! decode packet by packet and downmix each block to mono by averaging the channels. It
//! streams: memory stays at one packet's worth however long the file is, and the duration
//! limit is enforced while reading, so a huge file is refused before it costs anything.
//!
//! Errors it survives: a packet that fails to decode is skipped (as symphonia recommends),
//! unless more than 1 in 20 packets fail, which makes the file [`MediaErrorKind::CorruptPackets`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::error::{MediaError, MediaErrorKind};

/// A decoded audio file, read block by block as mono samples.
pub struct MediaReader {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    sample_rate: u32,
    channels: usize,
    declared_frames: Option<u64>,
    frames_read: u64,
    max_frames: u64,
    max_duration: Duration,
    packets: u64,
    failed_packets: u64,
    planes: Vec<Vec<f32>>,
    /// Mono samples decoded while opening (to learn the format), not yet handed out.
    pending: Vec<f32>,
    finished: bool,
}

impl std::fmt::Debug for MediaReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaReader")
            .field("path", &self.path)
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .field("frames_read", &self.frames_read)
            .finish_non_exhaustive()
    }
}

impl MediaReader {
    /// Opens `path`, refusing files that announce more than `max_duration` of audio.
    pub fn open(path: &Path, max_duration: Duration) -> Result<Self, MediaError> {
        let err = |kind| MediaError::new(path, kind);
        let file = File::open(path).map_err(|e| err(MediaErrorKind::Read(e)))?;
        let len = file
            .metadata()
            .map_err(|e| err(MediaErrorKind::Read(e)))?
            .len();
        if len == 0 {
            return Err(err(MediaErrorKind::Empty));
        }
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let format = symphonia::default::get_probe()
            .probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| err(MediaErrorKind::Unrecognised(e)))?;
        let track = format
            .default_track(TrackType::Audio)
            .ok_or_else(|| err(MediaErrorKind::NoAudioTrack))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| err(MediaErrorKind::NoAudioTrack))?;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map_err(|e| err(MediaErrorKind::UnsupportedCodec(e)))?;
        let track_id = track.id;
        let sample_rate = params.sample_rate.unwrap_or(0);
        let channels = params.channels.as_ref().map_or(0, |c| c.count());
        let declared_frames = track.num_frames;

        let max_frames = frames_for(max_duration, sample_rate.max(1));
        if sample_rate > 0 && declared_frames.is_some_and(|n| n > max_frames) {
            return Err(err(MediaErrorKind::TooLong {
                limit: max_duration,
            }));
        }

        let mut reader = Self {
            path: path.to_owned(),
            format,
            decoder,
            track_id,
            sample_rate,
            channels,
            declared_frames,
            frames_read: 0,
            max_frames,
            max_duration,
            packets: 0,
            failed_packets: 0,
            planes: Vec::new(),
            pending: Vec::new(),
            finished: false,
        };
        // Decode the first block now, so the real rate and channel count are known.
        let mut first = Vec::new();
        let more = reader.decode_next(&mut first, true)?;
        if first.is_empty() && !more {
            return Err(err(MediaErrorKind::NoAudio));
        }
        reader.pending = first;
        Ok(reader)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sample rate of the audio, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Channels in the file (the output is always mono).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Duration the container announces, if it does.
    pub fn declared_duration(&self) -> Option<Duration> {
        let frames = self.declared_frames?;
        (self.sample_rate > 0)
            .then(|| Duration::from_secs_f64(frames as f64 / f64::from(self.sample_rate)))
    }

    /// Frames (mono samples) handed out so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read
    }

    /// Appends the next block of mono samples to `out`. Returns `false` once the file is
    /// exhausted (and nothing was appended).
    pub fn read(&mut self, out: &mut Vec<f32>) -> Result<bool, MediaError> {
        if !self.pending.is_empty() {
            out.append(&mut self.pending);
            return Ok(true);
        }
        loop {
            let before = out.len();
            let more = self.decode_next(out, false)?;
            if out.len() > before {
                return Ok(true);
            }
            if !more {
                return Ok(false);
            }
        }
    }

    /// Decodes one packet into `out`. Returns `false` at the end of the stream.
    fn decode_next(&mut self, out: &mut Vec<f32>, first: bool) -> Result<bool, MediaError> {
        if self.finished {
            return Ok(false);
        }
        let path = self.path.clone();
        let err = |kind| MediaError::new(&path, kind);
        let packet = match self.format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => return self.finish().map(|()| false),
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                if self.frames_read == 0 && first {
                    return Err(err(MediaErrorKind::TruncatedStream(e)));
                }
                self.finish()?;
                // An explicit end of data mid-stream: truncated unless the length matched.
                return Ok(false);
            }
            Err(e) => return Err(err(MediaErrorKind::Corrupt(e))),
        };
        if packet.track_id != self.track_id {
            return Ok(true);
        }
        self.packets += 1;
        let decoded = match self.decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(e @ (SymphoniaError::DecodeError(_) | SymphoniaError::IoError(_))) => {
                self.failed_packets += 1;
                // Tolerate the odd damaged packet, not a damaged file.
                if self.failed_packets > 3 && self.failed_packets * 20 > self.packets {
                    return Err(err(MediaErrorKind::CorruptPackets {
                        failed: self.failed_packets,
                        total: self.packets,
                        last: e,
                    }));
                }
                return Ok(true);
            }
            Err(e) => return Err(err(MediaErrorKind::UnsupportedCodec(e))),
        };
        let rate = decoded.spec().rate();
        let channels = decoded.spec().channels().count();
        if self.frames_read == 0 && out.is_empty() && self.pending.is_empty() {
            self.sample_rate = rate;
            self.channels = channels;
            self.max_frames = frames_for(self.max_duration, rate);
        } else if rate != self.sample_rate || channels != self.channels {
            return Err(err(MediaErrorKind::FormatChange {
                from_rate: self.sample_rate,
                from_channels: self.channels,
                to_rate: rate,
                to_channels: channels,
            }));
        }
        let frames = decoded.frames();
        if self.frames_read + frames as u64 > self.max_frames {
            return Err(err(MediaErrorKind::TooLong {
                limit: self.max_duration,
            }));
        }
        decoded.copy_to_vecs_planar::<f32>(&mut self.planes);
        downmix(&self.planes, frames, out);
        self.frames_read += frames as u64;
        Ok(true)
    }

    /// Checks the end of the stream against what the container announced.
    fn finish(&mut self) -> Result<(), MediaError> {
        self.finished = true;
        if self.frames_read == 0 {
            return Err(MediaError::new(&self.path, MediaErrorKind::NoAudio));
        }
        if let Some(declared) = self.declared_frames {
            // Containers that state an exact length (WAV, FLAC, MP4) must deliver it; allow
            // a little for codec padding and estimates.
            let tolerance = declared / 50 + u64::from(self.sample_rate) / 10;
            if self.frames_read + tolerance < declared {
                let rate = f64::from(self.sample_rate.max(1));
                return Err(MediaError::new(
                    &self.path,
                    MediaErrorKind::Truncated {
                        decoded: self.frames_read as f64 / rate,
                        declared: declared as f64 / rate,
                    },
                ));
            }
        }
        Ok(())
    }
}

fn frames_for(duration: Duration, rate: u32) -> u64 {
    (duration.as_secs_f64() * f64::from(rate)).ceil() as u64
}

/// Appends the mean of `planes` (the first `frames` samples of each) to `out`.
pub fn downmix(planes: &[Vec<f32>], frames: usize, out: &mut Vec<f32>) {
    match planes {
        [] => {}
        [mono] => out.extend_from_slice(&mono[..frames]),
        _ => {
            let scale = 1.0 / planes.len() as f32;
            out.extend((0..frames).map(|i| planes.iter().map(|p| p[i]).sum::<f32>() * scale));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downmix_averages_channels() {
        let mut out = Vec::new();
        downmix(&[vec![1.0, 0.5, 0.0], vec![0.0, 0.5, -1.0]], 3, &mut out);
        assert_eq!(out, [0.5, 0.5, -0.5]);
        downmix(&[vec![0.25, 0.75]], 1, &mut out);
        assert_eq!(out, [0.5, 0.5, -0.5, 0.25]);
    }
}

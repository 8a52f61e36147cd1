//! The stored-media pipeline: any audio file in, loudness-normalised mono Ogg Opus out;
//! and back from Ogg Opus to samples.
//!
//! Two passes over the input, streaming both times, so memory does not grow with the
//! file: the first measures loudness (EBU R128) at the file's own rate, the second applies
//! the gain, resamples to 48 kHz and encodes. The output is written to a temporary file
//! beside the target and renamed into place only when complete, so a failure never leaves
//! a half-written file where a good one is expected.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::SAMPLE_RATE;
use crate::codec::{CodecError, Decoder, Encoder, EncoderSettings};
use crate::decode::MediaReader;
use crate::error::{MediaError, MediaErrorKind};
use crate::limiter::{Limiter, LimiterReport};
use crate::loudness::{Gain, LoudnessTarget, MAX_LIMITING_DB, Measurement, Meter};
use crate::ogg_opus::{OggOpusReader, OggOpusWriter, OpusFileSource, OpusHead};
use crate::resample::Resampler48k;

/// Settings of [`transcode_file`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TranscodeOptions {
    /// Loudness to normalise to.
    pub loudness: LoudnessTarget,
    /// Opus settings.
    pub encoder: EncoderSettings,
    /// Longer inputs are refused (before they are decoded, where the container says how
    /// long it is; otherwise as soon as the limit is passed). Default 1 hour.
    pub max_duration: Duration,
}

impl Default for TranscodeOptions {
    fn default() -> Self {
        Self {
            loudness: LoudnessTarget::default(),
            encoder: EncoderSettings::default(),
            max_duration: Duration::from_secs(3600),
        }
    }
}

/// Lowest input sample rate accepted: telephone speech is 8 kHz, nothing real is lower,
/// and a lower rate lets a tiny file decode to hours of work.
pub const MIN_INPUT_RATE: u32 = 8_000;

/// Which pass is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Pass 1: measuring loudness.
    Measuring,
    /// Pass 2: normalising, resampling and encoding.
    Encoding,
}

/// Progress through a transcode, reported about once per second of audio.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// The pass.
    pub phase: Phase,
    /// Audio processed in this pass.
    pub done: Duration,
    /// Length of the input, if known.
    pub total: Option<Duration>,
}

impl Progress {
    /// Overall completion from 0 to 1 (both passes), if the length is known.
    pub fn fraction(&self) -> Option<f64> {
        let total = self.total?.as_secs_f64();
        if total <= 0.0 {
            return None;
        }
        let pass = (self.done.as_secs_f64() / total).min(1.0);
        Some(match self.phase {
            Phase::Measuring => pass * 0.4,
            Phase::Encoding => 0.4 + pass * 0.6,
        })
    }
}

/// What a transcode did.
#[derive(Clone, Debug, PartialEq)]
pub struct TranscodeReport {
    /// Sample rate of the input.
    pub input_rate: u32,
    /// Channels of the input.
    pub input_channels: usize,
    /// Length of the audio.
    pub duration: Duration,
    /// Loudness of the input (after downmix).
    pub input_loudness: Measurement,
    /// The gain applied.
    pub gain: Gain,
    /// What the limiter took off the peaks after the gain.
    pub limiter: LimiterReport,
    /// Opus packets written.
    pub packets: u64,
    /// Size of the output file, bytes.
    pub bytes: u64,
}

/// Where the file pipeline reads mono samples from: symphonia for everything it decodes,
/// our own Ogg Opus reader for Opus (which symphonia does not decode).
enum Source {
    Symphonia(MediaReader),
    Opus(OpusFileSource, PathBuf),
}

impl Source {
    fn open(path: &Path, max_duration: Duration) -> Result<Self, MediaError> {
        match MediaReader::open(path, max_duration) {
            Ok(reader) if reader.sample_rate() < MIN_INPUT_RATE => Err(MediaError::new(
                path,
                MediaErrorKind::RateTooLow {
                    rate: reader.sample_rate(),
                },
            )),
            Ok(reader) => Ok(Self::Symphonia(reader)),
            Err(e)
                if matches!(
                    e.kind,
                    MediaErrorKind::UnsupportedCodec(_) | MediaErrorKind::NoAudioTrack
                ) =>
            {
                // An Ogg file symphonia cannot decode: Opus, if it has an OpusHead.
                OpusFileSource::open(path)
                    .map(|s| Self::Opus(s, path.to_owned()))
                    .map_err(|_| e)
            }
            Err(e) => Err(e),
        }
    }

    fn sample_rate(&self) -> u32 {
        match self {
            Self::Symphonia(r) => r.sample_rate(),
            Self::Opus(..) => SAMPLE_RATE,
        }
    }

    fn channels(&self) -> usize {
        match self {
            Self::Symphonia(r) => r.channels(),
            Self::Opus(s, _) => s.channels(),
        }
    }

    fn declared_duration(&self) -> Option<Duration> {
        match self {
            Self::Symphonia(r) => r.declared_duration(),
            Self::Opus(..) => None,
        }
    }

    fn frames_read(&self) -> u64 {
        match self {
            Self::Symphonia(r) => r.frames_read(),
            Self::Opus(s, _) => s.frames_read(),
        }
    }

    fn read(&mut self, out: &mut Vec<f32>, max_duration: Duration) -> Result<bool, MediaError> {
        match self {
            Self::Symphonia(r) => r.read(out),
            Self::Opus(s, path) => {
                let more = s.read(out).map_err(|k| MediaError::new(path, k))?;
                if s.frames_read() as f64 > max_duration.as_secs_f64() * f64::from(SAMPLE_RATE) {
                    return Err(MediaError::new(
                        path,
                        MediaErrorKind::TooLong {
                            limit: max_duration,
                        },
                    ));
                }
                if !more && s.frames_read() == 0 {
                    return Err(MediaError::new(path, MediaErrorKind::NoAudio));
                }
                Ok(more)
            }
        }
    }
}

/// Transcodes `input` (any supported format) to a normalised mono Ogg Opus file at `output`.
pub fn transcode_file(
    input: &Path,
    output: &Path,
    opts: &TranscodeOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<TranscodeReport, MediaError> {
    // Pass 1: loudness.
    let mut reader = Source::open(input, opts.max_duration)?;
    let total = reader.declared_duration();
    let rate = reader.sample_rate();
    let err = |kind| MediaError::new(input, kind);
    let mut meter = Meter::new(rate).map_err(|e| err(e.into()))?;
    let mut block = Vec::new();
    let mut reported = 0u64;
    while reader.read(&mut block, opts.max_duration)? {
        meter.add(&block).map_err(|e| err(e.into()))?;
        block.clear();
        report(
            &mut reported,
            reader.frames_read(),
            rate,
            Phase::Measuring,
            total,
            progress,
        );
    }
    let input_loudness = meter.measurement().map_err(|e| err(e.into()))?;
    let mut gain = opts.loudness.gain_for(&input_loudness);
    if gain.limiting_db > 0.0 {
        // Limiting takes some loudness with the peaks: measure what is left and make it up
        // (within the limiter's bound), so peaky speech still reaches the target.
        let limited = limited_loudness(input, opts, rate, gain.linear())?;
        if limited.integrated_lufs.is_finite() {
            let short = (opts.loudness.integrated_lufs - limited.integrated_lufs).max(0.0);
            let more = short.min(MAX_LIMITING_DB + 1.0 - gain.limiting_db).max(0.0);
            gain.db += more;
            gain.limiting_db += more;
            gain.peak_limited = gain.peak_limited || more < short;
        }
    }
    let factor = gain.linear();
    // After the gain, at 48 kHz: the peaks it lifted past the ceiling are turned down.
    let mut limiter = Limiter::new(opts.loudness.limiter_ceiling());
    let mut resampled = Vec::new();

    // Pass 2: gain, resample, encode.
    let mut reader = Source::open(input, opts.max_duration)?;
    let mut resampler = Resampler48k::new(rate).map_err(err)?;
    let mut encoder = Encoder::new(&opts.encoder).map_err(|e| err(e.into()))?;
    let frame = encoder.frame_samples();
    let pre_skip = encoder.lookahead().map_err(|e| err(e.into()))?;
    let head = OpusHead {
        channels: 1,
        pre_skip,
        input_rate: rate,
        output_gain: 0,
    };

    let partial = partial_path(output);
    let out_err = |e| MediaError::new(output, MediaErrorKind::Write(e));
    let file = File::create(&partial).map_err(out_err)?;
    let result = (|| {
        let serial = 0x4441_4c41
            ^ (reader
                .declared_duration()
                .map_or(0, |d| d.as_millis() as u32));
        let comments = [format!("DALABA_GAIN_DB={:.2}", gain.db)];
        let mut writer =
            OggOpusWriter::new(BufWriter::new(file), serial, &head, &comments).map_err(out_err)?;
        let mut pcm = Vec::new();
        let mut used = 0;
        let mut produced: u64 = 0;
        let mut packets = 0u64;
        let mut reported = 0u64;
        let mut encode_ready = |pcm: &mut Vec<f32>,
                                used: &mut usize,
                                writer: &mut OggOpusWriter<_>|
         -> Result<(), MediaError> {
            while pcm.len() - *used >= frame {
                let packet = encoder
                    .encode(&pcm[*used..*used + frame])
                    .map_err(|e| MediaError::new(input, e.into()))?;
                writer.write_packet(packet, frame as u64).map_err(out_err)?;
                *used += frame;
                packets += 1;
            }
            pcm.drain(..*used);
            *used = 0;
            Ok(())
        };
        while reader.read(&mut block, opts.max_duration)? {
            for s in &mut block {
                *s *= factor;
            }
            let before = pcm.len();
            resampler.push(&block, &mut resampled).map_err(err)?;
            limiter.push(&resampled, &mut pcm);
            resampled.clear();
            produced += (pcm.len() - before) as u64;
            block.clear();
            encode_ready(&mut pcm, &mut used, &mut writer)?;
            report(
                &mut reported,
                reader.frames_read(),
                rate,
                Phase::Encoding,
                total,
                progress,
            );
        }
        let before = pcm.len();
        resampler.finish(&mut resampled).map_err(err)?;
        limiter.push(&resampled, &mut pcm);
        limiter.finish(&mut pcm);
        produced += (pcm.len() - before) as u64;
        // The decoder's output lags the input by the look-ahead (the pre-skip it drops), so
        // push that much silence through to get the last samples out, then pad the last
        // frame; the final granule position trims the excess.
        pcm.resize(pcm.len() + usize::from(pre_skip), 0.0);
        let rest = pcm.len() % frame;
        if rest != 0 {
            pcm.resize(pcm.len() + frame - rest, 0.0);
        }
        encode_ready(&mut pcm, &mut used, &mut writer)?;
        let mut out = writer.finish(produced).map_err(out_err)?;
        std::io::Write::flush(&mut out).map_err(out_err)?;
        drop(out);
        Ok((produced, packets))
    })();
    let (produced, packets) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, output).map_err(out_err)?;
    let bytes = std::fs::metadata(output).map_err(out_err)?.len();
    Ok(TranscodeReport {
        input_rate: rate,
        input_channels: reader.channels(),
        duration: Duration::from_secs_f64(produced as f64 / f64::from(SAMPLE_RATE)),
        input_loudness,
        gain,
        limiter: limiter.report(),
        packets,
        bytes,
    })
}

/// The loudness of `input` after a gain of `factor`, resampling and the limiter: what
/// pass 2 would write, measured without encoding it.
fn limited_loudness(
    input: &Path,
    opts: &TranscodeOptions,
    rate: u32,
    factor: f32,
) -> Result<Measurement, MediaError> {
    let err = |kind| MediaError::new(input, kind);
    let mut reader = Source::open(input, opts.max_duration)?;
    let mut resampler = Resampler48k::new(rate).map_err(err)?;
    let mut limiter = Limiter::new(opts.loudness.limiter_ceiling());
    let mut meter = Meter::new(SAMPLE_RATE).map_err(|e| err(e.into()))?;
    let (mut block, mut resampled, mut limited) = (Vec::new(), Vec::new(), Vec::new());
    while reader.read(&mut block, opts.max_duration)? {
        for s in &mut block {
            *s *= factor;
        }
        resampler.push(&block, &mut resampled).map_err(err)?;
        limiter.push(&resampled, &mut limited);
        meter.add(&limited).map_err(|e| err(e.into()))?;
        block.clear();
        resampled.clear();
        limited.clear();
    }
    resampler.finish(&mut resampled).map_err(err)?;
    limiter.push(&resampled, &mut limited);
    limiter.finish(&mut limited);
    meter.add(&limited).map_err(|e| err(e.into()))?;
    meter.measurement().map_err(|e| err(e.into()))
}

fn partial_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    output.with_file_name(format!(".{name}.partial"))
}

fn report(
    reported: &mut u64,
    frames: u64,
    rate: u32,
    phase: Phase,
    total: Option<Duration>,
    progress: &mut dyn FnMut(&Progress),
) {
    let seconds = frames / u64::from(rate.max(1));
    if seconds > *reported {
        *reported = seconds;
        progress(&Progress {
            phase,
            done: Duration::from_secs_f64(frames as f64 / f64::from(rate.max(1))),
            total,
        });
    }
}

/// A decoded Ogg Opus file.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedOpus {
    /// Its header.
    pub head: OpusHead,
    /// Mono samples at 48 kHz, pre-skip removed and the end trimmed to the final granule.
    pub samples: Vec<f32>,
}

/// Decodes a whole Ogg Opus file (ours or any mono/stereo one) to mono 48 kHz samples.
pub fn decode_ogg_opus_file(
    path: &Path,
    max_duration: Duration,
) -> Result<DecodedOpus, MediaError> {
    let err = |kind| MediaError::new(path, kind);
    let file = File::open(path).map_err(|e| err(MediaErrorKind::Read(e)))?;
    if file
        .metadata()
        .map_err(|e| err(MediaErrorKind::Read(e)))?
        .len()
        == 0
    {
        return Err(err(MediaErrorKind::Empty));
    }
    let mut reader = OggOpusReader::new(BufReader::new(file)).map_err(err)?;
    let head = reader.head().clone();
    let mut decoder = Decoder::new().map_err(|e: CodecError| err(e.into()))?;
    let limit = (max_duration.as_secs_f64() * f64::from(SAMPLE_RATE)) as usize;
    let mut samples = Vec::new();
    // Granule positions count decoded samples; a page that is missing (damaged and
    // skipped by the Ogg reader) shows up as a jump.
    let mut granule_base: Option<u64> = None;
    while let Some(packet) = reader.next_packet().map_err(err)? {
        decoder
            .decode(&packet.data, &mut samples)
            .map_err(|e| err(e.into()))?;
        if let Some(granule) = packet
            .page_granule
            .filter(|&g| g != u64::MAX && !packet.last)
        {
            let decoded = samples.len() as u64;
            let base = *granule_base.get_or_insert(granule.wrapping_sub(decoded));
            if granule.wrapping_sub(base) != decoded {
                return Err(err(MediaErrorKind::OggGap { granule, decoded }));
            }
        }
        if samples.len() > limit + usize::from(head.pre_skip) {
            return Err(err(MediaErrorKind::TooLong {
                limit: max_duration,
            }));
        }
    }
    let pre_skip = usize::from(head.pre_skip);
    let end = usize::try_from(reader.last_granule()).unwrap_or(usize::MAX);
    if end < pre_skip || samples.len() < pre_skip {
        return Err(err(MediaErrorKind::NoAudio));
    }
    samples.truncate(end);
    samples.drain(..pre_skip);
    if head.output_gain != 0 {
        let g = 10f32.powf(f32::from(head.output_gain) / 256.0 / 20.0);
        samples.iter_mut().for_each(|s| *s *= g);
    }
    Ok(DecodedOpus { head, samples })
}

/// Writes mono 48 kHz samples as a 16-bit WAV file.
pub fn write_wav(path: &Path, samples: &[f32]) -> Result<(), MediaError> {
    let err = |e| MediaError::new(path, MediaErrorKind::Wav(e));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    for &s in samples {
        w.write_sample(to_i16(s)).map_err(err)?;
    }
    w.finalize().map_err(err)
}

/// Converts a sample to 16 bits, clamping.
pub fn to_i16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

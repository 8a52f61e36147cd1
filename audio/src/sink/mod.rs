//! Where decoded audio goes: one small trait and backends chosen by name.
//!
//! | name | backend | |
//! |---|---|---|
//! | `cpal` | a real sound device (ALSA on Linux) | `cpal` or `cpal:DEVICE`, e.g. `cpal:hw:0,0` |
//! | `wav` | a WAV file | `wav:PATH` |
//! | `wav-rt` | a WAV file written at the pace of a real device (48,000 samples a second, 100 ms ahead), so what plays can be interrupted as on hardware | `wav-rt:PATH` |
//! | `null` | discards audio, counting it | `null` |
//!
//! `wav` and `null` are always available, so everything above the sink can be tested
//! without hardware. All sinks take mono 48 kHz `f32` samples.

pub(crate) mod cpal_sink;
mod volume;

pub use cpal_sink::{CpalSink, CpalStats, output_devices};
pub use volume::VolumeRamp;

use std::path::{Path, PathBuf};

/// Backend names, for help texts and configuration checks.
pub const BACKENDS: &[&str] = &["cpal", "wav", "wav-rt", "null"];

/// Why a sink failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink name is not one of [`BACKENDS`].
    #[error("unknown sink {0:?}: use cpal[:DEVICE], wav:PATH, wav-rt:PATH or null")]
    UnknownBackend(String),
    /// `wav` without a path.
    #[error("the wav sink needs a path: wav:PATH")]
    MissingPath,
    /// No such output device.
    #[error("no output device named {0:?} (list them with `dalaba-audio devices`)")]
    NoDevice(String),
    /// The device cannot play mono or stereo at 48 kHz.
    #[error("device {device:?} cannot play 48 kHz audio in a format we support")]
    NoSupportedConfig {
        /// The device.
        device: String,
    },
    /// The audio backend failed (device lost, stream could not be built or started).
    #[error("audio device {device:?}: {source}")]
    Device {
        /// The device.
        device: String,
        /// What cpal reported.
        #[source]
        source: cpal::Error,
    },
    /// The device reported an error while playing (unplugged, driver failure).
    #[error("audio device {device:?} failed while playing: {message}")]
    Stream {
        /// The device.
        device: String,
        /// What the backend said.
        message: String,
    },
    /// The WAV file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Wav {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: hound::Error,
    },
}

/// A place to play mono 48 kHz audio.
pub trait Sink: Send {
    /// Plays `samples`, blocking while the sink's buffer is full.
    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError>;
    /// Plays everything written so far to the end, then releases the output.
    fn finish(&mut self) -> Result<(), SinkError>;
    /// The backend's name.
    fn backend(&self) -> &'static str;
    /// Times the device found no audio ready while audio was being written (gaps heard as
    /// silence). Always 0 for sinks without a clock of their own.
    fn underruns(&self) -> u64 {
        0
    }
}

/// Which sink to open, parsed from `cpal[:DEVICE]`, `wav:PATH` or `null`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkSpec {
    /// A sound device; `None` is the system default.
    Cpal {
        /// Device name.
        device: Option<String>,
    },
    /// A WAV file.
    Wav {
        /// Its path.
        path: PathBuf,
    },
    /// A WAV file written in real time (paced like a device).
    WavRealTime {
        /// Its path.
        path: PathBuf,
    },
    /// Nowhere.
    Null,
}

impl std::str::FromStr for SinkSpec {
    type Err = SinkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        match (name, arg) {
            ("cpal", device) => Ok(Self::Cpal {
                device: device.filter(|d| !d.is_empty()).map(str::to_owned),
            }),
            ("wav", Some(path)) if !path.is_empty() => Ok(Self::Wav { path: path.into() }),
            ("wav-rt", Some(path)) if !path.is_empty() => {
                Ok(Self::WavRealTime { path: path.into() })
            }
            ("wav" | "wav-rt", _) => Err(SinkError::MissingPath),
            ("null", None) => Ok(Self::Null),
            _ => Err(SinkError::UnknownBackend(s.to_owned())),
        }
    }
}

impl SinkSpec {
    /// Opens the sink.
    pub fn open(&self) -> Result<Box<dyn Sink>, SinkError> {
        Ok(match self {
            Self::Cpal { device } => Box::new(CpalSink::open(device.as_deref())?),
            Self::Wav { path } => Box::new(WavSink::create(path)?),
            Self::WavRealTime { path } => Box::new(
                Paced::new(WavSink::create(path)?)
                    .with_start_log(&path.with_extension("starts"))?,
            ),
            Self::Null => Box::new(NullSink::default()),
        })
    }
}

/// Paces another sink like a sound device: the device starts playing [`Paced::START`]
/// after the first write (an ALSA start threshold of one period) and then plays 48,000
/// samples a second; `write` returns once the audio written is at most [`Paced::LEAD`]
/// ahead of what is playing. A write that comes after its first sample was due to play is
/// an underrun: counted, and the device restarts [`Paced::START`] later, as ALSA does
/// after an xrun.
///
/// So sample `i` of a run without underruns plays at *first write* + `START` +
/// `i` / 48 kHz: benchmarks read play times off the written file. With
/// [`Paced::with_start_log`] (the `wav-rt` sink: `<file>.starts` beside the WAV) each
/// (re)start is also written down as a line `<unix µs> <sample>`: the wall-clock time at
/// which that sample plays, so a test can tell when any sample of the file sounded.
pub struct Paced<S> {
    inner: S,
    /// Sample `anchor.1` plays at `anchor.0`.
    anchor: Option<(std::time::Instant, u64)>,
    written: u64,
    underruns: u64,
    starts: Option<(PathBuf, std::fs::File)>,
}

impl<S> std::fmt::Debug for Paced<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paced")
            .field("written", &self.written)
            .field("underruns", &self.underruns)
            .finish_non_exhaustive()
    }
}

impl<S: Sink> Paced<S> {
    /// How far ahead of the clock audio may be written (a device's buffer).
    pub const LEAD: std::time::Duration = std::time::Duration::from_millis(100);
    /// How long after a (re)start's first write the device begins to play.
    pub const START: std::time::Duration = std::time::Duration::from_millis(20);

    /// Paces `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            anchor: None,
            written: 0,
            underruns: 0,
            starts: None,
        }
    }

    /// Also writes each (re)start of the device to `path`: a line `<unix µs> <sample>`.
    pub fn with_start_log(mut self, path: &Path) -> Result<Self, SinkError> {
        let file = std::fs::File::create(path).map_err(|e| SinkError::Wav {
            path: path.to_owned(),
            source: hound::Error::IoError(e),
        })?;
        self.starts = Some((path.to_owned(), file));
        Ok(self)
    }

    fn log_start(&mut self, sample: u64) -> Result<(), SinkError> {
        use std::io::Write as _;
        let Some((path, file)) = &mut self.starts else {
            return Ok(());
        };
        let at = std::time::SystemTime::now() + Self::START;
        let us = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        writeln!(file, "{us} {sample}").map_err(|e| SinkError::Wav {
            path: path.clone(),
            source: hound::Error::IoError(e),
        })
    }

    /// When sample `index` plays.
    fn play_time(anchor: (std::time::Instant, u64), index: u64) -> std::time::Instant {
        let ahead = index.saturating_sub(anchor.1);
        anchor.0
            + std::time::Duration::from_micros(ahead * 1_000_000 / u64::from(crate::SAMPLE_RATE))
    }
}

impl<S: Sink> Sink for Paced<S> {
    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        let now = std::time::Instant::now();
        let anchor = match self.anchor {
            None => (now + Self::START, self.written),
            Some(a) if now > Self::play_time(a, self.written) => {
                // The device ran dry before these samples came: it stopped, and starts
                // again once it has a period.
                self.underruns += 1;
                (now + Self::START, self.written)
            }
            Some(a) => a,
        };
        if self.anchor != Some(anchor) {
            self.log_start(anchor.1)?;
        }
        self.anchor = Some(anchor);
        self.inner.write(samples)?;
        self.written += samples.len() as u64;
        // Block like a device whose buffer is full: the device's clock sets the pace.
        let due = Self::play_time(anchor, self.written);
        if let Some(wait) = due
            .checked_sub(Self::LEAD)
            .map(|t| t.saturating_duration_since(std::time::Instant::now()))
            .filter(|w| !w.is_zero())
        {
            std::thread::sleep(wait);
        }
        Ok(())
    }

    fn underruns(&self) -> u64 {
        self.underruns
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.inner.finish()
    }

    fn backend(&self) -> &'static str {
        "wav-rt"
    }
}

/// Discards audio, counting samples.
#[derive(Debug, Default)]
pub struct NullSink {
    /// Samples written.
    pub samples: u64,
}

impl Sink for NullSink {
    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        self.samples += samples.len() as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "null"
    }
}

/// Writes audio to a 16-bit mono 48 kHz WAV file (valid after [`Sink::finish`]).
pub struct WavSink {
    path: PathBuf,
    writer: Option<hound::WavWriter<std::io::BufWriter<std::fs::File>>>,
}

impl std::fmt::Debug for WavSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSink")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WavSink {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: crate::SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(|source| SinkError::Wav {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            writer: Some(writer),
        })
    }
}

impl Sink for WavSink {
    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        for &s in samples {
            w.write_sample(crate::transcode::to_i16(s))
                .map_err(|source| SinkError::Wav {
                    path: self.path.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if let Some(w) = self.writer.take() {
            w.finalize().map_err(|source| SinkError::Wav {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "wav"
    }
}

impl Drop for WavSink {
    fn drop(&mut self) {
        // Best effort: a WAV header with the right length even if finish() was not called.
        if let Some(w) = self.writer.take() {
            let _ = w.finalize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_sink_takes_as_long_as_the_audio_less_its_lead() {
        let mut sink = Paced::new(NullSink::default());
        let t = std::time::Instant::now();
        for _ in 0..25 {
            sink.write(&[0.0; 960]).unwrap(); // 25 × 20 ms = 500 ms of audio
        }
        let took = t.elapsed();
        assert!(took >= std::time::Duration::from_millis(410), "{took:?}");
        assert_eq!(sink.underruns(), 0, "written ahead, never dry");
    }

    #[test]
    fn a_paced_sink_counts_a_writer_that_falls_behind() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("out.starts");
        let before = std::time::SystemTime::now();
        let mut sink = Paced::new(NullSink::default())
            .with_start_log(&log)
            .unwrap();
        sink.write(&[0.0; 480]).unwrap(); // 10 ms, playing 20 ms from now until 30 ms
        // Simulates a writer that stalls (the device runs dry meanwhile).
        std::thread::sleep(std::time::Duration::from_millis(60));
        sink.write(&[0.0; 480]).unwrap();
        assert_eq!(sink.underruns(), 1);
        sink.write(&[0.0; 480]).unwrap(); // straight after: the restarted device has room
        assert_eq!(sink.underruns(), 1);
        // Both starts are logged: when sample 0 and sample 480 began to play.
        let starts: Vec<(u128, u64)> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| {
                let (t, i) = l.split_once(' ').unwrap();
                (t.parse().unwrap(), i.parse().unwrap())
            })
            .collect();
        assert_eq!(starts.iter().map(|s| s.1).collect::<Vec<_>>(), [0, 480]);
        let t0 = before
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros();
        assert!(starts[0].0 >= t0 + 20_000, "{starts:?}");
        assert!(starts[1].0 >= starts[0].0 + 60_000, "{starts:?}");
    }

    #[test]
    fn specs_parse_by_name() {
        assert_eq!("null".parse::<SinkSpec>().ok(), Some(SinkSpec::Null));
        assert_eq!(
            "cpal".parse::<SinkSpec>().ok(),
            Some(SinkSpec::Cpal { device: None })
        );
        assert_eq!(
            "cpal:hw:0,0".parse::<SinkSpec>().ok(),
            Some(SinkSpec::Cpal {
                device: Some("hw:0,0".into())
            })
        );
        assert_eq!(
            "wav:/tmp/x.wav".parse::<SinkSpec>().ok(),
            Some(SinkSpec::Wav {
                path: "/tmp/x.wav".into()
            })
        );
        assert!(matches!(
            "wav".parse::<SinkSpec>(),
            Err(SinkError::MissingPath)
        ));
        assert_eq!(
            "wav-rt:/tmp/x.wav".parse::<SinkSpec>().ok(),
            Some(SinkSpec::WavRealTime {
                path: "/tmp/x.wav".into()
            })
        );
        assert!(matches!(
            "pulse".parse::<SinkSpec>(),
            Err(SinkError::UnknownBackend(_))
        ));
        assert!(matches!(
            "null:x".parse::<SinkSpec>(),
            Err(SinkError::UnknownBackend(_))
        ));
    }
}

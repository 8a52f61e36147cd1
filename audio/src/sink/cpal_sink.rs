//! The real sound device, through cpal (ALSA on Linux).
//!
//! The writer pushes mono samples into a lock-free ring buffer; the audio callback only
//! copies from it into the device's buffer (duplicating mono into every channel, converting
//! to the device's sample format) and writes silence on underrun. Decoding and waiting
//! happen on the writer's side, never in the callback.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use super::{Sink, SinkError};
use crate::SAMPLE_RATE;

/// Ring buffer between writer and callback: 250 ms.
const RING_SAMPLES: usize = SAMPLE_RATE as usize / 4;
/// Silence written after the last sample so the device plays out its own buffer.
const TAIL_SAMPLES: usize = SAMPLE_RATE as usize / 5;
/// A device whose callback makes no progress for this long is considered stalled.
const STALL: Duration = Duration::from_secs(2);

/// What the callback has done, readable while playing.
#[derive(Debug, Default)]
pub struct CpalStats {
    /// Mono samples copied to the device.
    pub samples_played: AtomicU64,
    /// Callbacks that found the ring buffer short while audio was being written.
    pub underruns: AtomicU64,
    started: AtomicBool,
}

/// A cpal output stream fed through a ring buffer.
pub struct CpalSink {
    device: String,
    stream: Option<cpal::Stream>,
    producer: HeapProd<f32>,
    stats: Arc<CpalStats>,
    error: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for CpalSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpalSink")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// Output devices of the default host: `(name, description)`. The name is what
/// `cpal:NAME` takes.
pub fn output_devices() -> Result<Vec<(String, String)>, SinkError> {
    list_devices(Direction::Output)
}

/// Devices of the default host in `direction`: `(name, description)`.
pub(crate) fn list_devices(direction: Direction) -> Result<Vec<(String, String)>, SinkError> {
    let host = cpal::default_host();
    let err = |source| SinkError::Device {
        device: "(enumerating)".into(),
        source,
    };
    let devices: Vec<cpal::Device> = match direction {
        Direction::Output => host.output_devices().map_err(err)?.collect(),
        Direction::Input => host.input_devices().map_err(err)?.collect(),
    };
    Ok(devices
        .iter()
        .map(|d| {
            let name = d.id().map_or_else(|_| "?".into(), |id| id.id().to_string());
            let desc = d
                .description()
                .map_or_else(|_| String::new(), |x| x.to_string());
            (name, desc)
        })
        .collect())
}

/// Which way a device is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Output,
    Input,
}

/// The device called `name` (an id or a description's name; `None`: the default).
pub(crate) fn find_device(
    host: &cpal::Host,
    name: Option<&str>,
    direction: Direction,
) -> Result<cpal::Device, SinkError> {
    let default = || match direction {
        Direction::Output => host.default_output_device(),
        Direction::Input => host.default_input_device(),
    };
    match name {
        None | Some("default") => default().ok_or_else(|| SinkError::NoDevice("default".into())),
        Some(name) => {
            let id = cpal::DeviceId::new(host.id(), name);
            let listed = || match direction {
                Direction::Output => host.output_devices().ok().map(|d| d.collect::<Vec<_>>()),
                Direction::Input => host.input_devices().ok().map(|d| d.collect::<Vec<_>>()),
            };
            host.device_by_id(&id)
                .or_else(|| {
                    listed()?
                        .into_iter()
                        .find(|d| d.description().is_ok_and(|x| x.name() == name))
                })
                .ok_or_else(|| SinkError::NoDevice(name.to_owned()))
        }
    }
}

/// The best 48 kHz configuration among `ranges`: mono before stereo, `f32` before `i16`.
pub(crate) fn best_config(
    ranges: impl Iterator<Item = cpal::SupportedStreamConfigRange>,
) -> Option<(u16, SampleFormat)> {
    let mut best: Option<(u16, SampleFormat)> = None;
    for range in ranges {
        let rate_ok = (range.min_sample_rate()..=range.max_sample_rate()).contains(&SAMPLE_RATE);
        let format_ok = matches!(range.sample_format(), SampleFormat::F32 | SampleFormat::I16);
        if !rate_ok || !format_ok || !(1..=2).contains(&range.channels()) {
            continue;
        }
        let candidate = (range.channels(), range.sample_format());
        let score =
            |(ch, fmt): (u16, SampleFormat)| (ch == 1) as u8 * 2 + (fmt == SampleFormat::F32) as u8;
        if best.is_none_or(|b| score(candidate) > score(b)) {
            best = Some(candidate);
        }
    }
    best
}

impl CpalSink {
    /// Opens the device `name` (`None`: the default) at 48 kHz and starts it (playing
    /// silence until samples are written).
    pub fn open(name: Option<&str>) -> Result<Self, SinkError> {
        let host = cpal::default_host();
        let device = find_device(&host, name, Direction::Output)?;
        let label = name.unwrap_or("default").to_owned();
        let dev_err = |source| SinkError::Device {
            device: label.clone(),
            source,
        };
        let (channels, format) = best_config(device.supported_output_configs().map_err(dev_err)?)
            .ok_or_else(|| SinkError::NoSupportedConfig {
            device: label.clone(),
        })?;
        let config = StreamConfig {
            channels,
            sample_rate: SAMPLE_RATE,
            buffer_size: cpal::BufferSize::Default,
        };
        let (producer, consumer) = HeapRb::<f32>::new(RING_SAMPLES).split();
        let stats = Arc::new(CpalStats::default());
        let error = Arc::new(Mutex::new(None));
        let stream = match format {
            SampleFormat::F32 => build::<f32>(&device, &config, consumer, &stats, &error),
            _ => build::<i16>(&device, &config, consumer, &stats, &error),
        }
        .map_err(dev_err)?;
        stream.play().map_err(dev_err)?;
        Ok(Self {
            device: label,
            stream: Some(stream),
            producer,
            stats,
            error,
        })
    }

    /// Playback statistics.
    pub fn stats(&self) -> &CpalStats {
        &self.stats
    }

    fn check_error(&self) -> Result<(), SinkError> {
        let message = self.error.lock().map(|e| e.clone()).unwrap_or_default();
        match message {
            Some(message) => Err(SinkError::Stream {
                device: self.device.clone(),
                message,
            }),
            None => Ok(()),
        }
    }

    /// Pushes all of `samples`, waiting for room; fails if the device stalls or errs.
    fn push_all(&mut self, mut samples: &[f32]) -> Result<(), SinkError> {
        let mut last_progress = Instant::now();
        let mut played = self.stats.samples_played.load(Ordering::Relaxed);
        while !samples.is_empty() {
            let n = self.producer.push_slice(samples);
            samples = &samples[n..];
            if samples.is_empty() {
                break;
            }
            self.check_error()?;
            let now_played = self.stats.samples_played.load(Ordering::Relaxed);
            if n > 0 || now_played != played {
                played = now_played;
                last_progress = Instant::now();
            } else if last_progress.elapsed() > STALL {
                return Err(SinkError::Stream {
                    device: self.device.clone(),
                    message: "the device stopped consuming audio".into(),
                });
            }
            // Room appears as the callback consumes: wait about a quarter of the ring.
            std::thread::park_timeout(Duration::from_millis(10));
        }
        self.stats.started.store(true, Ordering::Relaxed);
        Ok(())
    }
}

fn build<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    mut consumer: HeapCons<f32>,
    stats: &Arc<CpalStats>,
    error: &Arc<Mutex<Option<String>>>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels);
    let stats = Arc::clone(stats);
    let error = Arc::clone(error);
    // Allocated once, here; the callback never allocates.
    let mut scratch = vec![0.0f32; SAMPLE_RATE as usize];
    device.build_output_stream(
        *config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            let frames = (data.len() / channels).min(scratch.len());
            let got = consumer.pop_slice(&mut scratch[..frames]);
            scratch[got..frames].fill(0.0);
            for (frame, &s) in data.chunks_mut(channels).zip(&scratch[..frames]) {
                frame.fill(T::from_sample(s));
            }
            stats
                .samples_played
                .fetch_add(got as u64, Ordering::Relaxed);
            if got < frames && stats.started.load(Ordering::Relaxed) {
                stats.underruns.fetch_add(1, Ordering::Relaxed);
            }
        },
        move |e: cpal::Error| {
            if let Ok(mut slot) = error.lock() {
                *slot = Some(e.to_string());
            }
        },
        None,
    )
}

impl Sink for CpalSink {
    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        self.check_error()?;
        self.push_all(samples)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if self.stream.is_none() {
            return Ok(());
        }
        // A tail of silence pushes the last real samples through the device's own buffer.
        self.push_all(&[0.0; TAIL_SAMPLES])?;
        // From here on an empty ring is the end, not an underrun.
        self.stats.started.store(false, Ordering::Relaxed);
        let mut last_progress = Instant::now();
        let mut played = self.stats.samples_played.load(Ordering::Relaxed);
        while !self.producer.is_empty() {
            self.check_error()?;
            let now_played = self.stats.samples_played.load(Ordering::Relaxed);
            if now_played != played {
                played = now_played;
                last_progress = Instant::now();
            } else if last_progress.elapsed() > STALL {
                break;
            }
            std::thread::park_timeout(Duration::from_millis(10));
        }
        self.stream = None;
        self.check_error()
    }

    fn backend(&self) -> &'static str {
        "cpal"
    }

    fn underruns(&self) -> u64 {
        self.stats.underruns.load(Ordering::Relaxed)
    }
}

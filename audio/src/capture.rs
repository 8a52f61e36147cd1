//! Microphone capture through cpal (ALSA on Linux): mono 48 kHz `f32`, the format the
//! live path encodes. The device's callback only downmixes and copies into a ring buffer
//! allocated up front; [`CpalCapture::read`] takes what has arrived.

use std::sync::{Arc, Mutex};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};
use ringbuf::traits::{Consumer, Producer, Split};
use ringbuf::{HeapCons, HeapRb};

use crate::SAMPLE_RATE;
use crate::sink::SinkError;
use crate::sink::cpal_sink::{Direction, best_config, find_device, list_devices};

/// One second of audio: how far capture may run ahead of the reader before samples are
/// dropped (and counted).
const RING_SAMPLES: usize = SAMPLE_RATE as usize;

/// A capture device, recording.
pub struct CpalCapture {
    device: String,
    _stream: cpal::Stream,
    consumer: HeapCons<f32>,
    error: Arc<Mutex<Option<String>>>,
    overruns: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for CpalCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpalCapture")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// Input devices of the default host: `(name, description)`.
pub fn input_devices() -> Result<Vec<(String, String)>, SinkError> {
    list_devices(Direction::Input)
}

impl CpalCapture {
    /// Opens input device `name` (`None`: the default) at 48 kHz and starts recording.
    pub fn open(name: Option<&str>) -> Result<Self, SinkError> {
        let host = cpal::default_host();
        let device = find_device(&host, name, Direction::Input)?;
        let label = name.unwrap_or("default").to_owned();
        let dev_err = |source| SinkError::Device {
            device: label.clone(),
            source,
        };
        let (channels, format) = best_config(device.supported_input_configs().map_err(dev_err)?)
            .ok_or_else(|| SinkError::NoSupportedConfig {
                device: label.clone(),
            })?;
        let config = StreamConfig {
            channels,
            sample_rate: SAMPLE_RATE,
            buffer_size: cpal::BufferSize::Default,
        };
        let (producer, consumer) = HeapRb::<f32>::new(RING_SAMPLES).split();
        let error = Arc::new(Mutex::new(None));
        let overruns = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stream = match format {
            SampleFormat::F32 => build::<f32>(&device, &config, producer, &error, &overruns),
            _ => build::<i16>(&device, &config, producer, &error, &overruns),
        }
        .map_err(dev_err)?;
        stream.play().map_err(dev_err)?;
        Ok(Self {
            device: label,
            _stream: stream,
            consumer,
            error,
            overruns,
        })
    }

    /// Moves what has been captured into `out` (appending); how many samples.
    pub fn read(&mut self, out: &mut Vec<f32>) -> usize {
        let before = out.len();
        out.extend(self.consumer.pop_iter());
        out.len() - before
    }

    /// The device's error, if it failed (unplugged, for example).
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }

    /// Samples dropped because nobody read them in time.
    pub fn overruns(&self) -> u64 {
        self.overruns.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn build<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    mut producer: ringbuf::HeapProd<f32>,
    error: &Arc<Mutex<Option<String>>>,
    overruns: &Arc<std::sync::atomic::AtomicU64>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels);
    let error = Arc::clone(error);
    let overruns = Arc::clone(overruns);
    device.build_input_stream(
        *config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            for frame in data.chunks(channels) {
                let mono =
                    frame.iter().map(|s| s.to_sample::<f32>()).sum::<f32>() / channels as f32;
                if producer.try_push(mono).is_err() {
                    overruns.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
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

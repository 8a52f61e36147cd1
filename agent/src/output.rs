//! Sound output on the agent: the volume actually used for a broadcast, and a sink that
//! survives the loss of its device.

use std::time::{Duration, Instant};

use dalaba_audio::sink::{Sink, SinkError, SinkSpec};
use dalaba_firmware_config::{Audio, TimeOfDay};
use dalaba_protocol::{Priority, Volume};

/// The volume for a broadcast of `priority` that asks for `requested` (or the base volume),
/// at local time `now`: the per-priority cap and the quiet-hours cap apply, except to
/// emergencies, which ignore both.
pub fn effective_volume(
    audio: &Audio,
    priority: Priority,
    requested: Option<Volume>,
    now: TimeOfDay,
) -> Volume {
    let wanted = requested.unwrap_or(audio.volume);
    if priority == Priority::Emergency {
        return wanted;
    }
    let mut volume = wanted;
    if let Some(cap) = audio.caps.for_priority(priority) {
        volume = volume.min(cap);
    }
    if let Some(q) = audio.quiet_hours.filter(|q| q.contains(now)) {
        volume = volume.min(q.max_volume);
    }
    volume
}

/// The local time of day at controller time `t`. Dalaba's deployments are in China, so
/// local time is UTC+8 (Asia/Shanghai has no daylight saving).
pub fn local_time_of_day(t: dalaba_protocol::Timestamp) -> TimeOfDay {
    let minutes = (t.as_micros() / 60_000_000 + 8 * 60) % (24 * 60);
    TimeOfDay(minutes as u16)
}

/// Opens a sink; [`ResilientSink`] calls it again after a failure. A function so tests can
/// substitute a failing one.
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn Sink>, SinkError> + Send>;

/// A sink that notices when its device fails (unplugged USB sound card, driver error),
/// reports it, and reopens the device, at most once per `retry` interval. Audio written
/// while the device is down is dropped (the live path conceals; stored media is replayed
/// by its owner), never queued without bound.
pub struct ResilientSink {
    open: Opener,
    sink: Option<Box<dyn Sink>>,
    retry: Duration,
    next_attempt: Option<Instant>,
    last_error: Option<String>,
    failures: u64,
    dropped_samples: u64,
}

impl std::fmt::Debug for ResilientSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResilientSink")
            .field("open", &self.sink.is_some())
            .field("last_error", &self.last_error)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl ResilientSink {
    /// A sink for `spec`, reopened at most every `retry` after a failure.
    pub fn for_spec(spec: SinkSpec, retry: Duration) -> Self {
        Self::new(Box::new(move || spec.open()), retry)
    }

    /// A sink made by `open`.
    pub fn new(open: Opener, retry: Duration) -> Self {
        Self {
            open,
            sink: None,
            retry,
            next_attempt: None,
            last_error: None,
            failures: 0,
            dropped_samples: 0,
        }
    }

    /// Plays `samples` at `now` (the caller's clock). Returns whether they reached a device.
    pub fn write(&mut self, samples: &[f32], now: Instant) -> bool {
        if self.sink.is_none() {
            if self.next_attempt.is_some_and(|t| now < t) {
                self.dropped_samples += samples.len() as u64;
                return false;
            }
            match (self.open)() {
                Ok(sink) => {
                    self.sink = Some(sink);
                    self.next_attempt = None;
                }
                Err(e) => {
                    self.fail(e, now);
                    self.dropped_samples += samples.len() as u64;
                    return false;
                }
            }
        }
        let result = self.sink.as_mut().map(|s| s.write(samples));
        match result {
            Some(Ok(())) => {
                self.last_error = None;
                true
            }
            Some(Err(e)) => {
                self.sink = None;
                self.fail(e, now);
                self.dropped_samples += samples.len() as u64;
                false
            }
            None => false,
        }
    }

    fn fail(&mut self, e: SinkError, now: Instant) {
        self.failures += 1;
        self.last_error = Some(e.to_string());
        self.next_attempt = Some(now + self.retry);
    }

    /// Plays out what was written and releases the device.
    pub fn finish(&mut self) {
        if let Some(mut sink) = self.sink.take() {
            if let Err(e) = sink.finish() {
                self.failures += 1;
                self.last_error = Some(e.to_string());
            }
        }
    }

    /// The error that is still current, for status (`None` once audio flows again).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Device failures since start.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Samples dropped while the device was down.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped_samples
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use dalaba_firmware_config::{QuietHours, VolumeCaps};

    use super::*;

    fn v(p: u8) -> Volume {
        Volume::new(p).expect("valid")
    }

    fn t(s: &str) -> TimeOfDay {
        TimeOfDay::parse(s).expect("valid")
    }

    fn audio() -> Audio {
        Audio {
            device: "null".into(),
            volume: v(80),
            caps: VolumeCaps {
                live: v(90),
                scheduled: v(70),
                background: v(40),
            },
            quiet_hours: Some(QuietHours {
                start: t("22:00"),
                end: t("06:00"),
                max_volume: v(20),
            }),
        }
    }

    #[test]
    fn caps_and_quiet_hours_table() {
        use Priority::*;
        let a = audio();
        let check = |priority, requested: Option<u8>, time: &str, expected: u8| {
            let got = effective_volume(&a, priority, requested.map(v), t(time));
            assert_eq!(
                got,
                v(expected),
                "{priority:?} asking {requested:?} at {time}"
            );
        };
        check(Scheduled, None, "12:00", 70); // base 80, capped at 70
        check(Scheduled, Some(50), "12:00", 50);
        check(Live, Some(100), "12:00", 90);
        check(Background, None, "12:00", 40);
        check(Scheduled, None, "23:00", 20); // quiet hours
        check(Live, Some(100), "05:59", 20);
        check(Live, Some(100), "06:00", 90); // quiet hours over
        check(Emergency, Some(100), "03:00", 100); // ignores caps and quiet hours
        check(Emergency, None, "03:00", 80);
    }

    struct Flaky {
        fail_writes: Arc<Mutex<u32>>,
        written: Arc<Mutex<usize>>,
    }

    impl Sink for Flaky {
        fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
            let mut f = self.fail_writes.lock().expect("lock");
            if *f > 0 {
                *f -= 1;
                return Err(SinkError::Stream {
                    device: "hw:1".into(),
                    message: "device unplugged".into(),
                });
            }
            *self.written.lock().expect("lock") += samples.len();
            Ok(())
        }
        fn finish(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        fn backend(&self) -> &'static str {
            "flaky"
        }
    }

    #[test]
    fn device_loss_is_reported_and_the_device_reopened() {
        let fail_writes = Arc::new(Mutex::new(0));
        let fail_opens = Arc::new(Mutex::new(0u32));
        let written = Arc::new(Mutex::new(0));
        let opens = Arc::new(Mutex::new(0u32));
        let opener: Opener = {
            let (fail_writes, fail_opens, written, opens) = (
                Arc::clone(&fail_writes),
                Arc::clone(&fail_opens),
                Arc::clone(&written),
                Arc::clone(&opens),
            );
            Box::new(move || {
                *opens.lock().expect("lock") += 1;
                let mut f = fail_opens.lock().expect("lock");
                if *f > 0 {
                    *f -= 1;
                    return Err(SinkError::NoDevice("hw:1".into()));
                }
                Ok(Box::new(Flaky {
                    fail_writes: Arc::clone(&fail_writes),
                    written: Arc::clone(&written),
                }) as Box<dyn Sink>)
            })
        };
        let mut sink = ResilientSink::new(opener, Duration::from_secs(2));
        let t0 = Instant::now();
        assert!(sink.write(&[0.0; 960], t0));

        // The device goes away mid-stream, and does not come back at once.
        *fail_writes.lock().expect("lock") = 1;
        *fail_opens.lock().expect("lock") = 1;
        assert!(!sink.write(&[0.0; 960], t0));
        assert_eq!(
            sink.last_error(),
            Some("audio device \"hw:1\" failed while playing: device unplugged")
        );
        assert!(
            !sink.write(&[0.0; 960], t0 + Duration::from_secs(1)),
            "no reopen before the retry interval"
        );
        assert_eq!(*opens.lock().expect("lock"), 1);
        assert!(
            !sink.write(&[0.0; 960], t0 + Duration::from_secs(2)),
            "reopen fails once"
        );
        assert!(
            sink.last_error()
                .is_some_and(|e| e.contains("no output device named \"hw:1\""))
        );
        assert!(
            sink.write(&[0.0; 960], t0 + Duration::from_secs(4)),
            "recovered"
        );
        assert_eq!(sink.last_error(), None);
        assert_eq!((sink.failures(), sink.dropped_samples()), (2, 3 * 960));
        assert_eq!(*written.lock().expect("lock"), 2 * 960);
        assert_eq!(*opens.lock().expect("lock"), 3);
    }
}

//! The checked configuration. Every value here has been validated; defaults are filled in.

use std::path::PathBuf;
use std::time::Duration;

use dalaba_protocol::keys::PublicKey;
use dalaba_protocol::{AgentId, AreaCode, Priority, Volume};
use toml::Spanned;

use crate::error::{ConfigError, FieldError, Problem};
use crate::raw::{Field, RawConfig};

/// Default base volume, percent.
pub const DEFAULT_VOLUME: u8 = 80;
/// Default volume caps: live 100, scheduled 80, background 60 (emergency has none).
pub const DEFAULT_CAPS: (u8, u8, u8) = (100, 80, 60);
/// Default serial speed for relay boards.
pub const DEFAULT_BAUD: u32 = 9600;
/// Default amplifier warm-up, ms.
pub const DEFAULT_WARM_UP_MS: u64 = 1500;
/// Default hold after the last audio, ms.
pub const DEFAULT_HOLD_MS: u64 = 5000;
/// Default longest time a relay may stay on, s (2 hours).
pub const DEFAULT_MAX_ON_S: u64 = 7200;
/// `controller.reconnect_max_s` when not set.
pub const DEFAULT_RECONNECT_MAX_S: u64 = 60;
/// Default cache directory.
pub const DEFAULT_CACHE_DIR: &str = "/var/lib/dalaba/cache";
/// Default cache size, MiB.
pub const DEFAULT_CACHE_MB: u64 = 1024;

/// A speaker terminal's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Who this terminal is.
    pub identity: Identity,
    /// The controller it talks to.
    pub controller: Controller,
    /// Sound output.
    pub audio: Audio,
    /// The amplifier's power relays.
    pub relay: Relay,
    /// The media cache.
    pub cache: Cache,
    /// Whether to play the stored schedule when the controller is unreachable.
    pub offline_schedule: bool,
    /// What the agent logs, and how.
    pub log: Log,
}

/// `[log]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log {
    /// A level or filter directives (`info`, `info,dalaba_agent=debug`); `RUST_LOG` wins.
    pub level: String,
    /// Lines for people (`text`) or for a log collector (`json`).
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Plain text (the journal adds the time and unit).
    Text,
    /// One JSON object per line.
    Json,
}

/// `[identity]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The id the controller assigned (absent until the installer has one).
    pub agent_id: Option<AgentId>,
    /// Where the speaker is: 12-digit area code.
    pub area_code: AreaCode,
    /// A human name for the pole, e.g. `东村村委会`.
    pub name: Option<String>,
}

/// `[controller]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controller {
    /// `wss://host[:port]/path` of the agent endpoint.
    pub url: url::Url,
    /// The controller's Ed25519 command key, pinned.
    pub public_key: PublicKey,
    /// SHA-256 of the controller's TLS certificate (DER), pinned; required for `wss`.
    pub tls_fingerprint: Option<[u8; 32]>,
    /// One-time enrolment token, for the first connection.
    pub enrolment_token: Option<String>,
    /// The longest wait between reconnection attempts (before jitter): the agent starts
    /// at 1 s and doubles up to this.
    pub reconnect_max: Duration,
}

/// `[audio]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audio {
    /// Output device: a sink spec, `cpal`, `cpal:DEVICE`, `wav:PATH`, `wav-rt:PATH` or `null`.
    pub device: String,
    /// Base volume.
    pub volume: Volume,
    /// Highest volume per priority (emergency is never capped).
    pub caps: VolumeCaps,
    /// Night-time cap for everything but emergencies.
    pub quiet_hours: Option<QuietHours>,
}

/// Volume caps per priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeCaps {
    /// Live calls.
    pub live: Volume,
    /// Scheduled programming.
    pub scheduled: Volume,
    /// Background content.
    pub background: Volume,
}

impl VolumeCaps {
    /// The cap for `priority`; `None` for emergencies, which are never capped.
    pub fn for_priority(&self, priority: Priority) -> Option<Volume> {
        match priority {
            Priority::Emergency => None,
            Priority::Live => Some(self.live),
            Priority::Scheduled => Some(self.scheduled),
            Priority::Background => Some(self.background),
        }
    }
}

/// A time of day, minutes after local midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(pub u16);

impl TimeOfDay {
    /// `HH:MM`.
    pub fn parse(text: &str) -> Option<Self> {
        let (h, m) = text.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(Self(h * 60 + m))
    }
}

impl std::fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// Quiet hours: from `start` to `end` local time (crossing midnight when `end < start`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    /// Start, local time.
    pub start: TimeOfDay,
    /// End, local time.
    pub end: TimeOfDay,
    /// Highest volume meanwhile (emergencies ignore it).
    pub max_volume: Volume,
}

impl QuietHours {
    /// Whether `time` falls in the quiet hours.
    pub fn contains(&self, time: TimeOfDay) -> bool {
        if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }
}

/// `[relay]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relay {
    /// No relay board: the amplifier is always powered.
    None,
    /// A relay board on a serial line.
    Board(RelayBoard),
}

/// A serial relay board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayBoard {
    /// Modbus RTU or LCUS.
    pub kind: BoardKind,
    /// Serial port, e.g. `/dev/ttyUSB0`.
    pub port: PathBuf,
    /// Serial speed.
    pub baud: u32,
    /// Channels (from 1) that power the amplifier(s).
    pub channels: Vec<u8>,
    /// Wait after switching on before audio starts.
    pub warm_up: Duration,
    /// Keep on after the last audio.
    pub hold: Duration,
    /// Never keep a relay on longer than this (watchdog).
    pub max_on: Duration,
}

/// The relay board's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardKind {
    /// Modbus RTU coils; the board's unit id.
    Modbus {
        /// Modbus unit (slave) id, 1 to 247.
        unit_id: u8,
    },
    /// LCUS USB relay board (`A0 ch state sum`).
    Lcus,
}

/// `[cache]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cache {
    /// Directory for media files.
    pub dir: PathBuf,
    /// Most bytes to use.
    pub max_bytes: u64,
}

/// Collects field errors while checking, so every error is reported at once.
pub(crate) struct Checker<'a> {
    source: &'a str,
    pub(crate) errors: Vec<FieldError>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        Self {
            source,
            errors: Vec::new(),
        }
    }

    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.source[..offset.min(self.source.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    }

    fn fail<T>(
        &mut self,
        field: &str,
        span: Option<std::ops::Range<usize>>,
        problem: Problem,
    ) -> Option<T> {
        let line = span.map(|s| self.line_of(s.start));
        self.errors.push(FieldError {
            field: field.to_owned(),
            line,
            problem,
        });
        None
    }

    /// A required field, converted by `f`.
    fn required<T, U>(
        &mut self,
        field: &str,
        value: &Field<T>,
        f: impl FnOnce(&T) -> Result<U, Problem>,
    ) -> Option<U> {
        match value {
            None => self.fail(field, None, Problem::Missing),
            Some(v) => self.convert(field, v, f),
        }
    }

    /// An optional field, converted by `f`; `default` when absent.
    fn optional<T, U>(
        &mut self,
        field: &str,
        value: &Field<T>,
        default: U,
        f: impl FnOnce(&T) -> Result<U, Problem>,
    ) -> Option<U> {
        match value {
            None => Some(default),
            Some(v) => self.convert(field, v, f),
        }
    }

    fn convert<T, U>(
        &mut self,
        field: &str,
        value: &Spanned<T>,
        f: impl FnOnce(&T) -> Result<U, Problem>,
    ) -> Option<U> {
        match f(value.get_ref()) {
            Ok(v) => Some(v),
            Err(p) => self.fail(field, Some(value.span()), p),
        }
    }
}

fn in_range(v: i64, min: i64, max: i64) -> Result<i64, Problem> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(Problem::Range { value: v, min, max })
    }
}

fn volume(v: &i64) -> Result<Volume, Problem> {
    in_range(*v, 0, 100).map(|v| Volume::new(v as u8).unwrap_or(Volume::MAX))
}

fn fingerprint(text: &str) -> Result<[u8; 32], Problem> {
    dalaba_protocol::keys::parse_tls_fingerprint(text).ok_or_else(|| {
        Problem::Invalid(
            "must be the SHA-256 of the certificate: 64 hex digits, colons allowed, optionally prefixed sha256:".into(),
        )
    })
}

impl Config {
    /// Checks a raw configuration; `source` is the file's text (for line numbers).
    pub(crate) fn check(raw: &RawConfig, source: &str) -> Result<Self, ConfigError> {
        let mut c = Checker::new(source);

        let id = &raw.identity;
        let agent_id = c.optional("identity.agent_id", &id.agent_id, None, |v| {
            v.parse::<AgentId>().map(Some).map_err(Problem::from_error)
        });
        let area_code = c.required("identity.area_code", &id.area_code, |v| {
            v.parse::<AreaCode>().map_err(Problem::from_error)
        });
        let name = id.name.as_ref().map(|n| n.get_ref().clone());

        let ctl = &raw.controller;
        let url = c.required("controller.url", &ctl.url, |v| {
            let url = url::Url::parse(v).map_err(Problem::from_error)?;
            match (url.scheme(), url.host_str()) {
                ("ws" | "wss", Some(_)) => Ok(url),
                _ => Err(Problem::Invalid(
                    "must be a ws:// or wss:// URL with a host, e.g. wss://county.example:8443/agent/ws".into(),
                )),
            }
        });
        let public_key = c.required("controller.public_key", &ctl.public_key, |v| {
            PublicKey::from_base64(v).map_err(Problem::from_error)
        });
        let tls_fingerprint = c.optional(
            "controller.tls_fingerprint",
            &ctl.tls_fingerprint,
            None,
            |v| fingerprint(v).map(Some),
        );
        if let (Some(url), Some(None)) = (&url, &tls_fingerprint) {
            if url.scheme() == "wss" {
                let span = ctl.url.as_ref().map(|u| u.span());
                c.fail::<()>(
                    "controller.tls_fingerprint",
                    span,
                    Problem::Invalid(
                        "required with a wss:// URL: the agent pins the controller's certificate"
                            .into(),
                    ),
                );
            }
        }
        let enrolment_token = c.optional(
            "controller.enrolment_token",
            &ctl.enrolment_token,
            None,
            |v| {
                if v.is_empty() || v.len() > 256 || v.chars().any(char::is_whitespace) {
                    Err(Problem::Invalid(
                        "must be 1 to 256 characters without spaces".into(),
                    ))
                } else {
                    Ok(Some(v.clone()))
                }
            },
        );
        let reconnect_max = c.optional(
            "controller.reconnect_max_s",
            &ctl.reconnect_max_s,
            DEFAULT_RECONNECT_MAX_S,
            |v| in_range(*v, 1, 600).map(|v| v as u64),
        );
        if matches!(agent_id, Some(None)) && matches!(enrolment_token, Some(None)) {
            c.fail::<()>(
                "controller.enrolment_token",
                None,
                Problem::Invalid(
                    "required while identity.agent_id is not set: a new terminal enrols with it"
                        .into(),
                ),
            );
        }

        let au = &raw.audio;
        let device = c.optional("audio.device", &au.device, "cpal".to_owned(), |v| {
            let ok = v == "cpal"
                || v == "null"
                || v.starts_with("cpal:")
                || v.strip_prefix("wav:").is_some_and(|p| !p.is_empty())
                || v.strip_prefix("wav-rt:").is_some_and(|p| !p.is_empty());
            if ok {
                Ok(v.clone())
            } else {
                Err(Problem::Invalid(
                    "must be cpal, cpal:DEVICE, wav:PATH, wav-rt:PATH or null".into(),
                ))
            }
        });
        let base = c.optional(
            "audio.volume",
            &au.volume,
            Volume::new(DEFAULT_VOLUME).unwrap_or(Volume::MAX),
            volume,
        );
        let (dl, ds, db) = DEFAULT_CAPS;
        let vol = |v: u8| Volume::new(v).unwrap_or(Volume::MAX);
        let live = c.optional(
            "audio.max_volume.live",
            &au.max_volume.live,
            vol(dl),
            volume,
        );
        let scheduled = c.optional(
            "audio.max_volume.scheduled",
            &au.max_volume.scheduled,
            vol(ds),
            volume,
        );
        let background = c.optional(
            "audio.max_volume.background",
            &au.max_volume.background,
            vol(db),
            volume,
        );
        let quiet_hours = match &au.quiet_hours {
            None => Some(None),
            Some(q) => {
                let time = |v: &String| {
                    TimeOfDay::parse(v).ok_or_else(|| {
                        Problem::Invalid("must be a time of day HH:MM, e.g. 22:00".into())
                    })
                };
                let start = c.required("audio.quiet_hours.start", &q.start, time);
                let end = c.required("audio.quiet_hours.end", &q.end, time);
                let max = c.required("audio.quiet_hours.max_volume", &q.max_volume, volume);
                if let (Some(s), Some(e)) = (start, end) {
                    if s == e {
                        let span = q.end.as_ref().map(|v| v.span());
                        c.fail::<()>(
                            "audio.quiet_hours.end",
                            span,
                            Problem::Invalid("must differ from start".into()),
                        );
                    }
                }
                match (start, end, max) {
                    (Some(start), Some(end), Some(max_volume)) => Some(Some(QuietHours {
                        start,
                        end,
                        max_volume,
                    })),
                    _ => None,
                }
            }
        };

        let relay = check_relay(&mut c, raw);

        let cache_dir = c.optional(
            "cache.dir",
            &raw.cache.dir,
            PathBuf::from(DEFAULT_CACHE_DIR),
            |v| {
                let p = PathBuf::from(v);
                if p.is_absolute() {
                    Ok(p)
                } else {
                    Err(Problem::Invalid("must be an absolute path".into()))
                }
            },
        );
        let cache_mb = c.optional("cache.max_mb", &raw.cache.max_mb, DEFAULT_CACHE_MB, |v| {
            in_range(*v, 16, 1 << 20).map(|v| v as u64)
        });
        let offline_schedule = raw.schedule.offline.as_ref().is_none_or(|v| *v.get_ref());
        let log_level = c.optional("log.level", &raw.log.level, "info".to_owned(), |v| {
            check_log_level(v).map(|()| v.clone())
        });
        let log_format = c.optional("log.format", &raw.log.format, LogFormat::Text, |v| match v
            .as_str()
        {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(Problem::Invalid("must be \"text\" or \"json\"".into())),
        });

        if !c.errors.is_empty() {
            return Err(ConfigError::Invalid(c.errors));
        }
        // Every field is Some when no error was recorded.
        let config = (|| {
            Some(Self {
                identity: Identity {
                    agent_id: agent_id?,
                    area_code: area_code?,
                    name,
                },
                controller: Controller {
                    url: url?,
                    public_key: public_key?,
                    tls_fingerprint: tls_fingerprint?,
                    enrolment_token: enrolment_token?,
                    reconnect_max: Duration::from_secs(reconnect_max?),
                },
                audio: Audio {
                    device: device?,
                    volume: base?,
                    caps: VolumeCaps {
                        live: live?,
                        scheduled: scheduled?,
                        background: background?,
                    },
                    quiet_hours: quiet_hours?,
                },
                relay: relay?,
                cache: Cache {
                    dir: cache_dir?,
                    max_bytes: cache_mb? * 1024 * 1024,
                },
                offline_schedule,
                log: Log {
                    level: log_level?,
                    format: log_format?,
                },
            })
        })();
        config.ok_or_else(|| ConfigError::Invalid(Vec::new()))
    }
}

/// A level, or comma-separated `target=level` directives, as `RUST_LOG` takes them.
fn check_log_level(v: &str) -> Result<(), Problem> {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    let directive_ok = |d: &str| {
        let (target, level) = d.rsplit_once('=').unwrap_or(("", d));
        LEVELS.contains(&level.trim())
            && target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-'))
    };
    if !v.is_empty() && v.len() <= 200 && v.split(',').all(directive_ok) {
        Ok(())
    } else {
        Err(Problem::Invalid(
            "must be a level (error, warn, info, debug, trace) or filter directives such as \"info,dalaba_agent=debug\"".into(),
        ))
    }
}

fn check_relay(c: &mut Checker<'_>, raw: &RawConfig) -> Option<Relay> {
    let r = &raw.relay;
    let kind = c.optional("relay.board", &r.board, "none".to_owned(), |v| {
        match v.as_str() {
            "none" | "modbus" | "lcus" => Ok(v.clone()),
            _ => Err(Problem::Invalid("must be modbus, lcus or none".into())),
        }
    })?;
    if kind == "none" {
        for (name, present) in [
            ("relay.port", r.port.as_ref().map(|v| v.span())),
            ("relay.channels", r.channels.as_ref().map(|v| v.span())),
        ] {
            if let Some(span) = present {
                c.fail::<()>(
                    name,
                    Some(span),
                    Problem::Invalid("set, but relay.board is none".into()),
                );
            }
        }
        return Some(Relay::None);
    }
    let port = c.required("relay.port", &r.port, |v| {
        if v.starts_with("/dev/") || v.starts_with('/') {
            Ok(PathBuf::from(v))
        } else {
            Err(Problem::Invalid(
                "must be a device path such as /dev/ttyUSB0".into(),
            ))
        }
    });
    let baud = c.optional("relay.baud", &r.baud, DEFAULT_BAUD, |v| {
        const RATES: [i64; 8] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];
        if RATES.contains(v) {
            Ok(*v as u32)
        } else {
            Err(Problem::Invalid(format!("must be one of {RATES:?}")))
        }
    });
    let unit = if kind == "modbus" {
        c.optional("relay.unit_id", &r.unit_id, 1u8, |v| {
            in_range(*v, 1, 247).map(|v| v as u8)
        })
    } else {
        if let Some(v) = &r.unit_id {
            c.fail::<()>(
                "relay.unit_id",
                Some(v.span()),
                Problem::Invalid("only for relay.board = \"modbus\"".into()),
            );
        }
        Some(0)
    };
    let max_channel = if kind == "lcus" { 8 } else { 64 };
    let channels = c.optional("relay.channels", &r.channels, vec![1u8], |v| {
        if v.is_empty() {
            return Err(Problem::Invalid("must list at least one channel".into()));
        }
        let mut out = Vec::new();
        for &ch in v {
            let ch = in_range(ch, 1, max_channel)? as u8;
            if out.contains(&ch) {
                return Err(Problem::Invalid(format!("channel {ch} is listed twice")));
            }
            out.push(ch);
        }
        Ok(out)
    });
    let warm_up = c.optional("relay.warm_up_ms", &r.warm_up_ms, DEFAULT_WARM_UP_MS, |v| {
        in_range(*v, 0, 30_000).map(|v| v as u64)
    });
    let hold = c.optional("relay.hold_ms", &r.hold_ms, DEFAULT_HOLD_MS, |v| {
        in_range(*v, 0, 600_000).map(|v| v as u64)
    });
    let max_on = c.optional("relay.max_on_s", &r.max_on_s, DEFAULT_MAX_ON_S, |v| {
        in_range(*v, 60, 86_400).map(|v| v as u64)
    });
    let kind = match kind.as_str() {
        "modbus" => BoardKind::Modbus { unit_id: unit? },
        _ => BoardKind::Lcus,
    };
    Some(Relay::Board(RelayBoard {
        kind,
        port: port?,
        baud: baud?,
        channels: channels?,
        warm_up: Duration::from_millis(warm_up?),
        hold: Duration::from_millis(hold?),
        max_on: Duration::from_secs(max_on?),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_day_and_quiet_hours_across_midnight() {
        let t = |s| TimeOfDay::parse(s).expect("valid time");
        for bad in ["24:00", "7:00", "07:60", "0700", "", "ab:cd"] {
            assert_eq!(TimeOfDay::parse(bad), None, "{bad}");
        }
        let night = QuietHours {
            start: t("22:00"),
            end: t("06:30"),
            max_volume: Volume::MUTE,
        };
        assert!(
            night.contains(t("23:59")) && night.contains(t("00:00")) && night.contains(t("06:29"))
        );
        assert!(
            !night.contains(t("06:30"))
                && !night.contains(t("12:00"))
                && !night.contains(t("21:59"))
        );
        let noon = QuietHours {
            start: t("12:00"),
            end: t("14:00"),
            max_volume: Volume::MUTE,
        };
        assert!(
            noon.contains(t("12:00")) && !noon.contains(t("14:00")) && !noon.contains(t("23:00"))
        );
    }

    #[test]
    fn caps_never_apply_to_emergencies() {
        let v = |p| Volume::new(p).expect("valid");
        let caps = VolumeCaps {
            live: v(90),
            scheduled: v(70),
            background: v(40),
        };
        assert_eq!(caps.for_priority(Priority::Emergency), None);
        assert_eq!(caps.for_priority(Priority::Live), Some(v(90)));
        assert_eq!(caps.for_priority(Priority::Background), Some(v(40)));
    }
}

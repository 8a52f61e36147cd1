//! The controller's configuration file (`/etc/dalaba/controller.toml` in the package),
//! parsed into a checked [`ControllerConfig`]: every key documented below, unknown keys
//! refused, every error with its line. Command-line flags and `DALABA_*` environment
//! variables override what the file says (`main.rs`).
//!
//! ```toml
//! data_dir = "/var/lib/dalaba"       # database, keys, media (default "dalaba-data")
//! listen = "127.0.0.1:8080"          # the console and the API
//! agent_listen = "0.0.0.0:8443"      # the agents (TLS with the controller's certificate)
//!
//! [operators_tls]                    # HTTPS for the console and API (default: none)
//! mode = "files"                     # "off", "own" (the controller's certificate) or "files"
//! cert = "/etc/dalaba/console.pem"   # with "files": the certificate chain, leaf first
//! key = "/etc/dalaba/console.key"    # with "files": its key
//!
//! [log]
//! level = "info"                     # a tracing filter: "info", "warn,dalaba_controller=debug"
//! format = "text"                    # "text", or "json" (one object a line, for journald)
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

/// HTTPS for the operators' listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorsTls {
    /// Plain HTTP (behind a TLS proxy, or on a LAN).
    Off,
    /// The controller's own certificate (browsers ask to trust it once).
    Own,
    /// A certificate and key from files.
    Files {
        /// The chain, leaf first (PEM).
        cert: PathBuf,
        /// Its key (PEM).
        key: PathBuf,
    },
}

/// How the log is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people (no colour codes unless on a terminal).
    Text,
    /// One JSON object a line.
    Json,
}

/// A checked configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    /// Database, keys and media.
    pub data_dir: PathBuf,
    /// The console and the API.
    pub listen: SocketAddr,
    /// The agents.
    pub agent_listen: SocketAddr,
    /// HTTPS for the console and the API.
    pub operators_tls: OperatorsTls,
    /// A tracing filter directive.
    pub log_level: String,
    /// Text or JSON.
    pub log_format: LogFormat,
    /// How live frames are written to agents (`[live] pairs_above`, `triples_above`).
    pub live: LiveWrites,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("dalaba-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            agent_listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            operators_tls: OperatorsTls::Off,
            log_level: "info".into(),
            log_format: LogFormat::Text,
            live: LiveWrites::default(),
        }
    }
}

/// How live frames are written to agents: several 20 ms frames a write for a large call,
/// two (a pair) for a call to at least `pairs_above` speakers, three for at least
/// `triples_above`; 0, never (the default for both). Each frame held for a write saves a
/// write, a TLS record and a task wake-up per agent, for 20 ms more latency on the frames
/// before it (BENCHMARKS.md, fan-out: one core at 2,500 agents, pairs 71 %, triples 50 %).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveWrites {
    /// Smallest audience written in pairs; 0: none.
    pub pairs_above: usize,
    /// Smallest audience written three frames at a time; 0: none.
    pub triples_above: usize,
}

impl LiveWrites {
    /// Frames written to each agent at once in a call to `audience` speakers: 1, 2 or 3.
    pub fn frames_per_write(&self, audience: usize) -> usize {
        let from = |above: usize| above > 0 && audience >= above;
        if from(self.triples_above) {
            3
        } else if from(self.pairs_above) {
            2
        } else {
            1
        }
    }
}

type Field<T> = Option<Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    data_dir: Field<String>,
    listen: Field<String>,
    agent_listen: Field<String>,
    operators_tls: Option<RawTls>,
    log: Option<RawLog>,
    live: Option<RawLive>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLive {
    pairs_above: Field<i64>,
    triples_above: Field<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    mode: Field<String>,
    cert: Field<String>,
    key: Field<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Field<String>,
    format: Field<String>,
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl ControllerConfig {
    /// Parses a configuration file's text: the checked configuration, or every error as
    /// `line N: key: what is wrong`.
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(String::new(), |s| {
                format!("line {}: ", line_of(text, s.start))
            });
            vec![format!("{at}{}", e.message().trim())]
        })?;
        let mut errors = Vec::new();
        let mut config = Self::default();
        let mut fail = |field: &Spanned<String>, key: &str, what: String| {
            errors.push(format!(
                "line {}: {key}: {what}",
                line_of(text, field.span().start)
            ));
        };
        if let Some(d) = &raw.data_dir {
            if d.get_ref().trim().is_empty() {
                fail(
                    d,
                    "data_dir",
                    "a directory, e.g. \"/var/lib/dalaba\"".into(),
                );
            }
            config.data_dir = PathBuf::from(d.get_ref());
        }
        for (key, field, slot) in [
            ("listen", &raw.listen, &mut config.listen),
            ("agent_listen", &raw.agent_listen, &mut config.agent_listen),
        ] {
            if let Some(f) = field {
                match f.get_ref().parse() {
                    Ok(addr) => *slot = addr,
                    Err(_) => fail(
                        f,
                        key,
                        format!(
                            "{:?} is not an address: host and port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8443\"",
                            f.get_ref()
                        ),
                    ),
                }
            }
        }
        if let Some(tls) = &raw.operators_tls {
            let mode = tls.mode.as_ref().map(|m| m.get_ref().as_str());
            config.operators_tls = match (mode, &tls.cert, &tls.key) {
                (None | Some("off"), None, None) => OperatorsTls::Off,
                (Some("own"), None, None) => OperatorsTls::Own,
                (Some("files"), Some(cert), Some(key)) => OperatorsTls::Files {
                    cert: PathBuf::from(cert.get_ref()),
                    key: PathBuf::from(key.get_ref()),
                },
                (Some("files"), _, _) => {
                    let at = tls.mode.as_ref().expect("mode is files");
                    fail(
                        at,
                        "operators_tls",
                        "mode \"files\" needs both cert and key".into(),
                    );
                    OperatorsTls::Off
                }
                (Some("off" | "own"), Some(f), _) | (Some("off" | "own"), None, Some(f)) => {
                    fail(
                        f,
                        "operators_tls",
                        "cert and key go with mode \"files\" only".into(),
                    );
                    OperatorsTls::Off
                }
                (None, Some(f), _) | (None, None, Some(f)) => {
                    fail(
                        f,
                        "operators_tls",
                        "say mode = \"files\" with cert and key".into(),
                    );
                    OperatorsTls::Off
                }
                (Some(other), _, _) => {
                    let at = tls.mode.as_ref().expect("mode is set");
                    fail(
                        at,
                        "operators_tls.mode",
                        format!("{other:?}: one of \"off\", \"own\", \"files\""),
                    );
                    OperatorsTls::Off
                }
            };
        }
        if let Some(log) = &raw.log {
            if let Some(level) = &log.level {
                match tracing_subscriber::EnvFilter::try_new(level.get_ref()) {
                    Ok(_) => config.log_level = level.get_ref().clone(),
                    Err(e) => fail(
                        level,
                        "log.level",
                        format!(
                            "{:?}: {e} (e.g. \"info\" or \"warn,dalaba_controller=debug\")",
                            level.get_ref()
                        ),
                    ),
                }
            }
            if let Some(format) = &log.format {
                match format.get_ref().as_str() {
                    "text" => config.log_format = LogFormat::Text,
                    "json" => config.log_format = LogFormat::Json,
                    other => fail(
                        format,
                        "log.format",
                        format!("{other:?}: \"text\" or \"json\""),
                    ),
                }
            }
        }
        if let Some(live) = &raw.live {
            let speakers = |field: &Field<i64>, key: &str, errors: &mut Vec<String>| {
                let value = field.as_ref()?;
                usize::try_from(*value.get_ref())
                    .map_err(|_| {
                        errors.push(format!(
                            "line {}: live.{key}: {}: a number of speakers (0: never)",
                            line_of(text, value.span().start),
                            value.get_ref()
                        ));
                    })
                    .ok()
            };
            if let Some(n) = speakers(&live.pairs_above, "pairs_above", &mut errors) {
                config.live.pairs_above = n;
            }
            if let Some(n) = speakers(&live.triples_above, "triples_above", &mut errors) {
                config.live.triples_above = n;
            }
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// The configuration in effect, as a file that would give it.
    pub fn effective(&self) -> String {
        let tls = match &self.operators_tls {
            OperatorsTls::Off => "mode = \"off\"".to_owned(),
            OperatorsTls::Own => "mode = \"own\"".to_owned(),
            OperatorsTls::Files { cert, key } => format!(
                "mode = \"files\"\ncert = {:?}\nkey = {:?}",
                cert.display().to_string(),
                key.display().to_string()
            ),
        };
        format!(
            "data_dir = {:?}\nlisten = \"{}\"\nagent_listen = \"{}\"\n\n[operators_tls]\n{tls}\n\n[log]\nlevel = {:?}\nformat = \"{}\"\n\n[live]\npairs_above = {}\ntriples_above = {}\n",
            self.data_dir.display().to_string(),
            self.listen,
            self.agent_listen,
            self.log_level,
            match self.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            },
            self.live.pairs_above,
            self.live.triples_above
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` is refused with exactly `expected`.
    fn refused(text: &str, expected: &[&str]) {
        assert_eq!(
            ControllerConfig::parse(text).expect_err(text),
            expected.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{text}"
        );
    }

    #[test]
    fn a_file_is_read_or_every_error_named_with_its_line() {
        let text = "data_dir = \"/var/lib/dalaba\"\nlisten = \"0.0.0.0:80\"\n\n[operators_tls]\nmode = \"files\"\ncert = \"/etc/dalaba/c.pem\"\nkey = \"/etc/dalaba/c.key\"\n\n[log]\nlevel = \"warn,dalaba_controller=debug\"\nformat = \"json\"\n";
        let config = ControllerConfig::parse(text).expect("good");
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/dalaba"));
        assert_eq!(config.listen, "0.0.0.0:80".parse().unwrap());
        assert_eq!(
            config.agent_listen,
            "0.0.0.0:8443".parse().unwrap(),
            "the default"
        );
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(
            config.live,
            LiveWrites::default(),
            "not in pairs unless asked"
        );
        assert_eq!(ControllerConfig::parse(&config.effective()), Ok(config));
        let grouped = ControllerConfig::parse("[live]\npairs_above = 2000\ntriples_above = 4000\n")
            .expect("good");
        let frames = |audience| grouped.live.frames_per_write(audience);
        assert_eq!((frames(1999), frames(2000), frames(3999)), (1, 2, 2));
        assert_eq!((frames(4000), frames(10_000)), (3, 3));
        assert_eq!(ControllerConfig::parse(&grouped.effective()), Ok(grouped));
        let triples = ControllerConfig::parse("[live]\ntriples_above = 10\n").expect("good");
        assert_eq!(
            (
                triples.live.frames_per_write(9),
                triples.live.frames_per_write(10)
            ),
            (1, 3)
        );
        assert_eq!(LiveWrites::default().frames_per_write(100_000), 1);
        refused(
            "[live]\npairs_above = -1\ntriples_above = -3\n",
            &[
                "line 2: live.pairs_above: -1: a number of speakers (0: never)",
                "line 3: live.triples_above: -3: a number of speakers (0: never)",
            ],
        );
        assert_eq!(ControllerConfig::parse(""), Ok(ControllerConfig::default()));

        refused(
            "listen = \"8080\"\nagent_listen = \"0.0.0.0:8443\"\n",
            &[
                "line 1: listen: \"8080\" is not an address: host and port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8443\"",
            ],
        );
        refused(
            "listen = \"127.0.0.1:8080\"\nlisen = \"x\"\n",
            &[
                "line 2: unknown field `lisen`, expected one of `data_dir`, `listen`, `agent_listen`, `operators_tls`, `log`, `live`",
            ],
        );
        refused(
            "listen = 8080\n",
            &["line 1: invalid type: integer `8080`, expected a string"],
        );
        refused(
            "[operators_tls]\nmode = \"files\"\ncert = \"c.pem\"\n",
            &["line 2: operators_tls: mode \"files\" needs both cert and key"],
        );
        refused(
            "[operators_tls]\nmode = \"https\"\n",
            &["line 2: operators_tls.mode: \"https\": one of \"off\", \"own\", \"files\""],
        );
        // Two errors at once, each with its line.
        refused(
            "agent_listen = \"everywhere\"\n[log]\nformat = \"xml\"\n",
            &[
                "line 1: agent_listen: \"everywhere\" is not an address: host and port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8443\"",
                "line 3: log.format: \"xml\": \"text\" or \"json\"",
            ],
        );
    }
}

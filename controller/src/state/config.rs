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
//!
//! [live]                             # from N speakers, M 20 ms frames a write (default {})
//! frames_per_write = { 1000 = 2, 4000 = 3, 8000 = 10 }
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

pub use super::live_writes::LiveWrites;

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
    frames_per_write: Field<std::collections::BTreeMap<String, i64>>,
    /// Older spellings, still read: `frames_per_write = { N = 2 }` and `{ N = 3 }`.
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
            let mut steps = Vec::new();
            let mut line = 0;
            if let Some(table) = &live.frames_per_write {
                line = line_of(text, table.span().start);
                for (from, frames) in table.get_ref() {
                    match (from.parse::<usize>(), usize::try_from(*frames)) {
                        (Ok(from), Ok(frames)) => steps.push((from, frames)),
                        _ => errors.push(format!(
                            "line {line}: live.frames_per_write: {from} = {frames}: from how many speakers = how many frames a write, e.g. {{ 1000 = 2, 4000 = 3 }}"
                        )),
                    }
                }
            }
            let pairs = speakers(&live.pairs_above, "pairs_above", &mut errors).unwrap_or(0);
            let triples = speakers(&live.triples_above, "triples_above", &mut errors).unwrap_or(0);
            // As they always meant: threes win over pairs.
            if pairs > 0 && (triples == 0 || pairs < triples) {
                steps.push((pairs, 2));
            }
            if triples > 0 {
                steps.push((triples, 3));
            }
            match LiveWrites::new(steps) {
                Ok(writes) => config.live = writes,
                Err(why) => errors.push(format!("line {line}: live.frames_per_write: {why}")),
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
            "data_dir = {:?}\nlisten = \"{}\"\nagent_listen = \"{}\"\n\n[operators_tls]\n{tls}\n\n[log]\nlevel = {:?}\nformat = \"{}\"\n\n[live]\nframes_per_write = {}\n",
            self.data_dir.display().to_string(),
            self.listen,
            self.agent_listen,
            self.log_level,
            match self.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            },
            self.live
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
            "one frame a write unless asked"
        );
        assert_eq!(ControllerConfig::parse(&config.effective()), Ok(config));
        let grouped = ControllerConfig::parse(
            "[live]\nframes_per_write = { 2000 = 2, 4000 = 3, 8000 = 10 }\n",
        )
        .expect("good");
        let frames = |audience| grouped.live.frames_per_write(audience);
        assert_eq!((frames(1999), frames(2000), frames(3999)), (1, 2, 2));
        assert_eq!((frames(4000), frames(8000), frames(10_000)), (3, 10, 10));
        assert_eq!(ControllerConfig::parse(&grouped.effective()), Ok(grouped));
        // The older spellings mean what they did.
        let older = ControllerConfig::parse("[live]\npairs_above = 2000\ntriples_above = 4000\n")
            .expect("good");
        assert_eq!(
            older.live,
            LiveWrites::parse("2000=2,4000=3").expect("good")
        );
        let triples = ControllerConfig::parse("[live]\ntriples_above = 10\npairs_above = 20\n")
            .expect("good");
        assert_eq!(triples.live, LiveWrites::parse("10=3").expect("good"));
        let none = ControllerConfig::parse("[live]\npairs_above = 0\ntriples_above = 0\n")
            .expect("the file packages shipped");
        assert_eq!(none.live, LiveWrites::default());
        refused(
            "[live]\npairs_above = -1\ntriples_above = -3\n",
            &[
                "line 2: live.pairs_above: -1: a number of speakers (0: never)",
                "line 3: live.triples_above: -3: a number of speakers (0: never)",
            ],
        );
        refused(
            "[live]\nframes_per_write = { 1000 = 30, all = 2 }\n",
            &[
                "line 2: live.frames_per_write: all = 2: from how many speakers = how many frames a write, e.g. { 1000 = 2, 4000 = 3 }",
                "line 2: live.frames_per_write: 1000 = 30: frames a write, 1 to 25 (20 ms each)",
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

//! # dalaba-firmware-config
//!
//! The speaker terminal's configuration file (TOML): identity, controller URL and pinned
//! keys, audio device and volume limits, quiet hours, relay board, cache, offline schedule.
//!
//! A raw serde struct (every field optional, each with its position in the file) is turned
//! into a checked [`Config`] once: parse, don't validate. Every bad field is reported at once,
//! each with its name and line; unknown keys are errors, so typos are caught on the bench,
//! not on the pole. `firmware-config/README.md` documents every key and its default;
//! `firmware-config/examples/` has a file per supported board.
//!
//! What it is not: no I/O beyond reading and writing the configuration file and the
//! terminal's other files ([`files`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod effective;
mod error;
pub mod files;
mod raw;

use std::path::Path;

pub use config::*;
pub use error::{ConfigError, FieldError, Problem};

impl Config {
    /// Parses and checks configuration text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|source| {
            let line = source.span().map(|s| {
                text[..s.start.min(text.len())]
                    .bytes()
                    .filter(|&b| b == b'\n')
                    .count()
                    + 1
            });
            ConfigError::Syntax {
                line,
                message: source.message().to_owned(),
                source: Box::new(source),
            }
        })?;
        Self::check(&raw, text)
    }

    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(ConfigError::Read)?;
        Self::parse(&text)
    }

    /// The configuration as a complete TOML file, every default written out.
    pub fn to_toml(&self) -> String {
        effective::to_toml(self)
    }
}

/// The pins of `[controller]`: where the agent connects and what it trusts there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerPins<'a> {
    /// `controller.url`.
    pub url: &'a str,
    /// `controller.public_key`, base64.
    pub public_key: &'a str,
    /// `controller.tls_fingerprint`; `None` removes it (only valid with `ws://`).
    pub tls_fingerprint: Option<&'a str>,
}

/// Configuration text `document` with its `[controller]` pins replaced by `pins` and
/// everything else (other keys, comments, layout) left as it was; checked in full, so an
/// invalid result is an error and nothing is returned.
pub fn with_controller(
    document: &str,
    pins: &ControllerPins<'_>,
) -> Result<(String, Config), ConfigError> {
    // A file that does not parse is reported as such, with its line.
    Config::parse(document)?;
    let mut doc: toml_edit::DocumentMut = document
        .parse()
        .map_err(|e: toml_edit::TomlError| ConfigError::Edit(e.to_string()))?;
    let Some(ctl) = doc
        .get_mut("controller")
        .and_then(toml_edit::Item::as_table_like_mut)
    else {
        return Err(ConfigError::Edit("no [controller] table".into()));
    };
    ctl.insert("url", toml_edit::value(pins.url));
    ctl.insert("public_key", toml_edit::value(pins.public_key));
    match pins.tls_fingerprint {
        Some(fp) => {
            ctl.insert("tls_fingerprint", toml_edit::value(fp));
        }
        None => {
            ctl.remove("tls_fingerprint");
        }
    }
    let text = doc.to_string();
    let config = Config::parse(&text)?;
    Ok((text, config))
}

/// What a new terminal needs to reach its controller and enrol there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolment<'a> {
    /// `identity.area_code`: the village it serves.
    pub area_code: &'a str,
    /// `identity.name`, if given.
    pub name: Option<&'a str>,
    /// The pins of `[controller]`.
    pub pins: ControllerPins<'a>,
    /// `controller.enrolment_token`: the one-time token.
    pub enrolment_token: &'a str,
    /// `audio.device`; `None` leaves the default (the system's sound card).
    pub audio_device: Option<&'a str>,
    /// `cache.dir`; `None` leaves the default.
    pub cache_dir: Option<&'a str>,
}

/// The configuration file for a new terminal: its identity and controller filled in, the
/// rest at its defaults with a comment on what an installer may set. Checked in full, so
/// what is returned is a file the agent accepts.
pub fn enrolment_document(e: &Enrolment<'_>) -> Result<String, ConfigError> {
    use std::fmt::Write as _;
    let q = |s: &str| toml_edit::Value::from(s).to_string().trim().to_owned();
    let mut o = String::from(
        "# A Dalaba speaker terminal. Install as /etc/dalaba/agent.toml; every key is in\n\
         # firmware-config/README.md. It enrols once with the token, then keeps its own key.\n\n[identity]\n",
    );
    let _ = writeln!(o, "area_code = {}", q(e.area_code));
    if let Some(name) = e.name {
        let _ = writeln!(o, "name = {}", q(name));
    }
    let _ = writeln!(o, "\n[controller]");
    let _ = writeln!(o, "url = {}", q(e.pins.url));
    let _ = writeln!(o, "public_key = {}", q(e.pins.public_key));
    if let Some(fp) = e.pins.tls_fingerprint {
        let _ = writeln!(o, "tls_fingerprint = {}", q(fp));
    }
    let _ = writeln!(o, "enrolment_token = {}", q(e.enrolment_token));
    let _ = writeln!(o, "\n[audio]");
    match e.audio_device {
        Some(device) => {
            let _ = writeln!(o, "device = {}", q(device));
        }
        None => {
            let _ = writeln!(
                o,
                "# device = \"cpal:hw:0,0\"   # the system's sound card unless set; `dalaba-agent devices` lists them"
            );
        }
    }
    if let Some(dir) = e.cache_dir {
        let _ = writeln!(o, "\n[cache]\ndir = {}", q(dir));
    }
    let _ = writeln!(
        o,
        "\n# [relay]: the amplifier's power board, if any (firmware-config/examples/ has one per board)."
    );
    Config::parse(&o)?;
    Ok(o)
}

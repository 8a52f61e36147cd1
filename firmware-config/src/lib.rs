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
//! What it is not: no I/O beyond reading and writing the configuration file.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod effective;
mod error;
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

//! The agent's configuration file, and pushing a new one safely.
//!
//! A pushed configuration is validated in full before anything is written (an invalid one
//! changes nothing), and may not change what the agent pins: the controller's URL,
//! command key and certificate stay as they are (a push signed by a controller must not
//! hand the speaker to another one). A valid one replaces the file atomically, keeping the old one beside
//! it, and is on *trial*: unless [`ConfigStore::confirm`] is called (the agent reached the
//! controller with it) before the deadline, [`ConfigStore::poll`] puts the old file back.
//! A trial survives a restart: if the agent dies under the new configuration, it starts
//! again on it with a fresh deadline, and rolls back if it still cannot reach the
//! controller. Those pins change only through [`ConfigStore::move_to`] (a signed
//! `move_controller` command), on trial the same way. Time is an argument; nothing here reads a clock.
//!
//! The installer's file (`/etc/dalaba/agent.toml`) is never written: the service may not
//! write `/etc`. The agent works on a copy in its state directory (`agent.toml`, with
//! `.version`, `.previous` and `.installed` beside it), which pushes replace. An installer
//! who edits the installed file later wins: at start, a copy made from another installed
//! text is dropped for the new one.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dalaba_firmware_config::{Config, ConfigError, ControllerPins, with_controller};

/// Why a push or rollback failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The pushed configuration is invalid; the current one stays.
    #[error("the pushed configuration {version:?} is invalid, keeping the current one:\n{source}")]
    Invalid {
        /// The pushed version label.
        version: String,
        /// Every problem.
        #[source]
        source: ConfigError,
    },
    /// The pushed configuration would change what the agent pins (the controller's URL,
    /// command key or certificate); the current one stays. Moving a speaker to another
    /// controller or rotating the controller's keys is a command of its own.
    #[error(
        "the pushed configuration {version:?} would change {field}, which a push may not: \
         the agent keeps trusting the controller it pins (see SECURITY.md)"
    )]
    Pinned {
        /// The pushed version label.
        version: String,
        /// `controller.url`, `controller.public_key` or `controller.tls_fingerprint`.
        field: &'static str,
    },
    /// The configuration file on disk is invalid.
    #[error("{}: {source}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ConfigError,
    },
    /// Reading or writing the files failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What a rollback did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollback {
    /// The version that was abandoned.
    pub from: String,
    /// The version restored.
    pub to: String,
}

/// The configuration in use and any pushed one on trial.
#[derive(Debug)]
pub struct ConfigStore {
    path: PathBuf,
    config: Config,
    version: String,
    trial_deadline: Option<Instant>,
    confirm_within: Duration,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `text` to `path` atomically (`dalaba_firmware_config::files::write_atomic`).
fn write_atomic(path: &Path, text: &str) -> Result<(), StoreError> {
    dalaba_firmware_config::files::write_atomic(path, text).map_err(io_err(path))
}

fn read_version(path: &Path) -> String {
    fs::read_to_string(sibling(path, ".version"))
        .map(|v| v.trim().to_owned())
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "local".into())
}

impl ConfigStore {
    /// Loads the configuration for the installed file `installed`: the working copy in
    /// `state_dir` if it was made from the installed file as it is now, else a new copy of
    /// it. Pushed configurations must be confirmed within `confirm_within`; a trial
    /// interrupted by a restart resumes with a fresh deadline from `now`.
    pub fn load(
        installed: &Path,
        state_dir: &Path,
        now: Instant,
        confirm_within: Duration,
    ) -> Result<Self, StoreError> {
        let text = fs::read_to_string(installed).map_err(io_err(installed))?;
        let path = state_dir.join("agent.toml");
        let copied_from = sibling(&path, ".installed");
        if fs::read_to_string(&copied_from).ok().as_deref() != Some(text.as_str()) {
            // A first start, or the installer changed the file: it is what runs.
            if let Ok(pushed) = fs::read_to_string(sibling(&path, ".version")) {
                tracing::warn!(
                    "{} was changed: it replaces the pushed configuration {}",
                    installed.display(),
                    pushed.trim()
                );
            }
            Config::parse(&text).map_err(|source| StoreError::Load {
                path: installed.to_owned(),
                source,
            })?;
            fs::create_dir_all(state_dir).map_err(io_err(state_dir))?;
            for suffix in [".version", ".previous", ".previous.version"] {
                let p = sibling(&path, suffix);
                if p.exists() {
                    fs::remove_file(&p).map_err(io_err(&p))?;
                }
            }
            write_atomic(&path, &text)?;
            write_atomic(&copied_from, &text)?;
        }
        let path = path.as_path();
        let config = Config::load(path).map_err(|source| StoreError::Load {
            path: path.to_owned(),
            source,
        })?;
        let trial = sibling(path, ".previous").exists();
        Ok(Self {
            path: path.to_owned(),
            config,
            version: read_version(path),
            trial_deadline: trial.then(|| now + confirm_within),
            confirm_within,
        })
    }

    /// The working copy: the configuration in use, as written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Its version label (reported in status).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether the configuration in use is a pushed one still on trial.
    pub fn on_trial(&self) -> bool {
        self.trial_deadline.is_some()
    }

    /// When [`Self::poll`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.trial_deadline
    }

    /// Validates and applies a pushed configuration, on trial until confirmed.
    pub fn push(
        &mut self,
        version: &str,
        document: &str,
        now: Instant,
    ) -> Result<&Config, StoreError> {
        let config = Config::parse(document).map_err(|source| StoreError::Invalid {
            version: version.to_owned(),
            source,
        })?;
        let (old, new) = (&self.config.controller, &config.controller);
        let changed = if old.url != new.url {
            Some("controller.url")
        } else if old.public_key != new.public_key {
            Some("controller.public_key")
        } else if old.tls_fingerprint != new.tls_fingerprint {
            Some("controller.tls_fingerprint")
        } else {
            None
        };
        if let Some(field) = changed {
            return Err(StoreError::Pinned {
                version: version.to_owned(),
                field,
            });
        }
        self.apply(version, document, config, now)
    }

    /// Pins another controller (a `move_controller` command): the `[controller]` URL,
    /// command key and certificate of the file in use are replaced, everything else is
    /// kept as written, and the result is on trial like a push: if the agent cannot reach
    /// the new controller with it before the deadline, [`Self::poll`] restores the old pins.
    pub fn move_to(
        &mut self,
        version: &str,
        pins: &ControllerPins<'_>,
        now: Instant,
    ) -> Result<&Config, StoreError> {
        let current = fs::read_to_string(&self.path).map_err(io_err(&self.path))?;
        let (document, config) =
            with_controller(&current, pins).map_err(|source| StoreError::Invalid {
                version: version.to_owned(),
                source,
            })?;
        self.apply(version, &document, config, now)
    }

    /// Writes a checked configuration in place of the one in use, keeping the last
    /// confirmed one beside it, and starts its trial.
    fn apply(
        &mut self,
        version: &str,
        document: &str,
        config: Config,
        now: Instant,
    ) -> Result<&Config, StoreError> {
        let previous = sibling(&self.path, ".previous");
        // Keep the last *confirmed* file: a push during a trial replaces only the trial.
        if !previous.exists() {
            let old = fs::read_to_string(&self.path).map_err(io_err(&self.path))?;
            write_atomic(&sibling(&self.path, ".previous.version"), &self.version)?;
            write_atomic(&previous, &old)?;
        }
        write_atomic(&self.path, document)?;
        write_atomic(&sibling(&self.path, ".version"), version)?;
        self.config = config;
        self.version = version.to_owned();
        self.trial_deadline = Some(now + self.confirm_within);
        Ok(&self.config)
    }

    /// The agent reached the controller with the configuration on trial: keep it.
    pub fn confirm(&mut self) -> Result<(), StoreError> {
        if self.trial_deadline.take().is_some() {
            for suffix in [".previous", ".previous.version"] {
                let p = sibling(&self.path, suffix);
                if p.exists() {
                    fs::remove_file(&p).map_err(io_err(&p))?;
                }
            }
        }
        Ok(())
    }

    /// Rolls back a trial whose deadline has passed at `now`.
    pub fn poll(&mut self, now: Instant) -> Result<Option<Rollback>, StoreError> {
        if self.trial_deadline.is_none_or(|d| now < d) {
            return Ok(None);
        }
        let previous = sibling(&self.path, ".previous");
        let text = fs::read_to_string(&previous).map_err(io_err(&previous))?;
        let config = Config::parse(&text).map_err(|source| StoreError::Load {
            path: previous.clone(),
            source,
        })?;
        let prev_version_path = sibling(&self.path, ".previous.version");
        let to = fs::read_to_string(&prev_version_path)
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|_| "local".into());
        write_atomic(&self.path, &text)?;
        write_atomic(&sibling(&self.path, ".version"), &to)?;
        fs::remove_file(&previous).map_err(io_err(&previous))?;
        let _ = fs::remove_file(&prev_version_path);
        let from = std::mem::replace(&mut self.version, to.clone());
        self.config = config;
        self.trial_deadline = None;
        Ok(Some(Rollback { from, to }))
    }
}

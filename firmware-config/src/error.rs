//! Configuration errors: each names the field and, where the file has it, the line.

use std::fmt;

/// What is wrong with one field.
#[derive(Debug)]
pub enum Problem {
    /// A required field is absent.
    Missing,
    /// A number out of its range.
    Range {
        /// The value given.
        value: i64,
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// A value that is not acceptable, and why.
    Invalid(String),
    /// A value another parser refused.
    Parse(Box<dyn std::error::Error + Send + Sync>),
}

impl Problem {
    pub(crate) fn from_error(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Parse(Box::new(e))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("missing (required)"),
            Self::Range { value, min, max } => {
                write!(f, "{value} is out of range ({min} to {max})")
            }
            Self::Invalid(why) => f.write_str(why),
            Self::Parse(e) => write!(f, "{e}"),
        }
    }
}

/// One bad field.
#[derive(Debug)]
pub struct FieldError {
    /// `section.key`.
    pub field: String,
    /// 1-based line in the file, when the field is present in it.
    pub line: Option<usize>,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.field, self.problem),
            None => write!(f, "{}: {}", self.field, self.problem),
        }
    }
}

impl std::error::Error for FieldError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Parse(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file: {0}")]
    Read(#[source] std::io::Error),
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("{}", syntax_text(.line, .message))]
    Syntax {
        /// 1-based line, if known.
        line: Option<usize>,
        /// What the TOML parser said.
        message: String,
        /// The parser's error.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// Valid TOML, but one or more values are wrong. Every one is listed.
    #[error("{}", list(.0))]
    Invalid(Vec<FieldError>),
    /// The file could not be edited in place (see [`crate::with_controller`]).
    #[error("cannot edit the configuration file: {0}")]
    Edit(String),
}

fn syntax_text(line: &Option<usize>, message: &str) -> String {
    match line {
        Some(line) => format!("line {line}: {}", message.trim_end()),
        None => message.trim_end().to_owned(),
    }
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// Every problem, one per line.
    pub fn lines(&self) -> Vec<String> {
        self.to_string().lines().map(str::to_owned).collect()
    }
}

//! [`AppError`], the one error shape of the controller's operations. It knows nothing of
//! HTTP: the HTTP layer (`api.rs`) turns it into a response.

use crate::storage::StorageError;

/// Every API error. The response is `{"error": {"code": ..., "message": ...}}`; internal
/// details are logged, not returned.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid session.
    #[error("log in first")]
    Unauthorized,
    /// Wrong name or password.
    #[error("wrong user name or password")]
    BadLogin,
    /// The request is invalid; the message says why.
    #[error("{0}")]
    BadRequest(String),
    /// No such thing.
    #[error("{0} not found")]
    NotFound(String),
    /// Logged in, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// It exists already.
    #[error("{0}")]
    Conflict(String),
    /// The upload is over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// Too many attempts; try again later.
    #[error("{0}")]
    TooManyRequests(String),
    /// The request body arrived below the minimum pace ([`crate::http::server::BodyPace`]).
    #[error("the request body arrived too slowly; check the connection and send it again")]
    TooSlow,
    /// Something failed inside; logged.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<super::ShuttingDown> for AppError {
    fn from(gone: super::ShuttingDown) -> Self {
        Self::Internal(gone.into())
    }
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Conflict(what) => Self::Conflict(format!("{what} already exists")),
            other => Self::Internal(other.into()),
        }
    }
}

/// A refusal of a whole file for its bad lines: `what: line 2: …; line 5: …; and 3 more`
/// (the first ten named).
pub fn bad_lines(what: &str, bad: Vec<String>) -> String {
    let more = bad.len().saturating_sub(10);
    let mut message = format!(
        "{what}: {}",
        bad.into_iter().take(10).collect::<Vec<_>>().join("; ")
    );
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    message
}

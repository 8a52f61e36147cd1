//! The HTTP layer: the router and its handlers' HTTP faces, the server around it, the
//! console, the OpenAPI document, logging in, the request extractors and the audit
//! middleware. Nothing below it imports it (ARCHITECTURE.md, Invariants).

pub mod agents;
pub mod alarms;
pub mod alerts;
pub mod api;
pub mod areas;
pub mod audit;
pub mod broadcasts;
pub mod cap;
pub mod console;
pub mod csv;
pub mod events;
pub mod extract;
pub mod live;
pub mod login;
pub mod media;
pub mod openapi;
pub mod programme;
pub mod server;
pub mod settings;
pub mod tts;
pub mod users;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

/// Runs a handler's `work` for `user` on the blocking pool: work that reads or checks
/// every agent (resolving schedules to their speakers, the broadcast log; tens of
/// milliseconds for a county), which on a runtime thread would hold up the live frames
/// queued to every agent (ARCHITECTURE.md, Invariants).
pub(crate) async fn over_agents<T: Send + 'static>(
    state: AppState,
    user: AuthUser,
    work: impl FnOnce(&AppState, &AuthUser) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    crate::state::off_runtime(move || work(&state, &user)).await?
}

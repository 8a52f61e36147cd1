//! `GET /api/events`: the live-status stream. Server-Sent Events, one `changed` event
//! whenever an agent comes or goes, reports its status, or a receipt arrives (at most four
//! a second: a burst, such as a county's speakers returning after an outage, becomes
//! one); the page then reads what it shows. No polling.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Action;
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::openapi::ErrorBody;
use crate::state::AppState;

/// Shortest time between two events on one stream.
const SPACING: Duration = Duration::from_millis(250);

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// `GET /api/events`: `event: changed` with the change counter as its data, as changes
/// happen; a comment every 15 s keeps proxies from closing it.
#[utoipa::path(get, path = "/api/events", tag = "agents", security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream: `changed` events", content_type = "text/event-stream"),
        (status = 401, body = ErrorBody)))]
async fn events(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    user.require(Action::View)?;
    let changes = state.changes.subscribe();
    let stream = futures_util::stream::unfold(changes, |mut changes| async move {
        changes.changed().await.ok()?;
        let version = *changes.borrow_and_update();
        // What changes during the spacing is sent next, as one event.
        tokio::time::sleep(SPACING).await;
        Some((
            Ok(Event::default().event("changed").data(version.to_string())),
            changes,
        ))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

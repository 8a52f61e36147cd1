//! `/api/playlists*`, `/api/schedules*` and `/api/quiet-hours`: thin handlers over
//! `programme`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::programme::{self, NextQuery};
use crate::schedule::{PlaylistSpec, QuietHours, ScheduleSpec};
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/playlists", get(list_playlists).post(create_playlist))
        .route(
            "/api/playlists/{id}",
            get(get_playlist)
                .put(update_playlist)
                .delete(delete_playlist),
        )
        .route("/api/schedules", get(list_schedules).post(create_schedule))
        .route(
            "/api/schedules/{id}",
            get(get_schedule)
                .put(update_schedule)
                .delete(delete_schedule),
        )
        .route("/api/schedules/{id}/approve", post(approve_schedule))
        .route(
            "/api/quiet-hours",
            get(get_quiet_hours).put(put_quiet_hours),
        )
}

/// `GET /api/playlists`: the playlists whose areas overlap the user's.
async fn list_playlists(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, AppError> {
    Ok(Json(programme::list_playlists(&state, &user)?))
}

/// `POST /api/playlists`: the playlist is the user's, scoped to their areas.
async fn create_playlist(
    State(state): State<AppState>,
    user: AuthUser,
    Json(spec): Json<PlaylistSpec>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(programme::create_playlist(&state, &user, spec)?),
    ))
}

/// `GET /api/playlists/{id}`
async fn get_playlist(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(programme::get_playlist(&state, &user, id)?))
}

/// `PUT /api/playlists/{id}`: by a user covering its areas; schedules that play it are
/// planned anew, and those approved by a second person wait for approval again.
async fn update_playlist(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
    Json(spec): Json<PlaylistSpec>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(programme::update_playlist(&state, &user, id, spec)?))
}

/// `DELETE /api/playlists/{id}`: by a user covering its areas; refused while a schedule
/// uses it.
async fn delete_playlist(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<StatusCode, AppError> {
    programme::delete_playlist(&state, &user, id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/schedules`: every schedule with its next three start times.
async fn list_schedules(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, AppError> {
    Ok(Json(programme::list_schedules(&state, &user)?))
}

/// `POST /api/schedules`
async fn create_schedule(
    State(state): State<AppState>,
    user: AuthUser,
    Json(spec): Json<ScheduleSpec>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(programme::create_schedule(&state, &user, spec)?),
    ))
}

/// `GET /api/schedules/{id}?next=N`: the schedule, its next N start times and its runs of
/// the past week and the day ahead.
async fn get_schedule(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
    Query(q): Query<NextQuery>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(programme::get_schedule(&state, &user, id, q)?))
}

/// `PUT /api/schedules/{id}`: starts not yet begun are planned anew.
async fn update_schedule(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
    Json(spec): Json<ScheduleSpec>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(programme::update_schedule(&state, &user, id, spec)?))
}

/// `DELETE /api/schedules/{id}`: its starts not yet begun are withdrawn from the agents.
async fn delete_schedule(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<StatusCode, AppError> {
    programme::delete_schedule(&state, &user, id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/quiet-hours`
async fn get_quiet_hours(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<QuietHours>>, AppError> {
    Ok(Json(programme::get_quiet_hours(&state, &user)?))
}

/// `PUT /api/quiet-hours`: replaces every rule; every schedule is planned anew.
async fn put_quiet_hours(
    State(state): State<AppState>,
    user: AuthUser,
    Json(rules): Json<Vec<QuietHours>>,
) -> Result<Json<Vec<QuietHours>>, AppError> {
    Ok(Json(programme::put_quiet_hours(&state, &user, rules)?))
}

/// `POST /api/schedules/{id}/approve`: a second authorised user lets a held schedule run.
async fn approve_schedule(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(programme::approve_schedule(&state, &user, id)?))
}

//! `/api/playlists*`, `/api/schedules*`, `/api/quiet-hours`, `/api/holidays` and
//! `/api/programme/week`: thin handlers over `programme` and `week`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::calendar::HolidayCalendar;
use crate::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::http::over_agents;
use crate::programme::{self, NextQuery};
use crate::schedule::{PlaylistSpec, QuietHours, ScheduleSpec};
use crate::state::AppState;
use crate::week::{Week, WeekQuery};

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_playlists, create_playlist))
        .routes(routes!(get_playlist, update_playlist, delete_playlist))
        .routes(routes!(list_schedules, create_schedule))
        .routes(routes!(get_schedule, update_schedule, delete_schedule))
        .routes(routes!(approve_schedule))
        .routes(routes!(reject_schedule))
        .routes(routes!(get_quiet_hours, put_quiet_hours))
        .routes(routes!(get_holidays, put_holidays))
        .routes(routes!(get_week))
}

/// `GET /api/holidays`: the holiday calendar (public holidays and make-up workdays).
#[utoipa::path(get, path = "/api/holidays", tag = "programme", security(("bearer" = [])), responses((status = 200, body = HolidayCalendar), (status = 401, body = ErrorBody)))]
async fn get_holidays(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<HolidayCalendar>, AppError> {
    Ok(Json(programme::holidays(&state, &user)?))
}

/// `PUT /api/holidays` (an unscoped user): replaces the holiday calendar; every schedule's
/// starts not yet begun are planned anew.
#[utoipa::path(put, path = "/api/holidays", tag = "programme", security(("bearer" = [])), request_body = HolidayCalendar, responses((status = 200, description = "the calendar, in date order", body = HolidayCalendar), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_holidays(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(calendar): JsonBody<HolidayCalendar>,
) -> Result<Json<HolidayCalendar>, AppError> {
    Ok(Json(programme::set_holidays(&state, &user, calendar)?))
}

/// `GET /api/programme/week?from=DATE&area=CODE`: seven days of what the schedules play on
/// the caller's speakers (in an area), with quiet hours, holidays and clashes marked.
#[utoipa::path(get, path = "/api/programme/week", tag = "programme", security(("bearer" = [])), params(WeekQuery), responses((status = 200, body = Week), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn get_week(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<WeekQuery>,
) -> Result<Json<Week>, AppError> {
    Ok(Json(
        over_agents(state, user, |s, u| crate::week::week(s, u, q)).await?,
    ))
}

/// `GET /api/playlists`: the playlists whose areas overlap the user's.
#[utoipa::path(get, path = "/api/playlists", tag = "programme", security(("bearer" = [])), responses((status = 200, description = "the playlists whose areas overlap the caller's", body = Vec<Value>), (status = 401, body = ErrorBody)))]
async fn list_playlists(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, AppError> {
    Ok(Json(programme::list_playlists(&state, &user)?))
}

/// `POST /api/playlists`: the playlist is the user's, scoped to their areas.
#[utoipa::path(post, path = "/api/playlists", tag = "programme", security(("bearer" = [])), request_body = PlaylistSpec, responses((status = 201, description = "the playlist, the caller's, scoped to their areas", body = Value), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_playlist(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(spec): JsonBody<PlaylistSpec>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(programme::create_playlist(&state, &user, spec).await?),
    ))
}

/// `GET /api/playlists/{id}`: one playlist.
#[utoipa::path(get, path = "/api/playlists/{id}", tag = "programme", security(("bearer" = [])), params(("id" = u64, Path, description = "the playlist's id")), responses((status = 200, body = Value), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_playlist(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(programme::get_playlist(&state, &user, id)?))
}

/// `PUT /api/playlists/{id}`: by a user covering its areas; schedules that play it are
/// planned anew, and those approved by a second person wait for approval again.
#[utoipa::path(put, path = "/api/playlists/{id}", tag = "programme", security(("bearer" = [])), params(("id" = u64, Path, description = "the playlist's id")), request_body = PlaylistSpec, responses((status = 200, description = "the playlist, and `schedules_held_again`", body = Value), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_playlist(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
    JsonBody(spec): JsonBody<PlaylistSpec>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        programme::update_playlist(&state, &user, id, spec).await?,
    ))
}

/// `DELETE /api/playlists/{id}`: by a user covering its areas; refused while a schedule
/// uses it.
#[utoipa::path(delete, path = "/api/playlists/{id}", tag = "programme", security(("bearer" = [])), params(("id" = u64, Path, description = "the playlist's id")), responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_playlist(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<StatusCode, AppError> {
    programme::delete_playlist(&state, &user, id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/schedules`: every schedule with its next three start times.
#[utoipa::path(get, path = "/api/schedules", tag = "programme", security(("bearer" = [])), responses((status = 200, description = "every schedule the caller sees, with its next three start times", body = Vec<Value>), (status = 401, body = ErrorBody)))]
async fn list_schedules(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        over_agents(state, user, programme::list_schedules).await?,
    ))
}

/// `POST /api/schedules`: a new schedule (held for approval where the rule says so).
#[utoipa::path(post, path = "/api/schedules", tag = "programme", security(("bearer" = [])), request_body = ScheduleSpec, responses((status = 201, description = "the schedule with its next start times (`held` if it waits for approval)", body = Value), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_schedule(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(spec): JsonBody<ScheduleSpec>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(over_agents(state, user, |s, u| programme::create_schedule(s, u, spec)).await?),
    ))
}

/// `GET /api/schedules/{id}?next=N`: the schedule, its next N start times and its runs of
/// the past week and the day ahead.
#[utoipa::path(get, path = "/api/schedules/{id}", tag = "programme", security(("bearer" = [])), params(("id" = u64, Path, description = "the schedule's id"), NextQuery), responses((status = 200, description = "the schedule, its next start times and its runs", body = Value), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_schedule(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
    Query(q): Query<NextQuery>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        over_agents(state, user, move |s, u| {
            programme::get_schedule(s, u, id, q)
        })
        .await?,
    ))
}

/// `PUT /api/schedules/{id}`: starts not yet begun are planned anew.
#[utoipa::path(put, path = "/api/schedules/{id}", tag = "programme", security(("bearer" = [])), params(("id" = u64, Path, description = "the schedule's id")), request_body = ScheduleSpec, responses((status = 200, body = Value), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_schedule(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
    JsonBody(spec): JsonBody<ScheduleSpec>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        over_agents(state, user, move |s, u| {
            programme::update_schedule(s, u, id, spec)
        })
        .await?,
    ))
}

/// `DELETE /api/schedules/{id}`: its starts not yet begun are withdrawn from the agents.
#[utoipa::path(delete, path = "/api/schedules/{id}", tag = "programme", security(("bearer" = [])), params(("id" = u64, Path, description = "the schedule's id")), responses((status = 204, description = "deleted; its starts not yet begun withdrawn"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_schedule(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<StatusCode, AppError> {
    over_agents(state, user, move |s, u| {
        programme::delete_schedule(s, u, id)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/quiet-hours`: the quiet-hours rules.
#[utoipa::path(get, path = "/api/quiet-hours", tag = "programme", security(("bearer" = [])), responses((status = 200, body = Vec<QuietHours>), (status = 401, body = ErrorBody)))]
async fn get_quiet_hours(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<QuietHours>>, AppError> {
    Ok(Json(programme::get_quiet_hours(&state, &user)?))
}

/// `PUT /api/quiet-hours`: replaces every rule; every schedule is planned anew.
#[utoipa::path(put, path = "/api/quiet-hours", tag = "programme", security(("bearer" = [])), request_body = Vec<QuietHours>, responses((status = 200, body = Vec<QuietHours>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_quiet_hours(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(rules): JsonBody<Vec<QuietHours>>,
) -> Result<Json<Vec<QuietHours>>, AppError> {
    Ok(Json(programme::put_quiet_hours(&state, &user, rules)?))
}

/// `POST /api/schedules/{id}/reject`: a held schedule turned down by a second authorised
/// user (or withdrawn by its author): kept, disabled, with `rejected_by`.
#[utoipa::path(post, path = "/api/schedules/{id}/reject", tag = "programme", security(("bearer" = [])), params(("id" = u64, Path, description = "the schedule's id")), responses((status = 200, description = "the schedule, disabled, with `rejected_by`", body = Value), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn reject_schedule(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        over_agents(state, user, move |s, u| {
            programme::reject_schedule(s, u, id)
        })
        .await?,
    ))
}

/// `POST /api/schedules/{id}/approve`: a second authorised user lets a held schedule run.
#[utoipa::path(post, path = "/api/schedules/{id}/approve", tag = "programme", security(("bearer" = [])), params(("id" = u64, Path, description = "the schedule's id")), responses((status = 200, body = Value), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve_schedule(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        over_agents(state, user, move |s, u| {
            programme::approve_schedule(s, u, id)
        })
        .await?,
    ))
}

//! `/api/settings/*`: the approval rule and the CAP senders, thin handlers over
//! `approval` and `cap_senders`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::access::Action;
use crate::approval::ApprovalRule;
use crate::auth::AuthUser;
use crate::cap_senders::CapSender;
use crate::error::AppError;
use crate::state::AppState;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/settings/approval",
            get(get_approval).put(put_approval),
        )
        .route(
            "/api/settings/cap-senders",
            get(get_cap_senders).put(put_cap_senders),
        )
}

/// `GET /api/settings/approval`
async fn get_approval(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<ApprovalRule>, AppError> {
    user.require(Action::View)?;
    Ok(Json(crate::approval::rule(&state)?))
}

/// `PUT /api/settings/approval` (admins)
async fn put_approval(
    State(state): State<AppState>,
    user: AuthUser,
    Json(new): Json<ApprovalRule>,
) -> Result<Json<ApprovalRule>, AppError> {
    Ok(Json(crate::approval::set_rule(&state, &user, new)?))
}

/// `GET /api/settings/cap-senders` (admins)
async fn get_cap_senders(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<CapSender>>, AppError> {
    Ok(Json(crate::cap_senders::senders_for(&state, &user)?))
}

/// `PUT /api/settings/cap-senders` (admins): replaces the table.
async fn put_cap_senders(
    State(state): State<AppState>,
    user: AuthUser,
    Json(new): Json<Vec<CapSender>>,
) -> Result<Json<Vec<CapSender>>, AppError> {
    Ok(Json(crate::cap_senders::set_senders(&state, &user, new)?))
}

//! The HTTP API: `fn router(state) -> Router`, thin handlers, the HTTP face of
//! [`AppError`] (status and `{"error": {"code", "message"}}`, internals hidden),
//! authentication as the [`AuthUser`] extractor.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::BadLogin => (StatusCode::UNAUTHORIZED, "bad_login"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::TooSlow => (StatusCode::REQUEST_TIMEOUT, "too_slow"),
            Self::Internal(e) => {
                tracing::error!("internal error: {e:#}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        (
            status,
            Json(json!({"error": {"code": code, "message": self.to_string()}})),
        )
            .into_response()
    }
}

/// The whole HTTP surface, agents' endpoint included (in-process tests).
pub fn router(state: AppState) -> Router {
    router_for(state, true)
}

/// The agents' listener: only what agents need (`/agent/ws`, media downloads, a health
/// check). Anything else is refused with a pointer to the operators' listener, so the API
/// and the console are not exposed where every speaker on the network can reach them.
pub fn agents_router(state: AppState) -> Router {
    Router::new()
        .route("/agent/ws", get(agent_ws))
        .merge(crate::http::media::agent_routes())
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async {
            AppError::NotFound(
                "this is the agents' listener (/agent/ws and media only); the console and \
                 the API are on the operators' listener"
                    .into(),
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

/// The operators' listener: console, API and live sources; the agents' endpoint only if
/// `agents` (it is left out so agents can only connect over their own TLS listener).
pub fn router_for(state: AppState, agents: bool) -> Router {
    let agent_ws = if agents {
        get(agent_ws)
    } else {
        get(|| async {
            AppError::NotFound(
                "the agent endpoint is served over TLS only (the controller's agent listener)"
                    .into(),
            )
        })
    };
    Router::new()
        .route("/", get(crate::http::console::index))
        .route("/talk", get(crate::http::console::talk))
        .route("/console/{file}", get(crate::http::console::file))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route(
            "/api/openapi.json",
            get(|| async { Json(crate::http::openapi::document()) }),
        )
        .route("/api/login", post(crate::http::login::login))
        .route("/api/logout", post(crate::http::login::logout))
        .route("/api/audit", get(crate::http::audit::list))
        .route("/api/controller", get(controller_info))
        .route("/agent/ws", agent_ws)
        .merge(crate::http::settings::routes())
        .merge(crate::http::users::routes())
        .merge(crate::http::agents::routes())
        .merge(crate::http::media::routes())
        .merge(crate::http::programme::routes())
        .merge(crate::http::broadcasts::routes())
        .merge(crate::http::alerts::routes())
        .merge(crate::http::live::routes())
        // Request bodies: 1 MiB for everything but uploads, which the upload handler
        // limits itself while streaming them to disk, and CAP messages (embedded audio).
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .merge(crate::http::media::upload_routes())
        .merge(crate::http::cap::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::audit::record,
        ))
        .with_state(state)
}

/// `GET /agent/ws`: an agent's connection (`agent_link.rs` speaks the protocol).
async fn agent_ws(
    ws: axum::extract::ws::WebSocketUpgrade,
    State(state): State<AppState>,
) -> Response {
    crate::agent_link::limits(ws).on_upgrade(move |socket| crate::agent_link::run(socket, state))
}

async fn controller_info(
    State(state): State<AppState>,
    _user: AuthUser,
) -> Json<serde_json::Value> {
    Json(json!({
        "controller_id": state.identity.controller_id,
        "public_key": state.identity.signer.public_key().to_base64(),
        "tls_fingerprint": state.tls.fingerprint,
        "protocol_versions": dalaba_protocol::SUPPORTED_VERSIONS,
    }))
}

async fn metrics(State(state): State<AppState>) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &state.hub.metrics;
    format!(
        "# HELP dalaba_agents_online Agents connected now.\n# TYPE dalaba_agents_online gauge\ndalaba_agents_online {}\n\
         # HELP dalaba_messages_sent_total Messages queued to agents.\n# TYPE dalaba_messages_sent_total counter\ndalaba_messages_sent_total {}\n\
         # HELP dalaba_messages_dropped_total Messages dropped because an agent's queue was full.\n# TYPE dalaba_messages_dropped_total counter\ndalaba_messages_dropped_total {}\n\
         # HELP dalaba_broadcasts_active Broadcasts still running.\n# TYPE dalaba_broadcasts_active gauge\ndalaba_broadcasts_active {}\n\
         # HELP dalaba_receipts_total Receipts agents sent.\n# TYPE dalaba_receipts_total counter\ndalaba_receipts_total {}\n\
         # HELP dalaba_receipts_ignored_total Receipts not recorded: not this agent's broadcast, or after a final state.\n# TYPE dalaba_receipts_ignored_total counter\ndalaba_receipts_ignored_total {}\n",
        state.hub.online_count(),
        m.sent.load(Relaxed),
        m.dropped.load(Relaxed),
        crate::dispatch::active(&state).count(state.clock.now_us()),
        m.receipts.load(Relaxed),
        m.receipts_ignored.load(Relaxed),
    ) + &state.edge.metrics()
}

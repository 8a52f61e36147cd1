//! The HTTP API: the routers of both listeners, assembled from each resource module's
//! `routes()` through `utoipa_axum`'s `OpenApiRouter` (so each route is documented), the
//! HTTP face of [`AppError`] (status and `{"error": {"code", "message"}}`, internals
//! hidden), `/healthz`, `/metrics` and the controller's identity.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::openapi::{ApiDoc, ErrorBody, ErrorCode, ErrorDetail};
use crate::state::AppState;

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            Self::BadLogin => (StatusCode::UNAUTHORIZED, ErrorCode::BadLogin),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            Self::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge),
            Self::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            Self::TooSlow => (StatusCode::REQUEST_TIMEOUT, ErrorCode::TooSlow),
            Self::Internal(e) => {
                tracing::error!("internal error: {e:#}");
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.to_string(),
            },
        };
        (status, Json(body)).into_response()
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
    let (router, _) = OpenApiRouter::new()
        .routes(routes!(agent_ws))
        .merge(crate::http::media::agent_routes())
        .routes(routes!(healthz))
        .routes(routes!(agent_enrolment))
        .split_for_parts();
    router
        .fallback(|| async {
            AppError::NotFound(
                "this is the agents' listener (/agent/ws, /agent/enrolment and media only); \
                 the console and the API are on the operators' listener"
                    .into(),
            )
        })
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

/// The operators' listener: console, API and live sources; the agents' endpoint only if
/// `agents` (it is left out so agents can only connect over their own TLS listener).
pub fn router_for(state: AppState, agents: bool) -> Router {
    let (router, _) = operators(agents).split_for_parts();
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::audit::record,
        ))
        .with_state(state)
}

/// Every route of the operators' listener, with its documentation.
pub(crate) fn operators(agents: bool) -> OpenApiRouter<AppState> {
    let agent_endpoint = if agents {
        routes!(agent_ws)
    } else {
        routes!(agent_ws_tls_only)
    };
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::http::console::routes())
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .merge(crate::http::login::routes())
        .merge(crate::http::audit::routes())
        .merge(crate::http::alarms::routes())
        .routes(routes!(controller_info))
        .routes(agent_endpoint)
        .merge(crate::http::settings::routes())
        .merge(crate::http::users::routes())
        .merge(crate::http::agents::routes())
        .merge(crate::http::areas::routes())
        .merge(crate::http::events::routes())
        .merge(crate::http::media::routes())
        .merge(crate::http::programme::routes())
        .merge(crate::http::broadcasts::routes())
        .merge(crate::http::alerts::routes())
        .merge(crate::http::live::routes())
        .merge(crate::http::tts::routes())
        // Request bodies: 1 MiB for everything but uploads, which the upload handler
        // limits itself while streaming them to disk, installation lists and area outlines
        // (8 MiB each) and CAP
        // messages (embedded audio).
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .merge(crate::http::media::upload_routes())
        .merge(crate::http::agents::import_routes())
        .merge(crate::http::settings::outline_routes())
        .merge(crate::http::cap::routes())
}

/// `GET /agent/ws`: an agent's connection (`agent_link.rs` speaks the protocol).
#[utoipa::path(get, path = "/agent/ws", tag = "agents",
    responses((status = 101, description = "switching protocols: the agents' WebSocket (PROTOCOL.md)")))]
async fn agent_ws(
    ws: axum::extract::ws::WebSocketUpgrade,
    State(state): State<AppState>,
) -> Response {
    crate::agent_link::limits(ws).on_upgrade(move |socket| crate::agent_link::run(socket, state))
}

/// `GET /agent/ws` on the operators' listener when agents have their own TLS listener.
#[utoipa::path(get, path = "/agent/ws", tag = "agents",
    responses((status = 404, description = "served over TLS only, on the agents' listener", body = ErrorBody)))]
async fn agent_ws_tls_only() -> AppError {
    AppError::NotFound(
        "the agent endpoint is served over TLS only (the controller's agent listener)".into(),
    )
}

/// `POST /agent/enrolment` (agents' listener): the speaker a one-time token is for and
/// the command key to pin, for `dalaba-agent enrol` once it has pinned this listener's
/// certificate.
#[utoipa::path(post, path = "/agent/enrolment", tag = "agents",
    request_body = crate::agent_admin::EnrolmentQuery,
    responses(
        (status = 200, description = "the token's speaker", body = crate::agent_admin::EnrolmentDetails),
        (status = 404, description = "unknown, used or expired token", body = ErrorBody),
    ))]
async fn agent_enrolment(
    State(state): State<AppState>,
    crate::http::extract::JsonBody(query): crate::http::extract::JsonBody<
        crate::agent_admin::EnrolmentQuery,
    >,
) -> Result<Json<crate::agent_admin::EnrolmentDetails>, AppError> {
    Ok(Json(crate::agent_admin::enrolment_details(
        &state,
        &query.token,
    )?))
}

/// `GET /healthz`: liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "ok", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json")))]
async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::http::openapi::document(),
    )
        .into_response()
}

/// The controller's identity: what agents pin.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ControllerInfo {
    controller_id: String,
    /// The command key (base64).
    public_key: String,
    /// SHA-256 of the agents' TLS certificate.
    tls_fingerprint: String,
    /// Protocol versions it speaks.
    protocol_versions: Vec<u16>,
}

/// `GET /api/controller`: controller id and the public key agents pin.
#[utoipa::path(get, path = "/api/controller", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = ControllerInfo), (status = 401, body = ErrorBody)))]
async fn controller_info(State(state): State<AppState>, _user: AuthUser) -> Json<ControllerInfo> {
    Json(ControllerInfo {
        controller_id: state.identity.controller_id.clone(),
        public_key: state.identity.signer.public_key().to_base64(),
        tls_fingerprint: state.tls.fingerprint.clone(),
        protocol_versions: dalaba_protocol::SUPPORTED_VERSIONS.to_vec(),
    })
}

/// `GET /metrics`: Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "text exposition format", body = String)))]
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
        + &alarm_metrics(&state)
}

/// `dalaba_alarms_active{kind}`: how many alarms of each kind are active.
fn alarm_metrics(state: &AppState) -> String {
    let mut out = String::from(
        "# HELP dalaba_alarms_active Alarms raised and not cleared.\n# TYPE dalaba_alarms_active gauge\n",
    );
    for (kind, n) in crate::alarms::active_counts(state).unwrap_or_default() {
        out.push_str(&format!(
            "dalaba_alarms_active{{kind=\"{}\"}} {n}\n",
            kind.as_str()
        ));
    }
    out
}

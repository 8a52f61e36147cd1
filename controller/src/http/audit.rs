//! The audit log: every action through the API, with who, what, target, when, result and
//! where from. A middleware records it, so no handler can forget: every request with a
//! session that is not a plain read (and every live-source connection) is written after it
//! completes, and so is every login. Requests without a session are counted, not recorded.
//!
//! The target is taken from the request's JSON body with secrets removed (any key naming
//! a password, token, secret, key or configuration document is replaced by `"…"`), plus
//! the id the response created. The log is append-only: the API has no way to change it
//! and the database refuses updates and deletes. Admins read it (`GET /api/audit`) and
//! export it as CSV (`?format=csv`).

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::access::Action;
use crate::auth::{AuthUser, token_hash};
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::{AuditFilter, AuditRecord};

/// Largest JSON body read for the record (bigger bodies are noted by size only).
const MAX_CAPTURE: usize = 64 * 1024;

/// Keys whose values never reach the log.
fn secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "token",
        "secret",
        "key",
        "document",
        "signature",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// `value` with every secret replaced.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if secret(k) {
                    *v = Value::String("…".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Whether a body is JSON the way axum's `Json` extractor sees it: `application/json` or
/// any `application/*+json`, in any case, with any parameters.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|sub| sub == "json" || sub.ends_with("+json"))
}

fn user_of(state: &AppState, headers: &axum::http::HeaderMap) -> Option<String> {
    let token = crate::http::extract::bearer_token(headers)?;
    let id = state
        .storage
        .session_user(&token_hash(token), state.clock.now_us())
        .ok()??;
    state
        .storage
        .user_by_id(id)
        .ok()?
        .filter(|u| !u.disabled)
        .map(|u| u.name)
}

/// What a handler adds to its answer for the audit record: the user it acted for when the
/// request came without a session (a login), and what it did in words the body does not
/// carry (a CAP message's identifier, sender and areas).
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    /// Who, when the request had no session.
    pub user: Option<String>,
    /// What, in addition to the body.
    pub detail: Option<String>,
}

/// The middleware. The session is checked before anything reads the body: a request
/// without one is never a record (it is counted in [`crate::edge::Edge`]) unless it
/// succeeded, which only a login does, recorded as the user the login names in its answer
/// (never the name the body claims).
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let audited = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
        || path.ends_with("/source");
    if !audited || !path.starts_with("/api/") {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let source =
        crate::http::login::client_address(peer, request.headers(), &state.edge.trusted_proxies)
            .map(|a| a.to_string());
    let Some(user) = user_of(&state, request.headers()) else {
        let response = next.run(request).await;
        if response.status().is_success() {
            let note = response.extensions().get::<AuditNote>().cloned();
            let note = note.unwrap_or_default();
            let who = note.user.unwrap_or_else(|| "-".into());
            audit(&state, &who, &method, &path, note.detail, &response, source);
        } else if path == "/api/login" {
            crate::edge::Edge::count(&state.edge.login_failures);
        } else {
            crate::edge::Edge::count(&state.edge.anonymous_refused);
        }
        return response;
    };
    // A JSON body is read (within the limit every route has anyway) and put back; one too
    // large to note (an installation list) is noted by its size and left to its route's
    // own limit.
    let length = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let (request, mut target) = if let Some(n) = length.filter(|&n| n > MAX_CAPTURE) {
        (request, Some(format!("({n} bytes)")))
    } else if is_json(request.headers()) {
        let (parts, body) = request.into_parts();
        match axum::body::to_bytes(body, 1024 * 1024).await {
            Ok(bytes) => {
                let target = if bytes.len() <= MAX_CAPTURE {
                    serde_json::from_slice::<Value>(&bytes).ok().map(|mut v| {
                        redact(&mut v);
                        v.to_string()
                    })
                } else {
                    Some(format!("({} bytes)", bytes.len()))
                };
                (Request::from_parts(parts, Body::from(bytes)), target)
            }
            Err(e) => {
                let slow = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<crate::http::server::TooSlow>());
                let (response, what) = if slow {
                    (AppError::TooSlow.into_response(), "(body too slow)")
                } else {
                    let r = AppError::TooLarge("request body over 1 MiB".into());
                    (r.into_response(), "(body too large)")
                };
                audit(
                    &state,
                    &user,
                    &method,
                    &path,
                    Some(what.into()),
                    &response,
                    source,
                );
                return response;
            }
        }
    } else {
        (request, None)
    };
    let response = next.run(request).await;
    if let Some(detail) = response
        .extensions()
        .get::<AuditNote>()
        .and_then(|n| n.detail.clone())
    {
        target = Some(match target {
            Some(t) => format!("{t} {detail}"),
            None => detail,
        });
    }
    // The id a creation returned, if the answer is small JSON.
    let (response, created) = created_id(response).await;
    if let Some(id) = created {
        target = Some(match target {
            Some(t) => format!("{t} → {id}"),
            None => format!("→ {id}"),
        });
    }
    audit(&state, &user, &method, &path, target, &response, source);
    response
}

async fn created_id(response: Response) -> (Response, Option<String>) {
    if !is_json(response.headers()) || !response.status().is_success() {
        return (response, None);
    }
    // Only a small answer names what it created; a large one (an installation list's
    // tokens) goes out as it is.
    if axum::body::HttpBody::size_hint(response.body()).lower() > MAX_CAPTURE as u64 {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, 1024 * 1024).await {
        Ok(bytes) => {
            let id = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
                ["id", "alert_id", "broadcast_id"].iter().find_map(|k| {
                    v.get(*k)
                        .filter(|x| x.is_number())
                        .map(|x| format!("{k}={x}"))
                })
            });
            (Response::from_parts(parts, Body::from(bytes)), id)
        }
        // An API answer over 1 MiB does not exist; if one did, it is cut rather than held.
        Err(_) => (
            AppError::Internal(anyhow::anyhow!("response over 1 MiB")).into_response(),
            None,
        ),
    }
}

fn audit(
    state: &AppState,
    user: &str,
    method: &Method,
    path: &str,
    target: Option<String>,
    response: &Response,
    source: Option<String>,
) {
    let status = response.status();
    let record = AuditRecord {
        id: 0,
        at: state.clock.now_us(),
        user: user.to_owned(),
        action: format!("{method} {path}"),
        target,
        result: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        ),
        source,
    };
    if let Err(e) = state.storage.audit(&record) {
        tracing::error!("writing the audit log: {e}");
    }
}

/// Query of `GET /api/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many (default 200, at most 10,000).
    pub limit: Option<usize>,
    /// Only records with smaller ids (the next page).
    pub before: Option<u64>,
    /// Only this user's records.
    pub user: Option<String>,
    /// Only actions containing this, e.g. `POST` or `/api/users`.
    pub action: Option<String>,
    /// Only records aimed at something containing this: an area code, a speaker's id.
    pub target: Option<String>,
    /// Only from this time on (µs since 1970).
    pub since: Option<u64>,
    /// Only before this time (µs since 1970).
    pub until: Option<u64>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// This module's routes.
pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(list))
}

/// `GET /api/audit` (admins): the audit log, newest first; `?format=csv` for a spreadsheet.
#[utoipa::path(get, path = "/api/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, description = "the records (JSON, or CSV with `format=csv`)", body = Vec<AuditRecord>),
        (status = 401, body = crate::http::openapi::ErrorBody), (status = 403, body = crate::http::openapi::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    user.require(Action::Administer)?;
    let given = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let records = state.storage.audit_log(&AuditFilter {
        limit: q.limit.unwrap_or(200).clamp(1, 10_000),
        before: q.before,
        user: given(q.user),
        action: given(q.action),
        target: given(q.target),
        since: q.since,
        until: q.until,
    })?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(records).into_response()),
        Some("csv") => {
            use crate::http::csv::{field, response, time};
            Ok(response(
                "dalaba-audit.csv",
                "id,at,time_utc,user,action,target,result,source",
                records.iter().map(|r| {
                    format!(
                        "{},{},{},{},{},{},{},{}",
                        r.id,
                        r.at,
                        time(Some(r.at)),
                        field(&r.user),
                        field(&r.action),
                        field(r.target.as_deref().unwrap_or("")),
                        field(&r.result),
                        field(r.source.as_deref().unwrap_or("")),
                    )
                }),
            ))
        }
        Some(other) => Err(AppError::BadRequest(format!(
            "format {other:?}: json or csv"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_the_log() {
        let mut v = serde_json::json!({"name": "li", "password": "hunter2hunter2",
            "nested": [{"enrolment_token": "t", "Document": "[controller]"}],
            "target": {"areas": ["330106"]}, "new_password": "x"});
        redact(&mut v);
        let s = v.to_string();
        for secret in ["hunter2hunter2", "\"t\"", "[controller]", "\"x\""] {
            assert!(!s.contains(secret), "{secret} leaked: {s}");
        }
        assert!(s.contains("330106") && s.contains("\"li\""), "{s}");
    }
}

//! The OpenAPI 3.1 document served at `/api/openapi.json`, generated from the handlers
//! and their types: every route is mounted through `utoipa_axum`'s `OpenApiRouter` with
//! `routes!`, which takes a route's path and method from the handler's `#[utoipa::path]`,
//! so a route cannot exist without its documentation.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document's root: title, description, the bearer scheme, the error shape.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Dalaba controller API",
        description = "Emergency broadcast and loudspeaker controller. Authenticate with \
            POST /api/login and send the token as `Authorization: Bearer <token>`. Errors are \
            always {\"error\": {\"code\", \"message\"}}."
    ),
    modifiers(&Bearer),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme that secured operations name.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error's code and a message that says what to do.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code.
    pub code: ErrorCode,
    /// For people: what went wrong and what to do.
    pub message: String,
}

/// The stable error codes.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No session, or it ended.
    Unauthorized,
    /// Wrong name or password.
    BadLogin,
    /// The request is malformed or a value is out of range.
    BadRequest,
    /// No such thing (or not visible to the caller).
    NotFound,
    /// Not allowed for the caller's role or areas.
    Forbidden,
    /// In a state that does not allow it.
    Conflict,
    /// Larger than allowed.
    TooLarge,
    /// Too many requests: try again later.
    RateLimited,
    /// The client was too slow.
    TooSlow,
    /// The controller failed; the log says why.
    Internal,
}

/// The document, built from the operators' router (every route it mounts), once.
pub fn document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = crate::http::api::operators(true).into_openapi();
        finish(&mut doc);
        doc.to_json().unwrap_or_default()
    })
}

/// What the handlers' annotations leave to one place: operation ids unique across
/// modules (`get /api/agents/{id}` → `get_api_agents_id`), summaries without the route
/// they restate (a handler's doc comment starts with its method and path), and the
/// meaning of each error status.
fn finish(doc: &mut utoipa::openapi::OpenApi) {
    doc.info.license = None;
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation.as_mut() else {
                continue;
            };
            let id: String = format!("{method}{path}")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let id = id.trim_end_matches('_').replace("__", "_");
            operation.operation_id = Some(if path == "/" {
                format!("{id}_root")
            } else {
                id
            });
            operation.summary = operation.summary.as_deref().map(summary_of);
            for (status, response) in operation.responses.responses.iter_mut() {
                if let utoipa::openapi::RefOr::T(response) = response {
                    if response.description.is_empty() {
                        response.description = meaning(status).to_owned();
                    }
                }
            }
        }
    }
}

/// A handler's first doc line as a summary: "`PUT /api/x` (admins): replaces it." →
/// "Replaces it (admins)."
fn summary_of(line: &str) -> String {
    let line = line.replace('\n', " ");
    let Some((_route, rest)) = line.strip_prefix('`').and_then(|l| l.split_once('`')) else {
        return line;
    };
    let rest = rest.trim_start();
    let (who, rest) = match rest.strip_prefix('(').and_then(|r| r.split_once(')')) {
        Some((who, rest)) => (Some(who), rest),
        None => (None, rest),
    };
    let text = capitalised(rest.trim_start_matches(':').trim());
    match who {
        Some(who) => format!("{} ({who}).", text.trim_end_matches('.')),
        None => text,
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// What an error status means in this API.
fn meaning(status: &str) -> &'static str {
    match status {
        "400" => "bad request: the message names the field and what it takes",
        "401" => "no session, or it ended: log in",
        "403" => "not allowed for the caller's role or areas",
        "404" => "not found, or not visible to the caller",
        "409" => "not possible in the current state: the message says why",
        "413" => "too large",
        "422" => "the body does not have the expected shape",
        "429" => "too many requests: try again later",
        _ => "see the error's message",
    }
}

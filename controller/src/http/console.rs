//! The web console and the handheld page, served from files compiled into the binary
//! (`controller/console/`): nothing else to install, and what is served is what was
//! tested. Plain modules, no build step.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `(name, content type, contents)` of every console file.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../console/index.html"),
    ),
    (
        "talk.html",
        "text/html; charset=utf-8",
        include_str!("../../console/talk.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/app.js"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/live.js"),
    ),
    (
        "talk.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/talk.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../console/style.css"),
    ),
];

fn serve(name: &str) -> Response {
    let Some((_, kind, body)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut response = (*body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Scripts from here only (and the microphone tap, made from a blob); nothing framed.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self' blob:; connect-src 'self' ws: wss:; \
             style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /`: the operator console.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /talk`: the handheld page.
pub async fn talk() -> Response {
    serve("talk.html")
}

/// `GET /console/{file}`
pub async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

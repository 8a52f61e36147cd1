//! The web console and the handheld page, served from files compiled into the binary
//! (`controller/console/`): nothing else to install, and what is served is what was
//! tested. Plain modules, no build step.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

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
        "alerts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/alerts.js"),
    ),
    (
        "speech.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/speech.js"),
    ),
    (
        "speakers.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/speakers.js"),
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
        "speaker.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/speaker.js"),
    ),
    (
        "approvals.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/approvals.js"),
    ),
    (
        "programme.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/programme.js"),
    ),
    (
        "alarms.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/alarms.js"),
    ),
    (
        "accounts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/accounts.js"),
    ),
    (
        "map.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/map.js"),
    ),
    (
        "geo.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/geo.js"),
    ),
    // Leaflet 1.9.4 (BSD-2-Clause), vendored: console/vendor/leaflet/README.md.
    (
        "leaflet.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/vendor/leaflet/leaflet.js"),
    ),
    (
        "leaflet.css",
        "text/css; charset=utf-8",
        include_str!("../../console/vendor/leaflet/leaflet.css"),
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
    // Images from anywhere: the map's tiles come from the tile server a county names.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self' blob:; connect-src 'self' ws: wss:; \
             style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: http: https:; \
             frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(talk))
        .routes(routes!(file))
}

/// `GET /`: the operator console.
#[utoipa::path(get, path = "/", tag = "console",
    responses((status = 200, description = "the operator console (HTML)", content_type = "text/html")))]
async fn index() -> Response {
    serve("index.html")
}

/// `GET /talk`: the handheld page.
#[utoipa::path(get, path = "/talk", tag = "console",
    responses((status = 200, description = "the handheld talk page (HTML)", content_type = "text/html")))]
async fn talk() -> Response {
    serve("talk.html")
}

/// `GET /console/{file}`: the console's scripts and styles.
#[utoipa::path(get, path = "/console/{file}", tag = "console",
    params(("file" = String, Path, description = "a file of the console")),
    responses((status = 200, description = "the file"), (status = 404, description = "no such file")))]
async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

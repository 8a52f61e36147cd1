//! The OpenAPI document is generated from the handlers (`utoipa_axum`'s `routes!`), so a
//! route cannot exist without it (`tests/layers.rs` also refuses a plain `.route(` in the
//! HTTP layer). This checks the other way: every documented operation is routed (the
//! router answers it itself, never with its own 404 or 405), and each is described.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::router::{call, login, world};
use serde_json::Value;
use tower::ServiceExt as _;

#[tokio::test]
async fn every_documented_operation_is_routed_and_described() {
    let w = world();
    let s = &w.state;
    let (status, doc) = call(s, None, "GET", "/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Dalaba controller API");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() > 30, "{} paths", paths.len());
    let admin = login(s, "admin", &w.admin_password).await;
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(!summary.is_empty(), "{method} {path}: no summary");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}: no responses"
            );
            if op.get("security").is_some() {
                let codes = op["responses"].as_object().unwrap();
                assert!(
                    codes.contains_key("401"),
                    "{method} {path}: secured but no 401"
                );
            }
            // Logging out would end the session the other requests use.
            if path == "/api/logout" {
                continue;
            }
            let uri = path
                .replace("{id}", "999999")
                .replace("{hash}", &"0".repeat(64))
                .replace("{file}", "app.js");
            let req = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .header("authorization", format!("Bearer {admin}"))
                .body(Body::empty())
                .unwrap();
            let resp = dalaba_controller::http::api::router(s.clone())
                .oneshot(req)
                .await
                .unwrap();
            let status = resp.status();
            // A stream (the live-status events) never ends: its answer is enough.
            let streams = resp
                .headers()
                .get("content-type")
                .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
            if streams {
                assert_eq!(status, StatusCode::OK, "{method} {path}");
                continue;
            }
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: documented but not routed"
            );
            // The router's own 404 has no body; a handler's says what was not found.
            if status == StatusCode::NOT_FOUND {
                let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                assert!(
                    error["error"]["code"] == "not_found",
                    "{method} {path}: documented but not routed"
                );
            }
        }
    }
    assert!(operations > 45, "{operations} operations");
}

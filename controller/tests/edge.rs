//! The HTTP edge in process: requests without a session are counted, never recorded, and
//! every JSON body an operator sends is recorded whatever its exact content type.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::router::{call, login, world};
use dalaba_controller::http::api::router;
use serde_json::{Value, json};
use tower::ServiceExt as _;

async fn metric(state: &dalaba_controller::state::AppState, name: &str) -> u64 {
    let req = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let text = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
}

#[tokio::test]
async fn anonymous_requests_are_counted_not_recorded() {
    let w = world();
    let s = &w.state;
    for _ in 0..50 {
        let (status, _) = call(
            s,
            None,
            "POST",
            "/api/broadcasts",
            Some(json!({"name": "admin", "media_id": 1, "target": {"all": true}})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = call(
        s,
        None,
        "POST",
        "/api/login",
        Some(json!({"name": "admin", "password": "not the password"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let admin = login(s, "admin", &w.admin_password).await;
    let (_, log) = call(s, Some(&admin), "GET", "/api/audit?limit=1000", None).await;
    let records: Vec<&Value> = log.as_array().unwrap().iter().collect();
    assert_eq!(
        records.len(),
        1,
        "only the admin's own login is a record: {records:?}"
    );
    assert_eq!(records[0]["user"], "admin");
    assert_eq!(records[0]["action"], "POST /api/login");
    assert_eq!(metric(s, "dalaba_http_anonymous_refused_total").await, 50);
    assert_eq!(metric(s, "dalaba_login_failures_total").await, 1);
}

#[tokio::test]
async fn a_json_body_is_recorded_whatever_its_content_type_says() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    for (i, content_type) in [
        "Application/JSON; charset=UTF-8",
        "application/json;charset=utf-8",
        "application/vnd.dalaba+json",
    ]
    .iter()
    .enumerate()
    {
        let name = format!("clerk-{i}");
        let req = Request::builder()
            .method("POST")
            .uri("/api/users")
            .header("content-type", *content_type)
            .header("authorization", format!("Bearer {admin}"))
            .body(Body::from(
                json!({"name": name, "role": "viewer", "scopes": ["330106"]}).to_string(),
            ))
            .unwrap();
        let resp = router(s.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "{content_type}");
        let (_, log) = call(s, Some(&admin), "GET", "/api/audit?limit=1", None).await;
        let target = log[0]["target"].as_str().unwrap_or_default().to_owned();
        assert!(
            target.contains(&format!("\"name\":\"{name}\"")),
            "{content_type}: the record's target is {target:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn the_database_and_keys_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("c");
    let _ = dalaba_controller::open(&data).expect("open");
    for (file, mode) in [
        ("", 0o700),
        ("dalaba.sqlite", 0o600),
        ("controller.key", 0o600),
        ("tls.key", 0o600),
    ] {
        let got = std::fs::metadata(data.join(file))
            .expect(file)
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(got, mode, "{file:?} is {got:o}");
    }
}

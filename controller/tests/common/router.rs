//! The controller in process, through its real router and real SQLite: a world of four
//! speakers in two townships and a neighbouring county, two media items (one approved for
//! village heads), and the first admin.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dalaba_controller::http::api::router;
use dalaba_controller::state::AppState;
use dalaba_controller::storage::AgentRecord;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

pub struct World {
    pub _dir: tempfile::TempDir,
    pub state: AppState,
    pub admin_password: String,
}

pub fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, first) = dalaba_controller::open(&dir.path().join("c")).expect("open");
    for (id, area, group) in [
        ("dong-1", "330106001001", "east"),
        ("dong-2", "330106001002", "east"),
        ("xi-1", "330106002003", "west"),
        ("bei-1", "330107001001", "north"),
    ] {
        state
            .storage
            .create_agent(&AgentRecord::new(
                id.parse().unwrap(),
                id.into(),
                area.parse().unwrap(),
                vec![group.into()],
            ))
            .unwrap();
    }
    for (name, approved) in [("approved.wav", true), ("unapproved.wav", false)] {
        let id = state.storage.create_media(name, 0).unwrap();
        state
            .storage
            .media_ready(id, &format!("{id:064x}"), 100, 1000, 0.0)
            .unwrap();
        state.storage.set_media_approved(id, approved).unwrap();
    }
    World {
        _dir: dir,
        state,
        admin_password: first.admin_password.expect("first start"),
    }
}

pub async fn call(
    state: &AppState,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub async fn login(state: &AppState, name: &str, password: &str) -> String {
    let (status, body) = call(
        state,
        None,
        "POST",
        "/api/login",
        Some(json!({"name": name, "password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{name}: {body}");
    body["token"].as_str().unwrap().to_owned()
}

/// Creates user `name` (by `admin`) and logs them in.
pub async fn user(state: &AppState, admin: &str, name: &str, role: &str, scopes: Value) -> String {
    let (status, body) = call(
        state,
        Some(admin),
        "POST",
        "/api/users",
        Some(json!({"name": name, "role": role, "scopes": scopes, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    login(state, name, PASSWORD).await
}

/// `POST path` with an XML body (a CAP message) and an optional detached signature.
pub async fn post_xml(
    state: &AppState,
    token: &str,
    path: &str,
    xml: &str,
    signature: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/xml")
        .header("authorization", format!("Bearer {token}"));
    if let Some(sig) = signature {
        req = req.header("x-dalaba-signature", sig);
    }
    let resp = router(state.clone())
        .oneshot(req.body(Body::from(xml.to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Plans every schedule's starts up to `now` + the horizon (`scheduler::tick`) as the
/// scheduler does: on the blocking pool (it resolves every schedule to its speakers).
pub async fn tick(state: &AppState, now: u64) -> dalaba_controller::scheduler::TickReport {
    let state = state.clone();
    dalaba_controller::state::off_runtime(move || dalaba_controller::scheduler::tick(&state, now))
        .await
        .expect("the runtime is up")
        .expect("tick")
}

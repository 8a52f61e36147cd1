//! Accounts through the real router and real SQLite: disabling ends sessions, logins are
//! rate-limited per account and address without locking out a known device, the last
//! admin cannot be removed, and the audit log is append-only.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dalaba_controller::http::api::router;
use serde_json::json;
use tower::ServiceExt as _;

use common::router::{call, login, world};

#[tokio::test]
async fn accounts_disable_rate_limits_and_the_last_admin() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let (_, made) = call(
        s,
        Some(&admin),
        "POST",
        "/api/users",
        Some(json!({"name": "li", "role": "viewer"})),
    )
    .await;
    let generated = made["password"]
        .as_str()
        .expect("a generated password, shown once")
        .to_owned();
    let li = login(s, "li", &generated).await;
    let (status, me) = call(s, Some(&li), "GET", "/api/me", None).await;
    assert_eq!(
        (status, me["role"].as_str()),
        (StatusCode::OK, Some("viewer"))
    );
    // Disabled: the session ends and logging in is refused.
    let id = made["id"].as_i64().unwrap();
    let (status, _) = call(
        s,
        Some(&admin),
        "PATCH",
        &format!("/api/users/{id}"),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(s, Some(&li), "GET", "/api/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        s,
        None,
        "POST",
        "/api/login",
        Some(json!({"name": "li", "password": generated})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The last admin cannot be disabled or demoted.
    let (_, users) = call(s, Some(&admin), "GET", "/api/users", None).await;
    let admin_id = users[0]["id"].as_i64().unwrap();
    let (status, err) = call(
        s,
        Some(&admin),
        "PATCH",
        &format!("/api/users/{admin_id}"),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    // The admin's device token from an earlier login.
    let (status, earlier) = call(
        s,
        None,
        "POST",
        "/api/login",
        Some(json!({"name": "admin", "password": w.admin_password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{earlier}");
    let device = earlier["device"]
        .as_str()
        .expect("a device token")
        .to_owned();
    // Someone guesses five times, claiming to be admin: the account backs off for
    // logins without a device token, even the right password...
    for _ in 0..5 {
        let (status, _) = call(
            s,
            None,
            "POST",
            "/api/login",
            Some(json!({"name": "admin", "password": "wrong password"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, err) = call(
        s,
        None,
        "POST",
        "/api/login",
        Some(json!({"name": "admin", "password": w.admin_password})),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("try again in")
    );
    // ...but the guesser's failures never refuse the admin's own device.
    let (status, body) = call(
        s,
        None,
        "POST",
        "/api/login",
        Some(json!({"name": "admin", "password": w.admin_password, "device": device})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A device token is the account's: it does not free another account.
    let (status, _) = call(
        s,
        None,
        "POST",
        "/api/login",
        Some(json!({"name": "li", "password": "wrong password", "device": device})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Everything above is in the audit log, without a single password.
    let (status, log) = call(s, Some(&admin), "GET", "/api/audit?limit=1000", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = log.to_string();
    assert!(
        !text.contains(&w.admin_password)
            && !text.contains(&generated)
            && !text.contains("wrong password")
    );
    let actions: Vec<(String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["user"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
                r["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Failed logins are counters, not records: a body naming "admin" is not admin.
    assert!(
        !actions
            .iter()
            .any(|(_, action, result)| action == "POST /api/login" && !result.starts_with("200")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("admin".into(), "POST /api/login".into(), "200 OK".into())),
        "{actions:?}"
    );
    assert!(actions.contains(&("admin".into(), "PATCH /api/users/2".into(), "200 OK".into())));
    let created = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "POST /api/users")
        .unwrap();
    assert_eq!(
        created["target"],
        "{\"name\":\"li\",\"role\":\"viewer\"} → id=2"
    );
    // CSV export for the county's records.
    let req = Request::builder()
        .uri("/api/audit?format=csv")
        .header("authorization", format!("Bearer {admin}"))
        .body(Body::empty())
        .unwrap();
    let resp = router(s.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        csv.starts_with("id,at,time_utc,user,action,target,result,source\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\"{\"\"name\"\":\"\"li\"\",\"\"role\"\":\"\"viewer\"\"} → id=2\""),
        "{csv}"
    );
    // Append-only, even for someone holding the database file.
    let db = rusqlite::Connection::open(w._dir.path().join("c/dalaba.sqlite")).unwrap();
    for sql in ["DELETE FROM audit", "UPDATE audit SET user = 'nobody'"] {
        let err = db.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
}

/// A user changes their own password: the current one is asked for, the new one must
/// pass the rules, and then only the new one logs in (every session ends).
#[tokio::test]
async fn a_user_changes_their_own_password() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let (_, made) = call(
        s,
        Some(&admin),
        "POST",
        "/api/users",
        Some(json!({"name": "zhang", "role": "village_head", "scopes": ["330106001001"]})),
    )
    .await;
    let first = made["password"].as_str().expect("password").to_owned();
    let zhang = login(s, "zhang", &first).await;
    let change = |current: &str, new: &str| json!({"current": current, "new": new});
    let (status, body) = call(
        s,
        Some(&zhang),
        "POST",
        "/api/me/password",
        Some(change("wrong-password-1", "a new long password")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("current password"), "{body}");
    let (status, body) = call(
        s,
        Some(&zhang),
        "POST",
        "/api/me/password",
        Some(change(&first, "short")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = call(
        s,
        Some(&zhang),
        "POST",
        "/api/me/password",
        Some(change(&first, "东村喇叭 2026 new")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(s, Some(&zhang), "GET", "/api/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "sessions end");
    let again = login(s, "zhang", "东村喇叭 2026 new").await;
    let (status, me) = call(s, Some(&again), "GET", "/api/me", None).await;
    assert_eq!(
        (status, me["name"].as_str()),
        (StatusCode::OK, Some("zhang"))
    );
}

/// The audit log filtered by user, action, what it was aimed at (an area code, an id)
/// and time, as JSON and as CSV.
#[tokio::test]
async fn the_audit_log_is_filtered() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    for (name, scope) in [("wang", "330106001"), ("li", "330106002")] {
        let (status, _) = call(
            s,
            Some(&admin),
            "POST",
            "/api/users",
            Some(json!({"name": name, "role": "operator", "scopes": [scope]})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let by_admin = audit(s, &admin, "/api/audit?user=admin&action=POST%20/api/users").await;
    assert_eq!(by_admin.len(), 2, "{by_admin:?}");
    let one_area = audit(s, &admin, "/api/audit?target=330106002").await;
    assert_eq!(one_area.len(), 1, "{one_area:?}");
    assert!(
        one_area[0]["target"]
            .as_str()
            .is_some_and(|t| t.contains("\"li\"")),
        "{one_area:?}"
    );
    let newest = by_admin[0]["at"].as_u64().expect("at");
    let after = audit(
        s,
        &admin,
        &format!("/api/audit?action=/api/users&since={newest}"),
    )
    .await;
    assert_eq!(after.len(), 1, "since is inclusive: {after:?}");
    let before = audit(
        s,
        &admin,
        &format!("/api/audit?action=/api/users&until={newest}"),
    )
    .await;
    assert_eq!(before.len(), 1, "until is exclusive: {before:?}");
    let nobody = audit(s, &admin, "/api/audit?user=nobody").await;
    assert!(nobody.is_empty());
}

/// The audit records `query` answers.
async fn audit(
    s: &dalaba_controller::state::AppState,
    admin: &str,
    query: &str,
) -> Vec<serde_json::Value> {
    let (status, log) = call(s, Some(admin), "GET", query, None).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log.as_array().expect("records").clone()
}

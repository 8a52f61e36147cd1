//! Role × action × target: each case is expected to be allowed (its success status) or
//! refused (403, or 404 where the thing is outside what the user may even see), through the
//! real router and real SQLite. Agents are rows (offline: sends fail, which does not
//! matter for who may ask); a live call's or alert's effect is tested elsewhere.

mod common;

use axum::http::StatusCode;
use serde_json::{Value, json};

use common::router::{PASSWORD, call, login, world};

#[tokio::test]
async fn role_action_target_table() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    for (name, role, scopes) in [
        ("op-xihu", "operator", json!(["330106"])),
        ("op-dong", "operator", json!(["330106001"])),
        ("head-dong", "village_head", json!(["330106001001"])),
        ("viewer", "viewer", json!([])),
    ] {
        let (status, body) = call(
            s,
            Some(&admin),
            "POST",
            "/api/users",
            Some(json!({"name": name, "role": role, "scopes": scopes, "password": PASSWORD})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let tokens: std::collections::HashMap<&str, String> = {
        let mut m = std::collections::HashMap::new();
        m.insert("admin", admin.clone());
        for n in ["op-xihu", "op-dong", "head-dong", "viewer"] {
            m.insert(n, login(s, n, PASSWORD).await);
        }
        m
    };
    let expires = dalaba_controller::now_us() + 3_600_000_000;
    let bc = |target: Value, media: u64| json!({"media_id": media, "target": target});
    let live = |target: Value| json!({"target": target});
    let alert = |areas: Value| json!({"severity": "blue", "event": "drill", "areas": areas, "expires_at": expires, "mode": "drill"});

    // (who, method, path, body, expected status)
    let cases: Vec<(&str, &str, &str, Option<Value>, u16)> = vec![
        // Reading.
        ("viewer", "GET", "/api/agents", None, 200),
        ("viewer", "GET", "/api/broadcasts", None, 200),
        ("viewer", "GET", "/api/audit", None, 403),
        ("op-xihu", "GET", "/api/audit", None, 403),
        ("admin", "GET", "/api/audit", None, 200),
        ("head-dong", "GET", "/api/agents/xi-1", None, 404),
        ("head-dong", "GET", "/api/agents/dong-1", None, 200),
        // Stored-media broadcasts: the resolved speakers decide.
        (
            "viewer",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"agents": ["dong-1"]}), 1)),
            403,
        ),
        (
            "head-dong",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"agents": ["dong-1"]}), 1)),
            201,
        ),
        (
            "head-dong",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"agents": ["dong-1"]}), 2)),
            403,
        ),
        (
            "head-dong",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"agents": ["dong-2"]}), 1)),
            403,
        ),
        (
            "head-dong",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"areas": ["330106001"]}), 1)),
            403,
        ),
        (
            "head-dong",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"groups": ["east"]}), 1)),
            403,
        ),
        (
            "head-dong",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"all": true}), 1)),
            403,
        ),
        (
            "op-dong",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"areas": ["330106001"]}), 2)),
            201,
        ),
        (
            "op-dong",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"groups": ["east"]}), 2)),
            201,
        ),
        (
            "op-dong",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"areas": ["330106"]}), 2)),
            403,
        ),
        (
            "op-dong",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"groups": ["west"]}), 2)),
            403,
        ),
        (
            "op-dong",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"agents": ["dong-1", "xi-1"]}), 2)),
            403,
        ),
        (
            "op-xihu",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"areas": ["330106"]}), 2)),
            201,
        ),
        (
            "op-xihu",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"all": true}), 2)),
            403,
        ),
        (
            "admin",
            "POST",
            "/api/broadcasts",
            Some(bc(json!({"all": true}), 2)),
            201,
        ),
        // Live calls.
        (
            "viewer",
            "POST",
            "/api/live",
            Some(live(json!({"agents": ["dong-1"]}))),
            403,
        ),
        (
            "head-dong",
            "POST",
            "/api/live",
            Some(live(json!({"agents": ["dong-1"]}))),
            201,
        ),
        (
            "head-dong",
            "POST",
            "/api/live",
            Some(live(json!({"agents": ["xi-1"]}))),
            403,
        ),
        (
            "head-dong",
            "POST",
            "/api/live",
            Some(json!({"target": {"agents": ["dong-1"]}, "priority": "emergency"})),
            403,
        ),
        (
            "op-dong",
            "POST",
            "/api/live",
            Some(live(json!({"areas": ["330106001"]}))),
            201,
        ),
        (
            "op-dong",
            "POST",
            "/api/live",
            Some(live(json!({"all": true}))),
            403,
        ),
        // Alerts: their areas must lie inside the issuer's.
        (
            "head-dong",
            "POST",
            "/api/alerts",
            Some(alert(json!(["330106001001"]))),
            403,
        ),
        (
            "viewer",
            "POST",
            "/api/alerts",
            Some(alert(json!(["330106001"]))),
            403,
        ),
        (
            "op-dong",
            "POST",
            "/api/alerts",
            Some(alert(json!(["330106001"]))),
            201,
        ),
        (
            "op-dong",
            "POST",
            "/api/alerts",
            Some(alert(json!(["330106"]))),
            403,
        ),
        (
            "op-xihu",
            "POST",
            "/api/alerts",
            Some(alert(json!(["33"]))),
            403,
        ),
        // Agents.
        (
            "op-dong",
            "POST",
            "/api/agents",
            Some(json!({"id": "dong-9", "name": "dong-9", "area_code": "330106001009"})),
            201,
        ),
        (
            "op-dong",
            "POST",
            "/api/agents",
            Some(json!({"id": "bei-9", "name": "bei-9", "area_code": "330107001009"})),
            403,
        ),
        (
            "op-dong",
            "PATCH",
            "/api/agents/dong-9",
            Some(json!({"area_code": "330107001009"})),
            403,
        ),
        ("op-dong", "DELETE", "/api/agents/xi-1", None, 404),
        (
            "head-dong",
            "POST",
            "/api/agents/dong-1/config",
            Some(json!({"config_version": "x", "document": ""})),
            403,
        ),
        (
            "op-dong",
            "POST",
            "/api/agents/xi-1/config",
            Some(json!({"config_version": "x", "document": ""})),
            404,
        ),
        // A document the agent could not read is refused here, before it is sent.
        (
            "admin",
            "POST",
            "/api/agents/dong-1/config",
            Some(json!({"config_version": "x", "document": "[agent\nid = "})),
            400,
        ),
        ("viewer", "DELETE", "/api/agents/dong-1", None, 403),
        // Moving speakers to another controller is the administrator's alone, even
        // inside an operator's own area (it hands them over).
        (
            "op-dong",
            "POST",
            "/api/agents/move",
            Some(
                json!({"agents": ["dong-1"], "url": "ws://127.0.0.1:9/agent/ws", "public_key": "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik="}),
            ),
            403,
        ),
        (
            "admin",
            "POST",
            "/api/agents/move",
            Some(
                json!({"agents": ["dong-1"], "url": "ws://127.0.0.1:9/agent/ws", "public_key": "not a key"}),
            ),
            400,
        ),
        // Programme.
        (
            "head-dong",
            "POST",
            "/api/playlists",
            Some(json!({"name": "p", "items": [{"media_id": 1}]})),
            403,
        ),
        (
            "op-dong",
            "POST",
            "/api/playlists",
            Some(json!({"name": "p", "items": [{"media_id": 1}]})),
            201,
        ),
        (
            "op-dong",
            "POST",
            "/api/schedules",
            Some(
                json!({"name": "s", "cron": "0 7 * * *", "playlist_id": 0, "target": {"areas": ["330106001"]}}),
            ),
            201,
        ),
        (
            "op-dong",
            "POST",
            "/api/schedules",
            Some(
                json!({"name": "s", "cron": "0 7 * * *", "playlist_id": 0, "target": {"all": true}}),
            ),
            403,
        ),
        (
            "op-dong",
            "PUT",
            "/api/quiet-hours",
            Some(json!([{"area": "330106001", "start": "22:00", "end": "06:00"}])),
            403,
        ),
        (
            "admin",
            "PUT",
            "/api/quiet-hours",
            Some(json!([{"area": "330106", "start": "22:00", "end": "06:00"}])),
            200,
        ),
        // Media.
        (
            "head-dong",
            "POST",
            "/api/media/2/approval",
            Some(json!({"approved": true})),
            403,
        ),
        (
            "op-dong",
            "POST",
            "/api/media/2/approval",
            Some(json!({"approved": false})),
            200,
        ),
        // Users.
        (
            "op-xihu",
            "POST",
            "/api/users",
            Some(json!({"name": "x", "role": "admin"})),
            403,
        ),
        ("op-xihu", "GET", "/api/users", None, 403),
        (
            "admin",
            "POST",
            "/api/users",
            Some(json!({"name": "op-bad", "role": "operator", "scopes": []})),
            400,
        ),
        (
            "admin",
            "POST",
            "/api/users",
            Some(json!({"name": "head-bad", "role": "village_head", "scopes": ["330106001"]})),
            400,
        ),
        (
            "admin",
            "POST",
            "/api/users",
            Some(json!({"name": "weak", "role": "viewer", "password": "short"})),
            400,
        ),
    ];
    let mut playlist_id = 0u64;
    let mut failures = Vec::new();
    for (who, method, path, body, want) in cases {
        let body = body.map(|mut b| {
            if b.get("playlist_id").is_some() {
                b["playlist_id"] = json!(playlist_id);
            }
            b
        });
        let (status, answer) = call(s, Some(&tokens[who]), method, path, body.clone()).await;
        if path == "/api/playlists" && status == StatusCode::CREATED {
            playlist_id = answer["id"].as_u64().unwrap();
        }
        if status.as_u16() != want {
            failures.push(format!(
                "{who} {method} {path} {body:?}: {status} {answer}, expected {want}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A village head sees their own speaker only, and approved media only.
    let (_, agents) = call(s, Some(&tokens["head-dong"]), "GET", "/api/agents", None).await;
    let ids: Vec<&str> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["dong-1"]);
    let (_, media) = call(s, Some(&tokens["head-dong"]), "GET", "/api/media", None).await;
    assert_eq!(media.as_array().unwrap().len(), 1);
    // A scoped operator's log shows what reached their areas only.
    let (_, log) = call(s, Some(&tokens["op-dong"]), "GET", "/api/broadcasts", None).await;
    for b in log.as_array().unwrap() {
        let reach: Vec<&str> = b["agents"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(reach.iter().any(|a| a.starts_with("dong")), "{b}");
    }

    // Stopping: within scope only; an alert only by cancelling it.
    let (_, all) = call(s, Some(&tokens["admin"]), "GET", "/api/broadcasts", None).await;
    let find = |kind: &str, reach: &str, not: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|b| {
                let agents = b["agents"].as_array().unwrap();
                b["kind"] == kind
                    && agents.iter().any(|a| a == reach)
                    && !agents.iter().any(|a| a == not)
            })
            .map(|b| b["id"].as_u64().unwrap())
    };
    let everyone = find("media", "bei-1", "-").expect("admin's broadcast to all");
    let (status, _) = call(
        s,
        Some(&tokens["op-xihu"]),
        "POST",
        &format!("/api/broadcasts/{everyone}/stop"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "reaches bei-1, outside 330106"
    );
    let dong = find("media", "dong-2", "bei-1").expect("a broadcast to dong");
    let (status, _) = call(
        s,
        Some(&tokens["op-xihu"]),
        "POST",
        &format!("/api/broadcasts/{dong}/stop"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, alerts) = call(s, Some(&tokens["op-dong"]), "GET", "/api/alerts", None).await;
    let alert_id = alerts[0]["id"].as_u64().unwrap();
    let alert_b = alerts[0]["broadcast_id"].as_u64().unwrap();
    let (status, _) = call(
        s,
        Some(&tokens["op-dong"]),
        "POST",
        &format!("/api/broadcasts/{alert_b}/stop"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Only the issuer or an admin cancels an alert.
    let (status, _) = call(
        s,
        Some(&tokens["op-xihu"]),
        "POST",
        &format!("/api/alerts/{alert_id}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        s,
        Some(&tokens["op-dong"]),
        "POST",
        &format!("/api/alerts/{alert_id}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // A live call's source is only whoever announced it.
    let (_, call_) = call(
        s,
        Some(&tokens["head-dong"]),
        "POST",
        "/api/live",
        Some(live(json!({"agents": ["dong-1"]}))),
    )
    .await;
    let source = call_["source_url"].as_str().unwrap().to_owned();
    let (status, _) = call(s, Some(&tokens["op-dong"]), "GET", &source, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn wide_broadcasts_and_schedules_wait_for_a_second_person() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    operators(
        s,
        &admin,
        &[
            ("op-xihu", "330106"),
            ("op-xihu-2", "330106"),
            ("op-dong", "330106001"),
        ],
    )
    .await;
    let xihu = login(s, "op-xihu", PASSWORD).await;
    let xihu2 = login(s, "op-xihu-2", PASSWORD).await;
    let dong = login(s, "op-dong", PASSWORD).await;
    // Only admins set the rule.
    let rule = json!({"all_targets": true, "max_prefix_digits": 6, "min_speakers": 0, "quiet_hours": true});
    let (status, _) = call(
        s,
        Some(&xihu),
        "PUT",
        "/api/settings/approval",
        Some(rule.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(s, Some(&admin), "PUT", "/api/settings/approval", Some(rule)).await;
    assert_eq!(status, StatusCode::OK);

    // A village: sent at once. The whole county: held.
    let (status, _) = call(
        s,
        Some(&xihu),
        "POST",
        "/api/broadcasts",
        Some(json!({"media_id": 1, "target": {"areas": ["330106001"]}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, held) = call(
        s,
        Some(&xihu),
        "POST",
        "/api/broadcasts",
        Some(json!({"media_id": 1, "target": {"areas": ["330106"]}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    assert!(
        held["held"].as_str().unwrap().contains("whole area 330106"),
        "{held}"
    );
    let id = held["id"].as_u64().unwrap();
    let (_, shown) = call(
        s,
        Some(&xihu),
        "GET",
        &format!("/api/broadcasts/{id}"),
        None,
    )
    .await;
    assert_eq!(shown["receipts"], json!([]), "nothing was sent: {shown}");
    // Not by its author; not by someone whose areas do not cover it; by a peer, yes.
    let approve = format!("/api/broadcasts/{id}/approve");
    let (status, _) = call(s, Some(&xihu), "POST", &approve, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(s, Some(&dong), "POST", &approve, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, sent) = call(s, Some(&xihu2), "POST", &approve, None).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["approved_by"], "op-xihu-2");
    let (status, _) = call(s, Some(&xihu2), "POST", &approve, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "approved once");
    // Everyone, even from an admin: held.
    let (status, _) = call(
        s,
        Some(&admin),
        "POST",
        "/api/broadcasts",
        Some(json!({"media_id": 1, "target": {"all": true}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // A county-wide schedule waits too: nothing is planned until a peer approves.
    let (_, playlist) = call(
        s,
        Some(&xihu),
        "POST",
        "/api/playlists",
        Some(json!({"name": "p", "items": [{"media_id": 1}]})),
    )
    .await;
    let (status, sched) = call(s, Some(&xihu), "POST", "/api/schedules",
        Some(json!({"name": "county", "cron": "0 7 * * *", "playlist_id": playlist["id"], "target": {"areas": ["330106"]}}))).await;
    assert_eq!(status, StatusCode::CREATED, "{sched}");
    assert!(sched["held"].is_string(), "{sched}");
    let sid = sched["id"].as_u64().unwrap();
    let report = common::router::tick(s, dalaba_controller::now_us()).await;
    assert_eq!(report.planned, 0, "held schedules plan nothing");
    let (status, _) = call(
        s,
        Some(&xihu),
        "POST",
        &format!("/api/schedules/{sid}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, ok) = call(
        s,
        Some(&xihu2),
        "POST",
        &format!("/api/schedules/{sid}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    let report = common::router::tick(s, dalaba_controller::now_us()).await;
    assert_eq!(report.planned, 1);

    // A second held schedule, turned down: not by someone whose areas do not cover it; by
    // a peer, yes. It stays, disabled, with who turned it down, and plans nothing.
    let (_, sched) = call(s, Some(&xihu), "POST", "/api/schedules",
        Some(json!({"name": "county noon", "times": ["12:00"], "playlist_id": playlist["id"], "target": {"areas": ["330106"]}}))).await;
    assert!(sched["held"].is_string(), "{sched}");
    assert_eq!(sched["created_by_name"], "op-xihu");
    let reject = format!("/api/schedules/{}/reject", sched["id"]);
    let (status, _) = call(s, Some(&dong), "POST", &reject, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, turned) = call(s, Some(&xihu2), "POST", &reject, None).await;
    assert_eq!(status, StatusCode::OK, "{turned}");
    assert_eq!(
        (turned["rejected_by"].as_str(), turned["enabled"].as_bool()),
        (Some("op-xihu-2"), Some(false))
    );
    assert!(turned["held"].is_null(), "{turned}");
    let (status, _) = call(s, Some(&xihu2), "POST", &reject, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "turned down once");
    let report = common::router::tick(s, dalaba_controller::now_us()).await;
    assert_eq!(report.planned, 0, "{report:?}");
}

/// The approvals queue: `?held=true` lists what waits (who asked, why); a second person
/// turns one down (never sent, out of the queue), its author may withdraw one, and someone
/// whose areas do not cover it may not touch it.
#[tokio::test]
async fn held_broadcasts_are_queued_and_turned_down() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    operators(
        s,
        &admin,
        &[("op-xihu", "330106"), ("op-dong", "330106001")],
    )
    .await;
    let xihu = login(s, "op-xihu", PASSWORD).await;
    let dong = login(s, "op-dong", PASSWORD).await;
    let rule = json!({"max_prefix_digits": 6});
    let (status, _) = call(s, Some(&admin), "PUT", "/api/settings/approval", Some(rule)).await;
    assert_eq!(status, StatusCode::OK);
    let mut held = Vec::new();
    for _ in 0..2 {
        let (status, body) = call(
            s,
            Some(&xihu),
            "POST",
            "/api/broadcasts",
            Some(json!({"media_id": 1, "target": {"areas": ["330106"]}})),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        held.push(body["id"].as_u64().unwrap());
    }
    let queue = |token: String| async move {
        let (status, list) = call(s, Some(&token), "GET", "/api/broadcasts?held=true", None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list.as_array().unwrap().clone()
    };
    let waiting = queue(admin.clone()).await;
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    assert_eq!(waiting[0]["created_by_name"], "op-xihu");
    assert!(waiting[0]["held"].as_str().unwrap().contains("330106"));

    // Not by someone whose areas do not cover it; by the admin, yes: never sent.
    let reject = |id: u64| format!("/api/broadcasts/{id}/reject");
    let (status, _) = call(s, Some(&dong), "POST", &reject(held[0]), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(s, Some(&admin), "POST", &reject(held[0]), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, shown) = call(
        s,
        Some(&admin),
        "GET",
        &format!("/api/broadcasts/{}", held[0]),
        None,
    )
    .await;
    assert_eq!(shown["receipts"], json!([]), "never sent: {shown}");
    let (status, _) = call(
        s,
        Some(&admin),
        "POST",
        &format!("/api/broadcasts/{}/approve", held[0]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "turned down, not approvable");
    // Its author withdraws the other.
    let (status, _) = call(s, Some(&xihu), "POST", &reject(held[1]), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(queue(admin.clone()).await.is_empty());
    let (_, log) = call(s, Some(&admin), "GET", "/api/broadcasts", None).await;
    let rejected: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["rejected_by"].as_str())
        .collect();
    assert_eq!(rejected, ["op-xihu", "admin"]);
}

/// Makes each `(name, scope)` an operator with [`PASSWORD`], as `admin`.
async fn operators(s: &dalaba_controller::state::AppState, admin: &str, users: &[(&str, &str)]) {
    for (name, scope) in users {
        let (status, body) = call(
            s,
            Some(admin),
            "POST",
            "/api/users",
            Some(
                json!({"name": name, "role": "operator", "scopes": [scope], "password": PASSWORD}),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

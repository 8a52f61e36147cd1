//! Scope holds for content, not only for targets: alert audio, playlists, schedules, CAP
//! senders, priorities and levels, and what error texts give away. One test per finding of
//! the red-team pass, through the real router and real SQLite (the world of
//! `common::router`: dong-1, dong-2 in township 330106001, xi-1 in 330106002, bei-1 in the
//! next county 330107).

mod common;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::router::{call, login, post_xml, user, world};
use dalaba_controller::state::AppState;
use ed25519_dalek::Signer as _;
use serde_json::{Value, json};

fn expires() -> u64 {
    dalaba_controller::now_us() + 3_600_000_000
}

fn drill(areas: Value) -> Value {
    json!({"severity": "blue", "event": "drill", "areas": areas, "expires_at": expires(), "mode": "drill"})
}

async fn ok(state: &AppState, token: &str, method: &str, path: &str, body: Value) -> Value {
    let (status, out) = call(state, Some(token), method, path, Some(body)).await;
    assert!(status.is_success(), "{method} {path}: {status} {out}");
    out
}

#[tokio::test]
async fn alert_audio_is_never_looked_up_by_name() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    // What an upload named like the cached alert audio stores: a ready media item whose
    // name is the file's name.
    let forged = s
        .storage
        .create_media("alert audio (drill prelude)", 0)
        .unwrap();
    s.storage
        .media_ready(forged, &format!("{:064x}", 0xbad), 100, 1000, 0.0)
        .unwrap();
    let first = ok(s, &admin, "POST", "/api/alerts", drill(json!(["330107"]))).await;
    let audio = first["audio_media_id"].as_u64().expect("audio");
    assert_ne!(audio, forged, "the alert played the uploaded file");
    // The made audio is found again by what it is, not by name.
    let second = ok(s, &admin, "POST", "/api/alerts", drill(json!(["330106"]))).await;
    assert_eq!(second["audio_media_id"].as_u64(), Some(audio));
}

#[tokio::test]
async fn a_playlist_is_changed_only_within_its_scope_and_plays_only_there() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let dong = user(s, &admin, "op-dong", "operator", json!(["330106001"])).await;
    let items = json!({"name": "county news", "items": [{"media_id": 2}]});
    let county = ok(s, &admin, "POST", "/api/playlists", items.clone()).await;
    let county_id = county["id"].as_u64().unwrap();
    let path = format!("/api/playlists/{county_id}");
    // The operator of one township cannot edit or delete the admin's county playlist...
    let mine = json!({"name": "mine", "items": [{"media_id": 1}]});
    let (status, body) = call(s, Some(&dong), "PUT", &path, Some(mine.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = call(s, Some(&dong), "DELETE", &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // ...and their own playlist, even in a county-wide schedule of the admin's, plays only
    // in their township.
    let theirs = ok(s, &dong, "POST", "/api/playlists", mine).await;
    assert_eq!(theirs["areas"], json!(["330106001"]));
    let schedule = ok(
        s,
        &admin,
        "POST",
        "/api/schedules",
        json!({"name": "daily", "cron": "0 7 * * *", "playlist_id": theirs["id"],
               "target": {"areas": ["330106"]}}),
    )
    .await;
    let now = dalaba_controller::now_us();
    common::router::tick(s, now).await;
    let shown = ok(
        s,
        &admin,
        "GET",
        &format!("/api/schedules/{}", schedule["id"]),
        Value::Null,
    )
    .await;
    let run = &shown["runs"][0];
    assert_eq!(run["state"], "planned", "{shown}");
    let b = run["broadcasts"][0].as_u64().unwrap();
    let spec: Value = serde_json::to_value(s.storage.broadcast_spec(b).unwrap().unwrap()).unwrap();
    assert_eq!(spec["agents"], json!(["dong-1", "dong-2"]), "{spec}");
    assert!(
        run["detail"]
            .as_str()
            .unwrap()
            .contains("xi-1: outside the areas of playlist"),
        "{run}"
    );
}

#[tokio::test]
async fn an_approval_binds_to_the_playlist_it_approved() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let xihu = user(s, &admin, "op-xihu", "operator", json!(["330106"])).await;
    ok(
        s,
        &admin,
        "PUT",
        "/api/settings/approval",
        json!({"min_speakers": 2}),
    )
    .await;
    let playlist = ok(
        s,
        &xihu,
        "POST",
        "/api/playlists",
        json!({"name": "policy", "items": [{"media_id": 1}]}),
    )
    .await;
    let schedule = ok(
        s,
        &xihu,
        "POST",
        "/api/schedules",
        json!({"name": "daily", "cron": "0 7 * * *", "playlist_id": playlist["id"],
               "target": {"areas": ["330106"]}}),
    )
    .await;
    assert!(schedule["held"].is_string(), "{schedule}");
    let sid = schedule["id"].as_u64().unwrap();
    let approved = ok(
        s,
        &admin,
        "POST",
        &format!("/api/schedules/{sid}/approve"),
        Value::Null,
    )
    .await;
    assert!(approved["held"].is_null());
    // The author changes what the approved schedule plays: it waits again, and says why.
    let changed = ok(
        s,
        &xihu,
        "PUT",
        &format!("/api/playlists/{}", playlist["id"]),
        json!({"name": "policy", "items": [{"media_id": 2}]}),
    )
    .await;
    assert_eq!(changed["schedules_held_again"], json!([sid]));
    let shown = ok(
        s,
        &xihu,
        "GET",
        &format!("/api/schedules/{sid}"),
        Value::Null,
    )
    .await;
    let why = shown["held"].as_str().unwrap_or_default();
    assert!(
        why.contains("changed by op-xihu after admin approved it"),
        "{shown}"
    );
    assert!(shown["approved_by"].is_null());
}

#[tokio::test]
async fn schedules_are_seen_only_where_they_reach() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let dong = user(s, &admin, "op-dong", "operator", json!(["330106001"])).await;
    let playlist = ok(
        s,
        &admin,
        "POST",
        "/api/playlists",
        json!({"name": "north", "items": [{"media_id": 1}]}),
    )
    .await;
    let schedule = ok(
        s,
        &admin,
        "POST",
        "/api/schedules",
        json!({"name": "north only", "cron": "0 7 * * *", "playlist_id": playlist["id"],
               "target": {"areas": ["330107"]}}),
    )
    .await;
    let (status, _) = call(
        s,
        Some(&dong),
        "GET",
        &format!("/api/schedules/{}", schedule["id"]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = call(s, Some(&dong), "GET", "/api/schedules", None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn agent_ids_cannot_be_probed_through_errors() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let dong = user(s, &admin, "op-dong", "operator", json!(["330106001"])).await;
    let mut answers = Vec::new();
    for id in ["bei-1", "no-such-agent"] {
        let (status, body) = call(
            s,
            Some(&dong),
            "POST",
            "/api/broadcasts",
            Some(json!({"media_id": 2, "target": {"agents": [id]}})),
        )
        .await;
        answers.push((
            status,
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .replace(id, "ID"),
        ));
    }
    assert!(!answers[0].1.is_empty(), "{answers:?}");
    assert_eq!(
        answers[0], answers[1],
        "an existing agent outside answers differently"
    );
    // A target by group names no speaker outside.
    let (status, body) = call(
        s,
        Some(&dong),
        "POST",
        "/api/broadcasts",
        Some(json!({"media_id": 2, "target": {"groups": ["north"]}})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!body.to_string().contains("bei-1"), "{body}");
}

#[tokio::test]
async fn priority_and_level_come_from_the_user_not_the_request() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let head = user(
        s,
        &admin,
        "head-dong",
        "village_head",
        json!(["330106001001"]),
    )
    .await;
    let dong = user(s, &admin, "op-dong", "operator", json!(["330106001"])).await;
    let xihu = user(s, &admin, "op-xihu", "operator", json!(["330106"])).await;
    let bc = |priority: &str| json!({"media_id": 1, "target": {"agents": ["dong-1"]}, "priority": priority});
    for (token, priority, expected) in [
        (&head, "emergency", StatusCode::FORBIDDEN),
        (&head, "live", StatusCode::FORBIDDEN),
        (&head, "scheduled", StatusCode::CREATED),
        (&dong, "emergency", StatusCode::FORBIDDEN),
        (&dong, "live", StatusCode::CREATED),
    ] {
        let (status, body) = call(
            s,
            Some(token),
            "POST",
            "/api/broadcasts",
            Some(bc(priority)),
        )
        .await;
        assert_eq!(status, expected, "{priority}: {body}");
        if priority == "emergency" {
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("/api/alerts"),
                "{body}"
            );
        }
    }
    // The level travels in the signed command, from the user's scope.
    let (_, sent) = call(
        s,
        Some(&dong),
        "POST",
        "/api/broadcasts",
        Some(bc("scheduled")),
    )
    .await;
    let spec: Value = serde_json::to_value(
        s.storage
            .broadcast_spec(sent["id"].as_u64().unwrap())
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(spec["play"]["level"], "township", "{spec}");
    // An alert cannot claim a level; it gets its issuer's.
    let mut claim = drill(json!(["330106"]));
    claim["level"] = json!("national");
    let (status, body) = call(s, Some(&xihu), "POST", "/api/alerts", Some(claim)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let county = ok(s, &xihu, "POST", "/api/alerts", drill(json!(["330106"]))).await;
    assert_eq!(county["level"], "county");
    let national = ok(s, &admin, "POST", "/api/alerts", drill(json!(["330106"]))).await;
    assert_eq!(national["level"], "national");
}

fn key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

fn sign(seed: u8, xml: &str) -> String {
    B64.encode(key(seed).sign(xml.as_bytes()).to_bytes())
}

/// A CAP drill from `sender` for GB/T 2260 code `area`.
fn cap(identifier: &str, sender: &str, msg_type: &str, references: &str, area: &str) -> String {
    let expires = chrono::DateTime::from_timestamp_micros(expires() as i64)
        .unwrap()
        .to_rfc3339();
    let refs = if references.is_empty() {
        String::new()
    } else {
        format!("<references>{references}</references>")
    };
    format!(
        r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>{sender}</sender>
  <sent>2026-11-23T10:00:00+08:00</sent><status>Exercise</status>
  <msgType>{msg_type}</msgType><scope>Public</scope>{refs}
  <info><event>暴雨</event><urgency>Immediate</urgency><severity>Severe</severity>
    <certainty>Observed</certainty><expires>{expires}</expires><headline>演练</headline>
    <area><areaDesc>x</areaDesc><geocode><valueName>GB2260</valueName><value>{area}</value></geocode></area>
  </info>
</alert>"#
    )
}

#[tokio::test]
async fn cap_messages_act_only_as_a_configured_sender_inside_its_and_the_users_areas() {
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let dong = user(s, &admin, "op-dong", "operator", json!(["330106001"])).await;
    let pub_key = |seed| B64.encode(key(seed).verifying_key().as_bytes());
    ok(
        s,
        &admin,
        "PUT",
        "/api/settings/cap-senders",
        json!([
            {"sender": "county@feed", "keys": [pub_key(1)], "areas": ["330106"]},
            {"sender": "city@feed", "keys": [pub_key(2)], "areas": ["3301"]},
            {"sender": "plain@feed", "areas": ["330106"]},
        ]),
    )
    .await;
    // The county feed's real alert, imported by the admin.
    let real = cap("c-1", "county@feed", "Alert", "", "330106000000");
    let (status, held) = post_xml(s, &admin, "/api/alerts/cap", &real, Some(&sign(1, &real))).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let refs = "county@feed,c-1,2026-11-23T10:00:00+08:00";
    // A township operator cannot cancel it: unsigned, or signed with another feed's key.
    let cancel = cap("c-2", "county@feed", "Cancel", refs, "330106000000");
    let (status, body) = post_xml(s, &dong, "/api/alerts/cap", &cancel, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = post_xml(
        s,
        &admin,
        "/api/alerts/cap",
        &cancel,
        Some(&sign(2, &cancel)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Nor speak for an unsigned county-wide feed (taking its next identifier).
    let squat = cap("p-7", "plain@feed", "Alert", "", "330106001000");
    let (status, body) = post_xml(s, &dong, "/api/alerts/cap", &squat, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The audit log names each CAP message by identifier, sender and areas, allowed or not.
    let (_, log) = call(s, Some(&admin), "GET", "/api/audit?limit=100", None).await;
    let cap_records: Vec<(String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "POST /api/alerts/cap")
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (field("user"), field("target"), field("result"))
        })
        .collect();
    for (user, identifier, result) in [
        ("admin", "identifier=c-1 sender=county@feed", "201"),
        ("op-dong", "identifier=c-2 sender=county@feed", "403"),
        ("op-dong", "identifier=p-7 sender=plain@feed", "403"),
    ] {
        assert!(
            cap_records.iter().any(|(u, t, r)| u == user
                && t.contains(identifier)
                && t.contains("areas=330106")
                && r.starts_with(result)),
            "{user} {identifier} {result} not in {cap_records:?}"
        );
    }
    // A signed message is still held to the importing user's areas (xi is not dong's)...
    let xi = cap("c-3", "county@feed", "Alert", "", "330106002000");
    let (status, body) = post_xml(s, &dong, "/api/alerts/cap", &xi, Some(&sign(1, &xi))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // ...and to the sender's (the next county is not the county feed's).
    let north = cap("c-4", "county@feed", "Alert", "", "330107000000");
    let (status, body) =
        post_xml(s, &admin, "/api/alerts/cap", &north, Some(&sign(1, &north))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // An unknown sender is refused whatever it signs with.
    let stranger = cap("x-1", "stranger@feed", "Alert", "", "330106000000");
    let (status, body) = post_xml(
        s,
        &admin,
        "/api/alerts/cap",
        &stranger,
        Some(&sign(1, &stranger)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The feed's own cancel works, and its alerts carry the sender's level.
    let (status, done) = post_xml(
        s,
        &admin,
        "/api/alerts/cap",
        &cancel,
        Some(&sign(1, &cancel)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["cancelled"], json!([held["alert_id"]]));
    let city = cap("t-1", "city@feed", "Alert", "", "330106000000");
    let (_, held) = post_xml(s, &admin, "/api/alerts/cap", &city, Some(&sign(2, &city))).await;
    let shown = ok(
        s,
        &admin,
        "GET",
        &format!("/api/alerts/{}", held["alert_id"]),
        Value::Null,
    )
    .await;
    assert_eq!(shown["level"], "city");
}

#[tokio::test]
async fn an_agent_reports_only_on_broadcasts_sent_to_it() {
    use dalaba_controller::storage::{ReceiptRecord, ReceiptStatus};
    let w = world();
    let s = &w.state;
    let admin = login(s, "admin", &w.admin_password).await;
    let sent = ok(
        s,
        &admin,
        "POST",
        "/api/broadcasts",
        json!({"media_id": 1, "target": {"agents": ["dong-1"]}}),
    )
    .await;
    let b = sent["id"].as_u64().unwrap();
    let receipt =
        |agent: &str, broadcast| ReceiptRecord::new(broadcast, agent, ReceiptStatus::Done, None, 1);
    let record = |agent: &str, broadcast| {
        dalaba_controller::broadcast::record_agent_receipt(
            s,
            &agent.parse().unwrap(),
            &receipt(agent, broadcast),
        )
        .unwrap()
    };
    // What the agent link does with each receipt it reads.
    assert!(!record("xi-1", b), "a neighbour's broadcast");
    assert!(!record("xi-1", 9_999), "a broadcast that does not exist");
    assert!(record("dong-1", b));
    let receipts = s.storage.receipts(b).unwrap();
    let agents: Vec<&str> = receipts.iter().map(|r| r.agent_id.as_str()).collect();
    // dong-1's own (offline: "unreachable"), replaced by its report; nothing from xi-1.
    assert_eq!(agents, ["dong-1"]);
}

#[tokio::test]
async fn playlists_made_before_owners_become_the_admins() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("c");
    let (state, _) = dalaba_controller::open(&data).unwrap();
    drop(state);
    // A database as the previous version left it: a playlist without owner or areas.
    let db = rusqlite::Connection::open(data.join("dalaba.sqlite")).unwrap();
    db.execute_batch(
        "INSERT INTO docs (kind, json, updated_at) VALUES
            ('playlist', '{\"name\":\"old\",\"items\":[{\"media_id\":1}]}', 0);
         ALTER TABLE receipts DROP COLUMN resumed_at;
         DROP TABLE area_names;
         ALTER TABLE agents DROP COLUMN lat;
         ALTER TABLE agents DROP COLUMN lon;
         DROP TABLE agent_log;
         DROP INDEX receipts_agent;
         DROP TABLE alarms;
         PRAGMA user_version = 5;",
    )
    .unwrap();
    drop(db);
    let (state, _) = dalaba_controller::open(&data).unwrap();
    let doc = &state.storage.docs("playlist").unwrap()[0];
    let json: Value = serde_json::from_str(&doc.json).unwrap();
    let admin = state.storage.user_by_name("admin").unwrap().unwrap();
    assert_eq!(json["owner"], json!(admin.id), "{json}");
    assert_eq!(json["areas"], json!([]));
    assert_eq!(json["name"], "old");
}

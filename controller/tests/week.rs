//! Schedules without cron, the holiday calendar and the week view, through the real router
//! and real SQLite: what plays where over seven days, quiet hours, holidays, make-up
//! workdays, and clashes marked before they happen.

mod common;

use axum::http::StatusCode;
use common::router::{call, login, user, world};
use serde_json::{Value, json};

/// The 2026 National Day week: 1–7 October off, 27 September and 10 October worked.
fn national_day() -> Value {
    let mut days = vec![
        json!({"date": "2026-09-27", "kind": "workday", "name": "国庆节调休"}),
        json!({"date": "2026-10-10", "kind": "workday", "name": "国庆节调休"}),
    ];
    days.extend(
        (1..=7)
            .map(|d| json!({"date": format!("2026-10-0{d}"), "kind": "holiday", "name": "国庆节"})),
    );
    json!({ "days": days })
}

/// `(day, start, schedule name, speakers, quiet, clashes with)` of each run.
fn runs(week: &Value) -> Vec<(u64, String, String, u64, u64, Vec<String>)> {
    week["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["day"].as_u64().unwrap(),
                r["start_local"].as_str().unwrap().to_owned(),
                r["name"].as_str().unwrap().to_owned(),
                r["speakers"].as_u64().unwrap(),
                r["quiet"].as_u64().unwrap(),
                r["clashes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["name"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_week_shows_holidays_quiet_hours_and_clashes() {
    let w = world();
    let admin = login(&w.state, "admin", &w.admin_password).await;
    let s = &w.state;

    // The calendar: an admin sets it; a date twice is refused with the date; a village
    // head may read it but not set it.
    let (status, body) = call(
        s,
        Some(&admin),
        "PUT",
        "/api/holidays",
        Some(national_day()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["days"][0]["date"], "2026-09-27", "kept in date order");
    let mut twice = national_day();
    twice["days"]
        .as_array_mut()
        .unwrap()
        .push(json!({"date": "2026-10-01", "kind": "workday"}));
    let (status, body) = call(s, Some(&admin), "PUT", "/api/holidays", Some(twice)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2026-10-01 appears twice"),
        "{body}"
    );
    let head = user(
        s,
        &admin,
        "dong-head",
        "village_head",
        json!(["330106001001"]),
    )
    .await;
    let (status, _) = call(s, Some(&head), "PUT", "/api/holidays", Some(national_day())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(s, Some(&head), "GET", "/api/holidays", None).await;
    assert_eq!(
        (status, body["days"].as_array().unwrap().len()),
        (StatusCode::OK, 9)
    );

    // The county is quiet from 22:00 to 06:30.
    let (status, body) = call(
        s,
        Some(&admin),
        "PUT",
        "/api/quiet-hours",
        Some(json!([{"area": "330106", "start": "22:00", "end": "06:30"}])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A playlist of one 1 s item played twice with 1 s between: 3 s.
    let (status, playlist) = call(
        s,
        Some(&admin),
        "POST",
        "/api/playlists",
        Some(json!({"name": "反诈", "items": [{"media_id": 1, "repeat": 2, "gap_ms": 1000}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{playlist}");
    let schedule = |name: &str, fields: Value| {
        let mut spec = json!({"name": name, "playlist_id": playlist["id"]});
        for (k, v) in fields.as_object().unwrap() {
            spec[k] = v.clone();
        }
        spec
    };
    for spec in [
        // Workdays at 07:00 in the east township, following the calendar.
        schedule(
            "工作日早间",
            json!({"times": ["07:00"], "weekdays": ["mon", "tue", "wed", "thu", "fri"],
            "holidays": "follow", "target": {"areas": ["330106001"]}}),
        ),
        // Every day at 07:00 on one of its speakers: a clash on workdays.
        schedule(
            "东村每日",
            json!({"times": ["07:00"], "target": {"agents": ["dong-1"]}}),
        ),
        // 07:00 in the other county: same time, other speakers, no clash.
        schedule(
            "北县每日",
            json!({"times": ["07:00"], "target": {"areas": ["330107"]}}),
        ),
        // 23:00 in the west village: inside the quiet hours.
        schedule(
            "西村夜间",
            json!({"times": ["23:00"], "target": {"agents": ["xi-1"]}}),
        ),
    ] {
        let (status, body) = call(s, Some(&admin), "POST", "/api/schedules", Some(spec)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(body.get("cron").is_none(), "no cron was typed: {body}");
    }

    // The week from Monday 28 September.
    let (status, week) = call(
        s,
        Some(&admin),
        "GET",
        "/api/programme/week?from=2026-09-28",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{week}");
    assert_eq!(week["speakers"], 4);
    assert_eq!(week["days"][3]["date"], "2026-10-01");
    assert_eq!(week["days"][3]["calendar"]["kind"], "holiday");
    assert_eq!(week["days"][3]["weekday"], "thu");
    assert_eq!(week["quiet"][0]["area"], "330106");
    assert_eq!(week["quiet"][0]["speakers"], 3, "{week}");
    let all = runs(&week);
    let of = |name: &str| all.iter().filter(|r| r.2 == name).collect::<Vec<_>>();
    // Workdays: Monday to Wednesday only (Thursday on are the holidays).
    let workdays = of("工作日早间");
    assert_eq!(workdays.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(
        workdays
            .iter()
            .all(|r| r.1 == "07:00" && r.3 == 2 && r.5 == ["东村每日"]),
        "{workdays:?}"
    );
    let daily = of("东村每日");
    assert_eq!(daily.len(), 7);
    assert_eq!(
        daily.iter().filter(|r| !r.5.is_empty()).count(),
        3,
        "clashes on workdays only"
    );
    assert!(of("北县每日").iter().all(|r| r.3 == 1 && r.5.is_empty()));
    let night = of("西村夜间");
    assert_eq!(night.len(), 7);
    assert!(
        night.iter().all(|r| r.3 == 0 && r.4 == 1),
        "quiet: {night:?}"
    );
    let first = &week["runs"][0];
    assert_eq!(
        (first["start_local"].as_str(), first["end_local"].as_str()),
        (Some("07:00"), Some("07:00"))
    );
    assert_eq!(
        first["end"].as_u64().unwrap() - first["start"].as_u64().unwrap(),
        3_000_000
    );

    // The week after: 10 October is a make-up workday (a Saturday).
    let (_, next) = call(
        s,
        Some(&admin),
        "GET",
        "/api/programme/week?from=2026-10-05",
        None,
    )
    .await;
    let days: Vec<u64> = runs(&next)
        .iter()
        .filter(|r| r.2 == "工作日早间")
        .map(|r| r.0)
        .collect();
    assert_eq!(days, [3, 4, 5], "8, 9 and 10 October");

    // One area: only its speakers and runs.
    let (_, north) = call(
        s,
        Some(&admin),
        "GET",
        "/api/programme/week?from=2026-09-28&area=330107",
        None,
    )
    .await;
    assert_eq!(north["speakers"], 1);
    assert!(runs(&north).iter().all(|r| r.2 == "北县每日"));
    assert!(north["quiet"].as_array().unwrap().is_empty());
    // A village head sees their own speaker only.
    let (_, theirs) = call(
        s,
        Some(&head),
        "GET",
        "/api/programme/week?from=2026-09-28",
        None,
    )
    .await;
    assert_eq!(theirs["speakers"], 1);
    assert!(
        runs(&theirs)
            .iter()
            .all(|r| r.2 == "工作日早间" || r.2 == "东村每日")
    );
    let (status, body) = call(s, Some(&admin), "GET", "/api/programme/week?area=33x", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

//! The map through the router: a speaker's location (WGS-84) given when it is added,
//! changed and removed with PATCH, refused with its reason when it is not a place on
//! Earth (and then nothing is created or changed); the map's tile server set by an
//! administrator only, checked before it is stored.

mod common;

use axum::http::StatusCode;
use common::harness::Harness;
use serde_json::{Value, json};

fn agent<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|a| a["id"] == id))
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speaker_has_a_location_that_can_change_and_go() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let (status, created) = h
        .call(
            Some(&admin),
            "POST",
            "/api/agents",
            Some(
                json!({"id": "dong-1", "name": "东村 1号", "area_code": "330106001001",
                "location": {"lat": 30.2741, "lon": 120.121}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["agent"]["location"],
        json!({"lat": 30.2741, "lon": 120.121})
    );
    let (_, list) = h.call(Some(&admin), "GET", "/api/agents", None).await;
    assert_eq!(
        agent(&list, "dong-1")["location"],
        json!({"lat": 30.2741, "lon": 120.121})
    );

    // Moved: the new place; a PATCH without `location` keeps it; `null` removes it.
    let (status, moved) = h
        .call(
            Some(&admin),
            "PATCH",
            "/api/agents/dong-1",
            Some(json!({"location": {"lat": 30.28, "lon": 120.13}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["location"], json!({"lat": 30.28, "lon": 120.13}));
    let (_, renamed) = h
        .call(
            Some(&admin),
            "PATCH",
            "/api/agents/dong-1",
            Some(json!({"name": "东村 一号"})),
        )
        .await;
    assert_eq!(renamed["location"], json!({"lat": 30.28, "lon": 120.13}));
    let (_, cleared) = h
        .call(
            Some(&admin),
            "PATCH",
            "/api/agents/dong-1",
            Some(json!({"location": null})),
        )
        .await;
    assert_eq!(cleared["location"], Value::Null, "{cleared}");
    assert_eq!(cleared["name"], "东村 一号");

    // Not a place: refused with the reason; nothing created, nothing changed.
    for (location, reason) in [
        (json!({"lat": 120.121, "lon": 30.2741}), "lat 120.121"),
        (json!({"lat": 30.0, "lon": 181.0}), "lon 181"),
    ] {
        let (status, err) = h
            .call(
                Some(&admin),
                "POST",
                "/api/agents",
                Some(
                    json!({"id": "xi-1", "name": "西村", "area_code": "330106002003",
                    "location": location}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert!(err.to_string().contains(reason), "{err}");
        let (status, err) = h
            .call(
                Some(&admin),
                "PATCH",
                "/api/agents/dong-1",
                Some(json!({"name": "改了", "location": location})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    }
    let (_, list) = h.call(Some(&admin), "GET", "/api/agents", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(agent(&list, "dong-1")["name"], "东村 一号");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_tile_server_is_set_by_an_administrator_and_checked() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    // None at first: a plain background, nothing fetched.
    let (status, settings) = h.call(Some(&admin), "GET", "/api/settings/map", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings, json!({"tiles": null}));

    let tianditu = json!({"tiles": {
        "url": "https://t{s}.tianditu.gov.cn/DataServer?T=vec_w&x={x}&y={y}&l={z}&tk=k",
        "subdomains": "01234567", "attribution": "天地图", "datum": "wgs84"}});
    let (status, set) = h
        .call(Some(&admin), "PUT", "/api/settings/map", Some(tianditu))
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["tiles"]["max_zoom"], 18, "the default deepest zoom");

    // A bad address is refused with what is wrong, and the one in force stays.
    for (bad, reason) in [
        (
            json!({"tiles": {"url": "https://a/{z}/{x}.png", "datum": "gcj02"}}),
            "{y} is missing",
        ),
        (
            json!({"tiles": {"url": "javascript:alert(1)//{z}{x}{y}", "datum": "wgs84"}}),
            "http:// or https://",
        ),
    ] {
        let (status, err) = h
            .call(Some(&admin), "PUT", "/api/settings/map", Some(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert!(err.to_string().contains(reason), "{err}");
    }
    // A datum that is neither: refused as the body, in the one error shape, naming the
    // field and what it takes.
    let (status, err) = h
        .call(
            Some(&admin),
            "PUT",
            "/api/settings/map",
            Some(json!({"tiles": {"url": "https://a/{z}/{x}/{y}", "datum": "mars"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("tiles.datum") && message.contains("gcj02"),
        "{err}"
    );
    let (_, kept) = h.call(Some(&admin), "GET", "/api/settings/map", None).await;
    assert_eq!(kept["tiles"]["subdomains"], "01234567", "{kept}");

    // An operator reads it (the map needs it) but may not change it.
    let op = h.operator(&admin, "330106").await;
    let (status, _) = h.call(Some(&op), "GET", "/api/settings/map", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .call(
            Some(&op),
            "PUT",
            "/api/settings/map",
            Some(json!({"tiles": null})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_county_imports_its_own_area_outlines() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let (_, none) = h.call(Some(&admin), "GET", "/api/map/outlines", None).await;
    assert_eq!(none, Value::Null, "none ship with Dalaba");
    let village = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "东村", "code": "330106001001"},
         "geometry": {"type": "Polygon", "coordinates":
            [[[120.11, 30.27], [120.13, 30.27], [120.13, 30.28], [120.11, 30.28], [120.11, 30.27]]]}}]});
    let (status, stored) = h
        .call(
            Some(&admin),
            "PUT",
            "/api/map/outlines",
            Some(village.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["features"], 1);
    let (_, back) = h.call(Some(&admin), "GET", "/api/map/outlines", None).await;
    assert_eq!(back, village);

    // Latitude and longitude swapped: refused with the feature and the point; kept as was.
    let mut swapped = village.clone();
    swapped["features"][0]["geometry"]["coordinates"] =
        json!([[[30.27, 120.11], [30.28, 120.13], [30.27, 120.11]]]);
    let (status, err) = h
        .call(Some(&admin), "PUT", "/api/map/outlines", Some(swapped))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err.to_string().contains("feature 1: [30.27, 120.11]"),
        "{err}"
    );
    let (_, kept) = h.call(Some(&admin), "GET", "/api/map/outlines", None).await;
    assert_eq!(kept, village);

    let (status, _) = h
        .call(Some(&admin), "DELETE", "/api/map/outlines", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, gone) = h.call(Some(&admin), "GET", "/api/map/outlines", None).await;
    assert_eq!(gone, Value::Null);
}

//! Area names through the router: the shipped names (to township), a deployment's
//! villages imported from CSV or JSON, renames and their removal, bad files refused with
//! every bad line and nothing changed, and only administrators may change names.

mod common;

use axum::http::StatusCode;
use common::harness::Harness;
use serde_json::{Value, json};

fn named<'a>(list: &'a Value, code: &str) -> Option<&'a str> {
    list.as_array()?
        .iter()
        .find(|n| n["code"] == code)
        .and_then(|n| n["name"].as_str())
}

/// The area tree's node for `code`, searched through every level.
fn node<'a>(nodes: &'a Value, code: &str) -> Option<&'a Value> {
    nodes.as_array()?.iter().find_map(|n| {
        if n["code"] == code {
            Some(n)
        } else {
            node(&n["children"], code)
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn villages_are_named_by_the_deployment_over_the_shipped_names() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let _dong = h.speaker("dong-1", "330106002001").await;

    // Shipped: the county and its townships.
    let (status, list) = h
        .call(Some(&admin), "GET", "/api/areas/names?prefix=330106", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(named(&list, "330106"), Some("西湖区"));
    assert_eq!(named(&list, "330106002"), Some("北山街道"));
    assert_eq!(
        named(&list, "330106002001"),
        None,
        "villages are not shipped"
    );

    // A village list from CSV (a header, a BOM, quotes): the tree and the speakers show it.
    let csv = "\u{feff}代码,名称\n330106002001,\"东村\"\n330106002002,西村\n";
    let (status, answer) = h
        .send_body(&admin, "PUT", "/api/areas/names", "text/csv", csv)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["changed"], 2);
    let (_, tree) = h.call(Some(&admin), "GET", "/api/areas", None).await;
    assert_eq!(
        node(&tree, "330106002001").expect("village")["name"],
        "东村"
    );
    assert_eq!(node(&tree, "330106").expect("county")["name"], "西湖区");
    let (_, agents) = h.call(Some(&admin), "GET", "/api/agents", None).await;
    assert_eq!(agents[0]["area_name"], "西湖区 北山街道 东村", "{agents}");

    // A rename, then its removal: the shipped name is back.
    let set = |name: &str| json!([{"code": "330106002", "name": name}]);
    let (status, _) = h
        .call(Some(&admin), "PUT", "/api/areas/names", Some(set("北山")))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = h
        .call(Some(&admin), "GET", "/api/areas/names?prefix=3301060", None)
        .await;
    assert_eq!(named(&list, "330106002"), Some("北山"));
    h.call(Some(&admin), "PUT", "/api/areas/names", Some(set("")))
        .await;
    let (_, list) = h
        .call(Some(&admin), "GET", "/api/areas/names?prefix=3301060", None)
        .await;
    assert_eq!(named(&list, "330106002"), Some("北山街道"));

    // A file with bad lines: each reported with its number, and nothing taken from it.
    let bad = "330106002003,南村\n3301060020,短\nno comma here\n";
    let (status, err) = h
        .send_body(&admin, "PUT", "/api/areas/names", "text/csv", bad)
        .await;
    assert_eq!(status, 400, "{err}");
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("line 2") && message.contains("line 3"),
        "{message}"
    );
    let (_, list) = h
        .call(
            Some(&admin),
            "GET",
            "/api/areas/names?prefix=330106002",
            None,
        )
        .await;
    assert_eq!(
        named(&list, "330106002003"),
        None,
        "a bad file changed names"
    );
    // JSON that is not a list of names says what is expected.
    let (status, err) = h
        .send_body(&admin, "PUT", "/api/areas/names", "application/json", "{}")
        .await;
    assert_eq!(status, 400, "{err}");
    assert!(err.to_string().contains("330106001001"), "{err}");

    // An operator sees names but may not change them.
    let op = h.operator(&admin, "330106").await;
    let (status, _) = h
        .call(Some(&op), "GET", "/api/areas/names?prefix=33", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .call(Some(&op), "PUT", "/api/areas/names", Some(set("x")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

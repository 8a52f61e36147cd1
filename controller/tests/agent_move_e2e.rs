//! Real processes over loopback: a county controller hands a speaker to a city controller
//! with a signed `move_controller`, and the speaker then answers to the city only. (The
//! rollback of a move to a controller that is not reached is in the agent's
//! `config_push_e2e.rs`.)

mod common;

use common::*;
use serde_json::json;

#[test]
fn a_speaker_moves_to_another_controller_without_re_enrolment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (county, password) = start_controller(&dir.path().join("county"), "127.0.0.1:0");
    let county_api = Api::login(&county.addr, &password.expect("password"));
    let (city, password) = start_controller(&dir.path().join("city"), "127.0.0.1:0");
    let city_api = Api::login(&city.addr, &password.expect("password"));

    let area = "330106001002";
    let (status, created) = county_api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": "pole-1", "name": "东村", "area_code": area})),
    );
    assert_eq!(status, 201, "{created}");
    let token = created["enrolment_token"].as_str().expect("token");
    let a_dir = dir.path().join("agent");
    std::fs::create_dir_all(&a_dir).expect("dir");
    let config = agent_config(&a_dir, &county, token, area);
    let agent = start_agent(&config, &a_dir.join("state"));
    agent.wait_for("session ready as pole-1");

    // The city learns the speaker by its key, which the county shows: no token.
    let (_, listed) = county_api.call("GET", "/api/agents/pole-1", None);
    let key = listed["public_key"].as_str().expect("enrolled key");
    let (status, created) = city_api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": "pole-1", "name": "东村", "area_code": area, "public_key": key})),
    );
    assert_eq!(status, 201, "{created}");
    assert!(created["enrolment_token"].is_null(), "{created}");
    assert_eq!(created["agent"]["enrolled"], true, "{created}");

    // A destination the speaker could not load is refused before anything is sent.
    let url = format!("wss://{}/agent/ws", city.agent_addr);
    let (status, err) = county_api.call(
        "POST",
        "/api/agents/move",
        Some(json!({"agents": ["pole-1"], "url": url, "public_key": city.public_key})),
    );
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("tls_fingerprint")),
        "{err}"
    );

    let (status, moved) = county_api.call(
        "POST",
        "/api/agents/move",
        Some(json!({
            "agents": ["pole-1", "nobody"],
            "url": url,
            "public_key": city.public_key,
            "tls_fingerprint": city.fingerprint,
            "config_version": "to-city",
        })),
    );
    assert_eq!(status, 202, "{moved}");
    assert_eq!(moved["sent"], json!(["pole-1"]), "{moved}");
    assert_eq!(moved["not_sent"][0]["id"], "nobody", "{moved}");
    agent.wait_for("session ready as pole-1");
    let version =
        || std::fs::read_to_string(a_dir.join("state/agent.toml.version")).expect("version");
    assert_eq!(version(), "to-city");
    // The working copy in the state directory; the installed file is left as written.
    let written = std::fs::read_to_string(a_dir.join("state/agent.toml")).expect("read");
    assert!(
        !std::fs::read_to_string(&config)
            .expect("read")
            .contains(&url)
    );
    assert!(written.contains(&url), "{written}");
    assert!(written.contains(&city.public_key), "{written}");
    assert!(
        !a_dir.join("state/agent.toml.previous").exists(),
        "confirmed"
    );
    let (_, at_city) = city_api.call("GET", "/api/agents/pole-1", None);
    assert_eq!(at_city["online"], true, "{at_city}");

    // From now on the city's signed commands are the ones it obeys.
    let (status, err) = city_api.call(
        "POST",
        "/api/agents/pole-1/config",
        Some(json!({"config_version": "city-1", "document": written.replace("device = \"null\"", "device = \"null\"\nvolume = 35")})),
    );
    assert_eq!(status, 202, "{err}");
    agent.wait_for("session ready as pole-1");
    assert_eq!(version(), "city-1");
}

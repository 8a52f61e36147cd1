//! Real processes over loopback: an agent is created through the API, enrols with its
//! one-time token, comes back after restarts of either side, and is locked out once
//! retired.

mod common;

use common::*;
use serde_json::json;

#[test]
fn enrol_restart_and_retire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    let (ctl, password) = start_controller(&data, "127.0.0.1:0");
    let password = password.expect("first start shows the admin password");
    let api = Api::login(&ctl.addr, &password);

    // Anonymous calls are refused.
    let (status, body) = request(
        &api.http,
        "GET",
        &format!("{}/api/agents", api.base),
        None,
        None,
    );
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"code\":\"unauthorized\""), "{body}");

    let (status, created) = api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": "village-1", "name": "东村", "area_code": "330106001002", "groups": ["east"]})),
    );
    assert_eq!(status, 201, "{created}");
    let token = created["enrolment_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (status, err) = api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": "village-1", "name": "x", "area_code": "330106001002"})),
    );
    assert_eq!(status, 409, "{err}");
    let (status, err) = api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": "v2", "name": "x", "area_code": "3301"})),
    );
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{err}"
    );

    let (status, _) = api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": "w-1", "name": "西村", "area_code": "330106002007"})),
    );
    assert_eq!(status, 201);

    // Edit: rename and regroup; a bad area code is refused.
    let (status, edited) = api.call(
        "PATCH",
        "/api/agents/village-1",
        Some(json!({"name": "东村村委会", "groups": ["east", "school"]})),
    );
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["name"], "东村村委会");
    assert_eq!(edited["groups"], json!(["east", "school"]));
    let (status, _) = api.call(
        "PATCH",
        "/api/agents/village-1",
        Some(json!({"area_code": "12"})),
    );
    assert_eq!(status, 400);

    // The area tree: one province, city and county; two townships, one village each.
    let (_, tree) = api.call("GET", "/api/areas", None);
    assert_eq!(tree[0]["code"], "33");
    let county = &tree[0]["children"][0]["children"][0];
    assert_eq!(county["code"], "330106");
    assert_eq!(county["level"], "county");
    assert_eq!(county["agents"], 2);
    let townships: Vec<&str> = county["children"]
        .as_array()
        .expect("townships")
        .iter()
        .filter_map(|t| t["code"].as_str())
        .collect();
    assert_eq!(townships, ["330106001", "330106002"]);
    assert_eq!(county["children"][0]["children"][0]["code"], "330106001002");

    // The agent enrols with its one-time token and is online.
    let a_dir = dir.path().join("agent-1");
    std::fs::create_dir_all(&a_dir).expect("mkdir");
    let config = agent_config(&a_dir, &ctl, &token, "330106001002");
    let agent = start_agent(&config, &a_dir.join("state"));
    agent.wait_for("session ready as village-1");
    let (_, listed) = api.call("GET", "/api/agents/village-1", None);
    assert_eq!(
        (listed["enrolled"].as_bool(), listed["online"].as_bool()),
        (Some(true), Some(true)),
        "{listed}"
    );

    // A second box with the same (now used) token is refused for good.
    let b_dir = dir.path().join("agent-copy");
    std::fs::create_dir_all(&b_dir).expect("mkdir");
    let copy = agent_config(&b_dir, &ctl, &token, "330106001002");
    let mut thief = start_agent(&copy, &b_dir.join("state"));
    let status = thief.child.wait().expect("the copy exits");
    assert!(
        !status.success(),
        "a used token must not enrol a second agent"
    );

    // The agent restarts: it logs in with its key, no token needed any more.
    agent.stop();
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("read")
            .replace(&token, "spent"),
    )
    .expect("write");
    let agent = start_agent(&config, &a_dir.join("state"));
    agent.wait_for("session ready as village-1");

    // The controller restarts on the same address: the agent comes back by itself.
    let at = ctl.addresses();
    ctl.proc.stop();
    let ctl = restart_controller(&data, &at);
    agent.wait_for("session ready as village-1");
    let api = Api::login(&ctl.addr, &password);
    let (_, listed) = api.call("GET", "/api/agents/village-1", None);
    assert_eq!(listed["online"].as_bool(), Some(true), "{listed}");

    // A new configuration pushed from the controller: the agent applies it (reconnecting)
    // and keeps it once it is back.
    let pushed = std::fs::read_to_string(&config)
        .expect("read")
        .replace("device = \"null\"", "device = \"null\"\nvolume = 35");
    let (status, err) = api.call(
        "POST",
        "/api/agents/village-1/config",
        Some(json!({"config_version": "v2", "document": pushed})),
    );
    assert_eq!(status, 202, "{err}");
    agent.wait_for("session ready as village-1");
    assert_eq!(
        std::fs::read_to_string(a_dir.join("state/agent.toml.version")).expect("version"),
        "v2"
    );
    assert!(
        std::fs::read_to_string(a_dir.join("state/agent.toml"))
            .expect("read")
            .contains("volume = 35"),
        "the working copy in the state directory"
    );
    assert!(
        !a_dir.join("state/agent.toml.previous").exists(),
        "confirmed on reconnect"
    );

    // Retired: disconnected, and it stops trying.
    let (status, _) = api.call("DELETE", "/api/agents/village-1", None);
    assert_eq!(status, 204);
    let mut agent = agent;
    let status = agent.child.wait().expect("agent exits");
    assert!(!status.success());
    let (_, listed) = api.call("GET", "/api/agents/village-1", None);
    assert_eq!(
        (listed["retired"].as_bool(), listed["online"].as_bool()),
        (Some(true), Some(false)),
        "{listed}"
    );
}

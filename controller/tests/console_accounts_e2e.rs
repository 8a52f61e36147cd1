//! The console's users and audit pages and a user's own password, in a real browser
//! (headless Chromium over WebDriver) against a real controller and real agents:
//!
//! - the admin makes a village head for 东村, the village chosen by its name, and is shown
//!   the password once; gives a second user a new password and disables them;
//! - the audit log, filtered by user and action in the page, shows the admin's changes;
//! - the village head logs in with the shown password and sees only their village (the
//!   API answers them about nothing else), changes their own password, and is let in
//!   again only with the new one.
//!
//! `DALABA_SCREENSHOTS=1` writes `docs/console-users.png` and `docs/console-audit.png`.

mod common;

use common::browser::*;
use common::*;
use serde_json::json;

#[test]
fn users_audit_and_own_password_from_the_console() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let password = password.expect("password");
    let api = Api::login(&ctl.addr, &password);
    let _agents = start_agents(dir.path(), &ctl, &api, TWO_VILLAGES, "wav");
    let http = client();
    let names = http
        .put(format!("http://{}/api/areas/names", ctl.addr))
        .bearer_auth(&api.token)
        .header("content-type", "text/csv; charset=utf-8")
        .body("330106001001,东村\n330106002003,西村\n")
        .send()
        .expect("names");
    assert_eq!(names.status(), 200);
    let (status, _) = api.call(
        "POST",
        "/api/users",
        Some(json!({"name": "li", "role": "operator", "scopes": ["330106002"]})),
    );
    assert_eq!(status, 201);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, tone_wav(1000.0, 1.0, 48_000)).expect("mic");
    let (_driver, c) = browser(&rt, &mic);
    log_in(&rt, &c, &ctl.addr, "admin", &password, "dong-1");

    // A village head for 东村: the role and the village chosen by name.
    click(&rt, &c, "#nav button[data-view=users]");
    wait_text(&rt, &c, "#user-li", |t| t.contains("li"));
    type_into(&rt, &c, "#us-form input[name=name]", "zhang");
    click(&rt, &c, "#us-role option[value=village_head]");
    click(
        &rt,
        &c,
        "#us-areas select.area-choice option[value='330106001001']",
    );
    click(&rt, &c, "#us-areas .add-area");
    wait_text(&rt, &c, "#us-areas [data-code='330106001001']", |t| {
        t.contains("东村")
    });
    click(&rt, &c, "#us-form button[type=submit]");
    let shown = wait_text(&rt, &c, "#us-created", |t| t.contains("zhang 的密码"));
    let zhang_password = shown
        .split("密码：")
        .nth(1)
        .and_then(|s| s.split('（').next())
        .expect("the password in the page")
        .to_owned();
    wait_text(&rt, &c, "#user-zhang", |t| t.contains("东村"));
    let (_, users) = api.call("GET", "/api/users", None);
    let zhang = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["name"] == "zhang"))
        .expect("zhang")
        .clone();
    assert_eq!(zhang["role"], "village_head", "{zhang}");
    assert_eq!(zhang["scopes"], json!(["330106001001"]), "{zhang}");

    // li gets a new password (shown once) and is disabled: the old one no longer works.
    click(&rt, &c, "#user-li button.reset");
    let shown = wait_text(&rt, &c, "#us-status", |t| t.contains("li 的密码"));
    let li_password = shown
        .split("密码：")
        .nth(1)
        .and_then(|s| s.split('（').next())
        .expect("li's new password")
        .to_owned();
    let login = |name: &str, password: &str| {
        request(
            &http,
            "POST",
            &format!("http://{}/api/login", ctl.addr),
            None,
            Some(&json!({"name": name, "password": password}).to_string()),
        )
        .0
    };
    assert_eq!(login("li", &li_password), 200, "the new password works");
    click(&rt, &c, "#user-li button.toggle");
    wait_text(&rt, &c, "#user-li", |t| t.contains("已停用"));
    assert_eq!(
        login("li", &li_password),
        401,
        "disabled: refused like a wrong password"
    );
    rt.block_on(c.execute("window.scrollTo(0, 0)", vec![]))
        .expect("scroll");
    screenshot(&rt, &c, "console-users");

    // The audit log, filtered in the page: the admin's changes to users.
    click(&rt, &c, "#nav button[data-view=audit]");
    click(&rt, &c, "#au-user option[value=admin]");
    type_into(&rt, &c, "#au-action", "users");
    click(&rt, &c, "#au-form button[type=submit]");
    wait_text(&rt, &c, "#au-table", |t| {
        t.contains("POST /api/users") && t.contains("zhang") && t.contains("PATCH /api/users")
    });
    let rows = wait_text(&rt, &c, "#au-count", |t| t.contains("条记录"));
    assert!(rows.starts_with('4'), "two made, two changes: {rows}");
    screenshot(&rt, &c, "console-audit");

    // The village head logs in with the shown password: their village only.
    click(&rt, &c, "#logout");
    log_in(&rt, &c, &ctl.addr, "zhang", &zhang_password, "dong-1");
    wait_text(&rt, &c, "#who", |t| {
        t.contains("zhang") && t.contains("村干部")
    });
    let head = Api::login_as(&ctl.addr, "zhang", &zhang_password);
    let (_, seen) = head.call("GET", "/api/agents", None);
    let ids: Vec<_> = seen
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids, ["dong-1"], "only their village");
    let (status, _) = head.call("GET", "/api/agents/xi-1", None);
    assert!(status == 403 || status == 404, "xi-1: {status}");

    // Their own password, from the name in the header: the old one stops working.
    click(&rt, &c, "#who");
    type_into(&rt, &c, "#pw-form input[name=current]", &zhang_password);
    type_into(&rt, &c, "#pw-form input[name=new1]", "东村大喇叭 2026 年");
    type_into(&rt, &c, "#pw-form input[name=new2]", "东村大喇叭 2026 年");
    click(&rt, &c, "#pw-form button[type=submit]");
    wait_text(&rt, &c, "#login-error", |t| t.contains("密码已修改"));
    assert_eq!(login("zhang", &zhang_password), 401, "the old password");
    log_in(&rt, &c, &ctl.addr, "zhang", "东村大喇叭 2026 年", "dong-1");
}

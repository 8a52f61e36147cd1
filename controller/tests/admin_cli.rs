//! The installer's side of the controller, as real processes: a first start that cannot
//! listen says which address and makes nothing, so the next start still shows the first
//! admin's password; `dalaba-controller admin reset-password` lets a locked-out admin in
//! again (the old password and sessions end), and says what is wrong when the user does
//! not exist.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

#[test]
fn a_first_start_that_cannot_listen_names_the_address_and_loses_no_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    // The port is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = Command::new(controller_bin())
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", &addr, "--agent-listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&addr) && stderr.contains("--listen"),
        "which address, and the flag that sets it: {stderr}"
    );
    drop(taken);
    // The next start is still the first: the admin's password is shown.
    let (_ctl, password) = start_controller(&data, "127.0.0.1:0");
    assert!(
        password.is_some(),
        "the first admin was made by the failed start"
    );
}

#[test]
fn reset_password_lets_a_locked_out_admin_in_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    let (ctl, password) = start_controller(&data, "127.0.0.1:0");
    let old = password.expect("password");
    let api = Api::login(&ctl.addr, &old);
    let at = ctl.addresses();
    drop(ctl);

    let out = Command::new(controller_bin())
        .args(["admin", "reset-password", "admin", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = stdout
        .lines()
        .find_map(|l| l.strip_prefix("new password for admin: "))
        .unwrap_or_else(|| panic!("no new password in {stdout:?}"))
        .trim()
        .to_owned();

    let ctl = restart_controller(&data, &at);
    let http = client();
    let base = format!("http://{}", ctl.addr);
    assert_eq!(
        login_request(&http, &base, &old).0,
        401,
        "the old password still works"
    );
    assert_eq!(
        login_request(&http, &base, &new).0,
        200,
        "the new one does not"
    );
    let (status, _) = api.call("GET", "/api/me", None);
    assert_eq!(status, 401, "a session from before the reset still works");
    let (status, log) = Api::login(&ctl.addr, &new).call("GET", "/api/audit", None);
    assert_eq!(status, 200);
    assert!(log.to_string().contains("admin reset-password"), "{log}");

    // A user that does not exist: said so, and nothing changes.
    let out = Command::new(controller_bin())
        .args(["admin", "reset-password", "nobody", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no user nobody"), "{stderr}");
}

#[test]
fn add_user_and_show_pin_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    let (ctl, _) = start_controller(&data, "127.0.0.1:0");
    let run = |args: &[&str]| {
        let out = Command::new(controller_bin())
            .arg("admin")
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // What agents pin: the certificate the running controller serves, and its key.
    let (ok, pins, _) = run(&["show-pin"]);
    assert!(ok, "{pins}");
    assert!(
        pins.contains(&format!("tls_fingerprint = \"{}\"", ctl.fingerprint)),
        "{pins}"
    );
    assert!(pins.contains("public_key = \""), "{pins}");

    // An operator for one county, added while the controller runs: they log in and see
    // their role.
    let (ok, out, err) = run(&[
        "add-user", "wang", "--role", "operator", "--scope", "330106",
    ]);
    assert!(ok, "{out} {err}");
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password for wang: "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    let http = client();
    let (status, body) = request(
        &http,
        "POST",
        &format!("http://{}/api/login", ctl.addr),
        None,
        Some(&json!({"name": "wang", "password": password}).to_string()),
    );
    assert_eq!(status, 200, "{body}");

    // Refused with the reason: a role that does not exist, a name taken.
    let (ok, _, err) = run(&["add-user", "li", "--role", "boss"]);
    assert!(!ok && err.contains("--role boss: one of admin"), "{err}");
    let (ok, _, err) = run(&["add-user", "wang", "--role", "viewer"]);
    assert!(!ok && err.contains("already exists"), "{err}");
}

/// Run as root on a service's data directory (owned by the service's user), an admin
/// command would leave root's files that the service cannot open: it refuses, naming the
/// user to run it as, and changes nothing.
#[test]
fn admin_commands_as_root_on_a_service_s_directory_are_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: nothing to check");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    std::fs::create_dir(&data).expect("mkdir");
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("passwd")
        .expect("nobody");
    std::os::unix::fs::chown(&data, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw()))
        .expect("chown");
    let out = Command::new(controller_bin())
        .args(["admin", "show-pin", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("sudo -u nobody dalaba-controller"), "{err}");
    assert_eq!(
        std::fs::read_dir(&data).expect("ls").count(),
        0,
        "nothing written"
    );
}

#[test]
fn a_configuration_file_is_checked_and_used_and_flags_override_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("from-file");
    let file = dir.path().join("controller.toml");
    std::fs::write(
        &file,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\nagent_listen = \"127.0.0.1:0\"\n\n[log]\nlevel = \"warn\"\n",
            data.display().to_string()
        ),
    )
    .expect("write");
    let check = |path: &std::path::Path| {
        Command::new(controller_bin())
            .arg("check-config")
            .arg(path)
            .output()
            .expect("run")
    };
    let out = check(&file);
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("listen = \"127.0.0.1:0\""), "{shown}");
    assert!(shown.contains("level = \"warn\""), "{shown}");

    // Served from the file: its data directory is the one used.
    let proc = Proc::spawn(
        Command::new(controller_bin())
            .arg("serve")
            .arg("--config")
            .arg(&file),
    );
    proc.wait_for("listening on http://127.0.0.1:");
    assert!(
        data.join("dalaba.sqlite").exists(),
        "the file's data_dir was not used"
    );
    drop(proc);

    // The log as the file says: JSON lines a collector reads (here the start record,
    // with its fields); no colour codes without a terminal.
    let json = dir.path().join("json.toml");
    std::fs::write(
        &json,
        std::fs::read_to_string(&file)
            .expect("read")
            .replace("level = \"warn\"", "level = \"info\"\nformat = \"json\""),
    )
    .expect("write");
    let proc = Proc::spawn(
        Command::new(controller_bin())
            .arg("serve")
            .arg("--config")
            .arg(&json),
    );
    let line = proc.wait_for("controller started");
    assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
    let record: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(record["level"], "INFO", "{record}");
    assert_eq!(
        record["fields"]["message"], "controller started",
        "{record}"
    );
    assert!(
        record["fields"]["operators"]
            .as_str()
            .is_some_and(|a| a.starts_with("http://127.0.0.1:")),
        "{record}"
    );
    drop(proc);

    // A flag over the file: another data directory.
    let flagged = dir.path().join("from-flag");
    let proc = Proc::spawn(
        Command::new(controller_bin())
            .arg("serve")
            .arg("--config")
            .arg(&file)
            .arg("--data-dir")
            .arg(&flagged),
    );
    proc.wait_for("listening on http://127.0.0.1:");
    assert!(
        flagged.join("dalaba.sqlite").exists(),
        "--data-dir did not win"
    );
    drop(proc);

    // A bad file: every error with its line, exit status 2; serve refuses it too.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = \"8080\"\n[log]\nformat = \"xml\"\n").expect("write");
    let out = check(&bad);
    assert_eq!(out.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        errors.contains("bad.toml: line 1: listen: \"8080\" is not an address"),
        "{errors}"
    );
    assert!(
        errors.contains("bad.toml: line 3: log.format: \"xml\""),
        "{errors}"
    );
    let out = Command::new(controller_bin())
        .arg("serve")
        .arg("--config")
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("check-config"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A variable no longer read is not ignored: serve says what replaced it, and starts
    // nothing.
    let out = Command::new(controller_bin())
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("never"))
        .env("DALABA_LIVE_TRIPLES_ABOVE", "4000")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("set DALABA_LIVE_FRAMES_PER_WRITE=4000=3 instead"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("never").exists(), "nothing made");
}

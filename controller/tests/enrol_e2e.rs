//! `dalaba-agent enrol` against a real controller, as real processes: the installer is
//! shown the certificate the controller presents and must confirm it (or give it as
//! `--pin`); a "no", a wrong pin or a bad token writes nothing; confirmed, the terminal's
//! configuration is written and checked, the self-test plays its tone, and the agent
//! started on that file enrols and comes online.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

/// Runs `dalaba-agent enrol` with `args`, answering `answer` at its question.
fn enrol(args: &[&str], answer: &str) -> Output {
    let mut child = Command::new(agent_bin())
        .arg("enrol")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dalaba-agent enrol");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(answer.as_bytes())
        .expect("answer");
    child.wait_with_output().expect("wait")
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

#[test]
fn an_installer_confirms_the_certificate_and_the_speaker_comes_online() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller(&dir.path().join("controller"), "127.0.0.1:0");
    let api = Api::login(&ctl.addr, &password.expect("password"));
    let token = new_agent(&api, "pole-9", "东村3号", "330106001001");
    let token = token.as_str();
    let url = format!("wss://{}/agent/ws", ctl.agent_addr);
    let config = dir.path().join("etc/agent.toml");
    let wav = dir.path().join("out.wav");
    let audio = format!("wav:{}", wav.display());
    let cache = dir.path().join("cache");
    let base = [
        "--controller",
        &url,
        "--config",
        path(&config),
        "--audio",
        &audio,
        "--cache-dir",
        path(&cache),
    ];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        base.iter().chain(extra).copied().collect()
    }

    // Shown the certificate, the installer says no: nothing is written.
    let out = enrol(&with(&base, &["--token", token]), "no\n");
    assert!(!out.status.success());
    assert!(said(&out).contains(&ctl.fingerprint), "{}", said(&out));
    assert!(said(&out).contains("not confirmed"), "{}", said(&out));
    assert!(!config.exists());

    // A pin that is not the controller's certificate: refused, nothing written.
    let wrong = "00".repeat(32);
    let out = enrol(&with(&base, &["--token", token, "--pin", &wrong]), "");
    assert!(!out.status.success());
    assert!(said(&out).contains("not the pin given"), "{}", said(&out));
    assert!(!config.exists());

    // The right pin, a token that is not one: the controller's reason.
    let out = enrol(
        &with(
            &base,
            &["--token", "not-a-token", "--pin", &ctl.fingerprint],
        ),
        "",
    );
    assert!(!out.status.success());
    assert!(
        said(&out).contains("unknown, used or expired enrolment token"),
        "{}",
        said(&out)
    );
    assert!(!config.exists());

    // A relay board named without its port, or one the configuration refuses: the
    // reason, nothing written.
    let pin = ["--token", token, "--pin", &ctl.fingerprint];
    let out = enrol(&with(&base, &[&pin[..], &["--relay", "lcus"]].concat()), "");
    assert!(said(&out).contains("BOARD:PORT"), "{}", said(&out));
    let out = enrol(
        &with(
            &base,
            &[&pin[..], &["--relay", "x10:/dev/ttyUSB0"]].concat(),
        ),
        "",
    );
    assert!(said(&out).contains("relay.board"), "{}", said(&out));
    assert!(!config.exists());

    // Confirmed: the file is written for the token's speaker, and the self-test plays.
    let out = enrol(&with(&base, &["--token", token]), "yes\n");
    assert!(out.status.success(), "{}", said(&out));
    let text = said(&out);
    assert!(
        text.contains("speaker pole-9 (东村3号, area 330106001001)"),
        "{text}"
    );
    assert!(text.contains("ready: every check passed"), "{text}");
    eprintln!("{text}");
    let tone = wav_samples(&wav).expect("the self-test's tone");
    assert!((hz(&tone) - 1000.0).abs() < 20.0, "{} Hz", hz(&tone));
    let written = std::fs::read_to_string(&config).expect("written");
    assert!(written.contains(&ctl.fingerprint), "{written}");
    assert!(written.contains(&ctl.public_key), "{written}");
    let check = Command::new(agent_bin())
        .args(["check-config", path(&config)])
        .output()
        .expect("check-config");
    assert!(check.status.success(), "{}", said(&check));

    // It does not write over a configuration unless told.
    let out = enrol(
        &with(&base, &["--token", token, "--pin", &ctl.fingerprint]),
        "",
    );
    assert!(!out.status.success());
    assert!(said(&out).contains("exists already"), "{}", said(&out));

    // The agent on that file enrols with the token and comes online.
    let agent = start_agent(&config, &dir.path().join("state"));
    agent.wait_for("session ready as pole-9");
    let (_, seen) = api.call("GET", "/api/agents/pole-9", None);
    assert_eq!(seen["online"], true, "{seen}");
}

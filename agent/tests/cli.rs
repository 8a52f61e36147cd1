//! The installer's commands, as a real process.

use std::path::Path;
use std::process::Command;

fn agent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dalaba-agent"))
        .args(args)
        .output()
        .expect("run dalaba-agent")
}

#[test]
fn check_config_prints_the_effective_config() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-config/examples/lcus.toml");
    let out = agent(&["check-config", example.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // Defaults are written out.
    for line in [
        "board = \"lcus\"",
        "hold_ms = 5000",
        "max_on_s = 7200",
        "volume = 80",
        "offline = true",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn check_config_lists_every_error_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("agent.toml");
    std::fs::write(
        &file,
        "[identity]\narea_code = \"12\"\n[audio]\nvolume = 300\n",
    )
    .expect("write");
    let out = agent(&["check-config", file.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid configuration"), "{err}");
    assert!(err.contains("line 2: identity.area_code"), "{err}");
    assert!(
        err.contains("line 4: audio.volume: 300 is out of range (0 to 100)"),
        "{err}"
    );
    assert!(err.contains("controller.url: missing (required)"), "{err}");

    let out = agent(&["check-config", "/nonexistent/agent.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/agent.toml: cannot read"));
}

#[test]
fn devices_lists_alsa_pcms_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("asound.conf");
    let raw = dir.path().join("out.raw");
    std::fs::write(
        &conf,
        format!(
            "pcm.village_speaker {{\n type file\n slave.pcm \"discard\"\n file \"{}\"\n format \"raw\"\n hint {{ show on description \"Dalaba test speaker\" }}\n}}\npcm.discard {{ type null }}\n",
            raw.display()
        ),
    )
    .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_dalaba-agent"))
        .arg("devices")
        .env("ALSA_CONFIG_PATH", &conf)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l == "village_speaker\tDalaba test speaker"),
        "{text}"
    );
}

/// The configuration's `[log]`: JSON lines for a log collector, no colour codes.
#[test]
fn the_log_is_written_as_the_configuration_says() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[identity]\narea_code = \"330106001001\"\n[controller]\nurl = \"ws://127.0.0.1:9/agent/ws\"\npublic_key = \"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=\"\nenrolment_token = \"t\"\n[audio]\ndevice = \"null\"\n[cache]\ndir = \"{}\"\n[log]\nlevel = \"warn\"\nformat = \"json\"\n",
            dir.path().join("cache").display()
        ),
    )
    .expect("config");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_dalaba-agent"))
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("agent");
    // Nothing listens on port 9: the first line is the warning that it will retry.
    let mut line = String::new();
    std::io::BufReader::new(agent.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("a log line");
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
    let record: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(record["level"], "WARN", "{record}");
    assert!(
        record["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("reconnecting")),
        "{record}"
    );
}

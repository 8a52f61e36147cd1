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

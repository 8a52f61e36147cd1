//! Example files must pass; the files in `tests/bad/` must fail with exactly the errors
//! their `# expect:` lines list (order does not matter, nothing more, nothing less). The
//! expect lines sit at the end of each file so they do not move the line numbers.
//! `SHOW_CONFIG_ERRORS=1` prints what each bad file gives instead of checking.

use std::path::Path;

use dalaba_firmware_config::{BoardKind, Config, ConfigError, Relay};

fn files(dir: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_passes_and_round_trips() {
    let examples = files("examples");
    assert!(examples.len() >= 3, "an example per supported board");
    for path in examples {
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
        // The effective configuration is itself a valid file with the same meaning
        // (the enrolment token, a secret, is not printed).
        let mut text = config.to_toml();
        if let Some(token) = &config.controller.enrolment_token {
            assert!(
                !text.contains(token.as_str()),
                "the secret token is not printed"
            );
            text = text.replace(
                "# enrolment_token is set (not shown)",
                &format!("enrolment_token = \"{token}\""),
            );
        }
        let again = Config::parse(&text)
            .unwrap_or_else(|e| panic!("{} re-parsed:\n{e}\n{text}", path.display()));
        assert_eq!(again, config, "{}", path.display());
    }
}

#[test]
fn examples_mean_what_they_say() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let modbus = Config::load(&dir.join("modbus.toml")).expect("valid");
    let Relay::Board(board) = &modbus.relay else {
        panic!("modbus example has a board")
    };
    assert_eq!(board.kind, BoardKind::Modbus { unit_id: 1 });
    assert_eq!(board.warm_up.as_millis(), 2000);
    assert!(modbus.audio.quiet_hours.is_some());
    assert_eq!(modbus.log.level, "info,dalaba_agent=debug");
    assert_eq!(modbus.log.format, dalaba_firmware_config::LogFormat::Json);

    let lcus = Config::load(&dir.join("lcus.toml")).expect("valid");
    let Relay::Board(board) = &lcus.relay else {
        panic!("lcus example has a board")
    };
    assert_eq!(
        (board.kind, board.channels.as_slice(), board.baud),
        (BoardKind::Lcus, &[1u8, 2][..], 9600)
    );
    assert_eq!(board.hold.as_millis(), 5000, "default hold");
    assert_eq!(lcus.audio.volume.percent(), 80, "default volume");
    assert_eq!(
        lcus.cache.max_bytes,
        1024 * 1024 * 1024,
        "default cache size"
    );

    let bare = Config::load(&dir.join("no-relay.toml")).expect("valid");
    assert_eq!(bare.relay, Relay::None);
    assert_eq!(bare.identity.agent_id, None);
    assert_eq!(
        bare.controller.enrolment_token.as_deref(),
        Some("7Hq2-mZ4p")
    );
}

#[test]
fn bad_files_fail_with_exactly_their_expected_errors() {
    let bad = files("tests/bad");
    assert!(bad.len() >= 8);
    for path in bad {
        let text = std::fs::read_to_string(&path).expect("read");
        let mut expected: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(str::to_owned)
            .collect();
        let err = match Config::parse(&text) {
            Ok(c) => panic!("{} passed: {c:?}", path.display()),
            Err(e) => e,
        };
        let mut got = err.lines();
        got.sort();
        expected.sort();
        if std::env::var_os("SHOW_CONFIG_ERRORS").is_some() {
            eprintln!("{}:\n  {}", path.display(), got.join("\n  "));
            continue;
        }
        assert!(
            !expected.is_empty(),
            "{} has no # expect: lines",
            path.display()
        );
        assert_eq!(got, expected, "{}", path.display());
    }
}

#[test]
fn unreadable_file_is_a_read_error() {
    let e = Config::load(Path::new("/nonexistent/dalaba.toml")).expect_err("missing");
    assert!(matches!(e, ConfigError::Read(_)), "{e}");
}

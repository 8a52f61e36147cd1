//! Replacing the controller pins in a configuration file (what a `move_controller` command
//! does on the speaker) keeps everything else of the file as the installer wrote it.

use dalaba_firmware_config::{ConfigError, ControllerPins, with_controller};

const KEY: &str = "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=";
const FP: &str = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/lcus.toml"))
        .expect("example")
}

#[test]
fn the_pins_change_and_nothing_else_does() {
    let before = example();
    let pins = ControllerPins {
        url: "wss://city.example:9443/agent/ws",
        public_key: KEY,
        tls_fingerprint: Some(FP),
    };
    let (text, config) = with_controller(&before, &pins).expect("valid");
    assert_eq!(
        config.controller.url.as_str(),
        "wss://city.example:9443/agent/ws"
    );
    assert_eq!(config.controller.public_key.to_base64(), KEY);
    assert_eq!(config.controller.tls_fingerprint.expect("pinned")[0], 0x00);
    // Comments and the other tables stay as written.
    assert!(
        text.starts_with("# A pole with an LCUS USB relay board"),
        "{text}"
    );
    let rest = |t: &str| t[t.find("[relay]").expect("relay")..].to_owned();
    assert_eq!(rest(&text), rest(&before));
    assert!(!text.contains("county.example"), "{text}");
}

#[test]
fn a_result_that_would_not_load_is_refused() {
    // wss without a certificate pin is invalid: the agent would not know whom it talks to.
    let err = with_controller(
        &example(),
        &ControllerPins {
            url: "wss://city.example:9443/agent/ws",
            public_key: KEY,
            tls_fingerprint: None,
        },
    )
    .expect_err("wss needs a pin");
    assert!(
        err.to_string().contains("controller.tls_fingerprint"),
        "{err}"
    );
    let err = with_controller(
        &example(),
        &ControllerPins {
            url: "ws://127.0.0.1:1/agent/ws",
            public_key: "not a key",
            tls_fingerprint: None,
        },
    )
    .expect_err("bad key");
    assert!(err.to_string().contains("controller.public_key"), "{err}");
    // A file that does not parse says where.
    let err = with_controller(
        "[controller\n",
        &ControllerPins {
            url: "ws://127.0.0.1:1/agent/ws",
            public_key: KEY,
            tls_fingerprint: None,
        },
    )
    .expect_err("syntax");
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
}

#[test]
fn a_new_terminals_file_loads_with_what_it_was_given() {
    use dalaba_firmware_config::{Config, Enrolment, enrolment_document};
    let pins = ControllerPins {
        url: "wss://county.example:8443/agent/ws",
        public_key: KEY,
        tls_fingerprint: Some(FP),
    };
    let text = enrolment_document(&Enrolment {
        area_code: "330106001001",
        name: Some("东村 \"1号\" 喇叭"),
        pins: pins.clone(),
        enrolment_token: "tok-123",
        audio_device: None,
        cache_dir: None,
    })
    .expect("valid");
    let config = Config::parse(&text).expect("loads");
    assert_eq!(config.identity.area_code.as_str(), "330106001001");
    assert_eq!(config.identity.name.as_deref(), Some("东村 \"1号\" 喇叭"));
    assert_eq!(
        config.controller.enrolment_token.as_deref(),
        Some("tok-123")
    );
    assert_eq!(config.audio.device, "cpal", "the sound card by default");
    // A bad value is refused, not written.
    let bad = enrolment_document(&Enrolment {
        area_code: "3301",
        name: None,
        pins,
        enrolment_token: "tok-123",
        audio_device: Some("wav:/tmp/x.wav"),
        cache_dir: None,
    });
    assert!(matches!(bad, Err(ConfigError::Invalid(_))), "{bad:?}");
}

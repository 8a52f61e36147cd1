//! Pushing a configuration to a terminal: validated first, applied atomically, and rolled
//! back unless confirmed in time, even across a restart.

use std::path::Path;
use std::time::{Duration, Instant};

use dalaba_agent::config_store::{ConfigStore, Rollback, StoreError};

const CONFIRM: Duration = Duration::from_secs(300);

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware-config/examples")
        .join(name);
    std::fs::read_to_string(path).expect("example")
}

/// An installed `agent.toml` (from the lcus example) in a new directory, and the path of
/// the working copy the agent keeps in its state directory (`state/agent.toml`).
fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("agent.toml"), example("lcus.toml")).expect("write");
    let working = dir.path().join("state").join("agent.toml");
    (dir, working)
}

/// The store for `dir`'s installed file, at `now`.
fn load(dir: &tempfile::TempDir, now: Instant) -> ConfigStore {
    let store = ConfigStore::load(
        &dir.path().join("agent.toml"),
        &dir.path().join("state"),
        now,
        CONFIRM,
    )
    .expect("load");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("agent.toml")).expect("installed"),
        example("lcus.toml"),
        "the installed file is never written"
    );
    store
}

#[test]
fn an_invalid_push_changes_nothing() {
    let (dir, path) = setup();
    let t0 = Instant::now();
    let mut store = load(&dir, t0);
    assert_eq!(store.version(), "local");
    let bad = example("lcus.toml").replace("warm_up_ms = 1500", "warm_up_ms = 99999");
    let err = store.push("v2", &bad, t0).expect_err("invalid");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("relay.warm_up_ms: 99999 is out of range"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        example("lcus.toml")
    );
    assert!(!store.on_trial());
}

#[test]
fn a_confirmed_push_stays() {
    let (dir, path) = setup();
    let t0 = Instant::now();
    let mut store = load(&dir, t0);
    let new = example("modbus.toml");
    store.push("2026-11-23.1", &new, t0).expect("valid");
    assert_eq!(store.version(), "2026-11-23.1");
    assert!(store.on_trial());
    store.confirm().expect("confirm");
    assert_eq!(store.poll(t0 + 2 * CONFIRM).expect("poll"), None);
    let reloaded = load(&dir, t0);
    assert_eq!(reloaded.version(), "2026-11-23.1");
    assert!(!reloaded.on_trial());
    assert_eq!(std::fs::read_to_string(&path).expect("read"), new);
}

#[test]
fn an_unconfirmed_push_rolls_back_even_after_a_restart() {
    let (dir, path) = setup();
    let t0 = Instant::now();
    let mut store = load(&dir, t0);
    store
        .push("v2", &example("modbus.toml"), t0)
        .expect("valid");
    store
        .push("v3", &example("no-relay.toml"), t0)
        .expect("a second push replaces the trial");
    assert_eq!(
        store
            .poll(t0 + CONFIRM - Duration::from_secs(1))
            .expect("poll"),
        None
    );

    // The agent restarts under v3 (maybe v3 made it crash): the trial resumes.
    let t1 = t0 + Duration::from_secs(10);
    let mut store = load(&dir, t1);
    assert_eq!(store.version(), "v3");
    assert!(store.on_trial());
    assert_eq!(store.poll_timeout(), Some(t1 + CONFIRM));
    let rolled = store.poll(t1 + CONFIRM).expect("poll");
    assert_eq!(
        rolled,
        Some(Rollback {
            from: "v3".into(),
            to: "local".into()
        }),
        "back to the last confirmed file"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        example("lcus.toml")
    );
    let reloaded = load(&dir, t1);
    assert_eq!((reloaded.version(), reloaded.on_trial()), ("local", false));
}

#[test]
fn a_push_cannot_change_what_the_agent_pins() {
    let (dir, path) = setup();
    let t0 = Instant::now();
    let mut store = load(&dir, t0);
    let original = example("lcus.toml");
    let controller = store.config().controller.clone();
    let url = controller.url.as_str().to_owned();
    let key = controller.public_key.to_base64();
    for (field, pushed) in [
        (
            "controller.url",
            original.replace(&url, "wss://elsewhere.example:8443/agent/ws"),
        ),
        (
            "controller.public_key",
            original.replace(&key, "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ),
    ] {
        assert_ne!(pushed, original, "{field}: the example must contain it");
        let err = store.push("moved", &pushed, t0).expect_err(field);
        assert!(
            matches!(&err, StoreError::Pinned { field: f, .. } if *f == field),
            "{err}"
        );
        assert!(err.to_string().contains("SECURITY.md"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&path).expect("read"), original);
    assert!(!store.on_trial());
    assert_eq!(store.version(), "local");
}

#[test]
fn a_move_pins_the_new_controller_on_trial_and_rolls_back_unconfirmed() {
    use dalaba_firmware_config::ControllerPins;
    let (dir, path) = setup();
    let t0 = Instant::now();
    let mut store = load(&dir, t0);
    let original = example("lcus.toml");
    let key = "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=";
    let pins = ControllerPins {
        url: "ws://127.0.0.1:9/agent/ws",
        public_key: key,
        tls_fingerprint: None,
    };
    let moved = store.move_to("move-1", &pins, t0).expect("valid move");
    assert_eq!(moved.controller.url.as_str(), "ws://127.0.0.1:9/agent/ws");
    assert_eq!(moved.controller.public_key.to_base64(), key);
    assert!(store.on_trial());
    let written = std::fs::read_to_string(&path).expect("read");
    assert!(written.contains(key), "{written}");
    let rest = |t: &str| t[t.find("[relay]").expect("relay")..].to_owned();
    assert_eq!(
        rest(&written),
        rest(&original),
        "the rest of the file is kept"
    );

    // The new controller is never reached: the old pins come back.
    let rolled = store.poll(t0 + CONFIRM).expect("poll");
    assert_eq!(
        rolled,
        Some(Rollback {
            from: "move-1".into(),
            to: "local".into()
        })
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), original);
}

#[test]
fn a_move_that_would_not_load_changes_nothing() {
    use dalaba_firmware_config::ControllerPins;
    let (dir, path) = setup();
    let t0 = Instant::now();
    let mut store = load(&dir, t0);
    let err = store
        .move_to(
            "move-1",
            &ControllerPins {
                url: "wss://city.example:9443/agent/ws",
                public_key: "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=",
                tls_fingerprint: None,
            },
            t0,
        )
        .expect_err("wss needs a certificate pin");
    assert!(
        err.to_string().contains("controller.tls_fingerprint"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        example("lcus.toml")
    );
    assert!(!store.on_trial());
}

#[test]
fn an_installer_s_edit_wins_over_a_pushed_configuration() {
    let (dir, path) = setup();
    let t0 = Instant::now();
    let mut store = load(&dir, t0);
    assert_eq!(store.path(), path);
    store
        .push("v2", &example("modbus.toml"), t0)
        .expect("valid");
    store.confirm().expect("confirm");
    // Restarted with the installed file as it was: the pushed one stays.
    assert_eq!(load(&dir, t0).version(), "v2");

    // The installer edits the installed file (a new volume, say): it is what runs.
    let edited = example("no-relay.toml");
    std::fs::write(dir.path().join("agent.toml"), &edited).expect("edit");
    let store = ConfigStore::load(
        &dir.path().join("agent.toml"),
        &dir.path().join("state"),
        t0,
        CONFIRM,
    )
    .expect("load");
    assert_eq!((store.version(), store.on_trial()), ("local", false));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), edited);

    // An edit that does not load is refused with the installed file's name, and the
    // working copy is left as it was.
    std::fs::write(dir.path().join("agent.toml"), "[audio]\nvolume = 900\n").expect("edit");
    let err = ConfigStore::load(
        &dir.path().join("agent.toml"),
        &dir.path().join("state"),
        t0,
        CONFIRM,
    )
    .expect_err("invalid");
    assert!(
        err.to_string()
            .contains(&dir.path().join("agent.toml").display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), edited);
}

//! The kit against Dalaba's controller (a real process on loopback, port 0): every rule it
//! checks passes.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use dalaba_conformance::controller_checks::{ControllerUnderTest, check_controller};
use dalaba_conformance::report::Outcome;

/// The rules the kit checks on a controller today.
const CHECKED: &[&str] = &[
    "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11",
];

/// Kills the controller when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dalaba_controller_passes_every_checked_rule() {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_dalaba-conformance"))
        .with_file_name("dalaba-controller");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        bin.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(&bin)
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0"])
        .env("DALABA_ADMIN_PASSWORD", "conformance kit password 1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("controller");
    let stdout = child.stdout.take().expect("stdout");
    let _controller = Killed(child);
    // Its addresses, from the lines it prints at start.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut api, mut agents) = (None, None);
    while api.is_none() || agents.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the controller starts");
        if let Some(rest) = line.split("listening on ").nth(1) {
            api = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.split("agent endpoint ").nth(1) {
            agents = Some(rest.trim().to_owned());
        }
    }
    let report = check_controller(&ControllerUnderTest {
        api: api.expect("api"),
        password: "conformance kit password 1".into(),
        agents_url: agents.expect("agents"),
        wait: Duration::from_secs(15),
    })
    .await
    .expect("the kit runs");
    println!("{report}");
    for rule in CHECKED {
        assert!(
            matches!(report.outcome(rule), Outcome::Pass(_)),
            "{rule}: {:?}\n{report}",
            report.outcome(rule)
        );
    }
}

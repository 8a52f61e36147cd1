//! What the `dalaba-loadtest` tests share: running it, a scratch directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Runs `dalaba-loadtest` with `args`; the figures it wrote.
pub(crate) fn loadtest(dir: &Path, args: &[&str]) -> Value {
    let json = dir.join("figures.json");
    let out = Command::new(env!("CARGO_BIN_EXE_dalaba-loadtest"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run dalaba-loadtest");
    assert!(
        out.status.success(),
        "dalaba-loadtest {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&json).expect("figures written")).expect("JSON")
}

/// A fresh directory for test `name`.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dalaba-bench-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
